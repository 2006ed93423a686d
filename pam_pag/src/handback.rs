//! The pipe the token program hands its tokens back on (`PAG_TOKEN_FD`,
//! format in `pag::token::handover`).
//!
//! The module does not read it while the program runs: the pipe's buffer is
//! made as large as the biggest message the module accepts, so a program
//! that writes an acceptable message never blocks on it, and one that writes
//! more blocks until the one deadline kills it. Afterwards the module drains
//! what is there without waiting (an escaped descendant that still holds the
//! write end cannot stall the login) and parses it as hostile input.

#![forbid(unsafe_code)]

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::pipe2;
use pag::token::handover::{self, HandoverError, Limits, Message};

use crate::program::PassFd;

/// The descriptor number the program finds the pipe at.
pub const TARGET_FD: i32 = 3;
/// The variable that tells it.
pub const VARIABLE: &str = "PAG_TOKEN_FD";

/// The module's end and the program's end of one run's pipe.
pub struct Pipe {
    read: OwnedFd,
    write: Arc<OwnedFd>,
}

impl Pipe {
    /// A new pipe (close-on-exec on both ends: the runner places the write
    /// end at [`TARGET_FD`] in the program), with room for `limits.max_total`.
    pub fn new(limits: &Limits) -> Result<Self, String> {
        let (read, write) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {}", e.desc()))?;
        let wanted = i32::try_from(limits.max_total.saturating_add(1)).unwrap_or(i32::MAX);
        // A pipe may be made as large as /proc/sys/fs/pipe-max-size (1 MiB
        // by default) by root; if it cannot, a large message blocks its
        // writer until the deadline instead, which is still bounded.
        let _ = fcntl(write.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(wanted));
        Ok(Pipe { read, write: Arc::new(write) })
    }

    /// The program's end, for [`crate::program::Run::extra_fds`].
    pub fn program_end(&self) -> PassFd {
        PassFd { fd: Arc::clone(&self.write), target: TARGET_FD }
    }

    /// Once the program is over: drop our copy of the write end, read what
    /// was handed back (never more than `limits.max_total` bytes, never
    /// waiting), and parse it.
    pub fn receive(self, limits: &Limits) -> Result<Message, HandoverError> {
        drop(self.write);
        let failed = |e: nix::errno::Errno| HandoverError::Read(std::io::Error::from(e).kind());
        let flags = fcntl(self.read.as_raw_fd(), FcntlArg::F_GETFL).map_err(failed)?;
        let nonblocking = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(self.read.as_raw_fd(), FcntlArg::F_SETFL(nonblocking)).map_err(failed)?;
        let bytes = handover::read_bounded(UntilEmpty(std::fs::File::from(self.read)), limits.max_total)?;
        handover::parse_message(&bytes, limits)
    }
}

/// A non-blocking reader that calls "nothing more now" the end.
struct UntilEmpty(std::fs::File);

impl Read for UntilEmpty {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn a_message_in_the_pipe_is_received_without_a_reader_running() {
        let limits = Limits::default();
        let pipe = Pipe::new(&limits).unwrap();
        let message = handover::encode(&[]).unwrap();
        let mut writer = std::fs::File::from(pipe.program_end().fd.as_fd().try_clone_to_owned().unwrap());
        writer.write_all(&message).unwrap();
        // The writer is still open (as an escaped descendant's would be):
        // receiving must not wait for its end.
        assert_eq!(pipe.receive(&limits).unwrap(), Message::default());
        drop(writer);
    }

    #[test]
    fn nothing_written_is_the_empty_error() {
        let limits = Limits::default();
        let pipe = Pipe::new(&limits).unwrap();
        assert!(matches!(pipe.receive(&limits), Err(HandoverError::Empty)));
    }

    #[test]
    fn the_buffer_holds_the_largest_acceptable_message() {
        let limits = Limits::default();
        let pipe = Pipe::new(&limits).unwrap();
        let size = fcntl(pipe.read.as_raw_fd(), FcntlArg::F_GETPIPE_SZ).unwrap();
        assert!(size as usize > limits.max_total, "pipe buffer {size} for {} bytes", limits.max_total);
    }
}
