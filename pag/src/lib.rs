//! pag: Process Authentication Groups on Linux kernel keyrings.
//!
//! A PAG is a session keyring that every process of one login inherits and
//! that no other process can enter, not even one of the same uid. This crate
//! holds everything the PAM module and the tools share: the key management
//! system calls ([`sys`]), creating and recognising PAGs ([`group`]), AFS
//! tokens and their store ([`token`]), the shared configuration file
//! ([`config`]), peer identification ([`peer`]), escaping text for log
//! lines ([`escape`]) and the error type ([`error`]). It knows nothing of
//! PAM or Kerberos.
//!
//! `unsafe` code lives only in [`sys`].

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod escape;
pub mod group;
pub mod login;
pub mod peer;
pub mod perm;
#[allow(unsafe_code)]
pub mod sys;
pub mod token;

pub use error::{Error, ErrorKind, Result};
pub use group::{create, current, CreateOptions, Current, Owner, Pag, PagId};
