//! Framing on the Unix socket.
//!
//! ```text
//! request: u32be len | u8 major=2 | u8 minor | u16be opcode | params   (len counts from major)
//! reply:   u32be len | u32be status=0 | i32be code | payload           (len counts code + payload)
//! ```
//! The client returns a non-zero status as its error without reading the
//! body, so the status is always 0 and errors travel in `code`.

use super::opcode::Op;

/// The protocol's major version; MIT always sends 2.
pub const MAJOR: u8 = 2;

/// Bytes of the length prefix.
pub const PREFIX: usize = 4;

/// A request body split into its parts.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub op: Op,
    pub params: &'a [u8],
}

/// Why a frame cannot be served: the connection is closed.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix is over the bound (or under the 4-byte header).
    BadLength(u32),
    /// Not protocol version 2.
    Version(u8),
}

/// The length a prefix announces, if it is acceptable under `max`.
pub fn body_length(prefix: [u8; PREFIX], max: usize) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix);
    if (len as usize) < 4 || len as usize > max {
        return Err(FrameError::BadLength(len));
    }
    Ok(len as usize)
}

/// Split a request body (everything after the length prefix).
pub fn parse_request(body: &[u8]) -> Result<Request<'_>, FrameError> {
    // body_length guaranteed the four header bytes.
    if body[0] != MAJOR {
        return Err(FrameError::Version(body[0]));
    }
    let op = Op::from_code(u16::from_be_bytes([body[2], body[3]]));
    Ok(Request { op, params: &body[4..] })
}

/// A complete reply frame for `code` and `payload`.
pub fn reply(code: i32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + payload.len());
    out.extend_from_slice(&((4 + payload.len()) as u32).to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_outside_the_bounds_are_refused() {
        assert_eq!(body_length(4u32.to_be_bytes(), 100), Ok(4));
        assert_eq!(body_length(3u32.to_be_bytes(), 100), Err(FrameError::BadLength(3)));
        assert_eq!(body_length(101u32.to_be_bytes(), 100), Err(FrameError::BadLength(101)));
        assert_eq!(body_length(u32::MAX.to_be_bytes(), 100), Err(FrameError::BadLength(u32::MAX)));
    }

    #[test]
    fn requests_split_and_other_versions_are_refused() {
        let r = parse_request(&[2, 0, 0x32, 0xc9, 1, 2]).unwrap();
        assert_eq!(r, Request { op: Op::GetCredList, params: &[1, 2] });
        assert_eq!(parse_request(&[1, 0, 0, 0]), Err(FrameError::Version(1)));
    }

    #[test]
    fn replies_count_code_and_payload() {
        assert_eq!(reply(-1, b"ab"), vec![0, 0, 0, 6, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, b'a', b'b']);
    }
}
