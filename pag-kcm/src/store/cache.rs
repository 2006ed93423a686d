//! One credential cache: a name, a principal and the credentials stored
//! for it, each kept as the bytes the client sent.

/// Bytes counted for each stored item besides its own bytes, so a flood of
/// empty items still counts against the bounds.
pub const OVERHEAD: usize = 64;

/// A stored credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cred {
    pub uuid: [u8; 16],
    /// The v4 encoding, checked by the parser when it arrived.
    pub raw: Vec<u8>,
}

impl Cred {
    pub fn size(&self) -> usize {
        self.raw.len() + OVERHEAD
    }
}

/// A cache: what INITIALIZE or REPLACE made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    pub name: Vec<u8>,
    pub uuid: [u8; 16],
    /// The default principal, v4 encoding.
    pub principal: Vec<u8>,
    pub creds: Vec<Cred>,
    pub kdc_offset: i32,
}

impl Cache {
    pub fn new(name: &[u8], uuid: [u8; 16], principal: &[u8]) -> Self {
        Cache { name: name.to_vec(), uuid, principal: principal.to_vec(), creds: Vec::new(), kdc_offset: 0 }
    }

    /// The bytes it counts against the bounds.
    pub fn size(&self) -> usize {
        OVERHEAD + self.name.len() + self.principal.len() + self.creds.iter().map(Cred::size).sum::<usize>()
    }
}
