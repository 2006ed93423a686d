//! The one error type of the library.
//!
//! Every keyring failure keeps its errno and, where there is one, says what
//! an administrator can do about it: raise a quota sysctl, allow the system
//! calls in the container's seccomp profile, load missing kernel support.

use std::fmt;

use nix::errno::Errno;

use crate::config::ConfigError;
use crate::sys::SysError;
use crate::token::rxrpc::PayloadError;

/// What went wrong, for callers that choose a reaction (an exit code, a PAM
/// code) rather than only print the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Keyring system calls are blocked (EPERM or ENOSYS from a seccomp filter).
    KeyringsUnavailable,
    /// The owner's key quota is exhausted (EDQUOT).
    QuotaExceeded,
    /// The kernel does not know the key type (ENODEV).
    UnknownKeyType,
    /// The key's permission mask does not allow it (EACCES).
    PermissionDenied,
    /// The key or keyring was revoked, expired or is gone.
    KeyGone,
    /// Any other keyring failure.
    Keyring,
    /// The configuration file is unreadable or malformed.
    Config,
    /// A token payload is malformed.
    Payload,
}

/// A failure of the PAG library.
#[derive(Debug)]
pub enum Error {
    /// A key management call failed while doing something.
    Keyring {
        /// What we were doing, in words ("creating the PAG keyring").
        doing: String,
        /// The call and its errno.
        source: SysError,
    },
    /// The configuration could not be loaded.
    Config(ConfigError),
    /// A token payload could not be encoded or decoded.
    Payload(PayloadError),
}

/// Result type of the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wrap a failed system call with what we were doing.
    pub fn keyring(doing: impl Into<String>, source: SysError) -> Self {
        Error::Keyring { doing: doing.into(), source }
    }

    /// The errno behind a keyring failure.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Keyring { source, .. } => Some(source.errno),
            _ => None,
        }
    }

    /// The class of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) => ErrorKind::Config,
            Error::Payload(_) => ErrorKind::Payload,
            Error::Keyring { source, .. } => classify(source),
        }
    }

    /// What to do about it, in a sentence, where we know.
    pub fn hint(&self) -> Option<&'static str> {
        match self.kind() {
            ErrorKind::KeyringsUnavailable => Some(
                "kernel keyrings are blocked here, probably by a seccomp filter (Docker's default \
                 profile denies keyctl, add_key and request_key); allow those system calls to use PAGs",
            ),
            ErrorKind::QuotaExceeded => Some(
                "the key owner's quota is exhausted; raise the sysctls kernel.keys.maxkeys and \
                 kernel.keys.maxbytes (kernel.keys.root_maxkeys and root_maxbytes for root), or end \
                 some of that user's sessions",
            ),
            ErrorKind::UnknownKeyType => Some(
                "this kernel does not know that key type; the rxrpc type of kAFS tokens needs a \
                 kernel with AF_RXRPC (CONFIG_AF_RXRPC, module rxrpc)",
            ),
            ErrorKind::PermissionDenied => {
                Some("the key's permissions do not allow this; only processes inside the PAG may")
            }
            ErrorKind::KeyGone => Some("the key was revoked, expired or removed"),
            _ => None,
        }
    }
}

/// EPERM is what a seccomp filter returns (Docker's default profile), and
/// ENOSYS what some sandboxes return; the key calls we make return EACCES for
/// a permission mask refusal, so EPERM means "blocked" everywhere except
/// session-to-parent, where the kernel uses it for a parent it will not touch.
fn classify(source: &SysError) -> ErrorKind {
    match source.errno {
        Errno::ENOSYS => ErrorKind::KeyringsUnavailable,
        Errno::EPERM if source.op != "session_to_parent" && source.op != "chown" => {
            ErrorKind::KeyringsUnavailable
        }
        Errno::EDQUOT => ErrorKind::QuotaExceeded,
        Errno::ENODEV => ErrorKind::UnknownKeyType,
        Errno::EACCES => ErrorKind::PermissionDenied,
        Errno::EKEYREVOKED | Errno::EKEYEXPIRED | Errno::ENOKEY => ErrorKind::KeyGone,
        _ => ErrorKind::Keyring,
    }
}

/// An I/O error as a user reads it: the system's text for its errno ("No
/// such file or directory"), without std's " (os error 2)" ending, which
/// says nothing more to a user and reads like a crash report. Errors that
/// carry no errno (std's own, such as "failed to write whole buffer") keep
/// their text. Every user-facing message of the workspace that shows an
/// `io::Error` goes through this.
pub fn describe_io(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(code) => Errno::from_raw(code).desc().to_owned(),
        None => error.to_string(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Keyring { doing, source } => {
                write!(f, "{doing}: {source}")?;
                if let Some(hint) = self.hint() {
                    write!(f, " ({hint})")?;
                }
                Ok(())
            }
            Error::Config(e) => e.fmt(f),
            Error::Payload(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Keyring { source, .. } => Some(source),
            Error::Config(e) => Some(e),
            Error::Payload(e) => Some(e),
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<PayloadError> for Error {
    fn from(e: PayloadError) -> Self {
        Error::Payload(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_without_the_os_error_ending() {
        let e = std::fs::read("/nonexistent/file").unwrap_err();
        assert_eq!(describe_io(&e), "No such file or directory");
        let e = std::io::Error::from_raw_os_error(Errno::EISDIR as i32);
        assert_eq!(describe_io(&e), "Is a directory");
        let e = std::io::Error::new(std::io::ErrorKind::WriteZero, "failed to write whole buffer");
        assert_eq!(describe_io(&e), "failed to write whole buffer");
    }

    fn failed(op: &'static str, errno: Errno) -> Error {
        Error::keyring("creating the PAG keyring", SysError { op, errno })
    }

    #[test]
    fn quota_names_the_sysctls() {
        let e = failed("add", Errno::EDQUOT);
        assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
        let text = e.to_string();
        assert!(text.contains("kernel.keys.maxkeys"), "{text}");
        assert!(text.contains("kernel.keys.maxbytes"), "{text}");
        assert!(text.starts_with("creating the PAG keyring: keyctl add: "), "{text}");
    }

    #[test]
    fn seccomp_errnos_mean_blocked() {
        for errno in [Errno::EPERM, Errno::ENOSYS] {
            let e = failed("join", errno);
            assert_eq!(e.kind(), ErrorKind::KeyringsUnavailable);
            assert!(e.to_string().contains("seccomp"));
            assert_eq!(e.errno(), Some(errno));
        }
    }

    #[test]
    fn eperm_from_session_to_parent_is_not_a_blocked_kernel() {
        let e = failed("session_to_parent", Errno::EPERM);
        assert_eq!(e.kind(), ErrorKind::Keyring);
    }

    #[test]
    fn unknown_key_type_names_af_rxrpc() {
        let e = failed("add", Errno::ENODEV);
        assert_eq!(e.kind(), ErrorKind::UnknownKeyType);
        assert!(e.to_string().contains("AF_RXRPC"));
    }
}
