//! Running the token program as the user, with one deadline for it and for
//! everything it starts.
//!
//! The program runs with groups, gid and uid dropped (to the user's own
//! groups, plus any `extra_groups` such as the login's tag), in a throwaway session
//! keyring of its own (never the PAG), with the environment the caller built
//! (an allowlist), stdin from /dev/null, working directory `/`, RLIMIT_CPU =
//! the time limit and RLIMIT_CORE = 0. Where the module may (root), it is
//! pid 1 of a new PID namespace: killing it kills every descendant, even
//! those that called setsid(), and when it exits the kernel kills the rest.
//! Elsewhere it leads its own process group, which is killed with it. At the
//! deadline everything is killed and reaped whatever state the pipes are in.
//!
//! Its stdout and stderr are split into lines for the log, at most
//! [`MAX_LINES`] lines and [`MAX_BYTES`] bytes per run; the rest is read and
//! counted (so the program never blocks on a full pipe) but not relayed.
//!
//! The application's SIGCHLD disposition is left alone: the child has no
//! exit signal and is waited for by its pid only.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::{getgrouplist, Gid, Pid};

use crate::sys::{self, Plan, Stage};

/// A descriptor handed to the program: `fd` of ours becomes `target` in it.
#[derive(Debug, Clone)]
pub struct PassFd {
    pub fd: Arc<OwnedFd>,
    /// The number in the program; 3 or above.
    pub target: RawFd,
}

impl PartialEq for PassFd {
    fn eq(&self, other: &Self) -> bool {
        self.fd.as_raw_fd() == other.fd.as_raw_fd() && self.target == other.target
    }
}

impl Eq for PassFd {}

/// What to run and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Absolute path of the program.
    pub program: String,
    pub args: Vec<String>,
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups on top of the user's own (getgrouplist): the
    /// login's tag, so that a tag-reading daemon (pag-kcm) files what the
    /// program does under that login.
    pub extra_groups: Vec<u32>,
    /// The complete environment of the program.
    pub env: Vec<(String, String)>,
    /// One deadline for the program and all its descendants.
    pub timeout: Duration,
    /// Descriptors to hand to the program besides 0, 1 and 2 (for example
    /// the token pipe as fd 3).
    pub extra_fds: Vec<PassFd>,
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
    /// Ran past the time limit; it and everything it started were killed.
    TimedOut,
    /// Could not be started (not found, not executable, ...).
    NotStarted(String),
    /// Started, but its status could not be collected.
    Unknown(String),
}

/// How the program and its descendants were held together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Containment {
    /// It never ran.
    None,
    /// pid 1 of its own PID namespace.
    PidNamespace,
    /// Its own process group only (why no PID namespace).
    ProcessGroup(String),
}

/// What happened, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub outcome: Outcome,
    pub containment: Containment,
    /// Output lines read but not relayed (over the caps).
    pub dropped_lines: u64,
    /// Output bytes read but not relayed (over the caps, or cut off long lines).
    pub dropped_bytes: u64,
}

impl Report {
    pub fn new(outcome: Outcome) -> Self {
        Report { outcome, containment: Containment::None, dropped_lines: 0, dropped_bytes: 0 }
    }
}

/// Most output lines relayed per run.
pub const MAX_LINES: u64 = 100;
/// Most output bytes relayed per run.
pub const MAX_BYTES: u64 = 16 * 1024;
/// Longest line relayed, in bytes; the rest of the line is dropped.
pub const MAX_LINE: usize = 1000;
/// How long, after the program exited, its pipes may still deliver output
/// (bounded by the deadline too).
const DRAIN: Duration = Duration::from_millis(200);
/// How long a killed program may take to be reaped before we give up.
const REAP: Duration = Duration::from_millis(1000);

/// Run it, handing each output line (raw bytes, unescaped) to `relay`.
pub fn run(spec: &Run, relay: &mut dyn FnMut(Stream, &[u8])) -> Report {
    run_contained(spec, true, relay)
}

