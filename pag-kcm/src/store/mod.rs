//! Every collection the daemon holds, keyed by (uid, scope), and the
//! accounting that bounds them per collection, per uid and in total.

pub mod cache;
pub mod collection;
pub mod persist;

use std::collections::HashMap;

use pag::config::KcmConfig;

pub use cache::{Cache, Cred};
pub use collection::Collection;

/// Which collection of a uid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The user's own collection: every process of the uid without a
    /// usable login tag (as sssd-kcm gives every process of a uid).
    Uid,
    /// One login's collection: its PAG's keyring serial and what tells
    /// this PAG from a later keyring with the same serial.
    Login { pag: i32, generation: Generation },
}

/// What tells a PAG from a later keyring that got the same serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Generation {
    /// The serial of its marker key (a login PAG root can read).
    Marker(i32),
    /// When its tag was registered (a PAG only its user can read).
    Registered(u128),
}

/// A collection's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub uid: u32,
    pub scope: Scope,
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.scope {
            Scope::Uid => write!(f, "uid {} (no login)", self.uid),
            Scope::Login { pag, .. } => write!(f, "uid {} login PAG {pag}", self.uid),
        }
    }
}

/// Caches and bytes counted for something.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub caches: usize,
    pub bytes: usize,
}

/// A bound that refused a change; named as in `[kcm]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Caches,
    Creds,
    CredBytes,
    CollectionBytes,
    UidCaches,
    UidBytes,
    TotalBytes,
}

impl Bound {
    pub fn key(self) -> &'static str {
        match self {
            Bound::Caches => "max_caches",
            Bound::Creds => "max_creds",
            Bound::CredBytes => "max_cred_bytes",
            Bound::CollectionBytes => "max_collection_bytes",
            Bound::UidCaches => "max_uid_caches",
            Bound::UidBytes => "max_uid_bytes",
            Bound::TotalBytes => "max_total_bytes",
        }
    }

    pub fn limit(self, limits: &KcmConfig) -> usize {
        match self {
            Bound::Caches => limits.max_caches,
            Bound::Creds => limits.max_creds,
            Bound::CredBytes => limits.max_cred_bytes,
            Bound::CollectionBytes => limits.max_collection_bytes,
            Bound::UidCaches => limits.max_uid_caches,
            Bound::UidBytes => limits.max_uid_bytes,
            Bound::TotalBytes => limits.max_total_bytes,
        }
    }
}

struct Entry {
    collection: Collection,
    counted: Usage,
}

/// All collections.
pub struct Store {
    entries: HashMap<Key, Entry>,
    per_uid: HashMap<u32, Usage>,
    total: usize,
    pub limits: KcmConfig,
}

impl Store {
    pub fn new(limits: KcmConfig) -> Self {
        Store { entries: HashMap::new(), per_uid: HashMap::new(), total: 0, limits }
    }

    pub fn get(&self, key: &Key) -> Option<&Collection> {
        self.entries.get(key).map(|e| &e.collection)
    }

    pub fn keys(&self) -> Vec<Key> {
        self.entries.keys().copied().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn total_bytes(&self) -> usize {
        self.total
    }

    pub fn uid_usage(&self, uid: u32) -> Usage {
        self.per_uid.get(&uid).copied().unwrap_or_default()
    }

    /// Whether `key`'s collection may grow by `caches` caches and `bytes`
    /// bytes (negative: shrink, always allowed).
    pub fn admit(&self, key: &Key, caches: isize, bytes: isize) -> Result<(), Bound> {
        let here = self.entries.get(key).map(|e| e.counted).unwrap_or_default();
        let uid = self.uid_usage(key.uid);
        let grow = |now: usize, by: isize, limit: usize| by <= 0 || now.saturating_add(by as usize) <= limit;
        let l = &self.limits;
        if !grow(here.caches, caches, l.max_caches) {
            return Err(Bound::Caches);
        }
        if !grow(here.bytes, bytes, l.max_collection_bytes) {
            return Err(Bound::CollectionBytes);
        }
        if !grow(uid.caches, caches, l.max_uid_caches) {
            return Err(Bound::UidCaches);
        }
        if !grow(uid.bytes, bytes, l.max_uid_bytes) {
            return Err(Bound::UidBytes);
        }
        if !grow(self.total, bytes, l.max_total_bytes) {
            return Err(Bound::TotalBytes);
        }
        Ok(())
    }

    /// Change `key`'s collection (made empty if it does not exist), then
    /// count it again; an empty collection is not kept.
    pub fn change<T>(&mut self, key: &Key, f: impl FnOnce(&mut Collection) -> T) -> T {
        let entry = self
            .entries
            .entry(*key)
            .or_insert_with(|| Entry { collection: Collection::default(), counted: Usage::default() });
        let out = f(&mut entry.collection);
        let now = Usage { caches: entry.collection.caches.len(), bytes: entry.collection.size() };
        let before = std::mem::replace(&mut entry.counted, now);
        let empty = entry.collection.is_empty();
        self.recount(key.uid, before, now);
        if empty {
            self.entries.remove(key);
        }
        out
    }

    /// Put a loaded collection in place (at start), if the bounds allow.
    pub fn insert(&mut self, key: Key, collection: Collection) -> Result<(), Bound> {
        let usage = Usage { caches: collection.caches.len(), bytes: collection.size() };
        self.admit(&key, usage.caches as isize, usage.bytes as isize)?;
        if let Some(old) = self.entries.insert(key, Entry { collection, counted: usage }) {
            self.recount(key.uid, old.counted, Usage::default());
        }
        self.recount(key.uid, Usage::default(), usage);
        Ok(())
    }

    /// Forget `key`'s collection (its login ended).
    pub fn remove(&mut self, key: &Key) -> bool {
        match self.entries.remove(key) {
            Some(e) => {
                self.recount(key.uid, e.counted, Usage::default());
                true
            }
            None => false,
        }
    }

    fn recount(&mut self, uid: u32, before: Usage, now: Usage) {
        let u = self.per_uid.entry(uid).or_default();
        u.caches = u.caches + now.caches - before.caches;
        u.bytes = u.bytes + now.bytes - before.bytes;
        if *u == Usage::default() {
            self.per_uid.remove(&uid);
        }
        self.total = self.total + now.bytes - before.bytes;
    }
}
