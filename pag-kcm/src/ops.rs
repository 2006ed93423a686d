//! What each KCM operation does to a collection, and which code answers
//! which failure (see [`crate::proto::codes`] for the codes the client
//! reacts to).
//!
//! Every operation works in the one collection the connection was given at
//! accept: no request names another collection, so no request reaches
//! another login's or another user's caches.

use crate::proto::codes;
use crate::proto::marshal::{put_u32, Malformed, Reader, Template, SC_CLIENT, SC_SERVER};
use crate::proto::opcode::Op;
use crate::store::{Bound, Cache, Cred, Key, Store};

/// Longest cache name (MIT has no limit; sssd and Heimdal use short ones).
pub const MAX_NAME: usize = 255;

/// The answer to one request.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub code: i32,
    pub payload: Vec<u8>,
    /// The collection changed (save it).
    pub changed: bool,
    /// A bound refused the request (log it).
    pub bound: Option<Bound>,
}

impl Answer {
    fn ok(payload: Vec<u8>) -> Self {
        Answer { code: codes::OK, payload, changed: false, bound: None }
    }

    fn code(code: i32) -> Self {
        Answer { code, payload: Vec::new(), changed: false, bound: None }
    }

    fn changed() -> Self {
        Answer { changed: true, ..Answer::ok(Vec::new()) }
    }

    fn refused(bound: Bound) -> Self {
        Answer { bound: Some(bound), ..Answer::code(codes::QUOTA) }
    }
}

impl From<Malformed> for Answer {
    fn from(_: Malformed) -> Self {
        Answer::code(codes::CC_FORMAT)
    }
}

/// Where new UUIDs come from (unique within the daemon's lifetime and
/// across restarts: a start time and a counter).
pub struct Uuids {
    start: [u8; 8],
    next: u64,
}

impl Uuids {
    pub fn new() -> Self {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Uuids { start: (now.as_nanos() as u64).to_be_bytes(), next: 0 }
    }

    pub fn fresh(&mut self) -> [u8; 16] {
        self.next += 1;
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.start);
        out[8..].copy_from_slice(&self.next.to_be_bytes());
        out
    }
}

impl Default for Uuids {
    fn default() -> Self {
        Self::new()
    }
}

/// Answer `op` with `params` for the collection `key`.
pub fn dispatch(store: &mut Store, key: &Key, uuids: &mut Uuids, op: Op, params: &[u8]) -> Answer {
    let mut r = Reader::new(params);
    match run(store, key, uuids, op, &mut r) {
        Ok(answer) => answer,
        Err(malformed) => malformed.into(),
    }
}

