//! Property test of the token hand-over parser against hostile input: a
//! million generated inputs (random bytes and mutated valid messages) must
//! never panic, must allocate no more than the input's size allows, and
//! whatever parses must be exactly a message the encoder writes.
//!
//! Allocation is measured, not assumed: this test binary's global allocator
//! counts the bytes requested by the current thread while a parse runs.
//! That needs an `unsafe impl GlobalAlloc` here, outside the crate's `sys`
//! module: it only forwards to the system allocator, and a test binary has
//! no other way to see what a function allocates.
//!
//! The run is seeded (PAG_FUZZ_SEED, default fixed) and its length can be
//! changed with PAG_FUZZ_ITERATIONS; a failure prints the seed, the case
//! number and the input.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use pag::token::handover::{
    self, check_cell, HandedToken, HandoverError, Limits, Message, HEADER_LEN, MAX_PRINCIPAL_LEN,
    MIN_TOKEN_LEN,
};
use pag::token::rxrpc::{RxkadToken, MAX_TICKET_LEN};

// ---- allocation counting ----

/// Forwards to the system allocator; while [`COUNTING`] is set on a thread,
/// adds every requested size to [`ALLOCATED`] and the largest to [`LARGEST`].
struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // try_with: thread-local storage may already be gone while a thread exits.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + size));
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`, which
// upholds the GlobalAlloc contract; the counting touches only const-initialised
// thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // The caller guarantees `new_size` is valid for `layout`.
        // SAFETY: `ptr` came from `System` through this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// `f()` and the total and largest allocation it made on this thread.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    ALLOCATED.with(|a| a.set(0));
    LARGEST.with(|l| l.set(0));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, ALLOCATED.with(Cell::get), LARGEST.with(Cell::get))
}

/// What a parse of `len` bytes may allocate: a copy of the input's strings
/// and tickets, and one token record per MIN_TOKEN_LEN bytes.
fn allocation_bound(len: usize) -> usize {
    len + (len / MIN_TOKEN_LEN + 1) * std::mem::size_of::<HandedToken>()
}

// ---- a small seeded PRNG (SplitMix64) ----

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0); the bias is irrelevant here.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

// ---- generators ----

const CELL_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-.";

fn cell(rng: &mut Rng) -> String {
    loop {
        let longest = if rng.chance(20) { 64 } else { 12 };
        let len = 1 + rng.below(longest);
        let name: String = (0..len).map(|_| CELL_CHARS[rng.below(CELL_CHARS.len())] as char).collect();
        if check_cell(&name).is_ok() {
            return name;
        }
    }
}

fn principal(rng: &mut Rng) -> Option<String> {
    if rng.chance(4) {
        return None;
    }
    let longest = if rng.chance(20) { MAX_PRINCIPAL_LEN } else { 24 };
    let len = 1 + rng.below(longest);
    Some((0..len).map(|_| (b' ' + rng.below(95) as u8) as char).collect())
}

fn token(rng: &mut Rng, cell: String) -> HandedToken {
    let ticket_len = if rng.chance(200) { MAX_TICKET_LEN - rng.below(2) } else { 1 + rng.below(96) };
    let mut session_key = [0u8; 8];
    session_key.iter_mut().for_each(|b| *b = rng.byte());
    HandedToken {
        cell,
        principal: principal(rng),
        rxkad: RxkadToken {
            expiry: rng.next() as u32,
            kvno: if rng.chance(2) { 256 } else { rng.next() as u32 },
            session_key,
            ticket: rng.bytes(ticket_len),
        },
    }
}

/// A valid message of 0..=5 tokens with distinct cells.
fn valid_message(rng: &mut Rng) -> Vec<u8> {
    let mut tokens: Vec<HandedToken> = Vec::new();
    for _ in 0..rng.below(6) {
        let c = cell(rng);
        if tokens.iter().all(|t| t.cell != c) {
            tokens.push(token(rng, c));
        }
    }
    handover::encode(&tokens).expect("generated tokens are valid")
}

/// The offsets of every length field in a valid message (count, then each
/// token's cell, principal and payload lengths) with their widths.
fn length_fields(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut fields = vec![(HEADER_LEN - 2, 2)];
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        fields.push((at, 1));
        at += 1 + usize::from(bytes[at]);
        fields.push((at, 2));
        at += 2 + usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
        fields.push((at, 4));
        at += 4 + u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    fields
}

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, fields: &[(usize, usize)]) {
    match rng.below(9) {
        0 if !bytes.is_empty() => {
            let at = rng.below(bytes.len());
            bytes[at] ^= 1 << rng.below(8);
        }
        1 if !bytes.is_empty() => {
            let at = rng.below(bytes.len());
            bytes[at] = rng.byte();
        }
        2 => bytes.truncate(rng.below(bytes.len() + 1)),
        3 => {
            let at = rng.below(bytes.len() + 1);
            let len = 1 + rng.below(8);
            let extra = rng.bytes(len);
            bytes.splice(at..at, extra);
        }
        4 if !bytes.is_empty() => {
            let at = rng.below(bytes.len());
            let end = (at + 1 + rng.below(16)).min(bytes.len());
            bytes.drain(at..end);
        }
        // A length field set to a huge, maximal or random value.
        5 | 6 => {
            let (at, width) = fields[rng.below(fields.len())];
            if at + width <= bytes.len() {
                let value: u64 = match rng.below(3) {
                    0 => u64::MAX,
                    1 => u64::MAX >> 1,
                    _ => rng.next(),
                };
                bytes[at..at + width].copy_from_slice(&value.to_be_bytes()[8 - width..]);
            }
        }
        // A length field off by a little, so the framing slips.
        7 => {
            let (at, width) = fields[rng.below(fields.len())];
            if at + width <= bytes.len() {
                let i = at + width - 1;
                bytes[i] = bytes[i].wrapping_add(if rng.chance(2) { 1 } else { 255 });
            }
        }
        // A copy of a stretch of the message appended (often a whole token:
        // a duplicate cell) with the count raised.
        _ if bytes.len() > HEADER_LEN => {
            let from = HEADER_LEN + rng.below(bytes.len() - HEADER_LEN);
            let copy = bytes[from..].to_vec();
            bytes.extend_from_slice(&copy);
            bytes[HEADER_LEN - 1] = bytes[HEADER_LEN - 1].wrapping_add(1);
        }
        _ => bytes.push(rng.byte()),
    }
}

fn random_input(rng: &mut Rng) -> Vec<u8> {
    let mut bytes = Vec::new();
    if rng.chance(2) {
        bytes.extend_from_slice(b"PAGT");
        if rng.chance(2) {
            bytes.push(1);
        }
    }
    let longest = if rng.chance(10) { 2048 } else { 64 };
    let len = rng.below(longest);
    bytes.extend(rng.bytes(len));
    bytes
}

fn limits(rng: &mut Rng) -> Limits {
    match rng.below(10) {
        0 => Limits { max_tokens: rng.below(4), ..Limits::default() },
        1 => Limits { max_total: rng.below(4096), ..Limits::default() },
        2 => Limits { max_tokens: usize::MAX, max_total: usize::MAX },
        _ => Limits::default(),
    }
}

/// A short name for each outcome, to show the generators reach every check.
fn outcome(result: &Result<Message, HandoverError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(HandoverError::Empty) => "empty",
        Err(HandoverError::TooLarge { .. }) => "too large",
        Err(HandoverError::Read(_)) => "read",
        Err(HandoverError::BadMagic) => "bad magic",
        Err(HandoverError::UnsupportedVersion(_)) => "version",
        Err(HandoverError::TooManyTokens { .. }) => "too many tokens",
        Err(HandoverError::Truncated { .. }) => "truncated",
        Err(HandoverError::BadLength { .. }) => "bad length",
        Err(HandoverError::BadCell { .. }) => "bad cell",
        Err(HandoverError::BadPrincipal { .. }) => "bad principal",
        Err(HandoverError::BadPayload { .. }) => "bad payload",
        Err(HandoverError::DuplicateCell { .. }) => "duplicate cell",
        Err(HandoverError::TrailingBytes(_)) => "trailing bytes",
        Err(HandoverError::BadRecord { .. }) => "bad record",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().take(512).map(|b| format!("{b:02x}")).collect()
}

/// Checks one input; a returned Err is the failure, with the reason.
fn check(input: &[u8], limits: &Limits, counts: &mut BTreeMap<&'static str, usize>) -> Result<(), String> {
    let (result, allocated, largest) = measured(|| handover::parse_message(input, limits));
    let bound = allocation_bound(input.len());
    if allocated > bound {
        return Err(format!(
            "allocated {allocated} bytes (largest {largest}) for {} input bytes",
            input.len()
        ));
    }
    *counts.entry(outcome(&result)).or_default() += 1;
    match result {
        Ok(message) => {
            let tokens = &message.tokens;
            if tokens.len() > limits.max_tokens || input.len() > limits.max_total {
                return Err(format!(
                    "accepted {} tokens in {} bytes past {limits:?}",
                    tokens.len(),
                    input.len()
                ));
            }
            let again = handover::encode_message(&message)
                .map_err(|e| format!("accepted tokens do not encode: {e}"))?;
            if again != input {
                return Err("accepted input is not what the encoder writes for its tokens".into());
            }
        }
        Err(e) => {
            let text = e.to_string();
            if text.len() > 160 || text.chars().any(char::is_control) {
                return Err(format!("error message not short and plain: {text:?}"));
            }
        }
    }
    Ok(())
}

#[test]
fn counting_allocator_counts() {
    let ((), allocated, largest) = measured(|| drop(std::hint::black_box(vec![0u8; 5000])));
    assert!(allocated >= 5000 && largest >= 5000, "{allocated} {largest}");
    let input = handover::encode(&[]).unwrap();
    let (_, allocated, _) = measured(|| handover::parse(&input, &Limits::default()));
    assert_eq!(allocated, 0, "an empty message needs no allocation");
}

#[test]
fn a_huge_count_or_length_reserves_nothing_for_it() {
    let limits = Limits { max_tokens: usize::MAX, max_total: usize::MAX };
    let mut input = b"PAGT\x01\xff\xff\x01a\x00\x00\xff\xff\xff\xff".to_vec();
    let (result, allocated, _) = measured(|| handover::parse(&input, &limits));
    assert!(result.is_err());
    assert!(allocated <= allocation_bound(input.len()), "{allocated}");
    input.truncate(7);
    let (_, allocated, _) = measured(|| handover::parse(&input, &limits));
    assert_eq!(allocated, 0);
}

#[test]
fn a_million_hostile_inputs() {
    let seed: u64 = std::env::var("PAG_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_0008);
    let iterations: usize =
        std::env::var("PAG_FUZZ_ITERATIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let mut rng = Rng(seed);
    let mut counts = BTreeMap::new();
    let started = Instant::now();
    let mut valid = valid_message(&mut rng);
    let mut fields = length_fields(&valid);
    for case in 0..iterations {
        // A fresh valid message now and then; mutants of it in between.
        if case % 8 == 0 {
            valid = valid_message(&mut rng);
            fields = length_fields(&valid);
        }
        let (input, limits) = match rng.below(10) {
            0 => (random_input(&mut rng), limits(&mut rng)),
            1 => (valid.clone(), Limits::default()),
            _ => {
                let mut input = valid.clone();
                for _ in 0..1 + rng.below(3) {
                    mutate(&mut rng, &mut input, &fields);
                }
                (input, limits(&mut rng))
            }
        };
        let result = panic::catch_unwind(AssertUnwindSafe(|| check(&input, &limits, &mut counts)));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(why)) => {
                panic!("seed {seed} case {case}: {why}\nlimits {limits:?}\ninput {}", hex(&input))
            }
            Err(_) => {
                panic!("seed {seed} case {case}: parse panicked\nlimits {limits:?}\ninput {}", hex(&input))
            }
        }
    }
    let elapsed = started.elapsed();
    eprintln!("{iterations} inputs in {elapsed:.2?} (seed {seed}): {counts:?}");
    // A generator that stopped reaching a check would make this test pass for
    // nothing: every outcome but a read error must have been seen.
    if iterations >= 100_000 {
        for expected in [
            "ok",
            "empty",
            "too large",
            "bad magic",
            "version",
            "too many tokens",
            "truncated",
            "bad length",
            "bad cell",
            "bad principal",
            "bad payload",
            "duplicate cell",
            "trailing bytes",
        ] {
            assert!(
                counts.get(expected).copied().unwrap_or(0) > 0,
                "no input ended in {expected}: {counts:?}"
            );
        }
    }
}

#[test]
fn read_bounded_never_holds_more_than_its_limit() {
    let mut rng = Rng(7);
    for _ in 0..2_000 {
        let len = rng.below(20_000);
        let data = rng.bytes(len);
        let max = rng.below(20_000);
        let (result, _, largest) = measured(|| handover::read_bounded(&data[..], max));
        assert!(largest <= max.max(4096), "largest allocation {largest} for a limit of {max}");
        match result {
            Ok(got) => assert!(data.len() <= max && got == data),
            Err(e) => assert!(data.len() > max && e == HandoverError::TooLarge { limit: max }, "{e}"),
        }
    }
}
