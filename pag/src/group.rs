//! Creating and recognising PAGs.
//!
//! A PAG is an anonymous session keyring (KEYCTL_JOIN_SESSION_KEYRING with no
//! name, so it is always new and never shared) with a permission mask that
//! lets only its possessors (the processes whose session keyring it is, and
//! their descendants) search, write, link or join it, and a marker key inside
//! that says "this is a PAG". Plain `keyctl session` and pam_keyinit keyrings
//! have no marker, so [`current`] tells them apart.
//!
//! The PAG id that tools print is the keyring's serial number: unique while
//! the PAG exists, the same number `keyctl show @s` and `/proc/keys` print,
//! and usable with `keyctl` directly.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::perm;
use crate::sys::{self, KeySerial, Special};
use crate::token::TokenStore;

/// The description of the marker key.
pub const MARKER_DESCRIPTION: &str = "pag:marker";
const MARKER_MAGIC: &str = "pag-marker 1";

/// A PAG's id: its keyring serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PagId(pub KeySerial);

impl fmt::Display for PagId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Who owns a new PAG's keyring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

/// How to create a PAG.
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateOptions {
    /// The keyring's owner. `None` keeps what the kernel gives a joined
    /// keyring: the caller's real uid and gid. Changing the uid needs
    /// CAP_SYS_ADMIN (the PAM module creates PAGs for users while root).
    pub owner: Option<Owner>,
    /// Link the user keyring of the caller's real uid (`@u`) into the PAG, as
    /// pam_keyinit does, so what is kept there stays reachable by search.
    pub link_user_keyring: bool,
}

/// A PAG: the keyring and its marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pag {
    keyring: KeySerial,
    marker: KeySerial,
    owner: Owner,
    marker_uid: u32,
}

impl Pag {
    /// The PAG id.
    pub fn id(&self) -> PagId {
        PagId(self.keyring)
    }

    /// The keyring serial.
    pub fn keyring(&self) -> KeySerial {
        self.keyring
    }

    /// The marker key's serial.
    pub fn marker(&self) -> KeySerial {
        self.marker
    }

    /// The keyring's owner.
    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// The uid that created the marker. A PAG made by root (the PAM module)
    /// has a root-owned marker that its users cannot forge or copy.
    pub fn marker_uid(&self) -> u32 {
        self.marker_uid
    }

    /// The tokens in this PAG.
    pub fn tokens(&self) -> TokenStore {
        TokenStore::new(self.keyring)
    }

    /// Revoke the keyring: every process in the PAG loses access to it and
    /// everything reachable only through it.
    pub fn revoke(&self) -> Result<()> {
        sys::revoke(self.keyring).map_err(|e| Error::keyring("revoking the PAG keyring", e))
    }
}

/// The calling thread's session keyring, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current {
    /// No session keyring of its own: `@s` falls back to the user-session
    /// keyring `@us`, shared by every such process of the user.
    NoSessionKeyring {
        /// `@us`, where it exists.
        user_session: Option<KeySerial>,
    },
    /// A session keyring that is not a PAG (`keyctl session`, pam_keyinit).
    Session(KeySerial),
    /// A PAG.
    Pag(Pag),
}

impl Current {
    /// The PAG, if the caller is in one.
    pub fn pag(&self) -> Option<&Pag> {
        match self {
            Current::Pag(p) => Some(p),
            _ => None,
        }
    }

    /// The keyring `@s` resolves to, where there is one.
    pub fn session_keyring(&self) -> Option<KeySerial> {
        match self {
            Current::NoSessionKeyring { user_session } => *user_session,
            Current::Session(k) => Some(*k),
            Current::Pag(p) => Some(p.keyring),
        }
    }
}

/// Probe whether key management system calls work here at all. A seccomp
/// filter shows up as EPERM or ENOSYS on the first call.
pub fn probe() -> Result<()> {
    match sys::special_id(Special::Thread, false) {
        Ok(_) | Err(sys::SysError { errno: Errno::ENOKEY, .. }) => Ok(()),
        Err(e) => Err(Error::keyring("using kernel keyrings", e)),
    }
}

