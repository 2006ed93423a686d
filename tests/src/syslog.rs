//! Capture syslog lines: a unix datagram socket bound at `/dev/log` (or any
//! path), read by a background thread so that a logging process never
//! blocks on a full socket queue (`net.unix.max_dgram_qlen` is often 10).
//!
//! ```no_run
//! pag_tests::mountns::enter_private()?;           // while single-threaded
//! let scratch = tempfile::tempdir()?;
//! let capture = pag_tests::syslog::Capture::at_dev_log(scratch.path())?;
//! // ... run code that calls syslog(3) or the syslog crate ...
//! for line in capture.sync() {
//!     println!("{} {}", line.severity, line.message);
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// One received line, split per RFC 3164 as glibc's syslog(3) and the
/// syslog crate send it: `<PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Facility number (`LOG_AUTHPRIV` is 10).
    pub facility: u8,
    /// Severity (0 emerg .. 7 debug).
    pub severity: u8,
    /// The tag (usually the program name).
    pub tag: String,
    /// The pid in `TAG[PID]`, if present.
    pub pid: Option<u32>,
    /// The text after `TAG[PID]: `.
    pub message: String,
    /// The datagram as received.
    pub raw: String,
}

/// Facility number of `LOG_AUTHPRIV`.
pub const AUTHPRIV: u8 = 10;
/// Severity numbers.
pub const ERR: u8 = 3;
/// Warning severity.
pub const WARNING: u8 = 4;
/// Notice severity.
pub const NOTICE: u8 = 5;
/// Info severity.
pub const INFO: u8 = 6;
/// Debug severity.
pub const DEBUG: u8 = 7;

/// Parse one datagram; `None` when it has no `<PRI>` header.
pub fn parse(raw: &str) -> Option<Line> {
    let rest = raw.strip_prefix('<')?;
    let (pri, rest) = rest.split_once('>')?;
    let pri: u16 = pri.parse().ok()?;
    // Skip the 15-character timestamp "Mmm dd hh:mm:ss" and a space when present.
    let rest = if rest.len() > 16 && rest.as_bytes()[3] == b' ' && rest.as_bytes()[15] == b' ' {
        &rest[16..]
    } else {
        rest
    };
    let (head, message) = rest.split_once(": ").unwrap_or(("", rest));
    let (tag, pid) = match head.split_once('[') {
        Some((t, p)) => (t.to_owned(), p.trim_end_matches(']').parse().ok()),
        None => (head.to_owned(), None),
    };
    Some(Line {
        facility: (pri >> 3) as u8,
        severity: (pri & 7) as u8,
        tag,
        pid,
        message: message.trim_end_matches('\n').to_owned(),
        raw: raw.to_owned(),
    })
}

#[derive(Default)]
struct Shared {
    lines: Vec<Line>,
    syncs_seen: u64,
}

/// A running capture. Dropping it stops reading (the socket file stays
/// until its directory is removed).
pub struct Capture {
    path: PathBuf,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    syncs_sent: Mutex<u64>,
}

const SYNC: &str = "pag-tests-syslog-sync ";

impl Capture {
    /// Bind at `path` and start reading.
    pub fn bind(path: &Path) -> io::Result<Capture> {
        let socket = UnixDatagram::bind(path)?;
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o666))?;
        let shared: Arc<(Mutex<Shared>, Condvar)> = Arc::default();
        let reader = Arc::clone(&shared);
        std::thread::Builder::new().name("syslog-capture".into()).spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = socket.recv(&mut buf) {
                let raw = String::from_utf8_lossy(&buf[..n]).into_owned();
                let (lock, cv) = &*reader;
                let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                if raw.starts_with(SYNC) {
                    s.syncs_seen += 1;
                } else if let Some(line) = parse(&raw) {
                    s.lines.push(line);
                }
                cv.notify_all();
            }
        })?;
        Ok(Capture { path: path.to_owned(), shared, syncs_sent: Mutex::new(0) })
    }

    /// Bind at `/dev/log` in the current (private!) mount namespace, making
    /// `/dev` writable first when it has no `log` entry. `scratch` must
    /// outlive the capture.
    pub fn at_dev_log(scratch: &Path) -> io::Result<Capture> {
        let dev_log = Path::new("/dev/log");
        if dev_log.symlink_metadata().is_err() {
            crate::mountns::writable_dev()?;
            return Capture::bind(dev_log);
        }
        // An existing /dev/log (a socket or a symlink to one): bind ours over it.
        let ours = scratch.join("log");
        let capture = Capture::bind(&ours)?;
        let target = std::fs::canonicalize(dev_log).unwrap_or_else(|_| dev_log.to_owned());
        crate::mountns::bind(&ours, &target)?;
        Ok(capture)
    }

    /// Every line received so far, after making sure that everything sent
    /// before this call has been read: a marker datagram is sent through the
    /// same socket and waited for (datagrams arrive in order).
    pub fn sync(&self) -> Vec<Line> {
        let mut sent = self.syncs_sent.lock().unwrap_or_else(|p| p.into_inner());
        *sent += 1;
        let client = UnixDatagram::unbound().and_then(|c| {
            c.connect(&self.path)?;
            c.send(format!("{SYNC}{}", *sent).as_bytes())
        });
        let (lock, cv) = &*self.shared;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        if client.is_ok() {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while s.syncs_seen < *sent && std::time::Instant::now() < deadline {
                s = cv.wait_timeout(s, Duration::from_millis(100)).unwrap_or_else(|p| p.into_inner()).0;
            }
        }
        s.lines.clone()
    }

    /// Like [`Capture::sync`], then forget the lines returned.
    pub fn take(&self) -> Vec<Line> {
        let lines = self.sync();
        let (lock, _) = &*self.shared;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        let seen = lines.len().min(s.lines.len());
        s.lines.drain(..seen);
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3164_lines() {
        let l =
            parse("<86>Nov 26 17:20:01 sshd[42]: pam_pag(sshd:session): user alice: created PAG 5").unwrap();
        assert_eq!((l.facility, l.severity), (AUTHPRIV, INFO));
        assert_eq!((l.tag.as_str(), l.pid), ("sshd", Some(42)));
        assert_eq!(l.message, "pam_pag(sshd:session): user alice: created PAG 5");
        assert_eq!(parse("no header"), None);
    }

    #[test]
    fn captures_in_order_without_blocking_senders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let capture = Capture::bind(&path).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        client.connect(&path).unwrap();
        // More than max_dgram_qlen (often 10) in a row: the reader keeps up.
        for i in 0..50 {
            client.send(format!("<83>Nov 26 17:20:01 t[1]: line {i}").as_bytes()).unwrap();
        }
        let lines = capture.take();
        assert_eq!(lines.len(), 50);
        assert_eq!(lines[49].message, "line 49");
        assert_eq!(lines[0].severity, ERR);
        assert!(capture.sync().is_empty());
    }
}
