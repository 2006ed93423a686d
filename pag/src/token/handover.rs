//! The token hand-over: how a token program (our `aklog` with
//! `PAG_TOKEN_FD`) gives the tokens it fetched back to pam_pag, which checks
//! them and stores them itself.
//!
//! The program runs as the user, so its output is hostile input to a module
//! running as root. [`parse`] therefore checks every length against what is
//! left of the input before it allocates or copies anything, validates every
//! field, and refuses the whole message on the first problem (a partly
//! trusted message is not worth keeping). Errors name the token and the field
//! but never carry key or ticket bytes.
//!
//! # Format, version 1
//!
//! Integers in the framing are big-endian. The payload is the kAFS key
//! payload exactly as `add_key("rxrpc", ...)` takes it, so it is in the
//! host's byte order; writer and reader are on the same host.
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `PAGT` |
//! | 1 | version = 1 |
//! | 2 | token count N |
//!
//! then N tokens, each:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | cell length C, 1..=64 |
//! | C | cell name: see [`check_cell`] |
//! | 2 | principal length P, 0..=256 (0: not known) |
//! | P | Kerberos client principal: printable ASCII, see [`check_principal`] |
//! | 4 | payload length L, 25..=12,024 |
//! | L | kAFS rxrpc v1 payload as [`RxkadToken::encode`] writes it (24-byte header, then a 1..=12,000-byte ticket) |
//!
//! In version 1 nothing follows the last token. A cell appears at most
//! once. A message with N = 0 is valid: the program ran, understood the
//! request and got no token (its exit status says why). An empty input is
//! not a message: the program does not speak the format, or died before
//! writing.
//!
//! # Version 2: records after the tokens
//!
//! Version 2 is version 1 (with 2 in the version byte) followed by records,
//! for what the program did besides fetching tokens. A writer uses version 1
//! when it has no record to send, so a version 2 message has at least one.
//!
//! | bytes | field |
//! |---|---|
//! | 1 | record count R, 1..=[`MAX_RECORDS`] |
//!
//! then R records, each:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | kind: 1 = tickets moved, 2 = tickets not moved |
//! | 2 | value length V, 1..=256 |
//! | V | value, printable ASCII (space to `~`) |
//!
//! Kind 1 (`PAG_MOVE_TO_KCM`, see pam_pag(8)): the program copied every
//! credential of its `KRB5CCNAME` into a KCM cache and destroyed the
//! source; the value is the cache name the login should use from now on,
//! which starts with `KCM:`. Kind 2: it was asked to and did not; the value
//! says why. At most one of the two appears. Nothing follows the last
//! record.
//!
//! # Use
//!
//! ```
//! use pag::token::handover::{self, HandedToken, Limits};
//! use pag::token::rxrpc::{RxkadToken, KVNO_KERBEROS5};
//! use pag::token::KeyType;
//!
//! let rxkad = RxkadToken { expiry: 1, kvno: KVNO_KERBEROS5, session_key: [1; 8], ticket: vec![2; 100] };
//! let sent = vec![HandedToken { cell: "example.org".into(), principal: Some("alice@EXAMPLE.ORG".into()), rxkad }];
//! let bytes = handover::encode(&sent).unwrap();
//! // The receiver: `handover::receive(pipe, &limits)` reads and parses in one go.
//! let got = handover::parse(&bytes, &Limits::default()).unwrap();
//! assert_eq!(got, sent);
//! let token = got.into_iter().next().unwrap().into_token(KeyType::Rxrpc);
//! assert_eq!(token.description(), "afs@example.org");
//! ```

use std::fmt;
use std::io::{self, Read};

use super::rxrpc::{self, PayloadError, RxkadToken};
use super::{KeyType, Token};

/// The first bytes of every message.
pub const MAGIC: [u8; 4] = *b"PAGT";
/// The version of a message with tokens only.
pub const VERSION: u8 = 1;
/// The version of a message with records after the tokens.
pub const VERSION_RECORDS: u8 = 2;
/// The most records in a version 2 message.
pub const MAX_RECORDS: usize = 1;
/// The longest record value.
pub const MAX_RECORD_LEN: usize = 256;
/// Record kind: the tickets were moved into the named cache.
pub const RECORD_MOVED: u8 = 1;
/// Record kind: the tickets were not moved, and why.
pub const RECORD_NOT_MOVED: u8 = 2;
/// Magic, version and token count.
pub const HEADER_LEN: usize = MAGIC.len() + 1 + 2;
/// The longest cell name.
pub const MAX_CELL_LEN: usize = 64;
/// The longest principal.
pub const MAX_PRINCIPAL_LEN: usize = 256;
/// The longest payload: the rxrpc header and the longest ticket the kernel takes.
pub const MAX_PAYLOAD_LEN: usize = rxrpc::HEADER_LEN + rxrpc::MAX_TICKET_LEN;
/// The most bytes one token can take, framing included.
pub const MAX_TOKEN_LEN: usize = 1 + MAX_CELL_LEN + 2 + MAX_PRINCIPAL_LEN + 4 + MAX_PAYLOAD_LEN;
/// The fewest bytes one token can take: a 1-byte cell, no principal, a 1-byte ticket.
pub const MIN_TOKEN_LEN: usize = 1 + 1 + 2 + 4 + rxrpc::HEADER_LEN + 1;
/// Tokens accepted by default: pam_pag's bound when no cells are configured.
pub const DEFAULT_MAX_TOKENS: usize = 16;
/// Message size accepted by default: 16 tokens of the largest size fit.
pub const DEFAULT_MAX_TOTAL: usize = 256 * 1024;

