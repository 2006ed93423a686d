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

use std::os::fd::AsRawFd;
use std::sync::{Mutex, TryLockError};

use pag::escape::{cut, escape_into};
pub use pag::escape::{escape, CUT_MARK};
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

/// The syslog sink. The connection to /dev/log is the process's, kept
/// between hooks as syslog(3) keeps its own: making, connecting and closing
/// a socket for each hook was a third of what an open_session+close_session
/// cost in bench/pam-cycle with a syslog listening. Where there is no
/// syslog socket the lines are dropped (a PAM module must not print).
#[derive(Default)]
pub struct Syslog;

type Logger = syslog::Logger<syslog::LoggerBackend, Formatter3164>;

/// Where syslog listens on Linux. The syslog crate's `unix()` also tries
/// macOS's and the BSDs' paths, which cost two more socket(2), connect(2)
/// and close(2) per hook wherever /dev/log is absent (bench/pam-cycle).
const SYSLOG_SOCKET: &str = "/dev/log";

/// The kept connection (the module is never unloaded: `-z nodelete`).
static KEPT: Mutex<Option<Kept>> = Mutex::new(None);

impl Sink for Syslog {
    fn send(&mut self, level: Level, line: &str) {
        // Never wait for the lock: a fork() while another thread of the
        // application held it leaves it held for good in the child. Whoever
        // finds it taken sends on a connection of its own.
        match KEPT.try_lock() {
            Ok(mut kept) => send_kept(&mut kept, SYSLOG_SOCKET, level, line),
            Err(TryLockError::Poisoned(poisoned)) => {
                send_kept(&mut poisoned.into_inner(), SYSLOG_SOCKET, level, line)
            }
            Err(TryLockError::WouldBlock) => {
                if let Some(mut kept) = Kept::connect(SYSLOG_SOCKET) {
                    let _ = kept.write(level, line);
                }
            }
        }
    }
}

/// Send on the kept connection, making it first where there is none, and
/// once more when the send fails (syslog restarted: its socket is a new one).
/// A full or absent syslog is not a reason to fail a login: the line is
/// dropped then.
fn send_kept(kept: &mut Option<Kept>, path: &str, level: Level, line: &str) {
    if let Some(k) = kept.take() {
        if k.is_still_ours() {
            *kept = Some(k);
        } else {
            // The application closed our descriptor (closefrom before an
            // exec, a daemon closing what it does not know), and the number
            // may name one of its own files now: neither use nor close it.
            std::mem::forget(k);
        }
    }
    for _ in 0..2 {
        if kept.is_none() {
            *kept = Kept::connect(path);
        }
        let Some(k) = kept.as_mut() else { return };
        if k.write(level, line).is_ok() {
            return;
        }
        *kept = None;
    }
}

/// A connection to syslog and what fstat(2) said about its socket.
struct Kept {
    logger: Logger,
    identity: Option<(u64, u64)>,
}

impl Kept {
    /// Connect to `path` ([`SYSLOG_SOCKET`]); `None` where nothing listens there.
    /// Without a socket there (containers, minimal hosts) one stat(2) says
    /// so, where creating, connecting and closing a socket cost several
    /// times as much; a syslog that starts later is found by the next line
    /// all the same.
    fn connect(path: &str) -> Option<Kept> {
        if !std::path::Path::new(path).exists() {
            return None;
        }
        let formatter = Formatter3164 {
            facility: Facility::LOG_AUTHPRIV,
            hostname: None,
            process: process_name().to_owned(),
            pid: std::process::id(),
        };
        let logger = syslog::unix_custom(formatter, path).ok()?;
        let identity = identity(&logger);
        // A socket we cannot fstat could not be recognised later: not kept.
        identity.is_some().then_some(Kept { logger, identity })
    }

    /// Whether the descriptor is still the socket this connection made.
    fn is_still_ours(&self) -> bool {
        identity(&self.logger) == self.identity
    }

    fn write(&mut self, level: Level, line: &str) -> syslog::Result<()> {
        // A forked child of the application says its own pid.
        self.logger.formatter.pid = std::process::id();
        let logger = &mut self.logger;
        match level {
            Level::Error => logger.err(line),
            Level::Warning => logger.warning(line),
            Level::Notice => logger.notice(line),
            Level::Info => logger.info(line),
            Level::Debug => logger.debug(line),
        }
    }
}

/// Device and inode of the logger's socket (sockets get inode numbers that
/// are not reused while the counter lasts), or `None` when fstat fails.
fn identity(logger: &Logger) -> Option<(u64, u64)> {
    let fd = match &logger.backend {
        syslog::LoggerBackend::Unix(socket) => socket.as_raw_fd(),
        syslog::LoggerBackend::UnixStream(stream) => stream.get_ref().as_raw_fd(),
        _ => return None,
    };
    nix::sys::stat::fstat(fd).ok().map(|st| (st.st_dev, st.st_ino))
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
    fn the_kept_connection_is_reused_given_up_when_not_ours_and_remade_when_syslog_restarts() {
        use std::os::fd::AsRawFd;
        use std::os::unix::net::UnixDatagram;
        let dir = std::env::temp_dir().join(format!("pam_pag-log-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let _ = std::fs::remove_file(&path);
        let path_text = path.to_str().unwrap();
        let bind = || {
            let r = UnixDatagram::bind(&path).unwrap();
            r.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
            r
        };
        let received = |r: &UnixDatagram| {
            let mut buf = [0u8; 2048];
            let n = r.recv(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        let fd_of = |k: &Option<Kept>| match &k.as_ref().unwrap().logger.backend {
            syslog::LoggerBackend::Unix(s) => s.as_raw_fd(),
            _ => panic!("not a datagram socket"),
        };

        let mut kept = None;
        let syslog = bind();
        send_kept(&mut kept, path_text, Level::Info, "one");
        assert!(received(&syslog).ends_with("one"));
        let fd = fd_of(&kept);
        send_kept(&mut kept, path_text, Level::Info, "two");
        assert!(received(&syslog).ends_with("two"));
        assert_eq!(fd_of(&kept), fd, "the same connection, not a new one per line");

        // The application closed our descriptor and its number is now one
        // of its own files (a pipe here): not written to, not closed.
        let (pipe_read, pipe_write) = nix::unistd::pipe().unwrap();
        nix::unistd::dup2(pipe_write.as_raw_fd(), fd).unwrap();
        send_kept(&mut kept, path_text, Level::Info, "three");
        assert!(received(&syslog).ends_with("three"));
        assert_ne!(fd_of(&kept), fd);
        nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD)
            .expect("the application's descriptor is still open");
        nix::fcntl::fcntl(
            pipe_read.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        assert_eq!(nix::unistd::read(pipe_read.as_raw_fd(), &mut [0u8; 16]), Err(nix::errno::Errno::EAGAIN));
        nix::unistd::close(fd).unwrap();

        // syslog restarted: a new socket at the same path.
        drop(syslog);
        std::fs::remove_file(&path).unwrap();
        let syslog = bind();
        send_kept(&mut kept, path_text, Level::Info, "four");
        assert!(received(&syslog).ends_with("four"));

        // No syslog at all: the line is dropped, nothing kept.
        drop(syslog);
        std::fs::remove_file(&path).unwrap();
        send_kept(&mut kept, path_text, Level::Info, "five");
        assert!(kept.is_none());
        std::fs::remove_dir(&dir).unwrap();
    }

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
