//! The 8-byte rxkad session key from a Kerberos 5 session key.
//!
//! rxkad encrypts with single DES. A DES session key is used as it is; any
//! other key goes through rxkad-kdf (draft-kaduk-afs3-rxkad-k5-kdf, as in
//! OpenAFS aklog and kafs-client): for i = 1..=255, take the first 8 bytes of
//! HMAC-MD5(key, [i] || "rxkad" || 0x00 || 0x00000040), fix the DES parity,
//! and use the first result that is not a DES weak or semi-weak key.
//!
//! A triple-DES key is not uniformly random bytes: every eighth byte holds
//! the other seven bytes' low bits. So, as OpenAFS (`tkt_DeriveDesKey`) does
//! and the draft asks, its parity bits are dropped first ([`compress_des3`])
//! and rxkad-kdf runs over the 21 bytes of key material, not the 24 bytes.

use hmac::{Hmac, Mac};
use md5::Md5;

/// The label and the output length in bits (64, big-endian) of the KDF input.
const LABEL: &[u8] = b"rxkad\0";
const OUTPUT_BITS: [u8; 4] = 64u32.to_be_bytes();

/// The 4 weak and 12 semi-weak DES keys (FIPS 74), with parity set.
const WEAK_KEYS: [[u8; 8]; 16] = [
    [0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01],
    [0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe],
    [0x1f, 0x1f, 0x1f, 0x1f, 0x0e, 0x0e, 0x0e, 0x0e],
    [0xe0, 0xe0, 0xe0, 0xe0, 0xf1, 0xf1, 0xf1, 0xf1],
    [0x01, 0xfe, 0x01, 0xfe, 0x01, 0xfe, 0x01, 0xfe],
    [0xfe, 0x01, 0xfe, 0x01, 0xfe, 0x01, 0xfe, 0x01],
    [0x1f, 0xe0, 0x1f, 0xe0, 0x0e, 0xf1, 0x0e, 0xf1],
    [0xe0, 0x1f, 0xe0, 0x1f, 0xf1, 0x0e, 0xf1, 0x0e],
    [0x01, 0xe0, 0x01, 0xe0, 0x01, 0xf1, 0x01, 0xf1],
    [0xe0, 0x01, 0xe0, 0x01, 0xf1, 0x01, 0xf1, 0x01],
    [0x1f, 0xfe, 0x1f, 0xfe, 0x0e, 0xfe, 0x0e, 0xfe],
    [0xfe, 0x1f, 0xfe, 0x1f, 0xfe, 0x0e, 0xfe, 0x0e],
    [0x01, 0x1f, 0x01, 0x1f, 0x01, 0x0e, 0x01, 0x0e],
    [0x1f, 0x01, 0x1f, 0x01, 0x0e, 0x01, 0x0e, 0x01],
    [0xe0, 0xfe, 0xe0, 0xfe, 0xf1, 0xfe, 0xf1, 0xfe],
    [0xfe, 0xe0, 0xfe, 0xe0, 0xfe, 0xf1, 0xfe, 0xf1],
];

/// Why no rxkad key could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KdfError {
    /// A DES enctype whose key is not 8 bytes.
    BadDesKey(usize),
    /// A triple-DES enctype whose key is not a non-zero multiple of 8 bytes.
    BadDes3Key(usize),
    /// An empty session key.
    EmptyKey,
    /// All 255 counters gave weak keys (practically impossible).
    Exhausted,
}

impl std::fmt::Display for KdfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KdfError::BadDesKey(n) => write!(f, "a DES session key of {n} bytes (expected 8)"),
            KdfError::BadDes3Key(n) => {
                write!(f, "a triple-DES session key of {n} bytes (expected a multiple of 8, normally 24)")
            }
            KdfError::EmptyKey => f.write_str("the ticket's session key is empty"),
            KdfError::Exhausted => f.write_str("rxkad-kdf produced only weak DES keys"),
        }
    }
}

impl std::error::Error for KdfError {}