// The default size cap must admit the default number of largest tokens.
const _: () = assert!(HEADER_LEN + DEFAULT_MAX_TOKENS * MAX_TOKEN_LEN <= DEFAULT_MAX_TOTAL);

/// What the receiver accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most tokens in one message.
    pub max_tokens: usize,
    /// The most bytes in one message.
    pub max_total: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_tokens: DEFAULT_MAX_TOKENS, max_total: DEFAULT_MAX_TOTAL }
    }
}

impl Limits {
    /// The limits for a program asked for `configured` cells: that many
    /// tokens (or [`DEFAULT_MAX_TOKENS`] when none were configured and the
    /// program picks the cells), and room for that many tokens of the
    /// largest size (never less than the default size).
    pub fn for_cells(configured: usize) -> Self {
        let max_tokens = if configured == 0 { DEFAULT_MAX_TOKENS } else { configured };
        let max_total =
            max_tokens.saturating_mul(MAX_TOKEN_LEN).saturating_add(HEADER_LEN).max(DEFAULT_MAX_TOTAL);
        Limits { max_tokens, max_total }
    }
}

/// One token as handed over: the cell, who it is for and the token itself.
///
/// `Debug` shows no key material: [`RxkadToken`]'s shows only the expiry,
/// kvno and ticket length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedToken {
    /// The cell, lower case (see [`check_cell`]).
    pub cell: String,
    /// The Kerberos client principal, when the program said.
    pub principal: Option<String>,
    /// The rxkad token.
    pub rxkad: RxkadToken,
}

/// What a program reports about the login's ticket cache (version 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CcacheReport {
    /// Every credential was copied into this cache (a `KCM:` name) and the
    /// source cache destroyed.
    Moved(String),
    /// Asked to move the tickets, the program did not; why.
    NotMoved(String),
}

/// A whole message: the tokens, and what the program says about the cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// The tokens, in message order.
    pub tokens: Vec<HandedToken>,
    /// Kind 1 or 2 record, if the program sent one.
    pub ccache: Option<CcacheReport>,
}

impl HandedToken {
    /// The token to store as `key_type`.
    pub fn into_token(self, key_type: KeyType) -> Token {
        Token::new(&self.cell, key_type, self.rxkad, self.principal)
    }
}

/// A part of a message, for errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Magic, version and count.
    Header,
    /// The cell length byte.
    CellLength,
    /// The cell name.
    Cell,
    /// The principal length.
    PrincipalLength,
    /// The principal.
    Principal,
    /// The payload length.
    PayloadLength,
    /// The payload.
    Payload,
    /// The record count.
    RecordCount,
    /// A record's kind, length or value.
    Record,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Header => "header",
            Field::CellLength => "cell length",
            Field::Cell => "cell",
            Field::PrincipalLength => "principal length",
            Field::Principal => "principal",
            Field::PayloadLength => "payload length",
            Field::Payload => "payload",
            Field::RecordCount => "record count",
            Field::Record => "record",
        })
    }
}

/// Why a message was refused (or could not be written or read).
///
/// `token` fields count from 0, in message order. No variant holds key or
/// ticket bytes; a cell name appears only after it passed [`check_cell`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoverError {
    /// Nothing at all was received.
    Empty,
    /// More bytes than the limit.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Reading the message failed.
    Read(io::ErrorKind),
    /// The input does not start with [`MAGIC`].
    BadMagic,
    /// A version this module does not read.
    UnsupportedVersion(u8),
    /// More tokens than the limit (or than a u16 can count, when encoding).
    TooManyTokens {
        /// What the message says (or holds).
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The input ends inside a field.
    Truncated {
        /// The token, or None in the header.
        token: Option<usize>,
        /// The field it ends in.
        field: Field,
    },
    /// A length field outside its range.
    BadLength {
        /// The token.
        token: usize,
        /// The field whose length it is.
        field: Field,
        /// The length found.
        length: usize,
    },
    /// A cell name that is not one.
    BadCell {
        /// The token.
        token: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A principal that is not printable ASCII.
    BadPrincipal {
        /// The token.
        token: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A payload the kernel would refuse.
    BadPayload {
        /// The token.
        token: usize,
        /// The kernel's reason.
        error: PayloadError,
    },
    /// A second token for a cell.
    DuplicateCell {
        /// The second token.
        token: usize,
        /// The cell (already checked, so safe to print).
        cell: String,
    },
    /// Bytes after the last token (or record).
    TrailingBytes(usize),
    /// A record this reader refuses (version 2).
    BadRecord {
        /// The record, counting from 0.
        record: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for HandoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HandoverError::*;
        match self {
            Empty => f.write_str("token hand-over: no data (the program does not speak the format, or died)"),
            TooLarge { limit } => write!(f, "token hand-over: more than {limit} bytes"),
            Read(kind) => write!(f, "token hand-over: reading: {kind}"),
            BadMagic => f.write_str("token hand-over: bad magic (not a PAGT message)"),
            UnsupportedVersion(v) => {
                write!(
                    f,
                    "token hand-over: version {v} is not supported (this reader takes versions {VERSION} and \
                     {VERSION_RECORDS})"
                )
            }
            TooManyTokens { count, max } => {
                write!(f, "token hand-over: {count} tokens, at most {max} allowed")
            }
            Truncated { token: None, field } => write!(f, "token hand-over: input ends in the {field}"),
            Truncated { token: Some(i), field } => {
                write!(f, "token hand-over: token {i}: input ends in the {field}")
            }
            BadLength { token, field, length } => {
                write!(f, "token hand-over: token {token}: {field} length {length} is out of range")
            }
            BadCell { token, reason } => write!(f, "token hand-over: token {token}: bad cell name: {reason}"),
            BadPrincipal { token, reason } => {
                write!(f, "token hand-over: token {token}: bad principal: {reason}")
            }
            BadPayload { token, error } => write!(f, "token hand-over: token {token}: {error}"),
            DuplicateCell { token, cell } => {
                write!(f, "token hand-over: token {token}: second token for cell {cell}")
            }
            TrailingBytes(n) => write!(f, "token hand-over: {n} bytes after the last token or record"),
            BadRecord { record, reason } => write!(f, "token hand-over: record {record}: {reason}"),
        }
    }
}

impl std::error::Error for HandoverError {}

/// Why `cell` is not a cell name this format carries, or Ok.
///
/// 1..=64 bytes of lower-case ASCII letters, digits, `-` and `.`; no `.` at
/// either end, no `..`, no `-` at the start. Every real AFS cell name (a
/// DNS-style name: `example.org`, `cs.cmu.edu`, `grand.central.org`) passes
/// once lower-cased; the name ends up in the key description `afs@<cell>`.
pub fn check_cell(cell: &str) -> Result<(), &'static str> {
    let bytes = cell.as_bytes();
    if bytes.is_empty() {
        return Err("empty");
    }
    if bytes.len() > MAX_CELL_LEN {
        return Err("longer than 64 bytes");
    }
    if !bytes.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.') {
        return Err("not only a-z, 0-9, '-' and '.'");
    }
    if bytes[0] == b'.' || bytes[bytes.len() - 1] == b'.' {
        return Err("starts or ends with '.'");
    }
    if bytes[0] == b'-' {
        return Err("starts with '-'");
    }
    if cell.contains("..") {
        return Err("contains '..'");
    }
    Ok(())
}

