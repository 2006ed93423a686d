//! Container users: what a test asks for ([`User`]), what the container made
//! of it ([`UserRecord`]), and their lines in the private account files.

use std::io::Write;
use std::process::{Command, Stdio};

use super::error::{io_context, Error, Result};

/// A user the container should have, as the test describes it.
#[derive(Clone, Debug)]
pub struct User {
    pub(crate) name: String,
    pub(crate) password: Option<String>,
    pub(crate) ssh_key: bool,
    pub(crate) shell: String,
}

impl User {
    /// A user named `name` with `/bin/bash`, no password (locked for
    /// password logins) and no ssh key.
    pub fn new(name: &str) -> Self {
        Self { name: name.to_owned(), password: None, ssh_key: false, shell: "/bin/bash".into() }
    }

    /// Give the user this password (for ssh, `su` and `login`).
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    /// Authorise the harness's client key for ssh public-key logins.
    pub fn ssh_key(mut self) -> Self {
        self.ssh_key = true;
        self
    }

    /// Use this login shell.
    pub fn shell(mut self, shell: &str) -> Self {
        self.shell = shell.to_owned();
        self
    }
}

/// A user as created in a container.
#[derive(Clone, Debug)]
pub struct UserRecord {
    /// Login name.
    pub name: String,
    /// Uid, leased for this container only.
    pub uid: u32,
    /// Gid of the user's own group (equal to the uid).
    pub gid: u32,
    /// Password, if the test gave one.
    pub password: Option<String>,
    /// Whether the harness's client key is authorised.
    pub ssh_key: bool,
    /// Login shell.
    pub shell: String,
}

impl UserRecord {
    pub(crate) fn new(user: &User, uid: u32) -> Self {
        Self {
            name: user.name.clone(),
            uid,
            gid: uid,
            password: user.password.clone(),
            ssh_key: user.ssh_key,
            shell: user.shell.clone(),
        }
    }

    /// Home directory inside the container.
    pub fn home(&self) -> String {
        format!("/home/{}", self.name)
    }

    pub(crate) fn passwd_line(&self) -> String {
        format!("{}:x:{}:{}::{}:{}\n", self.name, self.uid, self.gid, self.home(), self.shell)
    }

    pub(crate) fn group_line(&self) -> String {
        format!("{}:x:{}:\n", self.name, self.gid)
    }

    pub(crate) fn gshadow_line(&self) -> String {
        format!("{}:!::\n", self.name)
    }

    /// The shadow line; a user without a password gets `!` (locked).
    pub(crate) fn shadow_line(&self) -> Result<String> {
        let hash = match &self.password {
            Some(password) => sha512_crypt(password)?,
            None => "!".to_owned(),
        };
        // 19000 days: a last change in the past, so no forced change at login.
        Ok(format!("{}:{hash}:19000:0:99999:7:::\n", self.name))
    }
}

/// A `$6$` hash by `openssl passwd -6`, the password given on stdin so it
/// never shows in a process list.
fn sha512_crypt(password: &str) -> Result<String> {
    let mut child = Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_context("openssl passwd -6"))?;
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{password}").map_err(io_context("openssl passwd -6: writing the password"))?;
    }
    let out = child.wait_with_output().map_err(io_context("openssl passwd -6"))?;
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || !hash.starts_with("$6$") {
        return Err(Error::new(format!(
            "openssl passwd -6 failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_lines() {
        let user = UserRecord::new(&User::new("alice").shell("/bin/sh"), 61234);
        assert_eq!(user.passwd_line(), "alice:x:61234:61234::/home/alice:/bin/sh\n");
        assert_eq!(user.group_line(), "alice:x:61234:\n");
        assert_eq!(user.shadow_line().unwrap(), "alice:!:19000:0:99999:7:::\n");
    }

    #[test]
    fn password_hash_is_sha512_crypt() {
        let user = UserRecord::new(&User::new("bob").password("pw"), 61235);
        let line = user.shadow_line().unwrap();
        assert!(line.starts_with("bob:$6$"), "{line}");
    }
}