/// Put the calling thread (and what it starts from now on) into a new PAG.
///
/// On error the thread may already be in a fresh session keyring that is not
/// a PAG; callers that go on should treat the session as having no PAG.
pub fn create(options: &CreateOptions) -> Result<Pag> {
    probe()?;
    let keyring =
        sys::join_new_session_keyring().map_err(|e| Error::keyring("creating the PAG keyring", e))?;
    let doing = "setting up the PAG keyring";
    sys::setperm(keyring, perm::PAG_KEYRING).map_err(|e| Error::keyring(doing, e))?;

    let marker = sys::add_key("user", MARKER_DESCRIPTION, marker_payload(keyring).as_bytes(), keyring)
        .map_err(|e| Error::keyring("adding the PAG marker", e))?;
    sys::setperm(marker, perm::MARKER).map_err(|e| Error::keyring("adding the PAG marker", e))?;
    let marker_uid = sys::describe(marker).map_err(|e| Error::keyring(doing, e))?.uid;

    let made = sys::describe(keyring).map_err(|e| Error::keyring(doing, e))?;
    let mut owner = Owner { uid: made.uid, gid: made.gid };
    if let Some(wanted) = options.owner {
        if wanted != owner {
            let uid = (wanted.uid != owner.uid).then_some(wanted.uid);
            let gid = (wanted.gid != owner.gid).then_some(wanted.gid);
            sys::chown(keyring, uid, gid)
                .map_err(|e| Error::keyring("giving the PAG keyring to its owner", e))?;
            owner = wanted;
        }
    }

    if options.link_user_keyring {
        let user = sys::special_id(Special::User, true)
            .map_err(|e| Error::keyring("finding the user keyring", e))?;
        sys::link(user, keyring).map_err(|e| Error::keyring("linking the user keyring into the PAG", e))?;
    }
    Ok(Pag { keyring, marker, owner, marker_uid })
}

/// What the calling thread's session keyring is.
pub fn current() -> Result<Current> {
    probe()?;
    // Without create, a thread with no session keyring gets @us installed as
    // its session keyring, so "none" shows as @s == @us.
    let session = match sys::special_id(Special::Session, false) {
        Ok(s) => s,
        Err(sys::SysError { errno: Errno::ENOKEY, .. }) => {
            return Ok(Current::NoSessionKeyring { user_session: None })
        }
        Err(e) => return Err(Error::keyring("finding the session keyring", e)),
    };
    match sys::special_id(Special::UserSession, false) {
        Ok(us) if us == session => return Ok(Current::NoSessionKeyring { user_session: Some(us) }),
        _ => {}
    }
    Ok(match recognise(session)? {
        Some(pag) => Current::Pag(pag),
        None => Current::Session(session),
    })
}

/// The PAG whose keyring is `keyring`, if it is one and the caller may read
/// its list of links (possessors, and its owner uid).
pub fn recognise(keyring: KeySerial) -> Result<Option<Pag>> {
    let links = match sys::keyring_links(keyring) {
        Ok(l) => l,
        Err(sys::SysError { errno: Errno::EACCES | Errno::ENOTDIR, .. }) => return Ok(None),
        Err(e) => return Err(Error::keyring("reading the session keyring", e)),
    };
    for serial in links {
        let Ok(d) = sys::describe(serial) else { continue };
        if d.key_type != "user" || d.description != MARKER_DESCRIPTION {
            continue;
        }
        let Ok(payload) = sys::read(serial) else { continue };
        if marker_names(&payload) != Some(keyring) {
            continue;
        }
        let ring = sys::describe(keyring).map_err(|e| Error::keyring("describing the PAG keyring", e))?;
        return Ok(Some(Pag {
            keyring,
            marker: serial,
            owner: Owner { uid: ring.uid, gid: ring.gid },
            marker_uid: d.uid,
        }));
    }
    Ok(None)
}

/// The marker says which keyring it was made for, so a marker that ends up
/// in another keyring does not make that one a PAG.
fn marker_payload(keyring: KeySerial) -> String {
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{MARKER_MAGIC}\nkeyring {keyring}\ncreated {created}\npid {}\n", std::process::id())
}

fn marker_names(payload: &[u8]) -> Option<KeySerial> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut lines = text.lines();
    if lines.next()? != MARKER_MAGIC {
        return None;
    }
    lines.find_map(|l| l.strip_prefix("keyring ")).and_then(|s| s.parse().ok()).map(KeySerial)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_payload_names_its_keyring() {
        let p = marker_payload(KeySerial(12345));
        assert_eq!(marker_names(p.as_bytes()), Some(KeySerial(12345)));
        assert_eq!(marker_names(b"keyring 12345\n"), None);
        assert_eq!(marker_names(b"pag-marker 1\nkeyring x\n"), None);
    }
}