/// Why `principal` is not a principal this format carries, or Ok: 1..=256
/// bytes of printable ASCII (space to `~`). It is only displayed (`tokens`),
/// so anything that could fool a terminal or a log is refused.
pub fn check_principal(principal: &str) -> Result<(), &'static str> {
    if principal.is_empty() {
        return Err("empty (send length 0 for none)");
    }
    if principal.len() > MAX_PRINCIPAL_LEN {
        return Err("longer than 256 bytes");
    }
    if !principal.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err("not printable ASCII");
    }
    Ok(())
}

/// The message carrying `tokens`, in order.
///
/// Refuses what [`parse`] would refuse in any receiver, so a program never
/// sends a message that cannot be read: a bad cell or principal, a ticket
/// the kernel would not take, a cell twice, more than 65,535 tokens. The
/// receiver's [`Limits`] are its own business and not checked here.
pub fn encode(tokens: &[HandedToken]) -> Result<Vec<u8>, HandoverError> {
    encode_tokens(tokens, VERSION)
}

/// The message carrying `message`: version 1 without a ccache report,
/// version 2 with one. Refuses what [`parse_message`] would refuse.
pub fn encode_message(message: &Message) -> Result<Vec<u8>, HandoverError> {
    let Some(report) = &message.ccache else { return encode_tokens(&message.tokens, VERSION) };
    let (kind, value) = match report {
        CcacheReport::Moved(name) => (RECORD_MOVED, name),
        CcacheReport::NotMoved(why) => (RECORD_NOT_MOVED, why),
    };
    check_record(kind, value).map_err(|reason| HandoverError::BadRecord { record: 0, reason })?;
    let mut out = encode_tokens(&message.tokens, VERSION_RECORDS)?;
    out.push(1);
    out.push(kind);
    // check_record bounds the length well inside a u16.
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
    Ok(out)
}

/// Why a record of `kind` cannot carry `value`, or Ok.
pub fn check_record(kind: u8, value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("empty value");
    }
    if value.len() > MAX_RECORD_LEN {
        return Err("value longer than 256 bytes");
    }
    if !value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err("value not printable ASCII");
    }
    match kind {
        RECORD_MOVED if !value.starts_with("KCM:") => Err("moved to a cache that is not KCM:"),
        RECORD_MOVED | RECORD_NOT_MOVED => Ok(()),
        _ => Err("unknown kind"),
    }
}

fn encode_tokens(tokens: &[HandedToken], version: u8) -> Result<Vec<u8>, HandoverError> {
    let count = u16::try_from(tokens.len())
        .map_err(|_| HandoverError::TooManyTokens { count: tokens.len(), max: usize::from(u16::MAX) })?;
    let mut out = Vec::with_capacity(HEADER_LEN + tokens.len() * 64);
    out.extend_from_slice(&MAGIC);
    out.push(version);
    out.extend_from_slice(&count.to_be_bytes());
    for (index, token) in tokens.iter().enumerate() {
        check_cell(&token.cell).map_err(|reason| HandoverError::BadCell { token: index, reason })?;
        if tokens[..index].iter().any(|t| t.cell == token.cell) {
            return Err(HandoverError::DuplicateCell { token: index, cell: token.cell.clone() });
        }
        let principal = token.principal.as_deref().unwrap_or("");
        if !principal.is_empty() {
            check_principal(principal)
                .map_err(|reason| HandoverError::BadPrincipal { token: index, reason })?;
        }
        let payload =
            token.rxkad.encode().map_err(|error| HandoverError::BadPayload { token: index, error })?;
        // The checks above bound each length well inside its field's width.
        out.push(token.cell.len() as u8);
        out.extend_from_slice(token.cell.as_bytes());
        out.extend_from_slice(&(principal.len() as u16).to_be_bytes());
        out.extend_from_slice(principal.as_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&payload);
    }
    Ok(out)
}

