//! AFS tokens: the model, the kAFS payload codec, the store on a keyring and
//! the hand-over format a token program uses to give tokens to pam_pag.

pub mod handover;
pub mod rxrpc;
mod store;
mod xdr;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

pub use store::{KeyTypeChoice, TokenStore};

use crate::sys::KeySerial;
use rxrpc::{PayloadError, RxkadToken};

/// The kernel key type a token is stored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// kAFS's own type; only kernels with AF_RXRPC have it.
    Rxrpc,
    /// A `user` key with the same description and payload, for kernels
    /// without AF_RXRPC: tools see it, the kernel AFS client does not.
    User,
}

impl KeyType {
    /// The kernel's name of the type.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rxrpc => "rxrpc",
            KeyType::User => "user",
        }
    }

    /// Parse a kernel key type name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "rxrpc" => Some(KeyType::Rxrpc),
            "user" => Some(KeyType::User),
            _ => None,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One AFS token for one cell.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The cell, lower case.
    pub cell: String,
    /// How it is (or is to be) stored.
    pub key_type: KeyType,
    /// The rxkad token itself.
    pub rxkad: RxkadToken,
    /// The Kerberos client principal, where the tool that stored it said.
    pub principal: Option<String>,
    /// The key serial, for tokens read from a keyring.
    pub serial: Option<KeySerial>,
}

// Tokens carry key material; debug output shows only what `tokens` prints.
impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("cell", &self.cell)
            .field("key_type", &self.key_type)
            .field("expiry", &self.rxkad.expiry)
            .field("principal", &self.principal)
            .field("serial", &self.serial)
            .finish()
    }
}

impl Token {
    /// A token for `cell` (stored lower case, as kAFS looks it up).
    pub fn new(cell: &str, key_type: KeyType, rxkad: RxkadToken, principal: Option<String>) -> Self {
        Token { cell: cell.to_ascii_lowercase(), key_type, rxkad, principal, serial: None }
    }

    /// The key description kAFS looks for: `afs@<cell>`.
    pub fn description(&self) -> String {
        description_for(&self.cell)
    }

    /// The legacy payload for `add_key`.
    pub fn payload(&self) -> Result<Vec<u8>, PayloadError> {
        self.rxkad.encode()
    }

    /// Ticket end time.
    pub fn expiry(&self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_secs(u64::from(self.rxkad.expiry))
    }

    /// Whether the ticket has ended at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expiry() <= now
    }

    /// Whether the ticket has ended.
    pub fn is_expired(&self) -> bool {
        self.is_expired_at(SystemTime::now())
    }
}

/// `afs@<cell>` with the cell in lower case.
pub fn description_for(cell: &str) -> String {
    format!("afs@{}", cell.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rxkad(expiry: u32) -> RxkadToken {
        RxkadToken { expiry, kvno: rxrpc::KVNO_KERBEROS5, session_key: [9; 8], ticket: vec![7; 64] }
    }

    #[test]
    fn cell_is_lower_cased_in_the_description() {
        let t = Token::new("Example.ORG", KeyType::User, rxkad(1), None);
        assert_eq!(t.cell, "example.org");
        assert_eq!(t.description(), "afs@example.org");
    }

    #[test]
    fn expiry_is_the_ticket_end_time() {
        let t = Token::new("c", KeyType::User, rxkad(1000), None);
        assert!(t.is_expired_at(UNIX_EPOCH + std::time::Duration::from_secs(1000)));
        assert!(!t.is_expired_at(UNIX_EPOCH + std::time::Duration::from_secs(999)));
    }

    #[test]
    fn debug_hides_key_material() {
        let t = Token::new("c", KeyType::User, rxkad(1), None);
        let text = format!("{t:?}");
        assert!(!text.contains("session_key") && !text.contains("ticket"), "{text}");
    }

    #[test]
    fn key_type_names() {
        for t in [KeyType::Rxrpc, KeyType::User] {
            assert_eq!(KeyType::from_name(t.name()), Some(t));
        }
        assert_eq!(KeyType::from_name("logon"), None);
    }
}
