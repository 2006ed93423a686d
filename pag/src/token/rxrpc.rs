//! The kAFS `rxrpc` key payload, legacy (version 1, rxkad) layout.
//!
//! This is what OpenAFS aklog and kafs-client's aklog-kafs hand to
//! `add_key("rxrpc", "afs@<cell>", ...)`, in native byte order:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | kver = 1 |
//! | 2 | security index = 2 (rxkad) |
//! | 2 | ticket length |
//! | 4 | expiry (ticket end time, seconds since the epoch) |
//! | 4 | kvno (256 = a Kerberos 5 ticket) |
//! | 8 | session key |
//! | n | ticket |
//!
//! The decoder applies the checks of the kernel's `rxrpc_preparse`, so a
//! payload it accepts is one the kernel accepts, and the same payload can be
//! stored in a `user` key on kernels without AF_RXRPC.

use std::fmt;

/// The only payload version the kernel takes in this layout.
pub const KVER: u32 = 1;
/// rxkad, the only security index of this layout.
pub const SECURITY_INDEX_RXKAD: u16 = 2;
/// The kvno the kernel and OpenAFS use to say "this is a Kerberos 5 ticket".
pub const KVNO_KERBEROS5: u32 = 256;
/// The kernel's AFSTOKEN_RK_TIX_MAX.
pub const MAX_TICKET_LEN: usize = 12000;
/// Bytes before the ticket.
pub const HEADER_LEN: usize = 4 + 2 + 2 + 4 + 4 + 8;

/// A decoded rxkad token.
#[derive(Clone, PartialEq, Eq)]
pub struct RxkadToken {
    /// Ticket end time, seconds since the epoch (the kernel's u32).
    pub expiry: u32,
    /// Key version number; [`KVNO_KERBEROS5`] for a Kerberos 5 ticket.
    pub kvno: u32,
    /// The 8-byte rxkad session key.
    pub session_key: [u8; 8],
    /// The service ticket, opaque to the client.
    pub ticket: Vec<u8>,
}

// Never print key material, even in debug output.
impl fmt::Debug for RxkadToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RxkadToken")
            .field("expiry", &self.expiry)
            .field("kvno", &self.kvno)
            .field("session_key", &"<redacted>")
            .field("ticket_len", &self.ticket.len())
            .finish()
    }
}

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// Shorter than the fixed header.
    TooShort(usize),
    /// A version other than 1.
    BadVersion(u32),
    /// A security index other than rxkad.
    BadSecurityIndex(u16),
    /// Ticket empty or longer than the kernel allows.
    BadTicketLength(usize),
    /// The ticket length field does not match the payload length.
    LengthMismatch {
        /// What the header says.
        declared: usize,
        /// What follows the header.
        actual: usize,
    },
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::TooShort(n) => {
                write!(f, "rxrpc token payload of {n} bytes is shorter than its {HEADER_LEN}-byte header")
            }
            PayloadError::BadVersion(v) => write!(f, "rxrpc token payload has version {v}, not {KVER}"),
            PayloadError::BadSecurityIndex(i) => {
                write!(f, "rxrpc token payload has security index {i}, not {SECURITY_INDEX_RXKAD} (rxkad)")
            }
            PayloadError::BadTicketLength(n) => {
                write!(f, "rxrpc token ticket of {n} bytes is outside 1..={MAX_TICKET_LEN}")
            }
            PayloadError::LengthMismatch { declared, actual } => {
                write!(f, "rxrpc token payload declares a {declared}-byte ticket but carries {actual} bytes")
            }
        }
    }
}

impl std::error::Error for PayloadError {}

impl RxkadToken {
    /// The payload for `add_key("rxrpc", ...)`.
    pub fn encode(&self) -> Result<Vec<u8>, PayloadError> {
        let ticket_len = self.ticket.len();
        if ticket_len == 0 || ticket_len > MAX_TICKET_LEN {
            return Err(PayloadError::BadTicketLength(ticket_len));
        }
        let mut out = Vec::with_capacity(HEADER_LEN + ticket_len);
        out.extend_from_slice(&KVER.to_ne_bytes());
        out.extend_from_slice(&SECURITY_INDEX_RXKAD.to_ne_bytes());
        // Checked above: at most MAX_TICKET_LEN, which fits a u16.
        out.extend_from_slice(&(ticket_len as u16).to_ne_bytes());
        out.extend_from_slice(&self.expiry.to_ne_bytes());
        out.extend_from_slice(&self.kvno.to_ne_bytes());
        out.extend_from_slice(&self.session_key);
        out.extend_from_slice(&self.ticket);
        Ok(out)
    }

