//! Tokens kept as keys linked directly into one keyring (a PAG).
//!
//! A token is a key `afs@<cell>` of type `rxrpc` (or `user` where the kernel
//! has no AF_RXRPC). The principal, which the rxkad payload cannot carry, is
//! kept beside it in a `user` key `pag-principal@<cell>`. Both are usable
//! only by possessors: processes inside the PAG.
//!
//! Keys are never added to the PAG directly. add_key of an existing type and
//! description *updates* the old key where the type can be updated (`user`
//! can, `rxrpc` cannot), which needs WRITE on the old key, and add_key cannot
//! set permissions. So each key is built in a private staging keyring (in the
//! calling thread's keyring, which no other process possesses), given its
//! permissions there, and then linked into the PAG: a link displaces the old
//! key of the same type and description in one step, so a refresh never
//! leaves the PAG without a token and never needs rights on the old key.

use nix::errno::Errno;

use super::rxrpc::RxkadToken;
use super::{description_for, xdr, KeyType, Token};
use crate::error::{Error, Result};
use crate::group::DescribedLinks;
use crate::perm;
use crate::sys::{self, KeySerial};

const PRINCIPAL_PREFIX: &str = "pag-principal@";

/// Which key type to store a token as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum KeyTypeChoice {
    /// Only `rxrpc`; fails with ENODEV where the kernel lacks it.
    Rxrpc,
    /// Only `user`.
    User,
    /// `rxrpc`, else `user` when the kernel has no rxrpc type.
    Auto,
}

/// The tokens of one keyring.
#[derive(Debug, Clone, Copy)]
pub struct TokenStore {
    keyring: KeySerial,
}

impl TokenStore {
    /// The store on `keyring` (a PAG keyring, or any session keyring).
    pub fn new(keyring: KeySerial) -> Self {
        TokenStore { keyring }
    }

    /// The keyring the tokens live in.
    pub fn keyring(&self) -> KeySerial {
        self.keyring
    }

    /// Add `token` as its `key_type`, with the user's permissions
    /// ([`perm::TOKEN`]), replacing any token of the same cell. Returns the
    /// new key's serial.
    pub fn add(&self, token: &Token) -> Result<KeySerial> {
        self.add_with(token, perm::TOKEN)
    }

    /// Add `token` as its `key_type` with permissions `mask` (for example
    /// [`perm::STORED_TOKEN`] when root stores a login's token), replacing
    /// any token of the same cell in one step. Returns the new key's serial.
    pub fn add_with(&self, token: &Token, mask: u32) -> Result<KeySerial> {
        let payload = token.payload()?;
        let description = token.description();
        let doing = || format!("storing the {} token for {}", token.key_type, token.cell);
        let staging = Staging::new().map_err(|e| Error::keyring(doing(), e))?;
        let serial = staging.place(token.key_type.name(), &description, &payload, mask, self.keyring);
        let serial = serial.map_err(|e| Error::keyring(doing(), e))?;
        // A token of the other type for the same cell would shadow or confuse
        // this one; one cell, one token.
        let other = match token.key_type {
            KeyType::Rxrpc => KeyType::User,
            KeyType::User => KeyType::Rxrpc,
        };
        self.remove_matching(|t, d| t == other.name() && d == description)?;
        self.set_principal(&staging, &token.cell, token.principal.as_deref(), mask)?;
        Ok(serial)
    }

    /// Add `token` as the chosen type; with [`KeyTypeChoice::Auto`], fall
    /// back to `user` when the kernel has no `rxrpc` type (ENODEV). Returns
    /// the serial and the type used.
    pub fn add_as(&self, token: &Token, choice: KeyTypeChoice) -> Result<(KeySerial, KeyType)> {
        self.add_as_with(token, choice, perm::TOKEN)
    }

    /// [`TokenStore::add_as`] with permissions `mask`.
    pub fn add_as_with(
        &self,
        token: &Token,
        choice: KeyTypeChoice,
        mask: u32,
    ) -> Result<(KeySerial, KeyType)> {
        let first = match choice {
            KeyTypeChoice::User => KeyType::User,
            KeyTypeChoice::Rxrpc | KeyTypeChoice::Auto => KeyType::Rxrpc,
        };
        let attempt = Token { key_type: first, ..token.clone() };
        match self.add_with(&attempt, mask) {
            Err(e) if choice == KeyTypeChoice::Auto && e.errno() == Some(Errno::ENODEV) => {
                let fallback = Token { key_type: KeyType::User, ..token.clone() };
                self.add_with(&fallback, mask).map(|s| (s, KeyType::User))
            }
            other => other.map(|s| (s, first)),
        }
    }

    /// Every token linked directly into the keyring, in link order. Keys that
    /// look like tokens but do not decode are not tokens and are left out.
    pub fn list(&self) -> Result<Vec<Token>> {
        let links = sys::keyring_links(self.keyring).map_err(|e| Error::keyring("listing the tokens", e))?;
        // A key can vanish (expire, be unlinked) between the listing and
        // the describe; that is not an error.
        let described: DescribedLinks =
            links.into_iter().filter_map(|s| Some((s, sys::describe(s).ok()?))).collect();
        Ok(self.list_described(&described))
    }

