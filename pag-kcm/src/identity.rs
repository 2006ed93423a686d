//! Which collection a connecting client gets: its login's, found from the
//! tag the kernel reports for it (SO_PEERGROUPS), or its uid's own.
//!
//! The daemon never speaks first (an MIT client would read a challenge as
//! a reply), so unmodified clients are known by their tag alone. A tag
//! counts when the registry names a live PAG of the same uid whose marker
//! carries that tag; anything else (no tag, a tag of another uid, a login
//! that has ended) gets the per-uid collection, which is what sssd-kcm
//! gives every process of a uid.

use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::errno::Errno;
use pag::peer::registry::{pag_state, PagState, Registry};
use pag::peer::{identify, Identify};
use pag::sys::{self, KeySerial};

use crate::store::{Generation, Key, Scope};

/// How the daemon tells logins apart.
#[derive(Debug, Clone)]
pub struct Identifier {
    pub tag_gids: Option<std::ops::RangeInclusive<u32>>,
    pub registry: Registry,
}

/// A client as the daemon files it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub key: Key,
    pub pid: i32,
    /// Why a tag the client carries was not used.
    pub note: Option<Note>,
}

/// Why a tag was not used: routine (a login that has ended, whose leftover
/// processes keep its tag; said with --trace) or odd (a tag of another uid,
/// a registry naming a keyring that is not the login's; always logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub odd: bool,
}

fn routine(text: String) -> Option<Note> {
    Some(Note { text, odd: false })
}

fn odd(text: String) -> Option<Note> {
    Some(Note { text, odd: true })
}

impl Identifier {
    /// File the peer of `stream`; `Err` when the kernel does not say who
    /// it is (the connection is closed).
    pub fn client(&self, stream: &UnixStream) -> pag::Result<Client> {
        let how = Identify { challenge: false, timeout: Duration::ZERO, tag_gids: self.tag_gids.clone() };
        let peer = identify(stream, &how)?;
        let (scope, note) = match peer.tag {
            Some(tag) => self.login_scope(peer.uid, tag),
            None => (Scope::Uid, None),
        };
        Ok(Client { key: Key { uid: peer.uid, scope }, pid: peer.pid, note })
    }

    /// The login `tag` names for `uid`, or the per-uid scope and why not.
    pub fn login_scope(&self, uid: u32, tag: u32) -> (Scope, Option<Note>) {
        let Some((registered, stamp)) = self.registry.lookup_stamped(tag) else {
            return (Scope::Uid, odd(format!("tag {tag} is not in the registry")));
        };
        if registered.uid != uid {
            return (
                Scope::Uid,
                odd(format!("tag {tag} was handed to uid {}, not this uid", registered.uid)),
            );
        }
        let serial = KeySerial(registered.pag);
        if pag_state(serial) != PagState::Live {
            return (
                Scope::Uid,
                routine(format!("the login of tag {tag} (PAG {}) has ended", registered.pag)),
            );
        }
        match pag::group::recognise(serial) {
            Ok(Some(p)) if p.is_official() && p.user() == Some(uid) && p.tag() == Some(tag) => {
                (Scope::Login { pag: registered.pag, generation: Generation::Marker(p.marker().0) }, None)
            }
            // A PAG its user owns (keyring_owner = "user"): root may not
            // look inside; the registry's record time tells it apart.
            _ if matches!(sys::describe(serial), Err(e) if e.errno == Errno::EACCES) => {
                (Scope::Login { pag: registered.pag, generation: Generation::Registered(stamp) }, None)
            }
            _ => (Scope::Uid, odd(format!("PAG {} of tag {tag} is not that login's PAG", registered.pag))),
        }
    }

    /// The collection a client that took part in the challenge gets: its
    /// proved login PAG's. `Err`: why the proof does not name one (the
    /// client keeps what its tag gave it).
    pub fn proved_scope(&self, peer: &pag::peer::Peer) -> Result<Scope, String> {
        let (true, Some(pag)) = (peer.proved, peer.pag) else {
            return Err(peer.note.clone().unwrap_or_else(|| "not proved".into()));
        };
        if !peer.official {
            return Err(format!("PAG {pag} is the user's own (pagsh), not a login's"));
        }
        match pag::group::recognise(KeySerial(pag)) {
            Ok(Some(p)) if p.is_official() && p.user() == Some(peer.uid) => {
                Ok(Scope::Login { pag, generation: Generation::Marker(p.marker().0) })
            }
            _ => Err(format!("PAG {pag} is not a login of uid {}", peer.uid)),
        }
    }

    /// Whether the login collection `key` names is still a live login.
    pub fn still_live(&self, key: &Key) -> bool {
        let Scope::Login { pag, generation } = key.scope else { return true };
        let serial = KeySerial(pag);
        if pag_state(serial) != PagState::Live {
            return false;
        }
        match generation {
            Generation::Marker(marker) => {
                matches!(pag::group::recognise(serial), Ok(Some(p)) if p.marker().0 == marker)
            }
            Generation::Registered(_) => true,
        }
    }
}
