//! The two process calls nix marks `unsafe`; the only `unsafe` in pagsh.

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::ForkResult;

/// fork(2).
pub fn fork() -> nix::Result<ForkResult> {
    // pagsh starts no threads, so the child is free to allocate and run ordinary code before exec.
    // SAFETY: pagsh is single-threaded when it forks.
    unsafe { nix::unistd::fork() }
}

/// Reset `sig` to its default action and unblock it, so raising it kills us
/// as it killed the child.
pub fn restore_default(sig: Signal) -> nix::Result<()> {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_DFL involves no handler code, so none of the signal-handler safety rules apply.
    unsafe { signal::sigaction(sig, &default) }?;
    let mut set = SigSet::empty();
    set.add(sig);
    set.thread_unblock()
}
