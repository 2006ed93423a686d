//! `PAG_TOKEN_FD=<n>`: instead of storing tokens in a keyring, write them in
//! one hand-over message ([`pag::token::handover`]) to descriptor `n`, for
//! pam_pag to check and store. pam_pag runs aklog as the user in a
//! throwaway keyring and reads the other end of a pipe.
//!
//! An environment variable rather than an option, so that a token program
//! that does not speak the format (OpenAFS aklog) ignores it and the module
//! sees an empty message instead of a usage error.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::{OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::stat::{fstat, SFlag};
use pag::token::handover::{self, HandedToken, Message};

use crate::exit::{Exit, Failure};

/// The variable naming the descriptor.
pub const ENV: &str = "PAG_TOKEN_FD";

/// The checked, adopted descriptor the message goes to.
#[derive(Debug)]
pub struct TokenFd {
    fd: OwnedFd,
    number: RawFd,
}

impl TokenFd {
    /// The descriptor named by `value` (the variable's value), checked: a
    /// decimal number of 3 or more, open, open for writing, a pipe or a
    /// regular file. Any problem is exit 5: the token cannot be handed over.
    pub fn open(value: &OsStr) -> Result<TokenFd, Failure> {
        let number = parse_number(value).map_err(|why| Failure::new(Exit::Token, format!("{ENV}: {why}")))?;
        check_writable(number)
            .map_err(|why| Failure::new(Exit::Token, format!("{ENV}={number}: descriptor {number} {why}")))?;
        let fd = pag::sys::adopt_inherited_fd(number).map_err(|e| {
            Failure::new(
                Exit::Token,
                format!("{ENV}={number}: cannot take descriptor {number}: {}", e.desc()),
            )
        })?;
        Ok(TokenFd { fd, number })
    }

    /// The descriptor number.
    pub fn number(&self) -> RawFd {
        self.number
    }

    /// Write the one message carrying `tokens` (possibly none) and close the
    /// descriptor, so the reader sees the end.
    pub fn send(self, tokens: &[HandedToken]) -> Result<(), Failure> {
        self.send_message(&Message { tokens: tokens.to_vec(), ccache: None })
    }

    /// [`TokenFd::send`] for a whole message (the tokens and a ccache report).
    pub fn send_message(self, message: &Message) -> Result<(), Failure> {
        let number = self.number;
        let failure = |why: String| Failure::new(Exit::Token, format!("{ENV}={number}: {why}"));
        let message = handover::encode_message(message).map_err(|e| failure(e.to_string()))?;
        let mut file = File::from(self.fd);
        file.write_all(&message)
            .map_err(|e| failure(format!("writing the tokens: {}", pag::error::describe_io(&e))))?;
        // Dropping the File closes the descriptor.
        Ok(())
    }
}

/// The descriptor number in `value`: decimal digits only, at least 3 (0, 1
/// and 2 are the standard streams, which must never carry tokens).
pub fn parse_number(value: &OsStr) -> Result<RawFd, String> {
    let text =
        value.to_str().filter(|t| !t.is_empty() && t.len() <= 9 && t.bytes().all(|b| b.is_ascii_digit()));
    match text.and_then(|t| t.parse::<RawFd>().ok()) {
        Some(n) if n >= 3 => Ok(n),
        _ => Err(format!("{value:?} is not a descriptor number of 3 or more")),
    }
}

/// Why `fd` cannot take the message, or Ok: it must be open for writing and
/// be a pipe or a regular file.
fn check_writable(fd: RawFd) -> Result<(), String> {
    let flags = match fcntl(fd, FcntlArg::F_GETFL) {
        Ok(flags) => OFlag::from_bits_truncate(flags),
        Err(Errno::EBADF) => return Err("is not open".into()),
        Err(e) => return Err(format!("cannot be checked: {}", e.desc())),
    };
    let access = flags & OFlag::O_ACCMODE;
    if access != OFlag::O_WRONLY && access != OFlag::O_RDWR {
        return Err("is not open for writing".into());
    }
    let stat = fstat(fd).map_err(|e| format!("cannot be checked: {}", e.desc()))?;
    let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
    if kind != SFlag::S_IFIFO && kind != SFlag::S_IFREG {
        let name = match kind {
            SFlag::S_IFSOCK => "a socket",
            SFlag::S_IFCHR => "a character device",
            SFlag::S_IFDIR => "a directory",
            SFlag::S_IFBLK => "a block device",
            _ => "of an unknown kind",
        };
        return Err(format!("is {name}, not a pipe or a file"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn descriptor_numbers() {
        for good in ["3", "10", "0042", "999999999"] {
            assert!(parse_number(OsStr::new(good)).is_ok(), "{good}");
        }
        for bad in ["", "0", "1", "2", "-3", "+3", " 3", "3 ", "x", "3x", "0x10", "9999999999", "٣"] {
            let err = parse_number(OsStr::new(bad)).unwrap_err();
            assert!(err.contains("3 or more"), "{bad}: {err}");
        }
    }

    #[test]
    fn only_writable_pipes_and_files_are_taken() {
        let (read, write) = nix::unistd::pipe().unwrap();
        assert_eq!(check_writable(write.as_raw_fd()), Ok(()));
        assert_eq!(check_writable(read.as_raw_fd()), Err("is not open for writing".into()));
        let file = tempfile::tempfile().unwrap();
        assert_eq!(check_writable(file.as_raw_fd()), Ok(()));
        let dir = File::open("/").unwrap();
        assert_eq!(check_writable(dir.as_raw_fd()), Err("is not open for writing".into()));
        let null = std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap();
        assert_eq!(
            check_writable(null.as_raw_fd()),
            Err("is a character device, not a pipe or a file".into())
        );
        // Far above any descriptor this test process has open.
        assert_eq!(check_writable(1_000_000), Err("is not open".into()));
    }
}
