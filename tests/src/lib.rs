//! Test support for pag: helpers shared by the crates' integration tests
//! and, later, the container harness.

#![deny(unsafe_code)]

pub mod kdc;
pub mod mountns;
#[allow(unsafe_code)]
pub mod pam_driver;
#[allow(unsafe_code)]
pub mod process;
pub mod seccomp;
pub mod syslog;