/// The rxkad session key for a Kerberos session key of `enctype`.
pub fn rxkad_session_key(enctype: i32, key: &[u8]) -> Result<[u8; 8], KdfError> {
    if crate::krb5::DES_ENCTYPES.contains(&enctype) {
        return key.try_into().map_err(|_| KdfError::BadDesKey(key.len()));
    }
    if crate::krb5::DES3_ENCTYPES.contains(&enctype) {
        let material = compress_des3(key).ok_or(KdfError::BadDes3Key(key.len()))?;
        return rxkad_kdf(&material);
    }
    rxkad_kdf(key)
}

/// The key material of a triple-DES key without its parity bits: the
/// inverse of RFC 3961's des3 random-to-key, 8 bytes to 7 per DES key.
///
/// random-to-key spreads 7 random bytes r0..r6 over 8 key bytes: byte j
/// (j < 7) keeps the high 7 bits of rj, byte 7 holds the low bit of rj at
/// bit j + 1, and bit 0 of every byte is DES parity. So here byte j of each
/// block gives its high 7 bits and bit j + 1 of the block's byte 7 gives its
/// low bit; the 8 parity bits are dropped. None unless `key` is a non-zero
/// multiple of 8 bytes.
pub fn compress_des3(key: &[u8]) -> Option<Vec<u8>> {
    if key.is_empty() || key.len() % 8 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(key.len() / 8 * 7);
    for block in key.chunks_exact(8) {
        let low_bits = block[7];
        for (j, byte) in block[..7].iter().enumerate() {
            out.push((byte & 0xfe) | ((low_bits >> (j + 1)) & 1));
        }
    }
    Some(out)
}

/// rxkad-kdf of a non-DES key.
pub fn rxkad_kdf(key: &[u8]) -> Result<[u8; 8], KdfError> {
    if key.is_empty() {
        return Err(KdfError::EmptyKey);
    }
    for counter in 1..=255u8 {
        let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(&[counter]);
        mac.update(LABEL);
        mac.update(&OUTPUT_BITS);
        let digest = mac.finalize().into_bytes();
        let mut candidate = [0u8; 8];
        candidate.copy_from_slice(&digest[..8]);
        set_odd_parity(&mut candidate);
        if !is_weak(&candidate) {
            return Ok(candidate);
        }
    }
    Err(KdfError::Exhausted)
}

/// DES keys carry odd parity in the low bit of each byte.
pub fn set_odd_parity(key: &mut [u8; 8]) {
    for byte in key.iter_mut() {
        let high_bits_set = (*byte & 0xfe).count_ones();
        *byte = (*byte & 0xfe) | u8::from(high_bits_set % 2 == 0);
    }
}

