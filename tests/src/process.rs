//! fork(2) for test drivers that must keep a live PAM handle across it
//! (sshd's pattern: setcred again in a forked child).

#![allow(unsafe_code)]

use nix::unistd::ForkResult;

/// fork(2). The child should only run the test's own steps and exit.
pub fn fork() -> nix::Result<ForkResult> {
    // SAFETY: the drivers call this with at most one other thread (the syslog
    // reader, which holds no lock across its blocking recv except briefly a
    // mutex the child never takes); glibc resets malloc's locks at fork, so the
    // child may allocate.
    unsafe { nix::unistd::fork() }
}
