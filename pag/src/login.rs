//! What a login service running as root (the PAM module) does for a user:
//! create the user's PAG so that it is owned by, and charged to, the uid the
//! configuration chose, with nothing ever chowned.
//!
//! Kernel facts this relies on (DESIGN.md, "Kernel facts"): a keyring made by
//! KEYCTL_JOIN_SESSION_KEYRING is owned by, and charged to, the caller's
//! *real* uid and gid; add_key gives a key to, and charges, the caller's
//! effective (fs) uid. So the ids are switched around the one join call:
//! to root for a root-owned PAG (sudo and su run by a user keep that user
//! as the real uid: without the switch the PAG would be the caller's), to
//! the user (real and effective, as pam_keyinit does) for a user-owned one.
//! The marker is always added as root, so it is root's in both cases.

use nix::unistd::{getresgid, getresuid, setresgid, setresuid, Gid, ResGid, ResUid, Uid};

use crate::config::pam::KeyringOwner;
use crate::error::{Error, Result};
use crate::group::{self, CreateOptions, MarkerFields, Owner, Pag};
use crate::peer::registry::Registry;
use crate::sys::{self, SysError};

/// A PAG for `user`, created by root.
#[derive(Debug, Clone)]
pub struct LoginPag {
    /// The user who logs in.
    pub user: Owner,
    /// Who owns, and is charged for, the PAG keyring.
    pub keyring_owner: KeyringOwner,
    /// Link the user's own user keyring (`@u` of `user`, not of root) into the PAG.
    pub link_user_keyring: bool,
    /// Hand the PAG a tag gid from this range (pam_pag's `tag_gids`),
    /// recorded in the registry and in the marker.
    pub tag_gids: Option<std::ops::RangeInclusive<u32>>,
}

/// Create the PAG for a login in the calling thread. The caller must have
/// effective uid 0, as a PAM session stack has (its real uid may be another
/// user's: sudo, su).
///
/// Any failure after the join revokes the new keyring, so no half-made PAG
/// (a keyring holding only a marker, say) is left for the session.
pub fn create_pag(login: &LoginPag) -> Result<Pag> {
    group::probe()?;
    let joiner = match login.keyring_owner {
        KeyringOwner::Root => Ids::ROOT,
        KeyringOwner::User => Ids { uid: login.user.uid, gid: login.user.gid, effective_too: true },
    };
    let keyring = as_ids(joiner, group::join_new)?;
    let options = CreateOptions { link_user_keyring: false };
    let finished = tag_for(login, keyring)
        .and_then(|tag| {
            let marker = MarkerFields { user: login.user.uid, tag };
            group::finish(keyring, crate::perm::PAG_KEYRING, marker, &options)
        })
        .and_then(|pag| {
            if login.link_user_keyring {
                link_user_keyring_of(login.user)?;
            }
            Ok(pag)
        });
    finished.map_err(|e| group::revoke_half_made(keyring, e))
}

fn tag_for(login: &LoginPag, keyring: crate::sys::KeySerial) -> Result<Option<u32>> {
    match &login.tag_gids {
        Some(range) => hand_out_tag(range, keyring, login.user.uid),
        None => Ok(None),
    }
}

/// A tag for the new PAG `keyring`; `None` when every tag of the range
/// names a live PAG (the login goes on without one).
fn hand_out_tag(
    range: &std::ops::RangeInclusive<u32>,
    keyring: crate::sys::KeySerial,
    uid: u32,
) -> Result<Option<u32>> {
    Registry::default().hand_out(range, keyring, uid).map_err(|e| {
        let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
        Error::keyring("handing out a tag gid (/run/pag/tags)", SysError { op: "open", errno })
    })
}

/// The ids to take for one call.
#[derive(Debug, Clone, Copy)]
struct Ids {
    uid: u32,
    gid: u32,
    /// Switch the effective ids as well as the real ones.
    effective_too: bool,
}

impl Ids {
    const ROOT: Ids = Ids { uid: 0, gid: 0, effective_too: false };
}

/// Run `f` with the real (and, if asked, effective) uid and gid switched to
/// `ids`, then switch back. The saved ids stay what they were (root), which
/// is what lets the switch back succeed.
fn as_ids<T>(ids: Ids, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let uids = getresuid().map_err(switch_error)?;
    let gids = getresgid().map_err(switch_error)?;
    let (euid, egid) = if ids.effective_too {
        (Uid::from_raw(ids.uid), Gid::from_raw(ids.gid))
    } else {
        (uids.effective, gids.effective)
    };
    // Already so (sshd and login run with real uid 0): nothing to switch.
    let (uid, gid) = (Uid::from_raw(ids.uid), Gid::from_raw(ids.gid));
    if (uids.real, uids.effective, gids.real, gids.effective) == (uid, euid, gid, egid) {
        return f();
    }
    let switched = setresgid(Gid::from_raw(ids.gid), egid, gids.saved)
        .and_then(|()| setresuid(Uid::from_raw(ids.uid), euid, uids.saved));
    let result = switched.map_err(switch_error).and_then(|()| f());
    restore(uids, gids)?;
    result
}

fn restore(uids: ResUid, gids: ResGid) -> Result<()> {
    // The uid first: with the effective uid back to root, the gids may be set.
    setresuid(uids.real, uids.effective, uids.saved)
        .and_then(|()| setresgid(gids.real, gids.effective, gids.saved))
        .map_err(switch_error)
}

/// Link the user keyring of `user` into the calling thread's session keyring.
///
/// The kernel resolves `@u` from the *real* uid, so, as pam_keyinit does, the
/// real ids switch to the user for the one call and back (the effective uid
/// stays root throughout, so nothing is given away). Creating `@u` when it
/// does not exist yet charges the user, once per user, as pam_keyinit does.
fn link_user_keyring_of(user: Owner) -> Result<()> {
    as_ids(Ids { uid: user.uid, gid: user.gid, effective_too: false }, || {
        sys::link(sys::Special::User.serial(), sys::Special::Session.serial())
            .map_err(|e| Error::keyring("linking the user keyring into the PAG", e))
    })
}

fn switch_error(errno: nix::errno::Errno) -> Error {
    Error::keyring("switching ids to make the PAG", SysError { op: "setresuid", errno })
}
