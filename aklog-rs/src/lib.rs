//! aklog, tokens and unlog: Kerberos service tickets to AFS tokens in the
//! caller's PAG, and listing and removing them.
//!
//! The binaries are thin: each calls one `cmd_*::main`. Kerberos is reached
//! only through [`krb5`]; it and [`sys`] (the renewer's process calls) are
//! the modules allowed `unsafe`. Tokens and PAGs come from the `pag` library.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
pub mod cells;
pub mod cmd_aklog;
pub mod cmd_tokens;
pub mod cmd_unlog;
pub mod exit;
pub mod kcm_move;
pub mod kdf;
#[allow(unsafe_code)]
pub mod krb5;
pub mod listing;
pub mod openafs;
pub mod place;
pub mod renew;
#[allow(unsafe_code)]
pub mod sys;
pub mod ticket;
pub mod token_fd;
