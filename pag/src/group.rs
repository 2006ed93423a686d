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

/// Most keys of a keyring [`recognise`] looks at for the marker.
const MAX_LINKS_EXAMINED: usize = 10_000;

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

/// How to create a PAG. The keyring's owner is always the one the kernel
/// gives a joined keyring, the caller's real uid and gid (nothing is ever
/// chowned: see `login` for how the PAM module chooses it).
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateOptions {
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
    official: bool,
    user: Option<u32>,
    tag: Option<u32>,
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

    /// Made by root for a login (the PAM module), not by a user's own tool
    /// (not even root's own pagsh): a login's permissions and a root-owned
    /// marker, which no user process can create, copy or change.
    pub fn is_official(&self) -> bool {
        self.official
    }

    /// The uid of the user whose login (or own tool) the PAG was made for,
    /// as its marker says: what a daemon cross-checks a peer's uid against.
    pub fn user(&self) -> Option<u32> {
        self.user
    }

    /// The tag gid handed out with this PAG (pam_pag's `tag_gids`), as its
    /// marker says.
    pub fn tag(&self) -> Option<u32> {
        self.tag
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

/// Put the calling thread (and what it starts from now on) into a new PAG,
/// owned by its real uid.
///
/// On error after the join the new keyring is revoked (no half-made PAG is
/// left to be mistaken for one) and the thread stays in it; callers that go
/// on must treat the session as having no PAG.
pub fn create(options: &CreateOptions) -> Result<Pag> {
    probe()?;
    let keyring = join_new()?;
    let user = nix::unistd::getuid().as_raw();
    let marker = MarkerFields { user, tag: None };
    finish(keyring, perm::OWN_PAG_KEYRING, marker, options).map_err(|e| revoke_half_made(keyring, e))
}

/// Join a new anonymous session keyring: the first half of [`create`], for
/// callers that must join with other real ids than they finish with.
pub fn join_new() -> Result<KeySerial> {
    sys::join_new_session_keyring().map_err(|e| Error::keyring("creating the PAG keyring", e))
}

/// Make `keyring`, just joined with [`join_new`], a PAG: its final
/// permissions `mask` ([`perm::PAG_KEYRING`] for a login's,
/// [`perm::OWN_PAG_KEYRING`] for a user's own; neither leaves anybody the
/// right to change them again), the marker (owned by the caller's effective
/// uid, naming the keyring and what `marker` says: the uid the PAG is for,
/// its tag), and `@u` if asked.
pub fn finish(keyring: KeySerial, mask: u32, marker: MarkerFields, options: &CreateOptions) -> Result<Pag> {
    let MarkerFields { user, tag } = marker;
    let doing = "setting up the PAG keyring";
    sys::setperm(keyring, mask).map_err(|e| Error::keyring(doing, e))?;

    let marker =
        sys::add_key("user", MARKER_DESCRIPTION, marker_payload(keyring, user, tag).as_bytes(), keyring)
            .map_err(|e| Error::keyring("adding the PAG marker", e))?;
    sys::setperm(marker, perm::MARKER).map_err(|e| Error::keyring("adding the PAG marker", e))?;
    let marker_uid = sys::describe(marker).map_err(|e| Error::keyring(doing, e))?.uid;

    let made = sys::describe(keyring).map_err(|e| Error::keyring(doing, e))?;
    let owner = Owner { uid: made.uid, gid: made.gid };
    if options.link_user_keyring {
        let user = sys::special_id(Special::User, true)
            .map_err(|e| Error::keyring("finding the user keyring", e))?;
        sys::link(user, keyring).map_err(|e| Error::keyring("linking the user keyring into the PAG", e))?;
    }
    let official = mask == perm::PAG_KEYRING && marker_uid == 0;
    Ok(Pag { keyring, marker, owner, marker_uid, official, user: Some(user), tag })
}

/// Revoke a keyring that could not be made a PAG; the error is `why`.
pub fn revoke_half_made(keyring: KeySerial, why: Error) -> Error {
    // Best effort: the error that stopped the set-up is what the caller
    // needs to hear; a revoke failing as well changes nothing for it.
    let _ = sys::revoke(keyring);
    why
}

/// What the calling thread's session keyring is.
pub fn current() -> Result<Current> {
    current_maybe_with_links(false).map(|(current, _)| current)
}

/// A keyring's direct links, each described once, in the kernel's order
/// (keys that vanish or may not be described in between are left out).
pub type DescribedLinks = Vec<(KeySerial, sys::Description)>;

/// [`current`], and the described direct links of the session keyring
/// where finding out what it is read them (a keyring with a PAG's type,
/// description and permissions, PAG or not): a caller that goes on to list
/// what is in it (`tokens`) reads and describes every key once, not twice.
pub fn current_with_links() -> Result<(Current, Option<DescribedLinks>)> {
    current_maybe_with_links(true)
}

fn current_maybe_with_links(with_links: bool) -> Result<(Current, Option<DescribedLinks>)> {
    probe()?;
    // Without create, a thread with no session keyring gets @us installed as
    // its session keyring, so "none" shows as @s == @us.
    let session = match sys::special_id(Special::Session, false) {
        Ok(s) => s,
        Err(sys::SysError { errno: Errno::ENOKEY, .. }) => {
            return Ok((Current::NoSessionKeyring { user_session: None }, None))
        }
        Err(e) => return Err(Error::keyring("finding the session keyring", e)),
    };
    match sys::special_id(Special::UserSession, false) {
        Ok(us) if us == session => return Ok((Current::NoSessionKeyring { user_session: Some(us) }, None)),
        _ => {}
    }
    let (pag, links) = if with_links { recognise_with_links(session)? } else { (recognise(session)?, None) };
    Ok(match pag {
        Some(pag) => (Current::Pag(pag), links),
        None => (Current::Session(session), links),
    })
}

/// The PAG whose keyring is `keyring`, if it is one and the caller may read
/// its list of links (possessors, and its owner uid).
///
/// Everything its creator set is checked: an anonymous session keyring
/// (`_ses`) holding a `user` key `pag:marker` with exactly the marker
/// permissions whose payload names this keyring, and either a login's PAG
/// (exactly [`perm::PAG_KEYRING`], marker owned by root, or by the keyring's
/// owner) or a user's own (exactly [`perm::OWN_PAG_KEYRING`], marker owned
/// by the keyring's owner). Anything else is a session keyring, not a PAG:
/// a marker copied or forged into another keyring, a keyring whose
/// permissions differ, a marker of another user.
pub fn recognise(keyring: KeySerial) -> Result<Option<Pag>> {
    let Some(ring) = describe_candidate(keyring)? else { return Ok(None) };
    let Some(links) = candidate_links(keyring)? else { return Ok(None) };
    // The keyring may be one a peer named (pag::peer, run by root): a bound
    // on the keys examined, far above what a user's key quota lets a PAG hold.
    // Described one by one, stopping at the marker.
    let described =
        links.into_iter().take(MAX_LINKS_EXAMINED).filter_map(|s| Some((s, sys::describe(s).ok()?)));
    Ok(recognise_among(keyring, &ring, described))
}

/// [`recognise`], also handing back every direct link of `keyring`
/// described, where it read them.
fn recognise_with_links(keyring: KeySerial) -> Result<(Option<Pag>, Option<DescribedLinks>)> {
    let Some(ring) = describe_candidate(keyring)? else { return Ok((None, None)) };
    let Some(links) = candidate_links(keyring)? else { return Ok((None, None)) };
    let described: DescribedLinks =
        links.into_iter().filter_map(|s| Some((s, sys::describe(s).ok()?))).collect();
    let pag =
        recognise_among(keyring, &ring, described.iter().take(MAX_LINKS_EXAMINED).map(|(s, d)| (*s, d)));
    Ok((pag, Some(described)))
}

/// `keyring` described, if it has a PAG's type, description and one of the
/// two permission masks a PAG has; `None` for anything else.
fn describe_candidate(keyring: KeySerial) -> Result<Option<sys::Description>> {
    let ring = match sys::describe(keyring) {
        Ok(d) => d,
        Err(sys::SysError { errno: Errno::EACCES | Errno::ENOKEY | Errno::EKEYREVOKED, .. }) => {
            return Ok(None)
        }
        Err(e) => return Err(Error::keyring("describing the session keyring", e)),
    };
    if ring.key_type != "keyring" || ring.description != "_ses" {
        return Ok(None);
    }
    if ring.perm != perm::PAG_KEYRING && ring.perm != perm::OWN_PAG_KEYRING {
        return Ok(None);
    }
    Ok(Some(ring))
}

/// The direct links of a candidate keyring; `None` where the caller may not
/// read them.
fn candidate_links(keyring: KeySerial) -> Result<Option<Vec<KeySerial>>> {
    match sys::keyring_links(keyring) {
        Ok(l) => Ok(Some(l)),
        Err(sys::SysError { errno: Errno::EACCES | Errno::ENOTDIR, .. }) => Ok(None),
        Err(e) => Err(Error::keyring("reading the session keyring", e)),
    }
}

/// The PAG `keyring` (described as `ring` by [`describe_candidate`]) is,
/// judged by its marker among `links` (each with its description).
fn recognise_among<D: std::borrow::Borrow<sys::Description>>(
    keyring: KeySerial,
    ring: &sys::Description,
    links: impl Iterator<Item = (KeySerial, D)>,
) -> Option<Pag> {
    let root_marker_allowed = match ring.perm {
        perm::PAG_KEYRING => true,
        perm::OWN_PAG_KEYRING => false,
        _ => return None,
    };
    for (serial, d) in links {
        let d = d.borrow();
        if d.key_type != "user" || d.description != MARKER_DESCRIPTION || d.perm != perm::MARKER {
            continue;
        }
        let by_root = d.uid == 0 && root_marker_allowed;
        if !by_root && d.uid != ring.uid {
            continue;
        }
        let Ok(payload) = sys::read(serial) else { continue };
        let Some(says) = Marker::parse(&payload).filter(|m| m.keyring == keyring) else { continue };
        return Some(Pag {
            keyring,
            marker: serial,
            owner: Owner { uid: ring.uid, gid: ring.gid },
            marker_uid: d.uid,
            official: root_marker_allowed && d.uid == 0,
            user: says.user,
            tag: says.tag,
        });
    }
    None
}

/// What a new marker records besides its keyring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkerFields {
    /// The uid the PAG is for.
    pub user: u32,
    /// The tag gid handed out with it, if any.
    pub tag: Option<u32>,
}

/// The marker says which keyring it was made for, so a marker that ends up
/// in another keyring does not make that one a PAG, for which user, and
/// with which tag.
fn marker_payload(keyring: KeySerial, user: u32, tag: Option<u32>) -> String {
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let tag = tag.map(|t| format!("tag {t}\n")).unwrap_or_default();
    format!(
        "{MARKER_MAGIC}\nkeyring {keyring}\nuser {user}\n{tag}created {created}\npid {}\n",
        std::process::id()
    )
}

/// What a marker's payload says.
struct Marker {
    keyring: KeySerial,
    user: Option<u32>,
    tag: Option<u32>,
}

impl Marker {
    fn parse(payload: &[u8]) -> Option<Marker> {
        let text = std::str::from_utf8(payload).ok()?;
        let mut lines = text.lines();
        if lines.next()? != MARKER_MAGIC {
            return None;
        }
        let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' '));
        let keyring = KeySerial(field("keyring")?.parse().ok()?);
        let user = field("user").and_then(|u| u.parse().ok());
        let tag = field("tag").and_then(|t| t.parse().ok());
        Some(Marker { keyring, user, tag })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_payload_names_its_keyring_and_user() {
        let p = marker_payload(KeySerial(12345), 1000, Some(70_001));
        let m = Marker::parse(p.as_bytes()).unwrap();
        assert_eq!((m.keyring, m.user, m.tag), (KeySerial(12345), Some(1000), Some(70_001)));
        assert!(
            Marker::parse(marker_payload(KeySerial(1), 2, None).as_bytes()).is_some_and(|m| m.tag.is_none())
        );
        assert!(Marker::parse(b"keyring 12345\n").is_none());
        assert!(Marker::parse(b"pag-marker 1\nkeyring x\n").is_none());
        assert!(Marker::parse(b"pag-marker 1\nkeyring 7\n").is_some_and(|m| m.user.is_none()));
    }
}
