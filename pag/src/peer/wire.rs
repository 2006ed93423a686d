//! The two messages of the link-challenge proof, version 1. Integers are
//! big-endian; both messages have a fixed size, so a reader never reads
//! more than it needs and anything else on the stream stays for the
//! application's own protocol.
//!
//! ```text
//! challenge, daemon -> client (9 bytes):  "PAGC"  version=1  i32 key serial
//! response,  client -> daemon (10 bytes): "PAGR"  version=1  u8 status  i32 keyring serial
//!     status 0: linked; the serial is the client's session keyring
//!     status 1: declined; the serial is the errno of the failed link (or 0)
//! hello,     client -> daemon (5 bytes):  "PAGH"  version=1
//! ```
//!
//! The hello is for daemons whose own protocol has the client speak first
//! (pag-kcm's KCM): a client that wants to prove its PAG sends it before
//! anything else, and the daemon answers with the challenge. "PAGH" read as
//! a big-endian length is over a gigabyte, so it cannot begin a KCM request.

use crate::sys::KeySerial;

/// Version of both messages.
pub const VERSION: u8 = 1;
/// Size of a challenge.
pub const CHALLENGE_LEN: usize = 9;
/// Size of a response.
pub const RESPONSE_LEN: usize = 10;

const CHALLENGE_MAGIC: &[u8; 4] = b"PAGC";
const RESPONSE_MAGIC: &[u8; 4] = b"PAGR";

/// What the client answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// It linked the challenge key into this keyring, its session keyring.
    Linked(KeySerial),
    /// It could not or would not (the errno of its failed link, or 0).
    Declined(i32),
}

/// Why bytes are not a message of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Not our magic: not a pag peer message at all.
    BadMagic,
    /// Ours, but a version this side does not speak.
    UnsupportedVersion(u8),
    /// A response status that is neither linked nor declined.
    BadStatus(u8),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::BadMagic => f.write_str("not a pag peer message"),
            WireError::UnsupportedVersion(v) => {
                write!(f, "peer message version {v}, this side speaks {VERSION}")
            }
            WireError::BadStatus(s) => write!(f, "unknown response status {s}"),
        }
    }
}

/// Size of a hello.
pub const HELLO_LEN: usize = 5;
/// The hello.
pub const HELLO: [u8; HELLO_LEN] = *b"PAGH\x01";

/// Whether `bytes` begin a hello (the magic, whatever the version).
pub fn is_hello_magic(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && &bytes[..4] == b"PAGH"
}

/// The challenge naming `key`.
pub fn challenge(key: KeySerial) -> [u8; CHALLENGE_LEN] {
    let mut out = [0; CHALLENGE_LEN];
    out[..4].copy_from_slice(CHALLENGE_MAGIC);
    out[4] = VERSION;
    out[5..].copy_from_slice(&key.0.to_be_bytes());
    out
}

/// Parse a challenge.
pub fn parse_challenge(bytes: &[u8; CHALLENGE_LEN]) -> Result<KeySerial, WireError> {
    check_header(bytes, CHALLENGE_MAGIC)?;
    Ok(KeySerial(i32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]])))
}

/// Encode a response.
pub fn response(answer: Response) -> [u8; RESPONSE_LEN] {
    let (status, value) = match answer {
        Response::Linked(serial) => (0, serial.0),
        Response::Declined(errno) => (1, errno),
    };
    let mut out = [0; RESPONSE_LEN];
    out[..4].copy_from_slice(RESPONSE_MAGIC);
    out[4] = VERSION;
    out[5] = status;
    out[6..].copy_from_slice(&value.to_be_bytes());
    out
}

/// Parse a response.
pub fn parse_response(bytes: &[u8; RESPONSE_LEN]) -> Result<Response, WireError> {
    check_header(bytes, RESPONSE_MAGIC)?;
    let value = i32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]);
    match bytes[5] {
        0 => Ok(Response::Linked(KeySerial(value))),
        1 => Ok(Response::Declined(value)),
        other => Err(WireError::BadStatus(other)),
    }
}

fn check_header(bytes: &[u8], magic: &[u8; 4]) -> Result<(), WireError> {
    if &bytes[..4] != magic {
        return Err(WireError::BadMagic);
    }
    if bytes[4] != VERSION {
        return Err(WireError::UnsupportedVersion(bytes[4]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_have_the_documented_layout() {
        let c = challenge(KeySerial(0x0102_0304));
        assert_eq!(c, *b"PAGC\x01\x01\x02\x03\x04");
        assert_eq!(parse_challenge(&c), Ok(KeySerial(0x0102_0304)));
        let r = response(Response::Linked(KeySerial(-2)));
        assert_eq!(r, *b"PAGR\x01\x00\xff\xff\xff\xfe");
        assert_eq!(parse_response(&r), Ok(Response::Linked(KeySerial(-2))));
        assert_eq!(parse_response(&response(Response::Declined(13))), Ok(Response::Declined(13)));
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(parse_challenge(b"PAGR\x01\0\0\0\x01"), Err(WireError::BadMagic));
        assert_eq!(parse_challenge(b"PAGC\x02\0\0\0\x01"), Err(WireError::UnsupportedVersion(2)));
        assert_eq!(parse_response(b"PAGR\x01\x07\0\0\0\x01"), Err(WireError::BadStatus(7)));
        assert_eq!(parse_response(b"GET / HTTP"), Err(WireError::BadMagic));
    }

    #[test]
    fn every_response_of_random_bytes_parses_or_is_refused_without_panic() {
        // A small xorshift: every byte pattern class, a million times.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut accepted = 0;
        for _ in 0..1_000_000 {
            let mut bytes = [0u8; RESPONSE_LEN];
            for b in &mut bytes {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            if state % 3 == 0 {
                bytes[..5].copy_from_slice(b"PAGR\x01");
            }
            if parse_response(&bytes).is_ok() {
                accepted += 1;
            }
        }
        assert!(accepted > 0, "the generator never produced a valid header");
    }
}
