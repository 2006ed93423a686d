//! One renewing job, `keyctl session - RENEWER ... -- sleep N`: started,
//! watched until its command runs, and ended.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use pag_tests::kdc::Kdc;

use crate::procfs::{self, Sample};

/// How long a job may take to start its command.
const START_LIMIT: Duration = Duration::from_secs(30);

/// Which renewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `pagsh --renew --cell example.org -- sleep N` (pagsh makes a PAG and
    /// execs `aklog --renew`, which runs the command).
    Pag,
    /// `krenew -K 1 -- sleep N` (kstart: wakes every minute).
    Krenew,
}

/// What a job needs to start.
pub struct Setup<'a> {
    pub kdc: &'a Kdc,
    /// pagsh (aklog beside it).
    pub pagsh: &'a Path,
    /// An empty pam_pag.toml (PAG_CONFIG): the built-in defaults.
    pub config: &'a Path,
    /// How long the command sleeps (the jobs are ended before that).
    pub seconds: u64,
}

/// A running job.
pub struct Job {
    pub kind: Kind,
    child: Child,
    stderr: PathBuf,
    /// The renewer: the process whose child the command is.
    pub renewer: u32,
    command: u32,
    /// Wall time from spawning `keyctl session` until the command runs.
    pub start_wall: Duration,
    /// The renewer's tree when the command had just started.
    pub at_start: Sample,
}

impl Job {
    /// Start a job renewing the tickets of `ccache` (`FILE:`), and wait
    /// until its command runs.
    pub fn start(setup: &Setup<'_>, kind: Kind, ccache: &str, name: &str) -> Result<Job, String> {
        let seconds = setup.seconds.to_string();
        let mut c = setup.kdc.command("keyctl");
        c.args(["session", "-"]);
        match kind {
            Kind::Pag => c.arg(setup.pagsh).args(["--renew", "--cell", "example.org"]),
            Kind::Krenew => c.args(["krenew", "-K", "1"]),
        };
        c.args(["--", procfs::COMMAND, &seconds]);
        c.env("KRB5CCNAME", ccache).env("PAG_CONFIG", setup.config);
        let stderr = setup.kdc.dir().join(format!("{name}.stderr"));
        let file = File::create(&stderr).map_err(|e| format!("{}: {e}", stderr.display()))?;
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(file);

        let began = Instant::now();
        let mut child = c.spawn().map_err(|e| format!("running keyctl (install keyutils): {e}"))?;
        let said = |stderr: &Path| std::fs::read_to_string(stderr).unwrap_or_default();
        loop {
            // keyctl session and pagsh exec, so the spawned pid is the renewer's.
            let pid = child.id();
            if let Some(command) = procfs::command_child(pid) {
                let start_wall = began.elapsed();
                let at_start = procfs::sample(pid)?;
                return Ok(Job { kind, child, stderr, renewer: pid, command, start_wall, at_start });
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("{name} ended ({status}) before its command ran: {}", said(&stderr)));
            }
            if began.elapsed() > START_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{name}: its command did not start within {} s: {}",
                    START_LIMIT.as_secs(),
                    said(&stderr)
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// What the job said on stderr.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// End the command; the renewer then exits with it (both renewers do).
    /// SIGKILL, not SIGTERM: under `aklog --renew` the command starts with
    /// the renewer's blocked signals (SIGTERM among them), and sleep does
    /// not unblock them.
    fn end(&mut self) {
        let _ = kill(Pid::from_raw(self.command as i32), Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("renew-bench: renewer {} did not exit with its command; killing it", self.renewer);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.end();
    }
}
