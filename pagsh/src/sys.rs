//! fork(2), which nix marks `unsafe`; the only `unsafe` in pagsh.

use nix::unistd::ForkResult;

/// fork(2).
pub fn fork() -> nix::Result<ForkResult> {
    // pagsh starts no threads, so the child is free to allocate and run ordinary code before exec.
    // SAFETY: pagsh is single-threaded when it forks.
    unsafe { nix::unistd::fork() }
}
