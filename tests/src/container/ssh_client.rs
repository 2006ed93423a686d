//! The OpenSSH client logging in to the container's sshd from inside the
//! container: by password through SSH_ASKPASS (never on a command line) or
//! by the harness's client key, or with Kerberos tickets (GSSAPI, `ssh -K`,
//! delegating them). [`SshLogin`] reads like the scenario:
//! `ct.ssh("alice").password().run("id")`.

use std::time::Duration;

use super::error::Result;
use super::exec::{self, As, Background, Output, DEFAULT_TIMEOUT};
use super::layout::HARNESS_RUN_DIR_INSIDE;
use super::users::UserRecord;
use super::Container;

/// The askpass helper inside the container.
pub(crate) const ASKPASS_INSIDE: &str = "/run/pag-test/askpass";
/// Environment variable through which the askpass helper gets the password.
const ASKPASS_ENV: &str = "PAG_TEST_PASSWORD";

/// The askpass helper: prints the password the client was given in its
/// environment (never on a command line).
pub(crate) fn askpass_script() -> String {
    format!("#!/bin/sh\nprintf '%s\\n' \"${ASKPASS_ENV}\"\n")
}

/// How the client authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Password through SSH_ASKPASS (the user's password unless overridden).
    Password(Option<String>),
    /// The harness's client key.
    Key,
    /// GSSAPI with the tickets of the client's cache, delegated to the
    /// server (`ssh -K`).
    Gssapi {
        /// The client's KRB5CCNAME.
        ccache: String,
        /// The server's host name as its principal names it
        /// (`host/<name>@REALM`); the client connects to 127.0.0.1, which
        /// names no principal.
        server: String,
    },
}

/// The argv of an ssh client login of `user` running `remote_command`, plus
/// the environment it needs.
pub(crate) fn client_argv(
    user: &str,
    auth: &Auth,
    password: Option<&str>,
    tty: bool,
    remote_command: &str,
) -> (Vec<String>, Vec<(String, String)>) {
    let mut argv: Vec<String> = [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=20",
        "-o",
        "NumberOfPasswordPrompts=1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut env = Vec::new();
    match auth {
        Auth::Password(explicit) => {
            argv.extend(
                ["-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no"]
                    .map(String::from),
            );
            env.push(("SSH_ASKPASS".into(), ASKPASS_INSIDE.into()));
            env.push(("SSH_ASKPASS_REQUIRE".into(), "force".into()));
            env.push(("DISPLAY".into(), ":0".into()));
            let password = explicit.as_deref().or(password).unwrap_or_default();
            env.push((ASKPASS_ENV.into(), password.into()));
        }
        Auth::Key => {
            argv.extend(
                [
                    "-o",
                    "PreferredAuthentications=publickey",
                    "-o",
                    "IdentitiesOnly=yes",
                    "-o",
                    "BatchMode=yes",
                    "-i",
                ]
                .map(String::from),
            );
            argv.push(client_key_inside(user));
        }
        Auth::Gssapi { ccache, server } => {
            argv.push("-K".into());
            argv.extend(
                [
                    "-o",
                    "PreferredAuthentications=gssapi-with-mic",
                    "-o",
                    "PubkeyAuthentication=no",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                ]
                .map(String::from),
            );
            argv.push(format!("GSSAPIServerIdentity={server}"));
            env.push(("KRB5CCNAME".into(), ccache.clone()));
        }
    }
    if tty {
        // Twice: a terminal on the server even though the client's stdin is none.
        argv.push("-tt".into());
    }
    argv.push(format!("{user}@127.0.0.1"));
    argv.push("--".into());
    argv.push(remote_command.into());
    (argv, env)
}

/// Where the client key for `user`'s logins lives inside the container.
pub(crate) fn client_key_inside(user: &str) -> String {
    format!("{HARNESS_RUN_DIR_INSIDE}/keys/{user}")
}

/// An ssh login being described: `ct.ssh("alice").password().run("id")`.
pub struct SshLogin<'a> {
    container: &'a Container,
    user: UserRecord,
    auth: Auth,
    tty: bool,
    timeout: Duration,
}

