//! A million requests, random and mutated from real ones, through the
//! parser and every operation: no panic, and the store stays inside its
//! bounds whatever arrives.

use pag::config::KcmConfig;
use pag_kcm::ops::{dispatch, Uuids};
use pag_kcm::proto::frame::parse_request;
use pag_kcm::store::{Key, Scope, Store};

/// xorshift64*: enough randomness for fuzzing, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_data(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

fn principal(name: &str) -> Vec<u8> {
    let mut p = Vec::new();
    put_u32(&mut p, 1);
    put_u32(&mut p, 1);
    put_data(&mut p, b"EXAMPLE.ORG");
    put_data(&mut p, name.as_bytes());
    p
}

fn cred(ticket_len: usize) -> Vec<u8> {
    let mut c = principal("alice");
    c.extend(principal("krbtgt"));
    c.extend_from_slice(&18u16.to_be_bytes());
    put_data(&mut c, &[1; 32]);
    c.extend_from_slice(&[0; 21]);
    put_u32(&mut c, 0);
    put_u32(&mut c, 0);
    put_data(&mut c, &vec![9; ticket_len]);
    put_data(&mut c, b"");
    c
}

/// Well-formed requests of every operation the client sends.
fn seeds() -> Vec<Vec<u8>> {
    let head = |op: u16| {
        let mut b = vec![2, 0];
        b.extend_from_slice(&op.to_be_bytes());
        b
    };
    let named = |op: u16, name: &[u8]| {
        let mut b = head(op);
        b.extend_from_slice(name);
        b.push(0);
        b
    };
    let mut out = vec![head(20), head(18), head(3), head(0)];
    let mut init = named(4, b"0");
    init.extend(principal("alice"));
    out.push(init);
    let mut store = named(6, b"0");
    store.extend(cred(100));
    out.push(store);
    let mut replace = named(13002, b"0:1");
    put_u32(&mut replace, 0);
    replace.extend(principal("alice"));
    put_u32(&mut replace, 2);
    put_data(&mut replace, &cred(50));
    put_data(&mut replace, &cred(3000));
    out.push(replace);
    for op in [5u16, 8, 9, 13001, 22, 21] {
        out.push(named(op, b"0"));
    }
    let mut off = named(23, b"0");
    put_u32(&mut off, 5);
    out.push(off);
    let mut remove = named(11, b"0");
    put_u32(&mut remove, 0);
    put_u32(&mut remove, 2);
    remove.extend(principal("krbtgt"));
    remove.extend_from_slice(&[0; 21]);
    out.push(remove);
    let mut by_uuid = head(19);
    by_uuid.extend_from_slice(&[0; 16]);
    out.push(by_uuid);
    out
}

#[test]
fn a_million_requests_never_panic_or_pass_a_bound() {
    let limits = KcmConfig {
        max_caches: 4,
        max_creds: 8,
        max_cred_bytes: 2048,
        max_collection_bytes: 16 << 10,
        max_uid_caches: 6,
        max_uid_bytes: 24 << 10,
        max_total_bytes: 40 << 10,
        ..KcmConfig::default()
    };
    let mut store = Store::new(limits.clone());
    let mut uuids = Uuids::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let seeds = seeds();
    let keys: Vec<Key> = (0..4)
        .map(|i| Key {
            uid: 1000 + i % 2,
            scope: if i < 2 {
                Scope::Uid
            } else {
                Scope::Login { pag: i as i32, generation: pag_kcm::store::Generation::Marker(7) }
            },
        })
        .collect();
    let mut answered_ok = 0u32;
    for round in 0..1_000_000u32 {
        let mut body = if round % 4 == 0 {
            (0..rng.below(64)).map(|_| rng.next() as u8).collect()
        } else {
            seeds[rng.below(seeds.len())].clone()
        };
        // Mutations: flip, cut, grow, overwrite a length with a huge one.
        for _ in 0..rng.below(4) {
            match rng.below(4) {
                0 if !body.is_empty() => {
                    let at = rng.below(body.len());
                    body[at] ^= 1 << rng.below(8);
                }
                1 => body.truncate(rng.below(body.len() + 1)),
                2 => body.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
                _ if body.len() >= 8 => {
                    let at = 4 + rng.below(body.len() - 7);
                    body[at..at + 4].copy_from_slice(&(rng.next() as u32 | 0x8000_0000).to_be_bytes());
                }
                _ => {}
            }
        }
        if body.len() < 4 {
            continue;
        }
        let Ok(request) = parse_request(&body) else { continue };
        let key = keys[rng.below(keys.len())];
        let answer = dispatch(&mut store, &key, &mut uuids, request.op, request.params);
        if answer.code == 0 {
            answered_ok += 1;
        }
        assert!(store.total_bytes() <= limits.max_total_bytes);
        for uid in [1000, 1001] {
            let u = store.uid_usage(uid);
            assert!(u.caches <= limits.max_uid_caches && u.bytes <= limits.max_uid_bytes, "{u:?}");
        }
        for key in &keys {
            if let Some(c) = store.get(key) {
                assert!(c.caches.len() <= limits.max_caches);
                assert!(c.size() <= limits.max_collection_bytes);
                assert!(c.caches.iter().all(|cache| cache.creds.len() <= limits.max_creds));
            }
        }
    }
    // The fuzzing reached the operations, not only the parser's refusals.
    assert!(answered_ok > 100_000, "only {answered_ok} requests succeeded");
}
