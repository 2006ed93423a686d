//! The harness's error: a message that says what failed and with what output,
//! so a failing scenario reads well in `cargo test` output.

use std::fmt;

/// Something the harness could not do (start, run, tear down).
pub struct Error(String);

/// Result of harness operations.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// Debug prints the plain message: `fn test() -> Result<()>` failures show it as is.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self(message)
    }
}

/// Attach what was being done to an I/O error.
pub(crate) fn io_context(what: impl fmt::Display) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error(format!("{what}: {e}"))
}
