//! pag-kcm: a KCM daemon (the protocol MIT krb5's `KCM:` caches speak) that
//! keeps each login's Kerberos caches apart, keyed by (uid, PAG).
//!
//! `unsafe` code lives only in [`sys`].
#![deny(unsafe_code)]

pub mod activation;
pub mod conn;
pub mod identity;
pub mod log;
pub mod ops;
pub mod proto;
pub mod server;
pub mod store;
#[allow(unsafe_code)]
pub mod sys;
