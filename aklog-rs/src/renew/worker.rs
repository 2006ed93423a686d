//! A refresh runs in a child process. libkrb5's calls block, and a KDC
//! that does not answer holds each request for half a minute; meanwhile
//! the supervisor must go on relaying signals and watching its command.
//! A worker that takes longer than [`DEADLINE`] is killed, which no thread
//! could be. The outcome comes back as JSON on a pipe.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{pipe2, ForkResult, Pid};

use super::refresh::{refresh, Job, Outcome, Problem, ProblemKind};
use crate::sys;

/// How long one refresh may take: a renewal and a service ticket per
/// cell, each of which libkrb5 gives up on after about 30 s when no KDC
/// answers.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// The most a worker may send back; an outcome is a few hundred bytes.
const MAX_REPLY: usize = 1 << 20;

/// A running refresh.
pub struct Worker {
    pid: Pid,
    reply: File,
    received: Vec<u8>,
    started: Instant,
}

impl Worker {
    /// Fork a worker running [`refresh`] with the supervisor's state as it
    /// is now.
    pub fn start(job: &Job, first: bool, tracked: &BTreeMap<String, i32>) -> nix::Result<Worker> {
        let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC)?;
        match sys::fork()? {
            ForkResult::Child => {
                drop(read_end);
                let outcome = refresh(job, first, tracked);
                let text = serde_json::to_vec(&outcome).unwrap_or_default();
                let _ = File::from(write_end).write_all(&text);
                // No destructors, no atexit handlers: they belong to the supervisor.
                sys::exit_now(0);
            }
            ForkResult::Parent { child } => {
                drop(write_end);
                Ok(Worker {
                    pid: child,
                    reply: File::from(read_end),
                    received: Vec::new(),
                    started: Instant::now(),
                })
            }
        }
    }

    /// The pipe the outcome arrives on.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.reply.as_fd()
    }

    /// How long until the deadline.
    pub fn time_left(&self) -> Duration {
        DEADLINE.saturating_sub(self.started.elapsed())
    }

    /// The pipe is readable: read what is there. At the end of the reply,
    /// the worker is reaped and its outcome returned.
    pub fn on_readable(&mut self) -> Option<Outcome> {
        let mut chunk = [0u8; 16 * 1024];
        match self.reply.read(&mut chunk) {
            Ok(0) => Some(self.finish()),
            Ok(n) if self.received.len() + n <= MAX_REPLY => {
                self.received.extend_from_slice(&chunk[..n]);
                None
            }
            Ok(_) => Some(self.kill_with("the refresh process sent more than 1 MiB")),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => None,
            Err(e) => Some(self.kill_with(&format!("reading the refresh's outcome: {e}"))),
        }
    }

    /// The deadline passed: kill the worker.
    pub fn expire(&mut self) -> Outcome {
        let mut outcome = self.kill_with("");
        outcome.ticket = Err(Problem {
            kind: ProblemKind::Unreachable,
            message: format!("no answer from the KDC within {} s", DEADLINE.as_secs()),
        });
        outcome
    }

    /// Stop the worker (the supervisor is done).
    pub fn stop(mut self) {
        let _ = self.kill_with("");
    }

    fn finish(&mut self) -> Outcome {
        let status = waitpid(self.pid, None);
        match (serde_json::from_slice::<Outcome>(&self.received), status) {
            (Ok(outcome), _) => outcome,
            (Err(_), Ok(WaitStatus::Signaled(_, signal, _))) => {
                failed(format!("the refresh process was killed by {signal}"))
            }
            (Err(e), _) => failed(format!("the refresh process ended without an outcome ({e})")),
        }
    }

    fn kill_with(&mut self, message: &str) -> Outcome {
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
        failed(message.to_owned())
    }
}

fn failed(message: String) -> Outcome {
    Outcome {
        ticket: Err(Problem { kind: ProblemKind::Fatal, message }),
        stored: Vec::new(),
        removed: Vec::new(),
        failed: Vec::new(),
        pag_gone: None,
    }
}
