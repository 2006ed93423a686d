//! The process calls of the renewer that nix leaves `unsafe` or lacks; the
//! only `unsafe` of the crate outside `krb5`.

use std::os::fd::{FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::SigSet;
use nix::unistd::Pid;

/// pidfd_open(2): a descriptor that becomes readable when `pid` exits,
/// and that cannot come to name another process when the pid is reused.
pub fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    // SAFETY: the syscall takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    let fd = i32::try_from(fd).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Start `command` with no signal blocked: the renewer blocks the signals
/// it reads through its signalfd, and a child inherits the mask (std does
/// not reset it), so a command would otherwise ignore the SIGTERM and
/// SIGHUP passed on to it.
pub fn unblock_signals_in_child(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // The closure allocates nothing and takes no lock.
    // SAFETY: it runs between fork and exec and only calls pthread_sigmask, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let empty = SigSet::empty();
            nix::sys::signal::pthread_sigmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&empty), None)
                .map_err(std::io::Error::from)
        });
    }
}
