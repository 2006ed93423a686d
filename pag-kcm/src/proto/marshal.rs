//! Principals and credentials in the file-ccache version 4 encoding (all
//! integers big-endian), as MIT's `ccmarshal.c` writes them for KCM.
//!
//! The daemon keeps credentials as the bytes the client sent, after
//! checking that they parse, and sends them back unchanged: one parser,
//! no re-encoding, nothing to drift. Every count is checked against the
//! bytes that remain before anything is read for it, so no input makes the
//! parser loop long or allocate by a count it was given.

/// Most components in a principal (MIT has no limit; real ones have 1-3).
pub const MAX_COMPONENTS: u32 = 32;

/// Why bytes do not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

type Parsed<T> = Result<T, Malformed>;

/// A cursor over request bytes that never reads past the end.
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    pub fn take(&mut self, n: usize, what: &'static str) -> Parsed<&'a [u8]> {
        if n > self.remaining() {
            return Err(Malformed(what));
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Parsed<u8> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Parsed<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self, what: &'static str) -> Parsed<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn i32(&mut self, what: &'static str) -> Parsed<i32> {
        Ok(self.u32(what)? as i32)
    }

    /// A u32 length and that many bytes.
    pub fn data(&mut self, what: &'static str) -> Parsed<&'a [u8]> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }

    /// A NUL-terminated name of 1 to `max` bytes (without the NUL).
    pub fn name(&mut self, max: usize) -> Parsed<&'a [u8]> {
        let rest = &self.bytes[self.at..];
        let len = rest.iter().position(|&b| b == 0).ok_or(Malformed("cache name without NUL"))?;
        if len == 0 || len > max {
            return Err(Malformed("cache name length"));
        }
        self.at += len + 1;
        Ok(&rest[..len])
    }

    /// A 16-byte UUID.
    pub fn uuid(&mut self) -> Parsed<[u8; 16]> {
        let mut out = [0u8; 16];
        out.copy_from_slice(self.take(16, "uuid")?);
        Ok(out)
    }

    /// A count of items each at least `min_item` bytes long: refused when
    /// the remaining bytes cannot hold that many.
    fn count(&mut self, min_item: usize, what: &'static str) -> Parsed<u32> {
        let n = self.u32(what)?;
        if (n as usize).saturating_mul(min_item) > self.remaining() {
            return Err(Malformed(what));
        }
        Ok(n)
    }

    /// Everything parsed: refuses trailing bytes.
    pub fn end(&self) -> Parsed<()> {
        if self.remaining() != 0 {
            return Err(Malformed("trailing bytes"));
        }
        Ok(())
    }

    /// The bytes from `start` to the cursor.
    fn since(&self, start: usize) -> &'a [u8] {
        &self.bytes[start..self.at]
    }

    /// A principal; returns its encoding.
    pub fn principal(&mut self) -> Parsed<&'a [u8]> {
        let start = self.at;
        self.u32("principal name type")?;
        let n = self.count(4, "principal component count")?;
        if n > MAX_COMPONENTS {
            return Err(Malformed("too many principal components"));
        }
        self.data("principal realm")?;
        for _ in 0..n {
            self.data("principal component")?;
        }
        Ok(self.since(start))
    }

    /// A credential; returns it with its encoding.
    pub fn cred(&mut self) -> Parsed<Cred<'a>> {
        let start = self.at;
        let client = self.principal()?;
        let server = self.principal()?;
        self.keyblock()?;
        self.times_and_flags()?;
        self.addresses_or_authdata("addresses")?;
        self.addresses_or_authdata("authdata")?;
        self.data("ticket")?;
        self.data("second ticket")?;
        Ok(Cred { raw: self.since(start), client, server })
    }

    /// A credential preceded by its own u32 length (GET_CRED_LIST, REPLACE):
    /// the length must match the credential exactly.
    pub fn sized_cred(&mut self) -> Parsed<Cred<'a>> {
        let bytes = self.data("credential length")?;
        let mut inner = Reader::new(bytes);
        let cred = inner.cred()?;
        inner.end()?;
        Ok(cred)
    }

    /// A match template (MIT's `k5_marshal_mcred`).
    pub fn mcred(&mut self) -> Parsed<Template<'a>> {
        let header = self.u32("template header")?;
        let client = if header & SC_CLIENT != 0 { Some(self.principal()?) } else { None };
        let server = if header & SC_SERVER != 0 { Some(self.principal()?) } else { None };
        if header & SC_SESSION_KEY != 0 {
            self.keyblock()?;
        }
        self.times_and_flags()?;
        if header & SC_ADDRESSES != 0 {
            self.addresses_or_authdata("addresses")?;
        }
        if header & SC_AUTHDATA != 0 {
            self.addresses_or_authdata("authdata")?;
        }
        if header & SC_TICKET != 0 {
            self.data("ticket")?;
        }
        if header & SC_SECOND_TICKET != 0 {
            self.data("second ticket")?;
        }
        Ok(Template { header, client, server })
    }

    fn keyblock(&mut self) -> Parsed<()> {
        self.u16("key type")?;
        self.data("key")?;
        Ok(())
    }

    /// authtime, starttime, endtime, renew_till, is_skey, ticket flags.
    fn times_and_flags(&mut self) -> Parsed<()> {
        self.take(4 * 4 + 1 + 4, "times and flags")?;
        Ok(())
    }

    fn addresses_or_authdata(&mut self, what: &'static str) -> Parsed<()> {
        let n = self.count(6, what)?;
        for _ in 0..n {
            self.u16(what)?;
            self.data(what)?;
        }
        Ok(())
    }
}

