//! Test support for pag: helpers shared by the crates' integration tests
//! and the container harness for end-to-end login tests.

#![deny(unsafe_code)]

pub mod container;
pub mod debs;
pub mod demo;
pub mod kcm;
pub mod kdc;
pub mod kerberos_site;
pub mod mountns;
#[allow(unsafe_code)]
pub mod pam_driver;
#[allow(unsafe_code)]
pub mod process;
pub mod seccomp;
pub mod site;
pub mod stats;
pub mod syslog;
pub mod workspace;

pub use workspace::built_binary;
