//! Logging: syslog, facility authpriv, one constant line shape,
//! `pam_pag(<service>:<facility>): <message>`, as Linux-PAM's pam_syslog
//! writes it. Debug lines only with `debug`. Nothing ever goes to stdout or
//! stderr, and no message carries ticket bytes or environment values.

use syslog::{Facility, Formatter3164};

/// How important a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

/// Where lines go: syslog in the module, a vector in unit tests.
pub trait Sink {
    /// Send one finished line.
    fn send(&mut self, level: Level, line: &str);
}

/// A logger for one hook call.
pub struct Log<'a> {
    prefix: String,
    debug: bool,
    sink: &'a mut dyn Sink,
}

impl<'a> Log<'a> {
    /// `facility` is PAM's word for the hook group: `session`, `setcred`,
    /// `auth` or `account`.
    pub fn new(service: &str, facility: &str, sink: &'a mut dyn Sink) -> Self {
        Log { prefix: format!("pam_pag({service}:{facility}): "), debug: false, sink }
    }

    /// Turn debug lines on or off (once the options are known).
    pub fn set_debug(&mut self, debug: bool) {
        self.debug = debug;
    }

    pub fn line(&mut self, level: Level, message: &str) {
        if level == Level::Debug && !self.debug {
            return;
        }
        let line = format!("{}{message}", self.prefix);
        self.sink.send(level, &line);
    }

    pub fn error(&mut self, message: &str) {
        self.line(Level::Error, message);
    }

    pub fn warning(&mut self, message: &str) {
        self.line(Level::Warning, message);
    }

    pub fn notice(&mut self, message: &str) {
        self.line(Level::Notice, message);
    }

    pub fn info(&mut self, message: &str) {
        self.line(Level::Info, message);
    }

    pub fn debug(&mut self, message: &str) {
        self.line(Level::Debug, message);
    }
}

/// The syslog sink: connects to /dev/log on first use; where there is no
/// syslog socket the lines are dropped (a PAM module must not print).
#[derive(Default)]
pub struct Syslog {
    logger: Option<syslog::Logger<syslog::LoggerBackend, Formatter3164>>,
    failed: bool,
}

impl Sink for Syslog {
    fn send(&mut self, level: Level, line: &str) {
        if self.logger.is_none() && !self.failed {
            let formatter = Formatter3164 {
                facility: Facility::LOG_AUTHPRIV,
                hostname: None,
                process: process_name(),
                pid: std::process::id(),
            };
            self.logger = syslog::unix(formatter).ok();
            self.failed = self.logger.is_none();
        }
        let Some(logger) = self.logger.as_mut() else { return };
        // A full or absent syslog is not a reason to fail a login.
        let _ = match level {
            Level::Error => logger.err(line),
            Level::Warning => logger.warning(line),
            Level::Notice => logger.notice(line),
            Level::Info => logger.info(line),
            Level::Debug => logger.debug(line),
        };
    }
}

/// The application's name, as syslog(3) would use it (`sshd`, `login`).
fn process_name() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .map(|s| s.trim_end().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "pam_pag".to_owned())
}

/// Lines collected in memory, for unit tests.
#[cfg(test)]
#[derive(Default)]
pub struct Lines(pub Vec<(Level, String)>);

#[cfg(test)]
impl Sink for Lines {
    fn send(&mut self, level: Level, line: &str) {
        self.0.push((level, line.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_pam_shape_and_debug_is_gated() {
        let mut lines = Lines::default();
        let mut log = Log::new("sshd", "session", &mut lines);
        log.debug("hidden");
        log.info("user alice: created PAG 12");
        log.set_debug(true);
        log.debug("shown");
        assert_eq!(
            lines.0,
            vec![
                (Level::Info, "pam_pag(sshd:session): user alice: created PAG 12".to_owned()),
                (Level::Debug, "pam_pag(sshd:session): shown".to_owned()),
            ]
        );
    }
}
