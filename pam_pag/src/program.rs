//! Running the token program as the user: groups, gid and uid dropped, a
//! clean environment, stdin from /dev/null, stdout and stderr relayed line
//! by line, a time limit after which it is killed. The application's SIGCHLD
//! disposition is left alone; we wait for our child's pid only.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::AsFd;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::{getgrouplist, Gid, Uid};

use crate::sys;

/// What to run and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub program: String,
    pub args: Vec<String>,
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    /// The complete environment of the program.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
}

/// Which stream a relayed line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exited with this status (0 is success).
    Exited(i32),
    /// Ended by this signal.
    Signalled(i32),
    /// Ran past the time limit and was killed.
    TimedOut,
    /// Could not be started (not found, not executable, ...).
    NotStarted(String),
    /// Started, but its status could not be collected (the application
    /// ignores SIGCHLD, so the kernel reaped it).
    Unknown(String),
}

/// Longest line relayed; the rest is cut, so a runaway program cannot flood syslog.
const MAX_LINE: usize = 1000;

/// Run it, handing each output line to `relay`.
pub fn run(spec: &Run, relay: &mut dyn FnMut(Stream, &str)) -> Outcome {
    let groups = match CString::new(spec.user.as_str()) {
        Ok(name) => match getgrouplist(&name, Gid::from_raw(spec.gid)) {
            Ok(groups) => groups,
            Err(e) => {
                return Outcome::NotStarted(format!("cannot list the groups of the user: {}", e.desc()))
            }
        },
        Err(_) => return Outcome::NotStarted("user name contains a NUL byte".into()),
    };
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    sys::drop_privileges_on_spawn(&mut command, Uid::from_raw(spec.uid), Gid::from_raw(spec.gid), groups);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::NotStarted(e.to_string()),
    };
    let deadline = Instant::now() + spec.timeout;
    let timed_out = relay_until(&mut child, deadline, relay);
    if timed_out {
        let _ = child.kill();
        let _ = child.wait();
        return Outcome::TimedOut;
    }
    match child.wait() {
        Ok(status) => outcome_of(status),
        Err(e) => Outcome::Unknown(e.to_string()),
    }
}

fn outcome_of(status: ExitStatus) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Outcome::Exited(code),
        (None, Some(sig)) => Outcome::Signalled(sig),
        (None, None) => Outcome::Unknown("no exit status".into()),
    }
}

/// Relay both pipes until both are closed, the child has exited (a program
/// that daemonizes may leave its pipes open in a grandchild), or the
/// deadline passes. Returns true when the deadline passed first.
fn relay_until(child: &mut Child, deadline: Instant, relay: &mut dyn FnMut(Stream, &str)) -> bool {
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let mut pending = [Vec::new(), Vec::new()];
    let mut exited = false;
    while out.is_some() || err.is_some() {
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        let slice = (deadline - now).min(Duration::from_millis(if exited { 0 } else { 200 }));
        let timeout =
            PollTimeout::try_from(slice.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::ZERO);
        let mut ready = [false, false];
        {
            let mut fds = Vec::new();
            let mut which = Vec::new();
            if let Some(o) = &out {
                fds.push(PollFd::new(o.as_fd(), PollFlags::POLLIN));
                which.push(0);
            }
            if let Some(e) = &err {
                fds.push(PollFd::new(e.as_fd(), PollFlags::POLLIN));
                which.push(1);
            }
            match poll(&mut fds, timeout) {
                Ok(_) => {
                    for (fd, i) in fds.iter().zip(which) {
                        ready[i] = fd.revents().is_some_and(|r| !r.is_empty());
                    }
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return false,
            }
        }
        let mut chunk = [0u8; 4096];
        for (i, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            if !ready[i] {
                continue;
            }
            let read = if i == 0 {
                out.as_mut().map(|p| p.read(&mut chunk))
            } else {
                err.as_mut().map(|p| p.read(&mut chunk))
            };
            match read {
                Some(Ok(n)) if n > 0 => {
                    pending[i].extend_from_slice(&chunk[..n]);
                    emit_lines(&mut pending[i], stream, relay);
                }
                Some(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                _ => {
                    if i == 0 {
                        out = None
                    } else {
                        err = None
                    }
                }
            }
        }
        if exited && !ready.iter().any(|r| *r) {
            break;
        }
        if !exited {
            exited = matches!(child.try_wait(), Ok(Some(_)));
        }
    }
    for (i, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
        if !pending[i].is_empty() {
            pending[i].push(b'\n');
            emit_lines(&mut pending[i], stream, relay);
        }
    }
    false
}

fn emit_lines(buffer: &mut Vec<u8>, stream: Stream, relay: &mut dyn FnMut(Stream, &str)) {
    while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buffer.drain(..=end).collect();
        let text = String::from_utf8_lossy(&line[..end]);
        let text = text.trim_end_matches('\r');
        let cut: String = text.chars().take(MAX_LINE).collect();
        relay(stream, &cut);
    }
    if buffer.len() > MAX_LINE * 4 {
        buffer.push(b'\n');
        emit_lines(buffer, stream, relay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_and_cut() {
        let mut got = Vec::new();
        let mut buf = b"one\r\ntwo\npart".to_vec();
        emit_lines(&mut buf, Stream::Stderr, &mut |s, l| got.push((s, l.to_owned())));
        assert_eq!(got, vec![(Stream::Stderr, "one".to_owned()), (Stream::Stderr, "two".to_owned())]);
        assert_eq!(buf, b"part");
        let mut long = vec![b'x'; 5000];
        long.push(b'\n');
        got.clear();
        emit_lines(&mut long, Stream::Stdout, &mut |s, l| got.push((s, l.to_owned())));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.len(), MAX_LINE);
    }
}
