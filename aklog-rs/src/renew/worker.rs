//! A refresh runs in its own process, `aklog --renew-worker`, started by
//! the supervisor for each refresh. libkrb5's calls block (a KDC that does
//! not answer holds each request for half a minute) while the supervisor
//! must go on relaying signals and watching its command; a worker that
//! takes longer than [`DEADLINE`] is killed, which no thread could be; and
//! the idle supervisor maps neither libkrb5 nor aklog's code, so it stays
//! small. The request goes in as JSON on the worker's stdin, the outcome
//! comes back as JSON on its stdout.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::refresh::{refresh, Job, Outcome, ProblemKind};

/// How long one refresh may take: a renewal and a service ticket per
/// cell, each of which libkrb5 gives up on after about 30 s when no KDC
/// answers.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// The most a worker may send back, or be sent; an outcome is a few
/// hundred bytes.
const MAX_MESSAGE: usize = 1 << 20;

/// What a worker is asked to do.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// One refresh: `first` is the renewer's first; `tracked` the serial
    /// each cell's token had after the last refresh.
    Refresh {
        /// The job.
        job: Job,
        /// Whether this is the first refresh.
        first: bool,
        /// Cell to serial.
        tracked: BTreeMap<String, i32>,
    },
    /// Destroy the private cache (the command has ended). The worker says
    /// on stderr when it cannot, and sends no outcome.
    Destroy {
        /// The cache.
        cache: String,
    },
}

/// A running worker.
pub struct Worker {
    child: Child,
    reply: ChildStdout,
    received: Vec<u8>,
    started: Instant,
}

impl Worker {
    /// Start `aklog --renew-worker` with `request` on its stdin.
    pub fn start(aklog: &Path, request: &Request) -> std::io::Result<Worker> {
        let text = serde_json::to_vec(request).map_err(std::io::Error::other)?;
        let mut child =
            Command::new(aklog).arg("--renew-worker").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        // Small enough for the pipe's buffer: the write does not wait for the worker.
        let written = child.stdin.take().map(|mut stdin| stdin.write_all(&text));
        let reply = child.stdout.take();
        match (written, reply) {
            (Some(Ok(())), Some(reply)) => {
                Ok(Worker { child, reply, received: Vec::new(), started: Instant::now() })
            }
            (Some(Err(e)), _) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
            _ => Err(std::io::Error::other("the worker's pipes were not made")),
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
            Ok(n) if self.received.len() + n <= MAX_MESSAGE => {
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
        self.kill_with("");
        Outcome::failed(
            ProblemKind::Unreachable,
            format!("no answer from the KDC within {} s", DEADLINE.as_secs()),
        )
    }

    /// Wait for the worker to end (up to its deadline) and return its
    /// outcome.
    pub fn wait(mut self) -> Outcome {
        loop {
            let mut fds = [nix::poll::PollFd::new(self.fd(), nix::poll::PollFlags::POLLIN)];
            let timeout =
                nix::poll::PollTimeout::try_from(self.time_left()).unwrap_or(nix::poll::PollTimeout::MAX);
            match nix::poll::poll(&mut fds, timeout) {
                Ok(0) => return self.expire(),
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return self.kill_with(&format!("waiting for the refresh: {}", e.desc())),
            }
            if let Some(outcome) = self.on_readable() {
                return outcome;
            }
        }
    }

    /// Stop the worker (the supervisor is done).
    pub fn stop(mut self) {
        let _ = self.kill_with("");
    }

    fn finish(&mut self) -> Outcome {
        let status = self.child.wait();
        match (serde_json::from_slice::<Outcome>(&self.received), status) {
            (Ok(outcome), _) => outcome,
            (Err(_), Ok(status)) => {
                failed(format!("the refresh process ended without an outcome ({status})"))
            }
            (Err(e), Err(_)) => failed(format!("the refresh process ended without an outcome ({e})")),
        }
    }

    fn kill_with(&mut self, message: &str) -> Outcome {
        let _ = self.child.kill();
        let _ = self.child.wait();
        failed(message.to_owned())
    }
}

fn failed(message: String) -> Outcome {
    Outcome::failed(ProblemKind::Fatal, message)
}

/// `aklog --renew-worker`: read one request on stdin, do it, write the
/// outcome on stdout.
pub fn main() -> ExitCode {
    let mut text = Vec::new();
    let read = std::io::stdin().take(MAX_MESSAGE as u64 + 1).read_to_end(&mut text);
    let outcome = match (read, serde_json::from_slice::<Request>(&text)) {
        (Ok(n), _) if n > MAX_MESSAGE => failed("the request is larger than 1 MiB".to_owned()),
        (Ok(_), Ok(Request::Refresh { job, first, tracked })) => refresh(&job, first, &tracked),
        (Ok(_), Ok(Request::Destroy { cache })) => {
            // Nothing to report back but the status; the message is for the user.
            return match super::destroy_cache(&cache) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("aklog: could not destroy the private cache {cache}: {e}");
                    ExitCode::from(4)
                }
            };
        }
        (Ok(_), Err(e)) => failed(format!("--renew-worker is aklog --renew's own: bad request ({e})")),
        (Err(e), _) => failed(format!("reading the request: {e}")),
    };
    let reply = serde_json::to_vec(&outcome).unwrap_or_default();
    match std::io::stdout().write_all(&reply) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(7),
    }
}