/// [`run`], optionally without trying a PID namespace (for tests of the fallback).
pub fn run_contained(spec: &Run, pid_namespace: bool, relay: &mut dyn FnMut(Stream, &[u8])) -> Report {
    let deadline = Instant::now() + spec.timeout;
    let started = match start(spec, pid_namespace) {
        Ok(s) => s,
        Err(why) => return Report::new(Outcome::NotStarted(why)),
    };
    supervise(started, deadline, relay)
}

struct Started {
    pid: Pid,
    containment: Containment,
    out: File,
    err: File,
    status: File,
}

fn cstring(what: &str, text: &str) -> Result<CString, String> {
    CString::new(text).map_err(|_| format!("{what} contains a NUL byte"))
}

fn start(spec: &Run, pid_namespace: bool) -> Result<Started, String> {
    // A hook called without root (a screen locker's setcred REFRESH) runs
    // the program as the caller it already is; anyone else cannot.
    let euid = nix::unistd::geteuid();
    let privileged = euid.is_root();
    if !privileged && euid.as_raw() != spec.uid {
        return Err(format!("the module runs as uid {euid}, neither root nor the user {}", spec.uid));
    }
    let name = cstring("the user name", &spec.user)?;
    let groups = getgrouplist(&name, Gid::from_raw(spec.gid))
        .map_err(|e| format!("cannot list the groups of the user: {}", e.desc()))?;
    let mut groups: Vec<libc::gid_t> = groups.iter().map(|g| g.as_raw()).collect();
    for &gid in &spec.extra_groups {
        if !groups.contains(&gid) {
            groups.push(gid);
        }
    }
    let path = cstring("the program path", &spec.program)?;
    let mut argv = vec![path.clone()];
    for a in &spec.args {
        argv.push(cstring("an argument", a)?);
    }
    let envp: Vec<CString> = spec
        .env
        .iter()
        .map(|(k, v)| cstring("the environment", &format!("{k}={v}")))
        .collect::<Result<_, _>>()?;
    let io = |e: std::io::Error| format!("cannot set up its descriptors: {}", pag::error::describe_io(&e));
    let errno = |e: Errno| format!("cannot set up its descriptors: {}", e.desc());
    let null = File::open("/dev/null").map_err(io)?;
    let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(errno)?;
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(errno)?;
    let (status_r, status_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(errno)?;
    let mut targets = vec![0, 1, 2];
    for extra in &spec.extra_fds {
        if extra.target < 3 || targets.contains(&extra.target) {
            return Err(format!("descriptor {} cannot be handed over twice or below 3", extra.target));
        }
        targets.push(extra.target);
    }
    // Every source numbered above every target, so that no dup2 in the
    // child overwrites a source it still needs.
    let above = targets.iter().max().copied().unwrap_or(2) + 1;
    let lift = |fd: RawFd| sys::lift_fd(fd, above).map_err(errno);
    let mut lifted: Vec<OwnedFd> = vec![
        lift(null.as_raw_fd())?,
        lift(out_w.as_raw_fd())?,
        lift(err_w.as_raw_fd())?,
        lift(status_w.as_raw_fd())?,
    ];
    for extra in &spec.extra_fds {
        lifted.push(lift(extra.fd.as_raw_fd())?);
    }
    let status_fd = lifted[3].as_raw_fd();
    let mut fds: Vec<(RawFd, RawFd)> =
        vec![(lifted[0].as_raw_fd(), 0), (lifted[1].as_raw_fd(), 1), (lifted[2].as_raw_fd(), 2)];
    for (extra, fd) in spec.extra_fds.iter().zip(&lifted[4..]) {
        fds.push((fd.as_raw_fd(), extra.target));
    }
    let cpu_seconds = spec.timeout.as_secs().max(1);
    let plan = Plan {
        path: &path,
        argv: &argv,
        envp: &envp,
        uid: spec.uid,
        gid: spec.gid,
        groups: &groups,
        fds: &fds,
        status_fd,
        cpu_seconds,
        privileged,
    };
    let (pid, containment) = match pid_namespace.then(|| sys::spawn(&plan, true)) {
        Some(Ok(pid)) => (pid, Containment::PidNamespace),
        other => {
            let why = match other {
                Some(Err(e)) => format!("no PID namespace: {}", e.desc()),
                _ => "no PID namespace: not tried".to_owned(),
            };
            let pid = sys::spawn(&plan, false).map_err(|e| format!("cannot start it: {}", e.desc()))?;
            (pid, Containment::ProcessGroup(why))
        }
    };
    // Our copies of the child's ends close here, so EOF means the child's are gone.
    drop((lifted, out_w, err_w, status_w, null));
    Ok(Started {
        pid,
        containment,
        out: File::from(out_r),
        err: File::from(err_r),
        status: File::from(status_r),
    })
}

/// Splits one stream into lines, cutting long ones.
#[derive(Default)]
struct Splitter {
    buffer: Vec<u8>,
    /// Dropping the rest of a line that was too long.
    skipping: bool,
}

/// The per-run caps on what reaches the log.
struct Caps<'r> {
    lines: u64,
    bytes: u64,
    dropped_lines: u64,
    dropped_bytes: u64,
    relay: &'r mut dyn FnMut(Stream, &[u8]),
}

