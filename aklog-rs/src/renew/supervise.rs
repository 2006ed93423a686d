//! The renewer's life: refreshes at the times [`schedule`] gives, run by
//! [`Worker`]s; the command it serves, or the process that started it;
//! signals; and what it says when renewal cannot go on (each thing once).
//!
//! With a command: the command runs as the renewer's child once the first
//! refresh worked, in the renewer's PAG, with `KRB5CCNAME` naming the
//! private cache. SIGTERM and SIGHUP are passed on to it; SIGINT and SIGQUIT
//! are not (the terminal sends them to the whole foreground process group,
//! command included); SIGALRM refreshes now. When the command exits, the
//! renewer destroys the private cache and exits with the command's status.
//!
//! Without a command: the renewer runs until SIGTERM, SIGINT or SIGHUP,
//! until the process that started it exits (watched through a pidfd: the
//! login's shell, usually), or until nothing is left to renew (the tokens
//! were removed, the PAG revoked).
//!
//! [`schedule`]: super::schedule

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::refresh::{Job, Outcome, ProblemKind, TicketSource};
use super::schedule::{refresh_at, Backoff, TicketTimes};
use super::worker::{Request, Worker};
use crate::sys;
use serde::{Deserialize, Serialize};

/// The longest the renewer sleeps without looking at the clock: a laptop
/// that slept through a refresh time notices within this.
const LONGEST_SLEEP: Duration = Duration::from_secs(600);

/// How the renewer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Exit with this code.
    Code(u8),
    /// Die of this signal, as the command did.
    Signal(Signal),
}

/// What the supervisor is given.
#[derive(Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The job.
    pub job: Job,
    /// The command and its arguments (empty: none).
    pub command: Vec<OsString>,
    /// Destroy `job.cache` at the end (a private cache made for the command).
    pub private_cache: bool,
    /// Say what is done (`-d`).
    pub debug: bool,
}

/// Seconds since the epoch, as ticket times are.
fn now() -> u32 {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    u32::try_from(seconds).unwrap_or(u32::MAX)
}

