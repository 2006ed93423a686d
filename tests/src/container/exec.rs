//! Running programs inside the container: `nsenter` into pid 1's
//! namespaces, with a clean environment, an optional user, a time limit, and
//! an [`Output`] whose assertions print everything needed to see why.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::error::{io_context, Error, Result};

/// The time limit of a command unless the caller gives one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// PATH inside the container.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Who runs a command inside the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum As {
    /// root, with the test process's credentials (and session keyring).
    Root,
    /// A container user, by `setpriv` with the user's groups and a login-like
    /// environment. Not a login: no PAM, no new session keyring.
    User(String),
}

/// A `Command` that runs `argv` inside the container whose pid 1 is
/// `host_pid`, with a clean environment.
pub(crate) fn command(host_pid: u32, who: &As, argv: &[&str]) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.args(["--target", &host_pid.to_string()])
        .args(["--mount", "--uts", "--ipc", "--net", "--pid", "--"])
        .env_clear()
        .env("PATH", PATH)
        .env("LANG", "C.UTF-8")
        .env("TERM", "xterm");
    match who {
        As::Root => {
            cmd.env("HOME", "/root");
        }
        As::User(name) => {
            cmd.args(["setpriv", "--reuid", name, "--regid", name, "--init-groups", "--reset-env", "--"]);
        }
    }
    cmd.args(argv);
    cmd
}

/// What a finished command did.
#[derive(Clone)]
pub struct Output {
    /// What was run, for messages.
    pub what: String,
    /// Exit status (a signal if the time limit killed it).
    pub status: ExitStatus,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
    /// Whether the time limit ended it.
    pub timed_out: bool,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` ended with {}{}\n--- stdout ---\n{}--- stderr ---\n{}--- end ---",
            self.what,
            self.status,
            if self.timed_out { " (time limit)" } else { "" },
            self.stdout,
            self.stderr
        )
    }
}

impl Output {
    /// Panic (showing both streams) unless the command exited with 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.status.success(), "expected success: {self:?}");
        self
    }

    /// Panic unless the command ran to an exit status other than 0.
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(
            !self.status.success() && !self.timed_out && self.status.code().is_some(),
            "expected a failure exit status: {self:?}"
        );
        self
    }

    /// Panic unless standard output contains `needle`.
    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Self {
        assert!(self.stdout.contains(needle), "expected {needle:?} in stdout: {self:?}");
        self
    }

    /// Panic unless standard error contains `needle`.
    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(self.stderr.contains(needle), "expected {needle:?} in stderr: {self:?}");
        self
    }

    /// Standard output without surrounding white space.
    pub fn stdout_trimmed(&self) -> &str {
        self.stdout.trim()
    }
}

fn drain(mut stream: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        // A read error ends the capture; what was read so far is kept.
        let _ = stream.read_to_end(&mut bytes);
        bytes
    })
}

/// A command started in the background; [`Background::wait`] collects it.
pub struct Background {
    what: String,
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

/// Start `cmd` with its streams captured, writing `stdin` to it first.
pub(crate) fn spawn(mut cmd: Command, what: String, stdin: Option<Vec<u8>>) -> Result<Background> {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(io_context(format!("starting `{what}`")))?;
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        std::thread::spawn(move || {
            // The program may exit without reading its input; that is its business.
            let _ = pipe.write_all(&bytes);
        });
    }
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    Ok(Background { what, child, stdout, stderr })
}

impl Background {
    /// The host pid of the started program (`nsenter`, outside the container).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait for it to end, killing it after `timeout`.
    pub fn wait(mut self, timeout: Duration) -> Result<Output> {
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status = loop {
            match self.child.try_wait().map_err(io_context(format!("waiting for `{}`", self.what)))? {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    timed_out = true;
                    // Already gone is fine; the wait below reports its status.
                    let _ = self.child.kill();
                    break self.child.wait().map_err(io_context(format!("waiting for `{}`", self.what)))?;
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        let collect = |h: Option<JoinHandle<Vec<u8>>>| {
            String::from_utf8_lossy(&h.and_then(|h| h.join().ok()).unwrap_or_default()).into_owned()
        };
        Ok(Output {
            what: std::mem::take(&mut self.what),
            status,
            stdout: collect(self.stdout.take()),
            stderr: collect(self.stderr.take()),
            timed_out,
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // Dropped without wait: stop it so no test leaves a process behind.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Run `cmd` to its end (or the time limit).
pub(crate) fn run(cmd: Command, what: String, stdin: Option<Vec<u8>>, timeout: Duration) -> Result<Output> {
    spawn(cmd, what, stdin)?.wait(timeout)
}

/// Quote `word` for a POSIX shell.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+".contains(&b)) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// An error for an output that should have succeeded.
pub(crate) fn require_success(output: Output) -> Result<Output> {
    if output.status.success() {
        Ok(output)
    } else {
        Err(Error::new(format!("{output:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_quote("alice"), "alice");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
