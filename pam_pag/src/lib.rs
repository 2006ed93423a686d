//! pam_pag.so: a fresh PAG for every login.
//!
//! A thin adapter from PAM hooks to the `pag` library: [`hooks`] holds only
//! the exported `pam_sm_*` functions; [`session`] the logic, over a trait for
//! the PAM handle ([`handle`]) and one for the system ([`kernel`]);
//! [`options`] the option table; [`program`] the token program run as the
//! user, [`environment`] its allowlisted environment; [`log`] syslog.
//! `unsafe` lives only in [`ffi`] (libpam) and [`sys`] (between clone and
//! exec).

#![deny(unsafe_code)]

pub mod environment;
#[allow(unsafe_code)]
mod ffi;
pub mod handback;
pub mod handle;
pub mod hooks;
pub mod kernel;
pub mod log;
pub mod options;
pub mod pam;
pub mod program;
mod quiet_panic;
pub mod session;
#[allow(unsafe_code)]
mod sys;