/// Which fields of a match template are present (`SC_*` in ccmarshal.c).
pub const SC_CLIENT: u32 = 0x1;
pub const SC_SERVER: u32 = 0x2;
pub const SC_SESSION_KEY: u32 = 0x4;
pub const SC_TICKET: u32 = 0x8;
pub const SC_SECOND_TICKET: u32 = 0x10;
pub const SC_AUTHDATA: u32 = 0x20;
pub const SC_ADDRESSES: u32 = 0x40;

/// A parsed credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cred<'a> {
    /// The whole encoding, as stored and sent back.
    pub raw: &'a [u8],
    pub client: &'a [u8],
    pub server: &'a [u8],
}

/// A parsed match template (only what this daemon matches on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template<'a> {
    pub header: u32,
    pub client: Option<&'a [u8]>,
    pub server: Option<&'a [u8]>,
}

/// Where a stored credential's principals are within its encoding.
pub fn principals_of(raw: &[u8]) -> Parsed<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let mut r = Reader::new(raw);
    let client = r.principal()?.len();
    let server = r.principal()?.len();
    Ok((0..client, client..client + server))
}

/// Encoding helpers for replies and the state files.
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub fn put_data(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A principal `name@REALM` encoded as the client does.
    pub fn principal(components: &[&str], realm: &str) -> Vec<u8> {
        let mut out = Vec::new();
        put_u32(&mut out, 1);
        put_u32(&mut out, components.len() as u32);
        put_data(&mut out, realm.as_bytes());
        for c in components {
            put_data(&mut out, c.as_bytes());
        }
        out
    }

    /// A credential for `client` to `server` with a ticket of `ticket`.
    pub fn cred(client: &[u8], server: &[u8], ticket: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(client);
        out.extend_from_slice(server);
        out.extend_from_slice(&18u16.to_be_bytes());
        put_data(&mut out, &[7u8; 32]);
        out.extend_from_slice(&[0u8; 16 + 1 + 4]);
        put_u32(&mut out, 0);
        put_u32(&mut out, 0);
        put_data(&mut out, ticket);
        put_data(&mut out, b"");
        out
    }

    #[test]
    fn a_credential_parses_to_its_own_bytes_and_principals() {
        let alice = principal(&["alice"], "EXAMPLE.ORG");
        let tgt = principal(&["krbtgt", "EXAMPLE.ORG"], "EXAMPLE.ORG");
        let bytes = cred(&alice, &tgt, b"ticket");
        let mut r = Reader::new(&bytes);
        let c = r.cred().unwrap();
        r.end().unwrap();
        assert_eq!(c.raw, &bytes[..]);
        assert_eq!(c.client, &alice[..]);
        assert_eq!(c.server, &tgt[..]);
        let (cl, sv) = principals_of(&bytes).unwrap();
        assert_eq!(&bytes[cl], &alice[..]);
        assert_eq!(&bytes[sv], &tgt[..]);
    }

    #[test]
    fn every_truncation_of_a_credential_is_refused() {
        let alice = principal(&["alice"], "R");
        let bytes = cred(&alice, &alice, b"t");
        for n in 0..bytes.len() {
            assert!(Reader::new(&bytes[..n]).cred().is_err(), "{n} bytes parsed");
        }
    }

    #[test]
    fn huge_counts_are_refused_before_any_loop() {
        let mut p = Vec::new();
        put_u32(&mut p, 1);
        put_u32(&mut p, u32::MAX);
        put_data(&mut p, b"R");
        assert_eq!(Reader::new(&p).principal(), Err(Malformed("principal component count")));
        let mut p = Vec::new();
        put_u32(&mut p, 1);
        put_u32(&mut p, MAX_COMPONENTS + 1);
        put_data(&mut p, b"R");
        p.extend(std::iter::repeat_n(0u8, 4 * (MAX_COMPONENTS as usize + 1)));
        assert_eq!(Reader::new(&p).principal(), Err(Malformed("too many principal components")));
    }

    #[test]
    fn names_need_a_nul_and_a_bounded_length() {
        assert_eq!(Reader::new(b"1000\0").name(255), Ok(&b"1000"[..]));
        assert!(Reader::new(b"1000").name(255).is_err());
        assert!(Reader::new(b"\0").name(255).is_err());
        assert!(Reader::new(b"abcdef\0").name(5).is_err());
    }

    #[test]
    fn a_sized_credential_must_fill_its_length() {
        let alice = principal(&["alice"], "R");
        let c = cred(&alice, &alice, b"t");
        let mut framed = Vec::new();
        put_data(&mut framed, &[c.clone(), vec![0]].concat());
        assert_eq!(Reader::new(&framed).sized_cred(), Err(Malformed("trailing bytes")));
        let mut framed = Vec::new();
        put_data(&mut framed, &c);
        assert_eq!(Reader::new(&framed).sized_cred().unwrap().raw, &c[..]);
    }
}
