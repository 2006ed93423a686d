//! The operating system side of the module behind a trait: users, PAGs,
//! the token program. The session logic drives it; unit tests drive a fake.

use nix::unistd::User;
use pag::login::{self, LoginPag};
use pag::sys::{self, KeySerial, Special};
use pag::token::TokenStore;

use crate::program::{self, Report, Run, Stream};

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
    /// Create a PAG for the login in the calling thread; its keyring serial.
    fn create_pag(&mut self, login: &LoginPag) -> pag::Result<i32>;
    /// Remove the tokens from `keyring`, or from the session keyring for `None`.
    fn unlog(&mut self, keyring: Option<i32>) -> pag::Result<usize>;
    /// Revoke the PAG keyring.
    fn revoke(&mut self, keyring: i32) -> pag::Result<()>;
    /// Give the keys `uid` owns in the PAG to root; how many.
    fn charge_to_root(&mut self, keyring: i32, uid: u32) -> pag::Result<usize>;
    /// lstat(2) `path`: its owner and whether it is a symbolic link.
    fn lstat(&self, path: &std::path::Path) -> Result<PathInfo, String>;
    /// Run the token program, relaying each output line (raw bytes).
    fn run_program(&mut self, run: &Run, relay: &mut dyn FnMut(Stream, &[u8])) -> Report;
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

    fn create_pag(&mut self, login: &LoginPag) -> pag::Result<i32> {
        login::create_pag(login).map(|p| p.keyring().0)
    }

    fn unlog(&mut self, keyring: Option<i32>) -> pag::Result<usize> {
        let keyring = keyring.map_or(Special::Session.serial(), KeySerial);
        TokenStore::new(keyring).remove_all()
    }

    fn revoke(&mut self, keyring: i32) -> pag::Result<()> {
        sys::revoke(KeySerial(keyring)).map_err(|e| pag::Error::keyring("revoking the PAG keyring", e))
    }

    fn charge_to_root(&mut self, keyring: i32, uid: u32) -> pag::Result<usize> {
        match pag::group::recognise(KeySerial(keyring))? {
            Some(pag) => login::charge_keys_to_root(&pag, uid),
            None => Ok(0),
        }
    }

    fn lstat(&self, path: &std::path::Path) -> Result<PathInfo, String> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
        Ok(PathInfo { uid: m.uid(), symlink: m.file_type().is_symlink() })
    }

    fn run_program(&mut self, run: &Run, relay: &mut dyn FnMut(Stream, &[u8])) -> Report {
        program::run(run, relay)
    }
}
