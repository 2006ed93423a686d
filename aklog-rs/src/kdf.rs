//! The 8-byte rxkad session key from a Kerberos 5 session key.
//!
//! rxkad encrypts with single DES. A DES session key is used as it is; any
//! other key goes through rxkad-kdf (draft-kaduk-afs3-rxkad-k5-kdf, as in
//! OpenAFS aklog and kafs-client): for i = 1..=255, take the first 8 bytes of
//! HMAC-MD5(key, [i] || "rxkad" || 0x00 || 0x00000040), fix the DES parity,
//! and use the first result that is not a DES weak or semi-weak key.

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
    /// An empty session key.
    EmptyKey,
    /// All 255 counters gave weak keys (practically impossible).
    Exhausted,
}

impl std::fmt::Display for KdfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KdfError::BadDesKey(n) => write!(f, "a DES session key of {n} bytes (expected 8)"),
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
    rxkad_kdf(key)
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
}
