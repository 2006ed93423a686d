//! Test support for pag: helpers shared by the crates' integration tests
//! and, later, the container harness.

#![forbid(unsafe_code)]

pub mod kdc;
pub mod seccomp;