impl Caps<'_> {
    fn offer(&mut self, stream: Stream, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let cost = line.len() as u64 + 1;
        if self.lines < MAX_LINES && self.bytes + cost <= MAX_BYTES {
            self.lines += 1;
            self.bytes += cost;
            (self.relay)(stream, line);
        } else {
            self.dropped_lines += 1;
            self.dropped_bytes += cost;
        }
    }
}

impl Splitter {
    fn feed(&mut self, mut data: &[u8], stream: Stream, caps: &mut Caps<'_>) {
        while !data.is_empty() {
            let newline = data.iter().position(|&b| b == b'\n');
            let (part, rest, ends) = match newline {
                Some(i) => (&data[..i], &data[i + 1..], true),
                None => (data, &[][..], false),
            };
            if self.skipping {
                caps.dropped_bytes += part.len() as u64 + u64::from(ends);
                self.skipping = !ends;
            } else {
                let room = MAX_LINE - self.buffer.len();
                let take = part.len().min(room);
                self.buffer.extend_from_slice(&part[..take]);
                caps.dropped_bytes += (part.len() - take) as u64;
                if ends || self.buffer.len() == MAX_LINE {
                    caps.offer(stream, &self.buffer);
                    self.buffer.clear();
                    self.skipping = !ends;
                }
            }
            data = rest;
        }
    }

    fn finish(&mut self, stream: Stream, caps: &mut Caps<'_>) {
        if !self.buffer.is_empty() {
            caps.offer(stream, &std::mem::take(&mut self.buffer));
        }
    }
}

fn millis(d: Duration) -> PollTimeout {
    PollTimeout::try_from(d.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::ZERO)
}

/// Has `pid` ended? Looks without reaping (WNOWAIT), so its pid (and the
/// process group of that number) stay ours until we reap.
fn ended(pid: Pid) -> bool {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT | WaitPidFlag::__WALL;
    match waitid(Id::Pid(pid), flags) {
        Ok(WaitStatus::StillAlive) => false,
        Ok(_) => true,
        Err(Errno::EINTR) => false,
        Err(_) => true,
    }
}

/// Kill the program and everything it started: pid 1 of a PID namespace
/// takes the namespace with it; a process group is killed as a group.
fn kill_all(pid: Pid) {
    let _ = killpg(pid, Signal::SIGKILL);
    let _ = kill(pid, Signal::SIGKILL);
}