/// The tokens in `bytes`, a whole message, checked against `limits`.
///
/// Allocates only after the lengths involved were checked against the bytes
/// that are left, so it never allocates more than a small multiple of
/// `bytes.len()` whatever the length fields say.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Vec<HandedToken>, HandoverError> {
    parse_message(bytes, limits).map(|m| m.tokens)
}

/// The whole message in `bytes`, version 1 or 2, checked against `limits`
/// (records are bounded by [`MAX_RECORDS`] and [`MAX_RECORD_LEN`]).
pub fn parse_message(bytes: &[u8], limits: &Limits) -> Result<Message, HandoverError> {
    if bytes.is_empty() {
        return Err(HandoverError::Empty);
    }
    if bytes.len() > limits.max_total {
        return Err(HandoverError::TooLarge { limit: limits.max_total });
    }
    let mut input = Cursor { rest: bytes, token: None };
    // The magic is checked on what is there, so a short foreign input is
    // "bad magic", not "truncated".
    if !MAGIC.starts_with(&bytes[..bytes.len().min(MAGIC.len())]) {
        return Err(HandoverError::BadMagic);
    }
    input.take(MAGIC.len(), Field::Header)?;
    let version = input.take(1, Field::Header)?[0];
    if version != VERSION && version != VERSION_RECORDS {
        return Err(HandoverError::UnsupportedVersion(version));
    }
    let count = usize::from(input.u16(Field::Header)?);
    if count > limits.max_tokens {
        return Err(HandoverError::TooManyTokens { count, max: limits.max_tokens });
    }
    // Each token takes at least MIN_TOKEN_LEN bytes, so the reservation is
    // bounded by the input as well as by the limit.
    let mut tokens: Vec<HandedToken> = Vec::with_capacity(count.min(input.rest.len() / MIN_TOKEN_LEN));
    for index in 0..count {
        input.token = Some(index);
        let token = parse_token(&mut input, index)?;
        if tokens.iter().any(|t| t.cell == token.cell) {
            return Err(HandoverError::DuplicateCell { token: index, cell: token.cell });
        }
        tokens.push(token);
    }
    input.token = None;
    let ccache = if version == VERSION_RECORDS { Some(parse_records(&mut input)?) } else { None };
    if !input.rest.is_empty() {
        return Err(HandoverError::TrailingBytes(input.rest.len()));
    }
    Ok(Message { tokens, ccache })
}

/// The records of a version 2 message: today exactly one, the ccache report.
fn parse_records(input: &mut Cursor<'_>) -> Result<CcacheReport, HandoverError> {
    let count = usize::from(input.take(1, Field::RecordCount)?[0]);
    if count == 0 {
        return Err(HandoverError::BadRecord { record: 0, reason: "no records (write version 1)" });
    }
    if count > MAX_RECORDS {
        return Err(HandoverError::BadRecord { record: MAX_RECORDS, reason: "more records than allowed" });
    }
    let kind = input.take(1, Field::Record)?[0];
    let len = usize::from(input.u16(Field::Record)?);
    if len == 0 || len > MAX_RECORD_LEN {
        return Err(HandoverError::BadRecord { record: 0, reason: "value length out of range" });
    }
    let raw = input.take(len, Field::Record)?;
    let value = std::str::from_utf8(raw)
        .map_err(|_| HandoverError::BadRecord { record: 0, reason: "value not printable ASCII" })?;
    check_record(kind, value).map_err(|reason| HandoverError::BadRecord { record: 0, reason })?;
    Ok(match kind {
        RECORD_MOVED => CcacheReport::Moved(value.to_owned()),
        _ => CcacheReport::NotMoved(value.to_owned()),
    })
}

fn parse_token(input: &mut Cursor<'_>, index: usize) -> Result<HandedToken, HandoverError> {
    let cell_len = usize::from(input.take(1, Field::CellLength)?[0]);
    if cell_len == 0 || cell_len > MAX_CELL_LEN {
        return Err(HandoverError::BadLength { token: index, field: Field::Cell, length: cell_len });
    }
    let cell = input.take(cell_len, Field::Cell)?;
    let cell = std::str::from_utf8(cell)
        .map_err(|_| HandoverError::BadCell { token: index, reason: "not ASCII" })?;
    check_cell(cell).map_err(|reason| HandoverError::BadCell { token: index, reason })?;

    let principal_len = usize::from(input.u16(Field::PrincipalLength)?);
    if principal_len > MAX_PRINCIPAL_LEN {
        return Err(HandoverError::BadLength {
            token: index,
            field: Field::Principal,
            length: principal_len,
        });
    }
    let principal = match input.take(principal_len, Field::Principal)? {
        [] => None,
        raw => {
            let text = std::str::from_utf8(raw)
                .map_err(|_| HandoverError::BadPrincipal { token: index, reason: "not printable ASCII" })?;
            check_principal(text).map_err(|reason| HandoverError::BadPrincipal { token: index, reason })?;
            Some(text.to_owned())
        }
    };

    let payload_len = input.u32(Field::PayloadLength)?;
    let payload_len = usize::try_from(payload_len).unwrap_or(usize::MAX);
    if payload_len > MAX_PAYLOAD_LEN {
        return Err(HandoverError::BadLength { token: index, field: Field::Payload, length: payload_len });
    }
    let payload = input.take(payload_len, Field::Payload)?;
    let rxkad =
        RxkadToken::decode(payload).map_err(|error| HandoverError::BadPayload { token: index, error })?;
    Ok(HandedToken { cell: cell.to_owned(), principal, rxkad })
}

