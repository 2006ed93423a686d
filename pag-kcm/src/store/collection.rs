//! One collection of caches: everything a login (or the per-uid scope)
//! sees as `KCM:`. Names are local to it: the same name in two collections
//! names two different caches.

use super::cache::Cache;

/// A collection and its default cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collection {
    /// In the order they were made (the order `klist -A` lists them).
    pub caches: Vec<Cache>,
    /// The name SET_DEFAULT_CACHE stored (kswitch, kinit), if any.
    pub default: Option<Vec<u8>>,
    /// The next number GEN_NEW tries.
    pub next_new: u32,
}

impl Collection {
    pub fn find(&self, name: &[u8]) -> Option<&Cache> {
        self.caches.iter().find(|c| c.name == name)
    }

    pub fn find_mut(&mut self, name: &[u8]) -> Option<&mut Cache> {
        self.caches.iter_mut().find(|c| c.name == name)
    }

    pub fn by_uuid(&self, uuid: &[u8; 16]) -> Option<&Cache> {
        self.caches.iter().find(|c| &c.uuid == uuid)
    }

    /// The default cache's name: the one set, else the first cache, else
    /// the uid (as sssd-kcm and Heimdal's kcm name a user's first cache).
    pub fn default_name(&self, uid: u32) -> Vec<u8> {
        if let Some(name) = &self.default {
            return name.clone();
        }
        match self.caches.first() {
            Some(first) => first.name.clone(),
            None => uid.to_string().into_bytes(),
        }
    }

    /// A name no cache has: `<uid>:<n>`.
    pub fn new_name(&mut self, uid: u32) -> Vec<u8> {
        loop {
            self.next_new = self.next_new.wrapping_add(1);
            let name = format!("{uid}:{}", self.next_new).into_bytes();
            if self.find(&name).is_none() && self.default.as_ref() != Some(&name) {
                return name;
            }
        }
    }

    /// Put `cache` in place of the one of the same name, or add it.
    pub fn put(&mut self, cache: Cache) -> Option<Cache> {
        match self.caches.iter_mut().find(|c| c.name == cache.name) {
            Some(slot) => Some(std::mem::replace(slot, cache)),
            None => {
                self.caches.push(cache);
                None
            }
        }
    }

    /// Remove the cache `name`; the default goes with it.
    pub fn remove(&mut self, name: &[u8]) -> Option<Cache> {
        let at = self.caches.iter().position(|c| c.name == name)?;
        if self.default.as_deref() == Some(name) {
            self.default = None;
        }
        Some(self.caches.remove(at))
    }

    pub fn size(&self) -> usize {
        self.caches.iter().map(Cache::size).sum::<usize>() + self.default.as_ref().map_or(0, Vec::len)
    }

    /// Nothing worth keeping (the per-uid scope of a user who has none).
    pub fn is_empty(&self) -> bool {
        self.caches.is_empty() && self.default.is_none()
    }
}