/// A time for messages: local, to the second (renewal happens on that scale).
fn at(seconds: u32) -> String {
    use chrono::TimeZone;
    chrono::Local
        .timestamp_opt(i64::from(seconds), 0)
        .single()
        .map_or_else(|| seconds.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

fn say(text: &str) {
    eprintln!("aklog: {text}");
}

/// The environment variable `aklog --renew` hands the plan over in (JSON);
/// the supervisor removes it before anything else starts.
pub const PLAN_ENV: &str = "PAG_RENEW_PLAN";

/// `aklog-renewer`: run the plan `aklog --renew` left in [`PLAN_ENV`].
pub fn main() -> ExitCode {
    let text = std::env::var(PLAN_ENV).unwrap_or_default();
    // Single-threaded here: removing a variable is sound; the command must not see it.
    std::env::remove_var(PLAN_ENV);
    let plan = match serde_json::from_str::<Plan>(&text) {
        Ok(plan) => plan,
        Err(_) => {
            say("aklog-renewer is started by aklog --renew, which gives it its plan; run aklog --renew");
            return ExitCode::from(1);
        }
    };
    let aklog = match std::env::current_exe() {
        Ok(path) => path.with_file_name("aklog"),
        Err(e) => {
            say(&format!("cannot find the renewer's own directory: {e}"));
            return ExitCode::from(7);
        }
    };
    match run(plan, aklog) {
        Ending::Code(code) => ExitCode::from(code),
        Ending::Signal(signal) => pag::sys::signal::die_of(signal),
    }
}

struct Supervisor {
    plan: Plan,
    /// `aklog`, which each worker runs.
    aklog: PathBuf,
    /// The serial of each cell's token after the last refresh.
    tracked: BTreeMap<String, i32>,
    /// When each cell's token ends.
    token_ends: BTreeMap<String, u32>,
    ticket: Option<TicketTimes>,
    /// Whether refreshes are still scheduled.
    renewing: bool,
    /// When the next refresh is due (epoch seconds).
    next: u32,
    backoff: Backoff,
    /// No KDC answered the last attempt (said once per episode).
    unreachable: bool,
    /// Messages already said, so that a retried failure is said once.
    said: BTreeSet<String>,
    worker: Option<(Worker, bool)>,
    command: Option<Pid>,
    started: bool,
}

/// Run the renewer to its end; `aklog` is the program workers run.
pub fn run(plan: Plan, aklog: PathBuf) -> Ending {
    let mut mask = SigSet::empty();
    for s in
        [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGALRM, Signal::SIGCHLD]
    {
        mask.add(s);
    }
    // Blocked signals wait in the signalfd; the command is started with none blocked.
    if let Err(e) = mask.thread_block() {
        say(&format!("cannot block signals: {}", e.desc()));
        return Ending::Code(7);
    }
    let signals = match SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) {
        Ok(fd) => fd,
        Err(e) => {
            say(&format!("cannot watch signals: {}", e.desc()));
            return Ending::Code(7);
        }
    };
    let lifeline = if plan.command.is_empty() { starter_lifeline() } else { None };
    let mut s = Supervisor {
        plan,
        aklog,
        tracked: BTreeMap::new(),
        token_ends: BTreeMap::new(),
        ticket: None,
        renewing: true,
        next: 0,
        backoff: Backoff::default(),
        unreachable: false,
        said: BTreeSet::new(),
        worker: None,
        command: None,
        started: false,
    };
    if let Err(ending) = s.start_worker(true) {
        return ending;
    }
    loop {
        if let Some(ending) = s.step(&signals, lifeline.as_ref()) {
            return s.finish(ending);
        }
    }
}

/// A pidfd of the process that started the renewer, when it has one other
/// than init: the renewer stops when it exits.
fn starter_lifeline() -> Option<OwnedFd> {
    let parent = nix::unistd::getppid();
    if parent.as_raw() <= 1 {
        return None;
    }
    sys::pidfd_open(parent).ok()
}

impl Supervisor {
    fn debug(&self, text: &str) {
        if self.plan.debug {
            say(text);
        }
    }

    fn say_once(&mut self, text: String) {
        if self.said.insert(text.clone()) {
            say(&text);
        }
    }

    fn has_command(&self) -> bool {
        !self.plan.command.is_empty()
    }

    fn uses_keytab(&self) -> bool {
        matches!(self.plan.job.source, TicketSource::Keytab { .. })
    }

    fn start_worker(&mut self, first: bool) -> Result<(), Ending> {
        let request = Request::Refresh { job: self.plan.job.clone(), first, tracked: self.tracked.clone() };
        match Worker::start(&self.aklog, &request) {
            Ok(w) => {
                self.debug(if first { "getting the first ticket and tokens" } else { "refreshing" });
                self.worker = Some((w, first));
                Ok(())
            }
            Err(e) => {
                say(&format!("cannot start a refresh ({}): {e}", self.aklog.display()));
                if first {
                    return Err(Ending::Code(7));
                }
                self.next = now() + self.backoff.next_wait().as_secs() as u32;
                Ok(())
            }
        }
    }

    /// Wait for the next event and handle it; Some(ending) when done.
    fn step(&mut self, signals: &SignalFd, lifeline: Option<&OwnedFd>) -> Option<Ending> {
        let timeout = match &self.worker {
            Some((w, _)) => w.time_left(),
            None if self.renewing => Duration::from_secs(u64::from(self.next.saturating_sub(now()))),
            None => LONGEST_SLEEP,
        }
        .min(LONGEST_SLEEP);
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if let Some((w, _)) = &self.worker {
            fds.push(PollFd::new(w.fd(), PollFlags::POLLIN));
        }
        let lifeline_index = lifeline.map(|fd| {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => {
                say(&format!("waiting: {}", e.desc()));
                return Some(Ending::Code(7));
            }
        }
        let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
        let signal_ready = ready(&fds[0]);
        let worker_ready = self.worker.is_some() && ready(&fds[1]);
        let starter_gone = lifeline_index.is_some_and(|i| ready(&fds[i]));
        drop(fds);

        if signal_ready {
            if let Some(ending) = self.on_signals(signals) {
                return Some(ending);
            }
        }
        if starter_gone {
            self.debug("the process that started the renewer has exited; stopping");
            return Some(Ending::Code(0));
        }
        if worker_ready {
            if let Some((w, first)) = self.worker.as_mut() {
                let first = *first;
                if let Some(outcome) = w.on_readable() {
                    self.worker = None;
                    if let Some(ending) = self.on_outcome(outcome, first) {
                        return Some(ending);
                    }
                }
            }
        } else if let Some((w, first)) = self.worker.as_mut() {
            if w.time_left().is_zero() {
                let first = *first;
                let outcome = w.expire();
                self.worker = None;
                if let Some(ending) = self.on_outcome(outcome, first) {
                    return Some(ending);
                }
            }
        }
        if self.worker.is_none() && self.renewing && now() >= self.next {
            if let Err(ending) = self.start_worker(false) {
                return Some(ending);
            }
        }
        None
    }

    fn on_signals(&mut self, signals: &SignalFd) -> Option<Ending> {
        while let Ok(Some(info)) = signals.read_signal() {
            let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else { continue };
            match signal {
                Signal::SIGCHLD => {
                    if let Some(ending) = self.reap_command() {
                        return Some(ending);
                    }
                }
                Signal::SIGALRM if self.renewing => {
                    self.debug("SIGALRM: refreshing now");
                    self.next = now();
                }
                Signal::SIGALRM => self.debug("SIGALRM: renewal has stopped; nothing to refresh"),
                Signal::SIGTERM | Signal::SIGHUP if self.command.is_some() => {
                    if let Some(pid) = self.command {
                        let _ = kill(pid, signal);
                    }
                }
                // The terminal sends these to the command too.
                Signal::SIGINT | Signal::SIGQUIT if self.has_command() => {}
                _ if self.has_command() && !self.started => return Some(Ending::Code(128 + signal as u8)),
                _ if self.has_command() => {}
                _ => {
                    self.debug(&format!("{signal}: stopping"));
                    return Some(Ending::Code(0));
                }
            }
        }
        None
    }

    /// The command's status, if it has ended.
    fn reap_command(&mut self) -> Option<Ending> {
        let pid = self.command?;
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Some(Ending::Code(u8::try_from(code).unwrap_or(1))),
            Ok(WaitStatus::Signaled(_, signal, _)) => Some(Ending::Signal(signal)),
            Ok(_) => None,
            Err(Errno::ECHILD) => Some(Ending::Code(1)),
            Err(_) => None,
        }
    }

    fn on_outcome(&mut self, outcome: Outcome, first: bool) -> Option<Ending> {
        let mut trouble = false;
        match outcome.ticket {
            Ok(times) => {
                if self.unreachable {
                    self.unreachable = false;
                    say(&format!("a KDC answered again: the ticket now lasts until {}", at(times.end)));
                }
                self.ticket = Some(times);
                if first && !times.renewable && !self.uses_keytab() {
                    self.stop_renewing(format!(
                        "the ticket is not renewable (get one with kinit -r); it and the tokens end at {}",
                        at(times.end)
                    ));
                }
            }
            Err(problem) if first => {
                say(&problem.message);
                return Some(Ending::Code(4));
            }
            Err(problem) => match problem.kind {
                ProblemKind::Unreachable => {
                    let ticket_end = self.ticket.map_or(0, |t| t.end);
                    if !self.uses_keytab() && ticket_end <= now() {
                        self.stop_renewing(format!(
                            "{}; the ticket ended at {} before a KDC answered",
                            problem.message,
                            at(ticket_end)
                        ));
                    } else {
                        if !self.unreachable {
                            self.unreachable = true;
                            let until = if self.uses_keytab() {
                                "for as long as it takes".to_owned()
                            } else {
                                format!("until the ticket ends at {}", at(ticket_end))
                            };
                            say(&format!("{}; trying again with backoff {until}", problem.message));
                        }
                        trouble = true;
                    }
                }
                ProblemKind::NotRenewable | ProblemKind::RenewLimit | ProblemKind::Fatal => {
                    let end = self.ticket.map_or(0, |t| t.end);
                    self.stop_renewing(format!(
                        "{}: renewal stopped; the ticket and tokens end at {}",
                        problem.message,
                        at(end)
                    ));
                }
            },
        }
        for stored in &outcome.stored {
            self.tracked.insert(stored.cell.clone(), stored.serial);
            self.token_ends.insert(stored.cell.clone(), stored.expiry);
        }
        for cell in &outcome.removed {
            self.tracked.remove(cell);
            self.token_ends.remove(cell);
            self.plan.job.cells.retain(|c| c != cell);
            say(&format!("the token for {cell} was removed (unlog or logout): it is not renewed any more"));
        }
        for (cell, message) in &outcome.failed {
            self.say_once(format!("cell {cell}: {message}"));
            trouble = true;
        }
        if first && !outcome.failed.is_empty() && outcome.stored.is_empty() {
            return Some(Ending::Code(4));
        }
        if let Some(reason) = outcome.pag_gone {
            self.stop_renewing(format!("{reason}: stopping"));
            if !self.has_command() {
                return Some(Ending::Code(0));
            }
        }
        if !outcome.removed.is_empty() && self.plan.job.cells.is_empty() {
            self.stop_renewing("no token is left to keep: stopping".to_owned());
            if !self.has_command() {
                return Some(Ending::Code(0));
            }
        }
        if trouble {
            self.next = now() + self.backoff.next_wait().as_secs() as u32;
        } else if let Some(ticket) = self.ticket {
            self.backoff = Backoff::default();
            self.next = refresh_at(&ticket, self.token_ends.values().copied());
            self.debug(&format!("ticket until {}; next refresh at {}", at(ticket.end), at(self.next)));
        }
        if first {
            return self.start_command();
        }
        None
    }

    fn stop_renewing(&mut self, reason: String) {
        if self.renewing {
            self.renewing = false;
            say(&reason);
        }
    }

    /// Start the command after the first refresh; without one, nothing to do.
    fn start_command(&mut self) -> Option<Ending> {
        self.started = true;
        let (program, args) = self.plan.command.split_first()?;
        let mut command = std::process::Command::new(program);
        command.args(args);
        if self.plan.private_cache {
            command.env("KRB5CCNAME", &self.plan.job.cache);
        }
        sys::unblock_signals_in_child(&mut command);
        match command.spawn() {
            Ok(child) => {
                // Reaped through SIGCHLD and waitpid, not through `child`.
                self.command = Some(Pid::from_raw(child.id() as i32));
                None
            }
            Err(e) => {
                let name = program.to_string_lossy();
                if e.kind() == std::io::ErrorKind::NotFound {
                    say(&format!("{name}: command not found"));
                    Some(Ending::Code(127))
                } else {
                    say(&format!("{name}: cannot execute: {e}"));
                    Some(Ending::Code(126))
                }
            }
        }
    }

    /// Stop the worker, destroy the private cache, and end.
    fn finish(mut self, ending: Ending) -> Ending {
        if let Some((worker, _)) = self.worker.take() {
            worker.stop();
        }
        if self.plan.private_cache {
            // The worker says so when it cannot.
            let request = Request::Destroy { cache: self.plan.job.cache.clone() };
            match Worker::start(&self.aklog, &request) {
                Ok(worker) => drop(worker.wait()),
                Err(e) => say(&format!("could not destroy the private cache {}: {e}", self.plan.job.cache)),
            }
        }
        ending
    }
}
