//! Where the caller's tokens live: its PAG, else its own session keyring,
//! else (no session keyring of its own) the user-session keyring `@us`, as
//! Debian's aklog-kafs does. `-setpag` makes a new PAG for the parent.

use pag::sys::{self, KeySerial, Special};
use pag::token::TokenStore;
use pag::{Current, Pag};

use crate::exit::{keyring_failure, Exit, Failure};

/// The keyring the caller's tokens live in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A PAG.
    Pag(Pag),
    /// A session keyring that is not a PAG (`keyctl session`, pam_keyinit).
    Session(KeySerial),
    /// No session keyring of its own: the user-session keyring, shared by
    /// every process of the user that has none.
    UserSession(KeySerial),
}

impl Place {
    /// The caller's place. `create` makes `@us` where it does not exist yet
    /// (aklog is about to store there); otherwise None is returned for it.
    pub fn current(create: bool) -> Result<Option<Place>, Failure> {
        let current = pag::current().map_err(|e| keyring_failure(&e))?;
        Self::from_current(current, create)
    }

    /// The place `current` (what [`pag::current`] or
    /// [`pag::group::current_with_links`] found) names; `create` as for
    /// [`Place::current`].
    pub fn from_current(current: Current, create: bool) -> Result<Option<Place>, Failure> {
        Ok(match current {
            Current::Pag(p) => Some(Place::Pag(p)),
            Current::Session(k) => Some(Place::Session(k)),
            Current::NoSessionKeyring { user_session: Some(us) } => Some(Place::UserSession(us)),
            Current::NoSessionKeyring { user_session: None } if create => {
                let us = sys::special_id(Special::UserSession, true).map_err(|e| {
                    keyring_failure(&pag::Error::keyring("creating the user-session keyring", e))
                })?;
                Some(Place::UserSession(us))
            }
            Current::NoSessionKeyring { user_session: None } => None,
        })
    }

    /// The keyring serial.
    pub fn keyring(&self) -> KeySerial {
        match self {
            Place::Pag(p) => p.keyring(),
            Place::Session(k) | Place::UserSession(k) => *k,
        }
    }

    /// The tokens there.
    pub fn store(&self) -> TokenStore {
        TokenStore::new(self.keyring())
    }

    /// The PAG, if it is one.
    pub fn pag(&self) -> Option<&Pag> {
        match self {
            Place::Pag(p) => Some(p),
            _ => None,
        }
    }

    /// A short name for the kind of keyring (JSON `keyring_kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Place::Pag(_) => "pag",
            Place::Session(_) => "session",
            Place::UserSession(_) => "user-session",
        }
    }

    /// What this place is, in words, for headers and notes.
    pub fn describe(&self) -> String {
        match self {
            Place::Pag(p) => format!("PAG {}", p.id()),
            Place::Session(k) => format!("session keyring {k} (not a PAG)"),
            Place::UserSession(k) => format!(
                "user-session keyring {k} (not a PAG: you have no session keyring of your own, so every \
                 process of yours without one shares it)"
            ),
        }
    }
}

/// The keyring of a `KEYRING:session:NAME[:...]` credentials cache: MIT
/// keeps the collection in a keyring `_krb_NAME` in the session keyring.
pub fn session_ccache_keyring(ccache_name: &str) -> Option<KeySerial> {
    let collection = ccache_name.strip_prefix("KEYRING:session:")?.split(':').next()?;
    sys::search(Special::Session.serial(), "keyring", &format!("_krb_{collection}")).ok()
}

/// KEYCTL_SESSION_TO_PARENT replaces the parent's session keyring only when
/// the caller owns it. Inside a login's PAG that pam_pag made root-owned
/// (`keyring_owner = "root"`, the default) the shell's keyring is root's:
/// say so, and what to do instead, rather than the kernel's bare EPERM.
/// (This process has the shell's session keyring: it inherited it.)
pub fn check_parent_replaceable() -> Result<(), Failure> {
    let Ok(session) = sys::special_id(Special::Session, false) else { return Ok(()) };
    let Ok(described) = sys::describe(session) else { return Ok(()) };
    if described.uid == nix::unistd::geteuid().as_raw() {
        return Ok(());
    }
    let what = match pag::group::recognise(session) {
        Ok(Some(pag)) if pag.is_official() => format!(
            "PAG {session}, which pam_pag made for your login and root owns (keyring_owner = \"root\")"
        ),
        _ => format!("keyring {session}, which uid {} owns", described.uid),
    };
    Err(Failure::new(
        Exit::Token,
        format!(
            "-setpag: your shell's session keyring is {what}; the kernel lets a process replace only a \
             session keyring it owns. Run `pagsh` for a shell in a new PAG (your administrator can also \
             set keyring_owner = \"user\")"
        ),
    ))
}

/// `-setpag`: a new PAG holding `fill`'s tokens, handed to the parent
/// process (the calling shell) with KEYCTL_SESSION_TO_PARENT. The parent
/// switches when it next returns to user space, that is as soon as it sees
/// this process exit.
///
/// See [`check_parent_replaceable`] for what the kernel requires.
///
/// `carry` is a keyring to link into the new PAG as well: a
/// `KEYRING:session:` credentials cache, which the shell would otherwise
/// lose with its old session keyring.
pub fn new_pag_for_parent(
    carry: Option<KeySerial>,
    fill: impl FnOnce(&Place) -> Result<(), Failure>,
) -> Result<Pag, Failure> {
    // Keep the cache possessed across the join through the process keyring:
    // outside the old session keyring its owner may only view it.
    let holder = carry.and_then(|k| {
        let process = sys::special_id(Special::Process, true).ok()?;
        sys::link(k, process).ok().map(|()| (k, process))
    });
    let options = pag::CreateOptions { link_user_keyring: true };
    let pag = pag::create(&options).map_err(|e| Failure::new(Exit::Token, format!("-setpag: {e}")))?;
    if let Some((ccache, process)) = holder {
        if let Err(e) = sys::link(ccache, pag.keyring()) {
            eprintln!(
                "aklog: warning: -setpag: the Kerberos cache stays behind in the old session keyring: {e}"
            );
        }
        let _ = sys::unlink(ccache, process);
    }
    fill(&Place::Pag(pag.clone()))?;
    sys::session_to_parent().map_err(|e| {
        let why = match e.errno {
            nix::errno::Errno::EPERM => {
                "the kernel refused: the parent process must be single-threaded, must not be init, \
                 must run as the same user without set-uid, and its session keyring must be yours"
            }
            nix::errno::Errno::ENOMEM | nix::errno::Errno::EAGAIN => "the kernel is short of memory",
            _ => "the kernel refused",
        };
        Failure::new(
            Exit::Token,
            format!("-setpag: cannot give the parent process the new PAG {}: {e}: {why}", pag.id()),
        )
    })?;
    Ok(pag)
}