    /// Parse a payload, refusing what the kernel would refuse.
    pub fn decode(payload: &[u8]) -> Result<Self, PayloadError> {
        if payload.len() < HEADER_LEN {
            return Err(PayloadError::TooShort(payload.len()));
        }
        let u16_at = |at: usize| u16::from_ne_bytes([payload[at], payload[at + 1]]);
        let u32_at =
            |at: usize| u32::from_ne_bytes([payload[at], payload[at + 1], payload[at + 2], payload[at + 3]]);
        let kver = u32_at(0);
        if kver != KVER {
            return Err(PayloadError::BadVersion(kver));
        }
        let declared = usize::from(u16_at(6));
        let actual = payload.len() - HEADER_LEN;
        if declared != actual {
            return Err(PayloadError::LengthMismatch { declared, actual });
        }
        let index = u16_at(4);
        if index != SECURITY_INDEX_RXKAD {
            return Err(PayloadError::BadSecurityIndex(index));
        }
        if declared == 0 || declared > MAX_TICKET_LEN {
            return Err(PayloadError::BadTicketLength(declared));
        }
        let mut session_key = [0u8; 8];
        session_key.copy_from_slice(&payload[16..24]);
        Ok(RxkadToken {
            expiry: u32_at(8),
            kvno: u32_at(12),
            session_key,
            ticket: payload[HEADER_LEN..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RxkadToken {
        RxkadToken {
            expiry: 0x6543_2100,
            kvno: KVNO_KERBEROS5,
            session_key: [1, 2, 3, 4, 5, 6, 7, 8],
            ticket: (0..=255u8).cycle().take(700).collect(),
        }
    }

    #[test]
    fn round_trip() {
        let t = sample();
        let bytes = t.encode().unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + 700);
        assert_eq!(RxkadToken::decode(&bytes).unwrap(), t);
    }

    #[test]
    fn layout_matches_the_kernel_struct() {
        let bytes = sample().encode().unwrap();
        assert_eq!(&bytes[0..4], &1u32.to_ne_bytes());
        assert_eq!(&bytes[4..6], &2u16.to_ne_bytes());
        assert_eq!(&bytes[6..8], &700u16.to_ne_bytes());
        assert_eq!(&bytes[8..12], &0x6543_2100u32.to_ne_bytes());
        assert_eq!(&bytes[12..16], &256u32.to_ne_bytes());
        assert_eq!(&bytes[16..24], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(bytes[24], 0);
    }

    #[test]
    fn kernel_checks_are_mirrored() {
        let good = sample().encode().unwrap();
        assert_eq!(RxkadToken::decode(&good[..10]), Err(PayloadError::TooShort(10)));

        let mut v2 = good.clone();
        v2[0..4].copy_from_slice(&2u32.to_ne_bytes());
        assert_eq!(RxkadToken::decode(&v2), Err(PayloadError::BadVersion(2)));

        let mut index = good.clone();
        index[4..6].copy_from_slice(&5u16.to_ne_bytes());
        assert_eq!(RxkadToken::decode(&index), Err(PayloadError::BadSecurityIndex(5)));

        let short = &good[..good.len() - 1];
        assert_eq!(
            RxkadToken::decode(short),
            Err(PayloadError::LengthMismatch { declared: 700, actual: 699 })
        );

        let empty = RxkadToken { ticket: vec![], ..sample() };
        assert_eq!(empty.encode(), Err(PayloadError::BadTicketLength(0)));
        let huge = RxkadToken { ticket: vec![0; MAX_TICKET_LEN + 1], ..sample() };
        assert_eq!(huge.encode(), Err(PayloadError::BadTicketLength(MAX_TICKET_LEN + 1)));
        let max = RxkadToken { ticket: vec![0; MAX_TICKET_LEN], ..sample() };
        assert!(RxkadToken::decode(&max.encode().unwrap()).is_ok());
    }

    #[test]
    fn debug_output_hides_the_session_key() {
        let text = format!("{:?}", sample());
        assert!(text.contains("redacted"));
        assert!(!text.contains("[1, 2, 3"));
    }
}
