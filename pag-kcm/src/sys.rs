//! The one unsafe step: adopting the listening socket systemd passes.

use std::os::fd::{FromRawFd, OwnedFd};

/// The first descriptor systemd passes (sd_listen_fds(3)).
pub const LISTEN_FDS_START: i32 = 3;

/// Take ownership of descriptor 3, which the caller has checked systemd
/// passed to this process (LISTEN_PID is ours, LISTEN_FDS is 1) and which
/// is a listening Unix stream socket (fstat and SO_ACCEPTCONN).
pub fn adopt_listen_fd() -> OwnedFd {
    // SAFETY: descriptor 3 is open (the caller checked it with fstat), owned by no other object in this process (systemd handed it over at exec; nothing else took it), and is taken once.
    unsafe { OwnedFd::from_raw_fd(LISTEN_FDS_START) }
}