fn run(store: &mut Store, key: &Key, uuids: &mut Uuids, op: Op, r: &mut Reader) -> Result<Answer, Malformed> {
    let uid = key.uid;
    Ok(match op {
        Op::Noop => {
            r.end()?;
            Answer::ok(Vec::new())
        }
        Op::GetDefaultCache => {
            r.end()?;
            let name = store.get(key).map_or_else(|| uid.to_string().into_bytes(), |c| c.default_name(uid));
            Answer::ok(nul_terminated(&name))
        }
        Op::SetDefaultCache => {
            let name = r.name(MAX_NAME)?;
            r.end()?;
            // The name counts against the bounds like everything kept.
            let old = store.get(key).and_then(|c| c.default.as_ref()).map_or(0, Vec::len);
            if let Err(bound) = store.admit(key, 0, name.len() as isize - old as isize) {
                return Ok(Answer::refused(bound));
            }
            store.change(key, |c| c.default = Some(name.to_vec()));
            Answer::changed()
        }
        Op::GenNew => {
            r.end()?;
            // Only the counter changes: not saved, and an otherwise empty
            // collection is not kept for it (the name is not in use either).
            let name = store.change(key, |c| c.new_name(uid));
            Answer::ok(nul_terminated(&name))
        }
        Op::GetCacheUuidList => {
            r.end()?;
            let mut out = Vec::new();
            for cache in store.get(key).map(|c| &c.caches[..]).unwrap_or_default() {
                out.extend_from_slice(&cache.uuid);
            }
            Answer::ok(out)
        }
        Op::GetCacheByUuid => {
            let uuid = r.uuid()?;
            r.end()?;
            match store.get(key).and_then(|c| c.by_uuid(&uuid)) {
                Some(cache) => Answer::ok(nul_terminated(&cache.name)),
                None => Answer::code(codes::FCC_NOFILE),
            }
        }
        Op::Initialize => {
            let name = r.name(MAX_NAME)?;
            let principal = r.principal()?;
            r.end()?;
            let fresh = Cache::new(name, uuids.fresh(), principal);
            put_cache(store, key, fresh)
        }
        Op::Replace => {
            let name = r.name(MAX_NAME)?;
            let offset = r.i32("kdc offset")?;
            let principal = r.principal()?;
            let n = r.u32("cred count")?;
            let mut fresh = Cache::new(name, uuids.fresh(), principal);
            fresh.kdc_offset = offset;
            for _ in 0..n {
                // Each credential takes at least its 4-byte length: a huge
                // count fails on the bytes that are not there.
                let cred = r.sized_cred()?;
                if let Err(bound) = cred_fits(store, &fresh, cred.raw.len()) {
                    return Ok(Answer::refused(bound));
                }
                fresh.creds.push(Cred { uuid: uuids.fresh(), raw: cred.raw.to_vec() });
            }
            r.end()?;
            put_cache(store, key, fresh)
        }
        Op::Destroy => {
            let name = r.name(MAX_NAME)?;
            r.end()?;
            if store.get(key).and_then(|c| c.find(name)).is_none() {
                return Ok(Answer::code(codes::FCC_NOFILE));
            }
            store.change(key, |c| c.remove(name));
            Answer::changed()
        }
        Op::Store => {
            let name = r.name(MAX_NAME)?;
            let cred = r.cred()?;
            r.end()?;
            let Some(cache) = store.get(key).and_then(|c| c.find(name)) else {
                return Ok(Answer::code(codes::FCC_NOFILE));
            };
            if let Err(bound) = cred_fits(store, cache, cred.raw.len()) {
                return Ok(Answer::refused(bound));
            }
            let added = Cred { uuid: uuids.fresh(), raw: cred.raw.to_vec() };
            if let Err(bound) = store.admit(key, 0, added.size() as isize) {
                return Ok(Answer::refused(bound));
            }
            store.change(key, |c| c.find_mut(name).map(|cache| cache.creds.push(added)));
            Answer::changed()
        }
        Op::GetPrincipal => {
            let name = r.name(MAX_NAME)?;
            r.end()?;
            with_cache(store, key, name, |cache| Answer::ok(cache.principal.clone()))
        }
        Op::GetCredUuidList => {
            let name = r.name(MAX_NAME)?;
            r.end()?;
            with_cache(store, key, name, |cache| {
                Answer::ok(cache.creds.iter().flat_map(|c| c.uuid).collect())
            })
        }
        Op::GetCredByUuid => {
            let name = r.name(MAX_NAME)?;
            let uuid = r.uuid()?;
            r.end()?;
            with_cache(store, key, name, |cache| match cache.creds.iter().find(|c| c.uuid == uuid) {
                Some(cred) => Answer::ok(cred.raw.clone()),
                None => Answer::code(codes::CC_END),
            })
        }
        Op::GetCredList => {
            let name = r.name(MAX_NAME)?;
            r.end()?;
            with_cache(store, key, name, |cache| {
                let mut out =
                    Vec::with_capacity(4 + cache.creds.iter().map(|c| 4 + c.raw.len()).sum::<usize>());
                put_u32(&mut out, cache.creds.len() as u32);
                for cred in &cache.creds {
                    crate::proto::marshal::put_data(&mut out, &cred.raw);
                }
                Answer::ok(out)
            })
        }
        Op::GetKdcOffset => {
            let name = r.name(MAX_NAME)?;
            r.end()?;
            with_cache(store, key, name, |cache| Answer::ok(cache.kdc_offset.to_be_bytes().to_vec()))
        }
        Op::SetKdcOffset => {
            let name = r.name(MAX_NAME)?;
            let offset = r.i32("kdc offset")?;
            r.end()?;
            if store.get(key).and_then(|c| c.find(name)).is_none() {
                return Ok(Answer::code(codes::FCC_NOFILE));
            }
            store.change(key, |c| c.find_mut(name).map(|cache| cache.kdc_offset = offset));
            Answer::changed()
        }
        Op::RemoveCred => {
            let name = r.name(MAX_NAME)?;
            let flags = r.u32("match flags")?;
            let template = r.mcred()?;
            r.end()?;
            remove_cred(store, key, name, flags, &template)
        }
        // RETRIEVE's matching rules (enctypes the client's context allows,
        // name-only matches, times) are the client's own: answered as not
        // supported, the client iterates with GET_CRED_LIST and applies
        // them itself, exactly. sssd-kcm does the same.
        Op::Retrieve | Op::Other(_) => Answer::code(codes::NOSUPP),
    })
}

