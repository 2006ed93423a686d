//! Logging: syslog, facility authpriv, one constant line shape,
//! `pam_pag(<service>:<facility>): <message>`, as Linux-PAM's pam_syslog
//! writes it. Debug lines only with `debug`. Nothing ever goes to stdout or
//! stderr, and no message carries ticket bytes or environment values.
//!
//! Every line is escaped here, centrally, so that no caller can forget: C0
//! controls, DEL, C1 controls and the Unicode bidi controls become `\xNN` or
//! `\u{NNNN}`, a backslash becomes `\\` (so escapes are unambiguous), and
//! each line is cut to [`MAX_LINE_BYTES`]. Text that is not UTF-8 (a
//! program's output) goes through [`Log::line_bytes`], which escapes each
//! invalid byte as `\xNN`.

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
        let prefix = format!("pam_pag({}:{facility}): ", escape(service));
        Log { prefix, debug: false, sink }
    }

    /// Turn debug lines on or off (once the options are known).
    pub fn set_debug(&mut self, debug: bool) {
        self.debug = debug;
    }

    pub fn line(&mut self, level: Level, message: &str) {
        self.line_bytes(level, message, b"");
    }

    /// `message` followed by `bytes` (not necessarily UTF-8), both escaped.
    pub fn line_bytes(&mut self, level: Level, message: &str, bytes: &[u8]) {
        if level == Level::Debug && !self.debug {
            return;
        }
        let mut line = self.prefix.clone();
        escape_into(&mut line, message.as_bytes());
        escape_into(&mut line, bytes);
        cut(&mut line, MAX_LINE_BYTES);
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

/// The longest line sent to syslog, in bytes, after escaping; longer lines
/// are cut and end in [`CUT_MARK`].
pub const MAX_LINE_BYTES: usize = 1024;

/// What a cut line ends with.
pub const CUT_MARK: &str = "...[cut]";

/// `text` with every control character escaped (see the module comment).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text.as_bytes());
    out
}

/// Append `bytes` to `out`, escaped: valid UTF-8 stays as it is except the
/// controls, `\` and the bidi controls; each byte of an invalid sequence
/// becomes `\xNN`.
fn escape_into(out: &mut String, bytes: &[u8]) {
    use std::fmt::Write;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\0'..='\x1f' | '\x7f' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                '\u{80}'..='\u{9f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}' => {
                    let _ = write!(out, "\\u{{{:04x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

/// Cut `line` to at most `max` bytes (on a character boundary), ending in
/// [`CUT_MARK`] when anything was cut.
fn cut(line: &mut String, max: usize) {
    if line.len() <= max {
        return;
    }
    let mut end = max - CUT_MARK.len();
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line.truncate(end);
    line.push_str(CUT_MARK);
}

/// The syslog sink: connects to /dev/log on first use; where there is no
/// syslog socket the lines are dropped (a PAM module must not print).
#[derive(Default)]
pub struct Syslog {
    logger: Option<syslog::Logger<syslog::LoggerBackend, Formatter3164>>,
    failed: bool,
}

/// Where syslog listens on Linux. The syslog crate's `unix()` also tries
/// macOS's and the BSDs' paths, which cost two more socket(2), connect(2)
/// and close(2) per hook wherever /dev/log is absent (bench/pam-cycle).
const SYSLOG_SOCKET: &str = "/dev/log";

impl Sink for Syslog {
    fn send(&mut self, level: Level, line: &str) {
        if self.logger.is_none() && !self.failed {
            self.logger = connect();
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

/// A connection to [`SYSLOG_SOCKET`], or `None` where there is none. Without
/// a socket there (containers, minimal hosts) one stat(2) says so, where
/// creating, connecting and closing a socket cost several times as much; a
/// syslog that starts later is found by the next hook all the same.
fn connect() -> Option<syslog::Logger<syslog::LoggerBackend, Formatter3164>> {
    if !std::path::Path::new(SYSLOG_SOCKET).exists() {
        return None;
    }
    let formatter = Formatter3164 {
        facility: Facility::LOG_AUTHPRIV,
        hostname: None,
        process: process_name().to_owned(),
        pid: std::process::id(),
    };
    syslog::unix_custom(formatter, SYSLOG_SOCKET).ok()
}

/// The application's name, as syslog(3) would use it (`sshd`, `login`).
/// Read once per process: like syslog(3)'s program_invocation_short_name it
/// is fixed at exec (a forked child has its parent's), and reading
/// /proc/self/comm on every hook was an eighth of the module's time in
/// bench/pam-cycle.
fn process_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/self/comm")
            .map(|s| s.trim_end().to_owned())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "pam_pag".to_owned())
    })
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

    #[test]
    fn controls_bidi_and_backslash_are_escaped() {
        assert_eq!(escape("plain text, ünïcödé"), "plain text, ünïcödé");
        assert_eq!(escape("a\rb\x1b[31mc\0d\x7f\t\n"), "a\\x0db\\x1b[31mc\\x00d\\x7f\\x09\\x0a");
        assert_eq!(escape("back\\slash"), "back\\\\slash");
        assert_eq!(escape("\u{85}\u{9f}"), "\\u{0085}\\u{009f}");
        for c in ['\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}'] {
            assert_eq!(escape(&format!("x{c}y")), format!("x\\u{{{:04x}}}y", c as u32));
        }
        // Escaping is unambiguous: an escaped string never contains a raw
        // control, and `\x1b` typed by someone differs from ESC.
        assert_ne!(escape("\\x1b"), escape("\x1b"));
    }

    #[test]
    fn invalid_utf8_bytes_are_escaped() {
        let mut lines = Lines::default();
        let mut log = Log::new("sshd", "session", &mut lines);
        log.line_bytes(Level::Info, "out: ", b"ok \xff\xfe then \xe2\x80 and \xe2\x80\xae end");
        assert_eq!(
            lines.0[0].1,
            "pam_pag(sshd:session): out: ok \\xff\\xfe then \\xe2\\x80 and \\u{202e} end"
        );
    }

    #[test]
    fn every_line_is_escaped_and_bounded() {
        let mut lines = Lines::default();
        let mut log = Log::new("ss\nhd", "session", &mut lines);
        log.error("user al\x1bice: bad");
        log.info(&"é".repeat(2000));
        assert_eq!(lines.0[0].1, "pam_pag(ss\\x0ahd:session): user al\\x1bice: bad");
        let long = &lines.0[1].1;
        assert!(long.len() <= MAX_LINE_BYTES && long.len() > MAX_LINE_BYTES - 10, "{}", long.len());
        assert!(long.ends_with(CUT_MARK));
    }
}