    /// [`TokenStore::list`] from this keyring's direct links already read and
    /// described ([`crate::group::current_with_links`]), so that finding the
    /// PAG and listing its tokens describe each key once.
    pub fn list_described(&self, described: &[(KeySerial, sys::Description)]) -> Vec<Token> {
        let mut tokens = Vec::new();
        for (serial, d) in described {
            let Some(key_type) = KeyType::from_name(&d.key_type) else { continue };
            let Some(cell) = d.description.strip_prefix("afs@") else { continue };
            let Ok(bytes) = sys::read(*serial) else { continue };
            let decoded = match key_type {
                KeyType::Rxrpc => xdr::decode_rxrpc_read(&bytes),
                KeyType::User => RxkadToken::decode(&bytes),
            };
            let Ok(rxkad) = decoded else { continue };
            // Built once per token, not once per key compared: with 20
            // tokens the per-comparison format! was most of `tokens`' time.
            let principal_key = principal_description(cell);
            let principal = described
                .iter()
                .find(|(_, p)| p.key_type == "user" && p.description == principal_key)
                .and_then(|(s, _)| sys::read(*s).ok())
                .and_then(|b| String::from_utf8(b).ok());
            tokens.push(Token { cell: cell.to_owned(), key_type, rxkad, principal, serial: Some(*serial) });
        }
        tokens
    }

    /// Remove the token(s) of `cell`. Returns how many keys were removed.
    pub fn remove(&self, cell: &str) -> Result<usize> {
        let description = description_for(cell);
        let principal = principal_description(&cell.to_ascii_lowercase());
        self.remove_matching(|t, d| {
            (KeyType::from_name(t).is_some() && d == description) || (t == "user" && d == principal)
        })
        .map(|n| n.tokens)
    }

    /// Remove every token. Returns how many were removed.
    pub fn remove_all(&self) -> Result<usize> {
        self.remove_matching(|t, d| {
            (KeyType::from_name(t).is_some() && d.starts_with("afs@"))
                || (t == "user" && d.starts_with(PRINCIPAL_PREFIX))
        })
        .map(|n| n.tokens)
    }

    fn set_principal(&self, staging: &Staging, cell: &str, principal: Option<&str>, mask: u32) -> Result<()> {
        let description = principal_description(cell);
        match principal {
            Some(p) => {
                let doing = || format!("storing the principal of the token for {cell}");
                staging
                    .place("user", &description, p.as_bytes(), mask, self.keyring)
                    .map(drop)
                    .map_err(|e| Error::keyring(doing(), e))
            }
            None => self.remove_matching(|t, d| t == "user" && d == description).map(|_| ()),
        }
    }

    fn remove_matching(&self, matches: impl Fn(&str, &str) -> bool) -> Result<Removed> {
        let links = sys::keyring_links(self.keyring).map_err(|e| Error::keyring("listing the tokens", e))?;
        let mut removed = Removed { tokens: 0 };
        for serial in links {
            let Ok(d) = sys::describe(serial) else { continue };
            if !matches(&d.key_type, &d.description) {
                continue;
            }
            // Invalidate so the token is gone at once even where it was also
            // linked elsewhere; a key we may only unlink is at least unlinked.
            match sys::invalidate(serial) {
                Ok(()) | Err(sys::SysError { errno: Errno::ENOKEY, .. }) => {}
                Err(_) => match sys::unlink(serial, self.keyring) {
                    Ok(()) | Err(sys::SysError { errno: Errno::ENOENT | Errno::ENOKEY, .. }) => {}
                    Err(e) => return Err(Error::keyring("removing a token", e)),
                },
            }
            if d.description.starts_with("afs@") {
                removed.tokens += 1;
            }
        }
        Ok(removed)
    }
}

struct Removed {
    tokens: usize,
}

/// A fresh keyring in the calling thread's keyring, where keys are built
/// before they are linked where they belong. Nothing else possesses it: the
/// thread keyring is the calling thread's alone and is not inherited. It is
/// invalidated when dropped (the keys stay where they were linked).
struct Staging {
    keyring: KeySerial,
}

impl Staging {
    fn new() -> sys::SysResult<Self> {
        let keyring = sys::add_keyring("pag:staging", sys::Special::Thread.serial())?;
        Ok(Staging { keyring })
    }

    /// Add the key here, give it `mask`, link it into `target` (displacing
    /// the key of the same type and description there) and drop it from here.
    fn place(
        &self,
        key_type: &str,
        description: &str,
        payload: &[u8],
        mask: u32,
        target: KeySerial,
    ) -> sys::SysResult<KeySerial> {
        let serial = sys::add_key(key_type, description, payload, self.keyring)?;
        sys::setperm(serial, mask)?;
        sys::link(serial, target)?;
        // Best effort: the staging keyring is invalidated on drop anyway.
        let _ = sys::unlink(serial, self.keyring);
        Ok(serial)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Best effort: an unreachable keyring is collected by the kernel
        // once the thread keyring goes; invalidating it frees it at once.
        let _ = sys::invalidate(self.keyring);
    }
}

fn principal_description(cell: &str) -> String {
    format!("{PRINCIPAL_PREFIX}{cell}")
}
