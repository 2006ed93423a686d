//! A real OpenSSH sshd on 127.0.0.1:22 of the container's network namespace,
//! with its own host key and configuration, and the OpenSSH client that logs
//! in to it by password (SSH_ASKPASS) or public key.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use super::error::{io_context, Error, Result};
use super::layout::HARNESS_RUN_DIR_INSIDE;

/// The sshd log inside the container (`-E`).
pub(crate) const SSHD_LOG_INSIDE: &str = "/var/log/sshd.log";
/// The askpass helper inside the container.
pub(crate) const ASKPASS_INSIDE: &str = "/run/pag-test/askpass";
/// Environment variable through which the askpass helper gets the password.
const ASKPASS_ENV: &str = "PAG_TEST_PASSWORD";

/// Keys generated once per test process (ssh-keygen costs more than the
/// whole rest of a container start) and copied into each container.
pub(crate) struct KeyMaterial {
    pub(crate) host_key: String,
    pub(crate) host_key_pub: String,
    pub(crate) client_key: String,
    pub(crate) client_key_pub: String,
}

fn keygen(dir: &Path, name: &str) -> Result<(String, String)> {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .map_err(io_context("ssh-keygen"))?;
    if !out.status.success() {
        return Err(Error::new(format!("ssh-keygen: {}", String::from_utf8_lossy(&out.stderr))));
    }
    let read = |p: &Path| std::fs::read_to_string(p).map_err(io_context(p.display()));
    Ok((read(&path)?, read(&path.with_extension("pub"))?))
}

fn generate() -> Result<KeyMaterial> {
    let dir = std::env::temp_dir().join(format!("pag-test-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(io_context(dir.display()))?;
    let host = keygen(&dir, "host");
    let client = keygen(&dir, "client");
    // The keys now live in memory; the directory is not needed any more.
    let _ = std::fs::remove_dir_all(&dir);
    let ((host_key, host_key_pub), (client_key, client_key_pub)) = (host?, client?);
    Ok(KeyMaterial { host_key, host_key_pub, client_key, client_key_pub })
}

/// The process-wide keys.
pub(crate) fn key_material() -> Result<&'static KeyMaterial> {
    static KEYS: OnceLock<std::result::Result<KeyMaterial, String>> = OnceLock::new();
    KEYS.get_or_init(|| generate().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::new(e.clone()))
}

/// sshd_config: loopback only, PAM for accounts and sessions, password and
/// public key authentication, room for hundreds of concurrent logins.
pub(crate) fn sshd_config() -> String {
    "# written by the pag test harness\n\
     ListenAddress 127.0.0.1\n\
     Port 22\n\
     HostKey /etc/ssh/ssh_host_ed25519_key\n\
     PidFile /run/sshd.pid\n\
     UsePAM yes\n\
     PasswordAuthentication yes\n\
     KbdInteractiveAuthentication no\n\
     PubkeyAuthentication yes\n\
     AuthorizedKeysFile .ssh/authorized_keys\n\
     PermitRootLogin no\n\
     UseDNS no\n\
     PrintMotd no\n\
     PrintLastLog no\n\
     LogLevel VERBOSE\n\
     MaxStartups 1000\n\
     MaxSessions 1000\n\
     LoginGraceTime 60\n"
        .to_owned()
}

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
}

/// The argv of an ssh client login of `user` running `remote_command`, plus
/// the environment it needs.
pub(crate) fn client_argv(user: &str, auth: &Auth, password: Option<&str>, remote_command: &str) -> (Vec<String>, Vec<(String, String)>) {
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
                ["-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no"].map(String::from),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_logins_use_askpass_not_argv() {
        let (argv, env) = client_argv("alice", &Auth::Password(None), Some("s3cret"), "id");
        assert!(!argv.iter().any(|a| a.contains("s3cret")));
        assert!(env.contains(&(ASKPASS_ENV.to_owned(), "s3cret".to_owned())));
        assert_eq!(&argv[argv.len() - 3..], ["alice@127.0.0.1", "--", "id"]);
    }

    #[test]
    fn key_logins_name_the_key() {
        let (argv, env) = client_argv("bob", &Auth::Key, None, "true");
        assert!(argv.contains(&"/run/pag-test/keys/bob".to_owned()));
        assert!(env.is_empty());
    }
}