impl<'a> SshLogin<'a> {
    pub(crate) fn new(container: &'a Container, user: UserRecord) -> Self {
        Self { container, user, auth: Auth::Key, tty: false, timeout: DEFAULT_TIMEOUT }
    }

    /// Authenticate with the user's password (through SSH_ASKPASS).
    pub fn password(mut self) -> Self {
        self.auth = Auth::Password(None);
        self
    }

    /// Authenticate with this password instead of the user's.
    pub fn with_password(mut self, password: &str) -> Self {
        self.auth = Auth::Password(Some(password.to_owned()));
        self
    }

    /// Authenticate with the harness's client key (the default).
    pub fn key(mut self) -> Self {
        self.auth = Auth::Key;
        self
    }

    /// Authenticate with the Kerberos tickets in `ccache` (inside the
    /// container) and delegate them (`ssh -K`); `server` is the host name
    /// of sshd's `host/` principal.
    pub fn gssapi(mut self, ccache: &str, server: &str) -> Self {
        self.auth = Auth::Gssapi { ccache: ccache.to_owned(), server: server.to_owned() };
        self
    }

    /// Ask for a terminal on the server (`ssh -tt`): the command runs on a
    /// pty that sshd allocates, as an interactive login's shell does.
    pub fn tty(mut self) -> Self {
        self.tty = true;
        self
    }

    /// Time limit of the whole login and command (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn command(&self, remote_command: &str) -> (std::process::Command, String) {
        let (argv, env) =
            client_argv(&self.user.name, &self.auth, self.user.password.as_deref(), self.tty, remote_command);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut cmd = self.container.command(&As::Root, &argv);
        cmd.envs(env);
        (cmd, format!("ssh {}@127.0.0.1 {remote_command}", self.user.name))
    }

    /// Log in, run `remote_command` in the user's shell, and log out.
    pub fn run(&self, remote_command: &str) -> Result<Output> {
        let (cmd, what) = self.command(remote_command);
        exec::run(cmd, what, None, self.timeout)
    }

    /// Log in and run `remote_command` in the background (a session that
    /// stays open while the test does other things).
    pub fn spawn(&self, remote_command: &str) -> Result<Background> {
        let (cmd, what) = self.command(remote_command);
        exec::spawn(cmd, what, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_logins_use_askpass_not_argv() {
        let (argv, env) = client_argv("alice", &Auth::Password(None), Some("s3cret"), false, "id");
        assert!(!argv.iter().any(|a| a.contains("s3cret")));
        assert!(env.contains(&(ASKPASS_ENV.to_owned(), "s3cret".to_owned())));
        assert_eq!(&argv[argv.len() - 3..], ["alice@127.0.0.1", "--", "id"]);
    }

    #[test]
    fn key_logins_name_the_key() {
        let (argv, env) = client_argv("bob", &Auth::Key, None, false, "true");
        assert!(argv.contains(&"/run/pag-test/keys/bob".to_owned()));
        assert!(env.is_empty());
        assert!(!argv.contains(&"-tt".to_owned()));
    }

    #[test]
    fn gssapi_logins_delegate_and_name_the_server() {
        let auth = Auth::Gssapi { ccache: "FILE:/tmp/cc".into(), server: "login1.example.org".into() };
        let (argv, env) = client_argv("carol", &auth, None, true, "tty");
        assert!(argv.contains(&"-K".to_owned()) && argv.contains(&"-tt".to_owned()), "{argv:?}");
        assert!(argv.contains(&"GSSAPIServerIdentity=login1.example.org".to_owned()), "{argv:?}");
        assert_eq!(env, [("KRB5CCNAME".to_owned(), "FILE:/tmp/cc".to_owned())]);
        assert_eq!(&argv[argv.len() - 3..], ["carol@127.0.0.1", "--", "tty"]);
    }
}
