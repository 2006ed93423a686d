//! fork(2) for test drivers that must keep a live PAM handle across it
//! (sshd's pattern: setcred again in a forked child), and opening a pty of
//! another mount namespace's devpts (the container's `login`).

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::unistd::ForkResult;

/// fork(2). The child should only run the test's own steps and exit.
pub fn fork() -> nix::Result<ForkResult> {
    // The drivers call this with at most one other thread (the syslog reader, which holds no lock across its
    // blocking recv except briefly a mutex the child never takes); glibc resets malloc's locks at fork.
    // SAFETY: the child may allocate and run the test's steps.
    unsafe { nix::unistd::fork() }
}

/// Set SIGCHLD to SIG_IGN, as some daemons do (children are then reaped by
/// the kernel and waitpid fails with ECHILD).
pub fn ignore_sigchld() -> nix::Result<()> {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_IGN runs no handler code, so no signal-safety rules apply.
    unsafe { signal(Signal::SIGCHLD, SigHandler::SigIgn) }.map(|_| ())
}

/// Whether SIGCHLD is ignored, from /proc/self/status (SigIgn bit 17).
pub fn sigchld_ignored() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGCHLD - 1)) != 0)
}

/// A new pseudo-terminal from the multiplexer `ptmx` (a path to some devpts
/// instance's `ptmx`, possibly another mount namespace's through
/// `/proc/<pid>/root`): the master and the slave, both close-on-exec. The
/// slave is opened with TIOCGPTPEER, from the master itself, so no path of
/// the slave has to be valid in this process's mount namespace.
pub fn open_pty(ptmx: &Path) -> io::Result<(OwnedFd, OwnedFd)> {
    let master = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(ptmx)?;
    let unlock: libc::c_int = 0;
    // TIOCSPTLCK reads one int through the pointer, which lives across the call (unlockpt(3) does the same).
    // SAFETY: a valid descriptor and a valid pointer to an int.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // TIOCGPTPEER takes open(2) flags by value and returns a new descriptor (Linux 4.13+).
    // SAFETY: a valid descriptor; no memory is passed.
    let slave = unsafe {
        libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC)
    };
    if slave < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    Ok((master.into(), slave))
}
