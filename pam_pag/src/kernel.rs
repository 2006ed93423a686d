//! The operating system side of the module behind a trait: users, PAGs,
//! the token program. The session logic drives it; unit tests drive a fake.

use nix::unistd::User;
use pag::login::{self, LoginPag};
use pag::sys::{self, KeySerial, Special};
use pag::token::TokenStore;

use crate::program::{self, Outcome, Run, Stream};

/// A user from the password database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
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
    /// Run the token program.
    fn run_program(&mut self, run: &Run, relay: &mut dyn FnMut(Stream, &str)) -> Outcome;
}

/// The real thing.
pub struct System;

impl Kernel for System {
    fn lookup_user(&self, name: &str) -> Result<Option<UserEntry>, String> {
        match User::from_name(name) {
            Ok(Some(u)) => Ok(Some(UserEntry { name: u.name, uid: u.uid.as_raw(), gid: u.gid.as_raw() })),
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

    fn run_program(&mut self, run: &Run, relay: &mut dyn FnMut(Stream, &str)) -> Outcome {
        program::run(run, relay)
    }
}