/// Whether `key` (with parity set) is a DES weak or semi-weak key.
pub fn is_weak(key: &[u8; 8]) -> bool {
    WEAK_KEYS.contains(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity_is_odd_in_every_byte() {
        let mut key = [0x00, 0x01, 0x02, 0x03, 0xfe, 0xff, 0x80, 0x7f];
        set_odd_parity(&mut key);
        assert_eq!(key, [0x01, 0x01, 0x02, 0x02, 0xfe, 0xfe, 0x80, 0x7f]);
        for b in key {
            assert_eq!(b.count_ones() % 2, 1, "{b:#04x}");
        }
    }

    #[test]
    fn weak_keys_have_odd_parity_and_are_detected() {
        for k in WEAK_KEYS {
            let mut fixed = k;
            set_odd_parity(&mut fixed);
            assert_eq!(fixed, k, "table entry {k:02x?} lacks parity");
            assert!(is_weak(&k));
        }
        assert!(!is_weak(&[0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01]));
    }

    #[test]
    fn des_keys_are_used_as_they_are() {
        let key = [1, 2, 3, 4, 5, 6, 7, 8];
        for enctype in crate::krb5::DES_ENCTYPES {
            assert_eq!(rxkad_session_key(enctype, &key), Ok(key));
        }
        assert_eq!(rxkad_session_key(3, &[1; 16]), Err(KdfError::BadDesKey(16)));
    }

    #[test]
    fn non_des_keys_go_through_the_kdf() {
        let key = [0x11u8; 32];
        let out = rxkad_session_key(18, &key).unwrap();
        assert_eq!(out, rxkad_kdf(&key).unwrap());
        assert_ne!(&out[..], &key[..8]);
        assert!(out.iter().all(|b| b.count_ones() % 2 == 1));
        assert_eq!(rxkad_kdf(&[]), Err(KdfError::EmptyKey));
    }

    /// RFC 3961's des3 random-to-key, forwards, written from the RFC for the
    /// tests: 7 random bytes to one DES key with parity.
    fn random_to_key(material: &[u8]) -> [u8; 8] {
        let mut key = [0u8; 8];
        for (j, r) in material.iter().enumerate() {
            key[j] = *r;
            key[7] |= (r & 1) << (j + 1);
        }
        set_odd_parity(&mut key);
        key
    }

    #[test]
    fn des3_compression_takes_each_low_bit_from_the_eighth_byte() {
        // Byte 7's bits 1..=7 are the low bits of bytes 0..=6.
        assert_eq!(compress_des3(&[0, 0, 0, 0, 0, 0, 0, 0xfe]).unwrap(), [1; 7]);
        for j in 0..7 {
            let mut expected = [0u8; 7];
            expected[j] = 1;
            assert_eq!(compress_des3(&[0, 0, 0, 0, 0, 0, 0, 1 << (j + 1)]).unwrap(), expected, "bit {j}");
        }
        // The parity bits (bit 0 of every byte) are dropped.
        assert_eq!(compress_des3(&[1; 8]).unwrap(), [0; 7]);
        assert_eq!(compress_des3(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).unwrap(), [0xfe; 7]);
        // The high bits of bytes 0..=6 stay where they are.
        assert_eq!(
            compress_des3(&[0x81, 0x40, 0x21, 0x10, 0x09, 0x04, 0x03, 0x00]).unwrap(),
            [0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02]
        );
        // Each of the three DES keys of a 3DES key is compressed on its own.
        let mut key = [0u8; 24];
        key[7] = 0x02; // block 0, byte 0
        key[15] = 0x80; // block 1, byte 6
        key[16] = 0xaa; // block 2, byte 0, high bits
        let mut expected = [0u8; 21];
        expected[0] = 0x01;
        expected[13] = 0x01;
        expected[14] = 0xaa;
        assert_eq!(compress_des3(&key).unwrap(), expected);
    }

    #[test]
    fn des3_compression_inverts_random_to_key() {
        let material: Vec<u8> = (0..21u32).map(|i| (i * 29 + 3) as u8).collect();
        let key: Vec<u8> = material.chunks(7).flat_map(random_to_key).collect();
        assert_eq!(compress_des3(&key).unwrap(), material);
        for len in [0, 7, 21, 23, 25] {
            assert_eq!(compress_des3(&vec![0; len]), None, "{len} bytes");
        }
    }

    #[test]
    fn des3_session_keys_lose_their_parity_bits_before_the_kdf() {
        // Known answers from tests/ccache_rxkad.py (an independent Python
        // implementation): `--kdf HEX 16` and `--kdf HEX` (no compression).
        let key = hex("02203d5b7694b0abceea0825435e7c5498b6d3f10d2a46ab");
        let expected = hex("ef7c341fc2ea7c51");
        for enctype in crate::krb5::DES3_ENCTYPES {
            assert_eq!(rxkad_session_key(enctype, &key).unwrap().to_vec(), expected, "enctype {enctype}");
        }
        assert_eq!(crate::krb5::DES3_ENCTYPES, [5, 7, 16]);
        // What pag computed before, over all 24 bytes: not what servers use.
        assert_eq!(rxkad_kdf(&key).unwrap().to_vec(), hex("fbbfcb854fd32ff8"));

        let other = hex("0123456789abcdeffedcba98765432100f1e2d3c4b5a6978");
        assert_eq!(rxkad_session_key(16, &other).unwrap().to_vec(), hex("615ec123a252e0e0"));
        assert_eq!(rxkad_kdf(&other).unwrap().to_vec(), hex("a8e5405204bcad29"));

        assert_eq!(rxkad_session_key(16, &[1; 20]), Err(KdfError::BadDes3Key(20)));
        assert_eq!(rxkad_session_key(16, &[]), Err(KdfError::BadDes3Key(0)));
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }
}
