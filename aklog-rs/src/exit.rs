//! Exit codes and the failure type every command reports through.
//!
//! The codes are OpenAFS aklog's, so scripts written for it keep working.

use std::fmt;
use std::process::ExitCode;

/// OpenAFS aklog's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// Bad command line.
    Usage = 1,
    /// Some cells got tokens and some did not.
    Partial = 2,
    /// No cell to work on, or a broken configuration file.
    AfsConfig = 3,
    /// No or expired Kerberos credentials, unknown service, KDC unreachable.
    Kerberos = 4,
    /// The token could not be made or stored (no usable keyring).
    Token = 5,
    /// A path that is not in AFS.
    BadPath = 6,
    /// Anything else.
    Other = 7,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// A failure with the exit code it maps to and a message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What went wrong and, where we know, what to do.
    pub message: String,
}

impl Failure {
    /// A failure with `exit` and `message`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure { exit, message: message.into() }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The exit code of a keyring failure: the token could not be stored or read.
pub fn keyring_failure(e: &pag::Error) -> Failure {
    Failure::new(Exit::Token, e.to_string())
}
