//! What a login service running as root (the PAM module) does for a user:
//! create the user's PAG so that it is charged to the right uid, and move the
//! quota charge of keys the user's token program added onto root.
//!
//! Kernel facts this relies on (DESIGN.md, "Kernel facts"): a keyring made by
//! KEYCTL_JOIN_SESSION_KEYRING is owned by, and charged to, the caller's
//! *real* uid; add_key charges the caller's fsuid; KEYCTL_CHOWN moves the
//! charge to the new owner (and fails with EDQUOT when that owner is full).
//! The user keeps full access to a root-owned PAG as its possessor.

use nix::unistd::{getresgid, getresuid, setresgid, setresuid, Gid, Uid};

use crate::config::pam::KeyringOwner;
use crate::error::{Error, Result};
use crate::group::{self, CreateOptions, Owner, Pag};
use crate::sys::{self, KeySerial, SysError};

/// A PAG for `user`, created by root.
#[derive(Debug, Clone, Copy)]
pub struct LoginPag {
    /// The user who logs in.
    pub user: Owner,
    /// Who owns, and is charged for, the PAG keyring.
    pub keyring_owner: KeyringOwner,
    /// Link the user's own user keyring (`@u` of `user`, not of root) into the PAG.
    pub link_user_keyring: bool,
}

/// Create the PAG for a login in the calling thread. The caller must be root
/// (real uid 0), as a PAM session stack is.
///
/// The keyring and its marker are always created as root, so they are charged
/// to root; with [`KeyringOwner::User`] the keyring is then given to the user
/// (which charges the user, and may fail with EDQUOT).
pub fn create_pag(login: &LoginPag) -> Result<Pag> {
    let owner = match login.keyring_owner {
        KeyringOwner::Root => None,
        KeyringOwner::User => Some(login.user),
    };
    let pag = group::create(&CreateOptions { owner, link_user_keyring: false })?;
    if login.link_user_keyring {
        link_user_keyring_of(login.user)?;
    }
    Ok(pag)
}

/// Link the user keyring of `user` into the calling thread's session keyring.
///
/// The kernel resolves `@u` from the *real* uid, so, as pam_keyinit does, the
/// real ids switch to the user for the one call and back (the effective uid
/// stays root throughout, so nothing is given away). Creating `@u` when it
/// does not exist yet charges the user, once per user, as pam_keyinit does.
fn link_user_keyring_of(user: Owner) -> Result<()> {
    let ids = getresuid().map_err(switch_error)?;
    let gids = getresgid().map_err(switch_error)?;
    let switch = || -> nix::Result<()> {
        setresgid(Gid::from_raw(user.gid), gids.effective, gids.saved)?;
        setresuid(Uid::from_raw(user.uid), ids.effective, ids.saved)
    };
    let switched = switch();
    let linked = switched.map(|()| sys::link(sys::Special::User.serial(), sys::Special::Session.serial()));
    let restored = setresuid(ids.real, ids.effective, ids.saved)
        .and_then(|()| setresgid(gids.real, gids.effective, gids.saved));
    restored.map_err(switch_error)?;
    match linked {
        Err(e) => Err(switch_error(e)),
        Ok(linked) => linked.map_err(|e| Error::keyring("linking the user keyring into the PAG", e)),
    }
}

fn switch_error(errno: nix::errno::Errno) -> Error {
    Error::keyring("switching the real uid to link the user keyring", SysError { op: "link", errno })
}

/// Give to root (uid 0) every key and keyring in `pag` owned by `uid`,
/// descending into keyrings the user added (a KEYRING: ccache is a keyring of
/// keys), so that the token program's keys stop counting against the user's
/// quota. The user's own user keyrings (`_uid.N`, `_uid_ses.N`) are never
/// touched. Returns how many keys were given to root.
///
/// The caller must possess the PAG (be in it) and be root.
pub fn charge_keys_to_root(pag: &Pag, uid: u32) -> Result<usize> {
    let mut moved = 0;
    give_to_root(pag.keyring(), uid, 0, &mut moved)?;
    Ok(moved)
}

const MAX_DEPTH: usize = 4;

fn give_to_root(keyring: KeySerial, uid: u32, depth: usize, moved: &mut usize) -> Result<()> {
    let links = sys::keyring_links(keyring).map_err(|e| Error::keyring("listing the PAG", e))?;
    for key in links {
        let Ok(d) = sys::describe(key) else { continue };
        if is_user_keyring(&d) {
            continue;
        }
        if d.uid == uid {
            sys::chown(key, Some(0), None).map_err(|e| Error::keyring("giving a token key to root", e))?;
            *moved += 1;
        }
        if d.key_type == "keyring" && depth < MAX_DEPTH {
            give_to_root(key, uid, depth + 1, moved)?;
        }
    }
    Ok(())
}

fn is_user_keyring(d: &sys::Description) -> bool {
    d.key_type == "keyring" && (d.description.starts_with("_uid.") || d.description.starts_with("_uid_ses."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(description: &str) -> sys::Description {
        sys::Description {
            key_type: "keyring".into(),
            uid: 5,
            gid: 5,
            perm: 0,
            description: description.into(),
        }
    }

    #[test]
    fn user_keyrings_are_left_alone() {
        assert!(is_user_keyring(&keyring("_uid.1000")));
        assert!(is_user_keyring(&keyring("_uid_ses.1000")));
        assert!(!is_user_keyring(&keyring("_krb_FILE")));
        let mut user_key = keyring("_uid.1000");
        user_key.key_type = "user".into();
        assert!(!is_user_keyring(&user_key));
    }
}
