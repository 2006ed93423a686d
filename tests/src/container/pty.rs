//! A program on a pseudo-terminal (`login`, `su` with a password prompt),
//! driven like a person at a terminal: wait for a prompt, type a line.
//!
//! The pty comes from the container's own devpts (see `layout`): the test
//! process opens the container's `/dev/ptmx` through pid 1's root
//! (`/proc/<pid 1>/root/dev/ptmx`), so the terminal is `/dev/pts/N` inside,
//! where `login` looks it up, and the master stays with the test.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::error::{io_context, Error, Result};

/// Everything the program wrote so far, and whether the pty closed.
#[derive(Default)]
struct Transcript {
    bytes: Vec<u8>,
    closed: bool,
}

/// A program running on a pty.
pub struct PtySession {
    what: String,
    master: File,
    child: Child,
    transcript: Arc<(Mutex<Transcript>, Condvar)>,
    /// How much of the transcript [`PtySession::expect`] has consumed.
    consumed: usize,
}

/// Marker printed after a command run by [`PtySession::run`]; typed as
/// `PAG""DONE` so the terminal's echo of the typed line does not match.
const DONE_MARKER: &str = "PAGDONE ";

impl PtySession {
    /// Start `cmd` with a new pty of the container whose pid 1 is
    /// `host_pid` as its stdin, stdout and stderr.
    pub(crate) fn start(mut cmd: Command, what: String, host_pid: u32) -> Result<Self> {
        let ptmx = format!("/proc/{host_pid}/root/dev/ptmx");
        let (master, slave) = crate::process::open_pty(std::path::Path::new(&ptmx))
            .map_err(io_context(format!("opening {ptmx}")))?;
        let slave: OwnedFd = slave;
        let clone = |fd: &OwnedFd| fd.try_clone().map_err(io_context("dup pty slave"));
        cmd.stdin(Stdio::from(clone(&slave)?)).stdout(Stdio::from(clone(&slave)?)).stderr(Stdio::from(slave));
        let child = cmd.spawn().map_err(io_context(format!("starting `{what}` on a pty")))?;
        drop(cmd); // closes our copies of the slave, so EOF/EIO comes when the program ends
        let master = File::from(master);
        let transcript = Arc::new((Mutex::new(Transcript::default()), Condvar::new()));
        let mut reader = master.try_clone().map_err(io_context("dup pty master"))?;
        let shared = Arc::clone(&transcript);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                // EIO once the last slave holder exits: that is the end.
                let n = reader.read(&mut buf).unwrap_or(0);
                let (lock, cvar) = &*shared;
                let mut t = lock.lock().unwrap_or_else(|p| p.into_inner());
                if n == 0 {
                    t.closed = true;
                    cvar.notify_all();
                    return;
                }
                t.bytes.extend_from_slice(&buf[..n]);
                cvar.notify_all();
            }
        });
        Ok(Self { what, master, child, transcript, consumed: 0 })
    }

    /// Wait until the program has written `needle` (after what earlier calls
    /// consumed); return the text up to and including it.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.transcript;
        let mut t = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let unread = &t.bytes[self.consumed.min(t.bytes.len())..];
            if let Some(pos) = find(unread, needle.as_bytes()) {
                let end = pos + needle.len();
                let text = String::from_utf8_lossy(&unread[..end]).into_owned();
                self.consumed += end;
                return Ok(text);
            }
            let now = Instant::now();
            if t.closed || now >= deadline {
                return Err(Error::new(format!(
                    "`{}`: {} waiting for {needle:?}; it wrote:\n{}",
                    self.what,
                    if t.closed { "terminal closed" } else { "time limit" },
                    String::from_utf8_lossy(unread)
                )));
            }
            t = cvar.wait_timeout(t, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Type `line` and Enter.
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        self.master
            .write_all(format!("{line}\r").as_bytes())
            .map_err(io_context(format!("typing into `{}`", self.what)))
    }

    /// Type a shell command line and wait for it to finish; return what it
    /// printed (with the echoed line) and its exit status.
    pub fn run(&mut self, command: &str, timeout: Duration) -> Result<(String, i32)> {
        self.send_line(&format!("{command}; echo PAG\"\"DONE $?"))?;
        let text = self.expect(DONE_MARKER, timeout)?;
        let status_line = self.expect("\n", timeout)?;
        let status = status_line.trim().parse().map_err(|_| {
            Error::new(format!("`{}`: no exit status after the marker: {status_line:?}", self.what))
        })?;
        Ok((text.trim_end_matches(DONE_MARKER).to_owned(), status))
    }

    /// Everything the program wrote so far.
    pub fn transcript(&self) -> String {
        let (lock, _) = &*self.transcript;
        String::from_utf8_lossy(&lock.lock().unwrap_or_else(|p| p.into_inner()).bytes).into_owned()
    }

    /// Wait for the program to exit (after `exit` was typed, say).
    pub fn wait(mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) =
                self.child.try_wait().map_err(io_context(format!("waiting for `{}`", self.what)))?
            {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(Error::new(format!(
                    "`{}` did not exit; it wrote:\n{}",
                    self.what,
                    self.transcript()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // Gone already is fine: only leftovers matter here.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
