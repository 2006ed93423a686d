//! `[kcm]`: the bounds of the `pag-kcm` daemon. Every bound is per login
//! (PAG), per uid or for the whole daemon, so one user cannot exhaust the
//! daemon for the others.

use serde::Deserialize;

/// The `[kcm]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KcmConfig {
    /// Caches in one collection (one login, or the per-uid collection).
    pub max_caches: usize,
    /// Credentials in one cache.
    pub max_creds: usize,
    /// Bytes of one credential (AD tickets with a PAC reach 64 KiB).
    pub max_cred_bytes: usize,
    /// Bytes of all caches of one collection.
    pub max_collection_bytes: usize,
    /// Caches of one uid, over all its collections.
    pub max_uid_caches: usize,
    /// Bytes of one uid, over all its collections.
    pub max_uid_bytes: usize,
    /// Bytes the daemon holds for everyone.
    pub max_total_bytes: usize,
    /// Connections open at once, and per uid.
    pub max_connections: usize,
    /// Connections one uid may hold open at once.
    pub max_uid_connections: usize,
    /// Seconds an idle connection stays open (the client reconnects).
    pub idle_timeout: u64,
    /// Seconds a started request has to arrive and its reply to drain.
    pub request_timeout: u64,
}

impl Default for KcmConfig {
    fn default() -> Self {
        KcmConfig {
            max_caches: 16,
            max_creds: 256,
            max_cred_bytes: 128 << 10,
            max_collection_bytes: 4 << 20,
            max_uid_caches: 1024,
            max_uid_bytes: 64 << 20,
            max_total_bytes: 512 << 20,
            max_connections: 1024,
            max_uid_connections: 128,
            idle_timeout: 300,
            request_timeout: 10,
        }
    }
}

impl KcmConfig {
    /// Values that make no sense (zero where at least one is needed).
    pub fn validate(&self) -> Vec<(&'static str, &'static str)> {
        let positive = [
            ("max_caches", self.max_caches),
            ("max_creds", self.max_creds),
            ("max_cred_bytes", self.max_cred_bytes),
            ("max_collection_bytes", self.max_collection_bytes),
            ("max_uid_caches", self.max_uid_caches),
            ("max_uid_bytes", self.max_uid_bytes),
            ("max_total_bytes", self.max_total_bytes),
            ("max_connections", self.max_connections),
            ("max_uid_connections", self.max_uid_connections),
            ("idle_timeout", self.idle_timeout as usize),
            ("request_timeout", self.request_timeout as usize),
        ];
        positive.iter().filter(|(_, v)| *v == 0).map(|(k, _)| (*k, "must be at least 1")).collect()
    }
}
