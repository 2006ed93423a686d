//! Decoding what KEYCTL_READ returns for an `rxrpc` key.
//!
//! The kernel stores an rxrpc key from the legacy payload but reads it back in
//! the XDR token format of the AFS "pioctl" interface (big-endian words,
//! opaque data padded to four bytes): flags, cell name, token count, then per
//! token its size, security index and, for rxkad, vice id, kvno, session key,
//! start, expiry, primary flag and the ticket. We only need the first rxkad
//! token, turned back into the legacy form.

use super::rxrpc::{PayloadError, RxkadToken, SECURITY_INDEX_RXKAD};

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn word(&mut self) -> Option<u32> {
        let w = self.bytes.get(self.at..self.at + 4)?;
        self.at += 4;
        Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    }

    fn opaque(&mut self, len: usize) -> Option<&'a [u8]> {
        let data = self.bytes.get(self.at..self.at + len)?;
        self.at += len.div_ceil(4) * 4;
        Some(data)
    }

    fn counted(&mut self) -> Option<&'a [u8]> {
        let len = self.word()? as usize;
        self.opaque(len)
    }
}

/// The first rxkad token of an XDR-encoded rxrpc key payload.
pub fn decode_rxrpc_read(bytes: &[u8]) -> Result<RxkadToken, PayloadError> {
    parse(bytes).ok_or(PayloadError::TooShort(bytes.len()))
}

fn parse(bytes: &[u8]) -> Option<RxkadToken> {
    let mut r = Reader { bytes, at: 0 };
    let _flags = r.word()?;
    let _cell = r.counted()?;
    let count = r.word()?;
    for _ in 0..count {
        let size = r.word()? as usize;
        let start = r.at;
        let index = r.word()?;
        if index == u32::from(SECURITY_INDEX_RXKAD) {
            let _vice_id = r.word()?;
            let kvno = r.word()?;
            let mut session_key = [0u8; 8];
            session_key.copy_from_slice(r.opaque(8)?);
            let _start = r.word()?;
            let expiry = r.word()?;
            let _primary = r.word()?;
            let ticket = r.counted()?.to_vec();
            return Some(RxkadToken { expiry, kvno, session_key, ticket });
        }
        r.at = start + size.div_ceil(4) * 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be(out: &mut Vec<u8>, w: u32) {
        out.extend_from_slice(&w.to_be_bytes());
    }

    fn padded(out: &mut Vec<u8>, data: &[u8]) {
        be(out, data.len() as u32);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(4) * 4, 0);
    }

    #[test]
    fn reads_the_kernel_xdr_form() {
        let mut token = Vec::new();
        be(&mut token, 2); // rxkad
        be(&mut token, 0); // vice id
        be(&mut token, 256);
        token.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        be(&mut token, 100);
        be(&mut token, 5000);
        be(&mut token, 1);
        padded(&mut token, &[0xaa; 13]);

        let mut all = Vec::new();
        be(&mut all, 0);
        padded(&mut all, b"example.org");
        be(&mut all, 1);
        be(&mut all, token.len() as u32);
        all.extend_from_slice(&token);

        let t = decode_rxrpc_read(&all).unwrap();
        assert_eq!((t.expiry, t.kvno), (5000, 256));
        assert_eq!(t.session_key, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(t.ticket, vec![0xaa; 13]);
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(decode_rxrpc_read(&[0, 0, 0]).is_err());
    }
}