fn nul_terminated(name: &[u8]) -> Vec<u8> {
    let mut out = name.to_vec();
    out.push(0);
    out
}

fn with_cache(store: &Store, key: &Key, name: &[u8], f: impl FnOnce(&Cache) -> Answer) -> Answer {
    match store.get(key).and_then(|c| c.find(name)) {
        Some(cache) => f(cache),
        None => Answer::code(codes::FCC_NOFILE),
    }
}

/// Whether one more credential of `len` bytes fits in `cache`.
fn cred_fits(store: &Store, cache: &Cache, len: usize) -> Result<(), Bound> {
    if len > store.limits.max_cred_bytes {
        return Err(Bound::CredBytes);
    }
    if cache.creds.len() >= store.limits.max_creds {
        return Err(Bound::Creds);
    }
    Ok(())
}

/// Put `fresh` in place of the cache of its name (INITIALIZE, REPLACE),
/// under the bounds: checked before anything changes.
fn put_cache(store: &mut Store, key: &Key, fresh: Cache) -> Answer {
    let old = store.get(key).and_then(|c| c.find(&fresh.name));
    let caches = if old.is_some() { 0 } else { 1 };
    let bytes = fresh.size() as isize - old.map_or(0, |o| o.size() as isize);
    if let Err(bound) = store.admit(key, caches, bytes) {
        return Answer::refused(bound);
    }
    store.change(key, |c| c.put(fresh));
    Answer::changed()
}

/// REMOVE_CRED for the one form a client needs: match on the client and
/// server principals the template carries, no match flags. Anything else
/// is answered as not supported rather than guessed at.
fn remove_cred(store: &mut Store, key: &Key, name: &[u8], flags: u32, t: &Template) -> Answer {
    if flags != 0 || t.header & !(SC_CLIENT | SC_SERVER) != 0 {
        return Answer::code(codes::NOSUPP);
    }
    let Some(cache) = store.get(key).and_then(|c| c.find(name)) else {
        return Answer::code(codes::FCC_NOFILE);
    };
    let matches = |cred: &Cred| {
        let Ok((client, server)) = crate::proto::marshal::principals_of(&cred.raw) else { return false };
        t.client.is_none_or(|p| cred.raw[client] == *p) && t.server.is_none_or(|p| cred.raw[server] == *p)
    };
    if !cache.creds.iter().any(matches) {
        return Answer::code(codes::CC_NOTFOUND);
    }
    store.change(key, |c| c.find_mut(name).map(|cache| cache.creds.retain(|cred| !matches(cred))));
    Answer::changed()
}
