//! fork(2) for test drivers that must keep a live PAM handle across it
//! (sshd's pattern: setcred again in a forked child).

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
