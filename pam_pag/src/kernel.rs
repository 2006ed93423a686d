//! The operating system side of the module behind a trait: users, PAGs,
//! the token program. The session logic drives it; unit tests drive a fake.

use nix::unistd::User;
use pag::login::{self, LoginPag};
use pag::perm;
use pag::sys::{self, KeySerial, Special};
use pag::token::handover::{HandoverError, Limits, Message};
use pag::token::{KeyType, KeyTypeChoice, Token, TokenStore};

use crate::handback;
use crate::program::{self, Report, Run, Stream};

/// What the token program handed back on its pipe: its tokens, and what it
/// says it did with the ticket cache.
pub type Handback = Result<Message, HandoverError>;

/// A user from the password database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Home directory and login shell, for the token program's HOME and SHELL.
    pub home: String,
    pub shell: String,
}

#[cfg(test)]
impl UserEntry {
    /// The user the unit tests log in.
    pub(crate) fn alice() -> Self {
        UserEntry {
            name: "alice".into(),
            uid: 1000,
            gid: 100,
            home: "/home/alice".into(),
            shell: "/bin/bash".into(),
        }
    }
}

/// What lstat(2) says about a path (for KRB5CCNAME checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathInfo {
    pub uid: u32,
    pub symlink: bool,
}

/// What the module does to the system.
pub trait Kernel {
    /// Look the user up; `Ok(None)` when there is no such user.
    fn lookup_user(&self, name: &str) -> Result<Option<UserEntry>, String>;
    /// Create a PAG for the login in the calling thread; its keyring serial
    /// and the tag gid handed out with it.
    fn create_pag(&mut self, login: &LoginPag) -> pag::Result<(i32, Option<u32>)>;
    /// Why the `tag_gids` range cannot be used here (real groups or
    /// subordinate gid ranges inside it); empty when it can.
    fn tag_conflicts(&self, range: &std::ops::RangeInclusive<u32>) -> Vec<String>;
    /// Add `gid` to the calling process's supplementary groups.
    fn add_group(&mut self, gid: u32) -> Result<(), String>;
    /// Remove the tokens from `keyring`, or from the session keyring for `None`.
    fn unlog(&mut self, keyring: Option<i32>) -> pag::Result<usize>;
    /// Revoke the PAG keyring.
    fn revoke(&mut self, keyring: i32) -> pag::Result<()>;
    /// Store `tokens` in `keyring` (the session keyring for `None`), each
    /// replacing the token of its cell in one step: as root, root-owned keys
    /// their possessors can read and drop but not keep or change; otherwise
    /// (a hook run without root) as the caller's own. The type each got.
    fn store_tokens(&mut self, keyring: Option<i32>, tokens: &[Token]) -> Vec<pag::Result<KeyType>>;
    /// Whether the module runs as root (effective uid 0).
    fn is_root(&self) -> bool;
    /// The PAG the calling process is in, if it is in one.
    fn current_pag(&self) -> Option<i32>;
    /// lstat(2) `path`: its owner and whether it is a symbolic link.
    fn lstat(&self, path: &std::path::Path) -> Result<PathInfo, String>;
    /// Run the token program with a pipe at `PAG_TOKEN_FD` to hand its
    /// tokens back on, relaying each output line (raw bytes); what ran, and
    /// what it handed back (read within `limits`).
    fn run_program(
        &mut self,
        run: &Run,
        limits: &Limits,
        relay: &mut dyn FnMut(Stream, &[u8]),
    ) -> (Report, Handback);
}

/// The real thing.
pub struct System;

impl Kernel for System {
    fn lookup_user(&self, name: &str) -> Result<Option<UserEntry>, String> {
        match User::from_name(name) {
            Ok(Some(u)) => Ok(Some(UserEntry {
                name: u.name,
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
                home: u.dir.to_string_lossy().into_owned(),
                shell: u.shell.to_string_lossy().into_owned(),
            })),
            Ok(None) => Ok(None),
            Err(e) => Err(e.desc().to_owned()),
        }
    }

    fn create_pag(&mut self, login: &LoginPag) -> pag::Result<(i32, Option<u32>)> {
        login::create_pag(login).map(|p| (p.keyring().0, p.tag()))
    }

    fn tag_conflicts(&self, range: &std::ops::RangeInclusive<u32>) -> Vec<String> {
        pag::peer::registry::system_conflicts(range)
    }

    fn add_group(&mut self, gid: u32) -> Result<(), String> {
        let gid = nix::unistd::Gid::from_raw(gid);
        let mut groups = nix::unistd::getgroups().map_err(|e| e.desc().to_owned())?;
        if groups.contains(&gid) {
            return Ok(());
        }
        groups.push(gid);
        nix::unistd::setgroups(&groups).map_err(|e| e.desc().to_owned())
    }

    fn unlog(&mut self, keyring: Option<i32>) -> pag::Result<usize> {
        let keyring = keyring.map_or(Special::Session.serial(), KeySerial);
        TokenStore::new(keyring).remove_all()
    }

    fn revoke(&mut self, keyring: i32) -> pag::Result<()> {
        sys::revoke(KeySerial(keyring)).map_err(|e| pag::Error::keyring("revoking the PAG keyring", e))
    }

    fn store_tokens(&mut self, keyring: Option<i32>, tokens: &[Token]) -> Vec<pag::Result<KeyType>> {
        let store = TokenStore::new(keyring.map_or(Special::Session.serial(), KeySerial));
        let mask = if nix::unistd::geteuid().is_root() { perm::STORED_TOKEN } else { perm::TOKEN };
        tokens.iter().map(|t| store.add_as_with(t, KeyTypeChoice::Auto, mask).map(|(_, used)| used)).collect()
    }

    fn is_root(&self) -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn current_pag(&self) -> Option<i32> {
        pag::current().ok()?.pag().map(|p| p.keyring().0)
    }

    fn lstat(&self, path: &std::path::Path) -> Result<PathInfo, String> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(path).map_err(|e| pag::error::describe_io(&e))?;
        Ok(PathInfo { uid: m.uid(), symlink: m.file_type().is_symlink() })
    }

    fn run_program(
        &mut self,
        run: &Run,
        limits: &Limits,
        relay: &mut dyn FnMut(Stream, &[u8]),
    ) -> (Report, Handback) {
        let pipe = match handback::Pipe::new(limits) {
            Ok(p) => p,
            Err(why) => {
                let report =
                    Report::new(program::Outcome::NotStarted(format!("no pipe for its tokens: {why}")));
                return (report, Err(HandoverError::Empty));
            }
        };
        let mut run = run.clone();
        run.extra_fds.push(pipe.program_end());
        run.env.push((handback::VARIABLE.to_owned(), handback::TARGET_FD.to_string()));
        let report = program::run(&run, relay);
        // The runner is done with its copy of our write end; the pipe's own
        // copy goes in receive().
        drop(run);
        (report, pipe.receive(limits))
    }
}
