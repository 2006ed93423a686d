//! Test support for pag: helpers shared by the crates' integration tests
//! and the container harness for end-to-end login tests.

#![forbid(unsafe_code)]

pub mod container;
pub mod seccomp;