fn supervise(started: Started, deadline: Instant, relay: &mut dyn FnMut(Stream, &[u8])) -> Report {
    let Started { pid, containment, out, err, status } = started;
    let pidfd = sys::pidfd_open(pid).ok();
    let mut streams = [Some(out), Some(err)];
    let mut status = Some(status);
    let mut status_bytes = Vec::new();
    let mut splitters = [Splitter::default(), Splitter::default()];
    let mut caps = Caps { lines: 0, bytes: 0, dropped_lines: 0, dropped_bytes: 0, relay };
    let mut exited_at: Option<Instant> = None;
    let mut timed_out = false;
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let now = Instant::now();
        if exited_at.is_none() && ended(pid) {
            // Before reaping, while the process group cannot be reused:
            // leftovers of a process group go with the program (a PID
            // namespace has already been emptied by the kernel).
            if matches!(containment, Containment::ProcessGroup(_)) {
                let _ = killpg(pid, Signal::SIGKILL);
            }
            exited_at = Some(now);
        }
        let all_closed = streams.iter().all(Option::is_none) && status.is_none();
        if exited_at.is_some() && all_closed {
            break;
        }
        if now >= deadline {
            timed_out = exited_at.is_none();
            break;
        }
        let mut until = deadline;
        if let Some(t) = exited_at {
            if now >= t + DRAIN {
                break;
            }
            until = until.min(t + DRAIN);
        }
        if pidfd.is_none() && exited_at.is_none() {
            // No pidfd: look at the child again in a while.
            until = until.min(now + Duration::from_millis(50));
        }
        let mut fds = Vec::with_capacity(4);
        let mut which = Vec::with_capacity(4);
        for (i, s) in streams.iter().enumerate() {
            if let Some(f) = s {
                fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
                which.push(i);
            }
        }
        if let Some(s) = &status {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
            which.push(2);
        }
        if let (Some(p), None) = (&pidfd, exited_at) {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
            which.push(3);
        }
        let mut ready = [false; 4];
        match poll(&mut fds, millis(until.saturating_duration_since(now))) {
            Ok(_) => {
                for (fd, &i) in fds.iter().zip(&which) {
                    ready[i] = fd.revents().is_some_and(|r| !r.is_empty());
                }
            }
            Err(Errno::EINTR) => continue,
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
        drop(fds);
        for (i, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            if !ready[i] {
                continue;
            }
            let Some(file) = streams[i].as_mut() else { continue };
            match file.read(&mut chunk) {
                Ok(n) if n > 0 => splitters[i].feed(&chunk[..n], stream, &mut caps),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                _ => {
                    splitters[i].finish(stream, &mut caps);
                    streams[i] = None;
                }
            }
        }
        if ready[2] {
            if let Some(file) = status.as_mut() {
                match file.read(&mut chunk) {
                    Ok(n) if n > 0 => status_bytes.extend_from_slice(&chunk[..n.min(64)]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    _ => status = None,
                }
            }
        }
    }
    for (i, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
        if streams[i].is_some() {
            splitters[i].finish(stream, &mut caps);
        }
    }
    kill_all(pid);
    let reaped = reap(pid, pidfd.as_ref());
    let outcome = match (not_started(&status_bytes), timed_out, reaped) {
        (Some(why), _, _) => Outcome::NotStarted(why),
        (None, true, _) => Outcome::TimedOut,
        (None, false, Ok(WaitStatus::Exited(_, code))) => Outcome::Exited(code),
        (None, false, Ok(WaitStatus::Signaled(_, sig, _))) => Outcome::Signalled(sig as i32),
        (None, false, Ok(other)) => Outcome::Unknown(format!("unexpected status {other:?}")),
        (None, false, Err(why)) => Outcome::Unknown(why),
    };
    Report { outcome, containment, dropped_lines: caps.dropped_lines, dropped_bytes: caps.dropped_bytes }
}

/// Reap `pid` (already dead or killed), waiting at most [`REAP`].
fn reap(pid: Pid, pidfd: Option<&OwnedFd>) -> Result<WaitStatus, String> {
    let give_up = Instant::now() + REAP;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(status) => return Ok(status),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.desc().to_owned()),
        }
        let now = Instant::now();
        if now >= give_up {
            return Err(format!("still not ended {} ms after SIGKILL; left behind", REAP.as_millis()));
        }
        let wait = (give_up - now).min(Duration::from_millis(20));
        match pidfd {
            Some(fd) => {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, millis(wait));
            }
            None => std::thread::sleep(wait),
        }
    }
}

/// The child's report from the status pipe: where it failed before exec.
fn not_started(bytes: &[u8]) -> Option<String> {
    let message: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    let errno = Errno::from_raw(i32::from_ne_bytes([message[4], message[5], message[6], message[7]]));
    let text = errno.desc().to_owned();
    match Stage::from_code(message[0]) {
        Some(Stage::Exec) => Some(text),
        Some(stage) => Some(format!("{}: {text}", stage.describe())),
        None => Some(format!("unknown failure: {text}")),
    }
}

#[cfg(test)]
mod tests;