/// What is left of the input, and which token it is in, for errors.
struct Cursor<'a> {
    rest: &'a [u8],
    token: Option<usize>,
}

impl<'a> Cursor<'a> {
    /// The next `len` bytes, or Truncated in `field` when fewer are left.
    fn take(&mut self, len: usize, field: Field) -> Result<&'a [u8], HandoverError> {
        if len > self.rest.len() {
            return Err(HandoverError::Truncated { token: self.token, field });
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    fn u16(&mut self, field: Field) -> Result<u16, HandoverError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, field: Field) -> Result<u32, HandoverError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Everything `reader` sends until end of file, up to `max` bytes.
///
/// The buffer never grows beyond `max` bytes (plus a fixed 4 KiB read
/// buffer); one byte more than `max` ends the read with
/// [`HandoverError::TooLarge`] without draining the rest. A writer that is
/// still writing then blocks on a full pipe: the caller's deadline for the
/// program has to end it. EINTR is retried.
pub fn read_bounded(mut reader: impl Read, max: usize) -> Result<Vec<u8>, HandoverError> {
    let mut chunk = [0u8; 4096];
    let mut out: Vec<u8> = Vec::new();
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HandoverError::Read(e.kind())),
        };
        if n > max - out.len() {
            return Err(HandoverError::TooLarge { limit: max });
        }
        if out.capacity() - out.len() < n {
            // Grow geometrically as Vec would, but never past `max`.
            let wanted = out.capacity().saturating_mul(2).max(out.len() + n).max(chunk.len()).min(max);
            out.reserve_exact(wanted - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// [`read_bounded`] to `limits.max_total`, then [`parse`]: what a receiver
/// does with the read end of the program's pipe.
pub fn receive(reader: impl Read, limits: &Limits) -> Result<Vec<HandedToken>, HandoverError> {
    parse(&read_bounded(reader, limits.max_total)?, limits)
}

/// [`receive`] for a whole [`Message`].
pub fn receive_message(reader: impl Read, limits: &Limits) -> Result<Message, HandoverError> {
    parse_message(&read_bounded(reader, limits.max_total)?, limits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rxrpc::KVNO_KERBEROS5;

    fn rxkad(ticket_len: usize, fill: u8) -> RxkadToken {
        RxkadToken {
            expiry: 0x6000_0000,
            kvno: KVNO_KERBEROS5,
            session_key: [0xA5; 8],
            ticket: vec![fill; ticket_len],
        }
    }

    fn token(cell: &str, principal: Option<&str>, ticket_len: usize) -> HandedToken {
        HandedToken {
            cell: cell.into(),
            principal: principal.map(Into::into),
            rxkad: rxkad(ticket_len, 0x5A),
        }
    }

    fn sample() -> Vec<HandedToken> {
        vec![
            token("example.org", Some("alice@EXAMPLE.ORG"), 700),
            token("grand.central.org", None, 1),
            token("cs.cmu.edu", Some("alice/admin@CS.CMU.EDU"), rxrpc::MAX_TICKET_LEN),
        ]
    }

    fn limits() -> Limits {
        Limits::default()
    }

    /// The offset of token `n`'s first byte in `bytes`.
    fn token_offset(bytes: &[u8], n: usize) -> usize {
        let mut at = HEADER_LEN;
        for _ in 0..n {
            at += 1 + usize::from(bytes[at]);
            at += 2 + usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
            at += 4 + u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        }
        at
    }

    #[test]
    fn round_trip() {
        let tokens = sample();
        let bytes = encode(&tokens).unwrap();
        assert_eq!(parse(&bytes, &limits()).unwrap(), tokens);
        assert_eq!(receive(&bytes[..], &limits()).unwrap(), tokens);
    }

    #[test]
    fn layout_is_as_documented() {
        let bytes = encode(&[token("ab.c", Some("u@R"), 3)]).unwrap();
        let mut expected = b"PAGT\x01\x00\x01\x04ab.c\x00\x03u@R\x00\x00\x00\x1b".to_vec();
        expected.extend_from_slice(&rxkad(3, 0x5A).encode().unwrap());
        assert_eq!(bytes, expected);
        assert_eq!(encode(&[]).unwrap(), b"PAGT\x01\x00\x00");
        assert_eq!(parse(b"PAGT\x01\x00\x00", &limits()).unwrap(), []);
    }

    #[test]
    fn largest_default_message_fits_the_default_limits() {
        let tokens: Vec<HandedToken> = (0..DEFAULT_MAX_TOKENS)
            .map(|i| HandedToken {
                principal: Some("p".repeat(MAX_PRINCIPAL_LEN)),
                ..token(&format!("{i:0>64}"), None, rxrpc::MAX_TICKET_LEN)
            })
            .collect();
        let bytes = encode(&tokens).unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + DEFAULT_MAX_TOKENS * MAX_TOKEN_LEN);
        assert_eq!(parse(&bytes, &limits()).unwrap().len(), DEFAULT_MAX_TOKENS);
    }

    #[test]
    fn limits_for_configured_cells() {
        assert_eq!(Limits::for_cells(0), Limits::default());
        assert_eq!(Limits::for_cells(2), Limits { max_tokens: 2, max_total: DEFAULT_MAX_TOTAL });
        let many = Limits::for_cells(100);
        assert_eq!(many.max_tokens, 100);
        assert!(many.max_total >= HEADER_LEN + 100 * MAX_TOKEN_LEN);
    }

    #[test]
    fn empty_foreign_and_future_inputs() {
        assert_eq!(parse(b"", &limits()), Err(HandoverError::Empty));
        assert_eq!(
            parse(b"PAG", &limits()),
            Err(HandoverError::Truncated { token: None, field: Field::Header })
        );
        assert_eq!(parse(b"hello world", &limits()), Err(HandoverError::BadMagic));
        assert_eq!(parse(b"X", &limits()), Err(HandoverError::BadMagic));
        let err = parse(b"PAGT\x03\x00\x00", &limits()).unwrap_err();
        assert_eq!(err, HandoverError::UnsupportedVersion(3));
        assert!(err.to_string().contains("version 3"), "{err}");
        assert_eq!(
            parse(b"PAGT\x01\x00", &limits()),
            Err(HandoverError::Truncated { token: None, field: Field::Header })
        );
    }

    #[test]
    fn count_and_size_limits() {
        let bytes = encode(&sample()).unwrap();
        let two = Limits { max_tokens: 2, ..limits() };
        assert_eq!(parse(&bytes, &two), Err(HandoverError::TooManyTokens { count: 3, max: 2 }));
        let small = Limits { max_total: bytes.len() - 1, ..limits() };
        assert_eq!(parse(&bytes, &small), Err(HandoverError::TooLarge { limit: bytes.len() - 1 }));
        assert!(parse(&bytes, &Limits { max_total: bytes.len(), ..limits() }).is_ok());
        // A count larger than the tokens present is truncation, not a huge reservation.
        assert_eq!(
            parse(b"PAGT\x01\xff\xff", &Limits { max_tokens: usize::MAX, ..limits() }),
            Err(HandoverError::Truncated { token: Some(0), field: Field::CellLength })
        );
    }

    #[test]
    fn truncation_anywhere_is_refused_and_named() {
        let bytes = encode(&sample()).unwrap();
        for len in 1..bytes.len() {
            let err = parse(&bytes[..len], &limits()).unwrap_err();
            assert!(matches!(err, HandoverError::Truncated { .. }), "length {len}: {err:?}");
        }
        let second = token_offset(&bytes, 1);
        assert_eq!(
            parse(&bytes[..second + 3], &limits()),
            Err(HandoverError::Truncated { token: Some(1), field: Field::Cell })
        );
    }

    #[test]
    fn version_2_carries_one_ccache_record_after_the_tokens() {
        let moved = Message { tokens: sample(), ccache: Some(CcacheReport::Moved("KCM:".into())) };
        let bytes = encode_message(&moved).unwrap();
        assert_eq!(bytes[4], VERSION_RECORDS);
        assert!(bytes.ends_with(b"\x01\x01\x00\x04KCM:"), "{:?}", &bytes[bytes.len() - 8..]);
        assert_eq!(parse_message(&bytes, &limits()).unwrap(), moved);
        assert_eq!(receive_message(&bytes[..], &limits()).unwrap(), moved);
        // Readers of tokens only take it too.
        assert_eq!(parse(&bytes, &limits()).unwrap(), sample());
        let not =
            Message { tokens: vec![], ccache: Some(CcacheReport::NotMoved("No KCM server found".into())) };
        let bytes = encode_message(&not).unwrap();
        assert_eq!(bytes, b"PAGT\x02\x00\x00\x01\x02\x00\x13No KCM server found");
        assert_eq!(parse_message(&bytes, &limits()).unwrap(), not);
        // Without a report: version 1, as encode writes it.
        let plain = Message { tokens: sample(), ccache: None };
        assert_eq!(encode_message(&plain).unwrap(), encode(&sample()).unwrap());
        // Truncated anywhere in the record: refused.
        for len in HEADER_LEN..bytes.len() {
            assert!(
                matches!(parse_message(&bytes[..len], &limits()), Err(HandoverError::Truncated { .. })),
                "{len}"
            );
        }
    }

    #[test]
    fn bad_records_are_refused() {
        let bad = |tail: &[u8]| {
            let mut bytes = b"PAGT\x02\x00\x00".to_vec();
            bytes.extend_from_slice(tail);
            parse_message(&bytes, &limits())
        };
        let record = |reason| Err(HandoverError::BadRecord { record: 0, reason });
        assert_eq!(bad(b"\x00"), record("no records (write version 1)"));
        assert_eq!(
            bad(b"\x02"),
            Err(HandoverError::BadRecord { record: 1, reason: "more records than allowed" })
        );
        assert_eq!(bad(b"\x01\x03\x00\x01x"), record("unknown kind"));
        assert_eq!(bad(b"\x01\x01\x00\x05FILE:"), record("moved to a cache that is not KCM:"));
        assert_eq!(bad(b"\x01\x01\x00\x00"), record("value length out of range"));
        assert_eq!(bad(b"\x01\x01\x01\x01"), record("value length out of range"));
        assert_eq!(bad(b"\x01\x02\x00\x02a\n"), record("value not printable ASCII"));
        assert_eq!(bad(b"\x01\x02\x00\x02\xc3\xa9"), record("value not printable ASCII"));
        assert_eq!(bad(b"\x01\x02\x00\x01ax"), Err(HandoverError::TrailingBytes(1)));
        // The writer refuses the same.
        let m = |r| Message { tokens: vec![], ccache: Some(r) };
        assert!(encode_message(&m(CcacheReport::Moved("FILE:/tmp/x".into()))).is_err());
        assert!(encode_message(&m(CcacheReport::NotMoved("a".repeat(MAX_RECORD_LEN + 1)))).is_err());
        assert!(encode_message(&m(CcacheReport::NotMoved(String::new()))).is_err());
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode(&sample()).unwrap();
        bytes.push(0);
        assert_eq!(parse(&bytes, &limits()), Err(HandoverError::TrailingBytes(1)));
    }

    #[test]
    fn length_fields_out_of_range() {
        let bytes = encode(&sample()).unwrap();
        let at = token_offset(&bytes, 1);

        let mut zero_cell = bytes.clone();
        zero_cell[at] = 0;
        assert_eq!(
            parse(&zero_cell, &limits()),
            Err(HandoverError::BadLength { token: 1, field: Field::Cell, length: 0 })
        );
        let mut long_cell = bytes.clone();
        long_cell[at] = 65;
        assert_eq!(
            parse(&long_cell, &limits()),
            Err(HandoverError::BadLength { token: 1, field: Field::Cell, length: 65 })
        );

        let principal_at = at + 1 + usize::from(bytes[at]);
        let mut long_principal = bytes.clone();
        long_principal[principal_at..principal_at + 2].copy_from_slice(&257u16.to_be_bytes());
        assert_eq!(
            parse(&long_principal, &limits()),
            Err(HandoverError::BadLength { token: 1, field: Field::Principal, length: 257 })
        );

        let payload_at = principal_at + 2; // token 1 has no principal
        let mut huge_payload = bytes.clone();
        huge_payload[payload_at..payload_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            parse(&huge_payload, &limits()),
            Err(HandoverError::BadLength { token: 1, field: Field::Payload, length: u32::MAX as usize })
        );
    }

    #[test]
    fn bad_cell_names() {
        for (cell, reason) in [
            ("Example.org", "not only a-z, 0-9, '-' and '.'"),
            ("exa mple", "not only a-z, 0-9, '-' and '.'"),
            ("a@b", "not only a-z, 0-9, '-' and '.'"),
            (".example.org", "starts or ends with '.'"),
            ("example.org.", "starts or ends with '.'"),
            ("example..org", "contains '..'"),
            ("-x.org", "starts with '-'"),
        ] {
            assert_eq!(check_cell(cell), Err(reason), "{cell}");
            let bytes = encode(&[token("placeholder", None, 5)]).unwrap();
            let wire = wire_with_cell(&bytes, cell.as_bytes());
            assert_eq!(parse(&wire, &limits()), Err(HandoverError::BadCell { token: 0, reason }), "{cell}");
            assert_eq!(encode(&[token(cell, None, 5)]), Err(HandoverError::BadCell { token: 0, reason }));
        }
        let bytes = encode(&[token("placeholder", None, 5)]).unwrap();
        assert_eq!(
            parse(&wire_with_cell(&bytes, b"caf\xc3\xa9"), &limits()),
            Err(HandoverError::BadCell { token: 0, reason: "not only a-z, 0-9, '-' and '.'" })
        );
        assert_eq!(
            parse(&wire_with_cell(&bytes, b"\xff"), &limits()),
            Err(HandoverError::BadCell { token: 0, reason: "not ASCII" })
        );
        for good in ["example.org", "cs.cmu.edu", "grand.central.org", "a", "x-y.0rg", &"a".repeat(64)] {
            assert_eq!(check_cell(good), Ok(()), "{good}");
        }
        assert_eq!(check_cell(&"a".repeat(65)), Err("longer than 64 bytes"));
        assert_eq!(check_cell(""), Err("empty"));
    }

    /// `bytes` (one token, cell "placeholder") with its cell replaced by `cell`.
    fn wire_with_cell(bytes: &[u8], cell: &[u8]) -> Vec<u8> {
        let mut out = bytes[..HEADER_LEN].to_vec();
        out.push(cell.len() as u8);
        out.extend_from_slice(cell);
        out.extend_from_slice(&bytes[HEADER_LEN + 1 + "placeholder".len()..]);
        out
    }

    #[test]
    fn bad_principals() {
        for (principal, reason) in [
            ("alice\n@R", "not printable ASCII"),
            ("\x1b[2Jalice", "not printable ASCII"),
            ("alicé@R", "not printable ASCII"),
        ] {
            let sent = [token("c", Some(principal), 5)];
            assert_eq!(encode(&sent), Err(HandoverError::BadPrincipal { token: 0, reason }));
            let mut wire = encode(&[token("c", Some(&"x".repeat(principal.len())), 5)]).unwrap();
            let at = HEADER_LEN + 2 + 2;
            wire[at..at + principal.len()].copy_from_slice(principal.as_bytes());
            assert_eq!(parse(&wire, &limits()), Err(HandoverError::BadPrincipal { token: 0, reason }));
        }
        let mut wire = encode(&[token("c", Some("ab"), 5)]).unwrap();
        wire[HEADER_LEN + 4] = 0xff;
        assert_eq!(
            parse(&wire, &limits()),
            Err(HandoverError::BadPrincipal { token: 0, reason: "not printable ASCII" })
        );
        assert_eq!(check_principal(&"p".repeat(256)), Ok(()));
        assert_eq!(check_principal(&"p".repeat(257)), Err("longer than 256 bytes"));
        // An empty principal is sent as "none", never refused.
        let none = [token("c", Some(""), 5)];
        assert_eq!(parse(&encode(&none).unwrap(), &limits()).unwrap()[0].principal, None);
    }

    #[test]
    fn payloads_the_kernel_would_refuse() {
        let good = encode(&[token("c", None, 40)]).unwrap();
        let payload_at = HEADER_LEN + 1 + 1 + 2 + 4;

        let mut version = good.clone();
        version[payload_at..payload_at + 4].copy_from_slice(&2u32.to_ne_bytes());
        assert_eq!(
            parse(&version, &limits()),
            Err(HandoverError::BadPayload { token: 0, error: PayloadError::BadVersion(2) })
        );

        let mut index = good.clone();
        index[payload_at + 4..payload_at + 6].copy_from_slice(&5u16.to_ne_bytes());
        assert_eq!(
            parse(&index, &limits()),
            Err(HandoverError::BadPayload { token: 0, error: PayloadError::BadSecurityIndex(5) })
        );

        let mut mismatch = good.clone();
        mismatch[payload_at + 6..payload_at + 8].copy_from_slice(&41u16.to_ne_bytes());
        assert_eq!(
            parse(&mismatch, &limits()),
            Err(HandoverError::BadPayload {
                token: 0,
                error: PayloadError::LengthMismatch { declared: 41, actual: 40 }
            })
        );

        // A payload shorter than the rxrpc header (framing length 10).
        let mut short = good[..payload_at - 4].to_vec();
        short.extend_from_slice(&10u32.to_be_bytes());
        short.extend_from_slice(&good[payload_at..payload_at + 10]);
        assert_eq!(
            parse(&short, &limits()),
            Err(HandoverError::BadPayload { token: 0, error: PayloadError::TooShort(10) })
        );

        assert_eq!(
            encode(&[token("c", None, 0)]),
            Err(HandoverError::BadPayload { token: 0, error: PayloadError::BadTicketLength(0) })
        );
        assert_eq!(
            encode(&[token("c", None, rxrpc::MAX_TICKET_LEN + 1)]),
            Err(HandoverError::BadPayload {
                token: 0,
                error: PayloadError::BadTicketLength(rxrpc::MAX_TICKET_LEN + 1)
            })
        );
    }

    #[test]
    fn a_cell_twice_is_refused() {
        let tokens = [token("a.org", None, 5), token("b.org", None, 5), token("a.org", Some("x@Y"), 6)];
        let expected = HandoverError::DuplicateCell { token: 2, cell: "a.org".into() };
        assert_eq!(encode(&tokens), Err(expected.clone()));
        let mut wire = encode(&tokens[..2]).unwrap();
        wire[HEADER_LEN - 1] = 3;
        wire.extend_from_slice(&encode(&tokens[2..]).unwrap()[HEADER_LEN..]);
        assert_eq!(parse(&wire, &limits()), Err(expected));
    }

    #[test]
    fn messages_and_debug_never_show_key_material() {
        // Key and ticket bytes that would show in any hex or decimal dump.
        let secret = HandedToken {
            cell: "example.org".into(),
            principal: None,
            rxkad: RxkadToken { expiry: 1, kvno: 256, session_key: [0xEE; 8], ticket: vec![0xDD; 100] },
        };
        let text = format!("{secret:?}");
        assert!(!text.contains("238") && !text.contains("221"), "{text}");

        let good = encode(&[secret]).unwrap();
        let mut errors = Vec::new();
        for len in 0..good.len() {
            errors.push(parse(&good[..len], &limits()).unwrap_err());
        }
        for at in 0..good.len() {
            let mut flipped = good.clone();
            flipped[at] ^= 0x01;
            errors.extend(parse(&flipped, &limits()).err());
        }
        for e in errors {
            let text = format!("{e} {e:?}");
            assert!(!text.contains("238") && !text.contains("221"), "{text}");
            assert!(text.len() < 200, "not short: {text}");
        }
    }

    #[test]
    fn into_token_keeps_everything() {
        let t = token("example.org", Some("a@B"), 9).into_token(KeyType::User);
        assert_eq!(t.cell, "example.org");
        assert_eq!(t.key_type, KeyType::User);
        assert_eq!(t.principal.as_deref(), Some("a@B"));
        assert_eq!(t.rxkad, rxkad(9, 0x5A));
        assert_eq!(t.serial, None);
    }

    /// A reader that hands out `data` in pieces of `step` bytes, with an
    /// EINTR before each piece.
    struct Dribble<'a> {
        data: &'a [u8],
        step: usize,
        interrupt: bool,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn read_bounded_stops_at_the_limit_and_never_grows_past_it() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        for step in [1, 7, 4096, 10_000] {
            let got = read_bounded(Dribble { data: &data, step, interrupt: false }, 10_000).unwrap();
            assert_eq!(got, data);
            assert!(got.capacity() <= 10_000, "capacity {}", got.capacity());
            assert_eq!(
                read_bounded(Dribble { data: &data, step, interrupt: false }, 9_999),
                Err(HandoverError::TooLarge { limit: 9_999 })
            );
        }
        assert_eq!(read_bounded(&b""[..], 0), Ok(vec![]));
        assert_eq!(read_bounded(&b"x"[..], 0), Err(HandoverError::TooLarge { limit: 0 }));
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
        }
        assert_eq!(read_bounded(Broken, 10), Err(HandoverError::Read(io::ErrorKind::BrokenPipe)));
    }

    #[test]
    fn receive_applies_the_size_limit_while_reading() {
        let bytes = encode(&sample()).unwrap();
        let small = Limits { max_total: 100, ..limits() };
        assert_eq!(receive(&bytes[..], &small), Err(HandoverError::TooLarge { limit: 100 }));
    }
}
