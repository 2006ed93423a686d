//! Shared by the container test files.
//!
//! `LogCapture` is a stop-gap: a few lines of std `UnixDatagram` bound
//! where the container's `/dev/log` is, until the PAM module's syslog
//! capture (tests/src/syslog.rs) is on main.

#![allow(dead_code)] // each test file uses part of this

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Syslog messages sent to a datagram socket.
pub struct LogCapture {
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl LogCapture {
    /// Bind at `path` (for a container: `ct.dev_log_path()`), writable by all
    /// as /dev/log is.
    pub fn bind(path: &Path) -> Self {
        let socket = UnixDatagram::bind(path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, stopped) = (Arc::clone(&lines), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 8192];
            while !stopped.load(Ordering::Relaxed) {
                if let Ok(n) = socket.recv(&mut buf) {
                    sink.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
            }
        });
        Self { lines, stop }
    }

    /// Every message so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Messages containing `needle`, waiting up to `timeout` for at least one.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let found: Vec<String> = self.lines().into_iter().filter(|l| l.contains(needle)).collect();
            if !found.is_empty() || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `keyctl show @s` printed a session keyring `_ses` owned by `uid` (a
/// keyring pam_keyinit made for this session); returns its serial.
#[track_caller]
pub fn assert_keyinit_session_keyring(output: &str, uid: u32) -> String {
    let (serial, owner, description) = session_keyring(output);
    assert!(
        owner == uid.to_string() && description == "_ses",
        "session keyring is not a _ses keyring of uid {uid}: {serial} {owner} {description} in\n{output}"
    );
    serial
}

/// The first keyring line after the `Keyring` header of `keyctl show @s`:
/// (serial, owner uid, description).
#[track_caller]
pub fn session_keyring(output: &str) -> (String, String, String) {
    // On a terminal the header may follow escape sequences of the shell's line editor.
    let mut lines = output.lines().skip_while(|l| !l.trim_end().ends_with("Keyring"));
    assert!(lines.next().is_some(), "no `keyctl show @s` output in:\n{output}");
    let first = lines.next().unwrap_or_default();
    let fields: Vec<&str> = first.split_whitespace().collect();
    assert!(
        fields.len() >= 6 && fields[4] == "keyring:",
        "not a keyring line: {first:?} in\n{output}"
    );
    (fields[0].to_owned(), fields[2].to_owned(), fields[5..].join(" "))
}
