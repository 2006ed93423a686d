//! Dying of a child's signal, for the programs that relay one (pagsh with
//! `--setsid`, the renewer): the caller's parent then sees the same status.

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// Die of `sig` as the child did: restore its default action, unblock it,
/// raise it. A signal whose default is not to die (none of the usual ones)
/// ends the process as a shell reports a signal death, 128 + the number.
pub fn die_of(sig: Signal) -> ! {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_DFL involves no handler code, so none of the signal-handler safety rules apply.
    let _ = unsafe { signal::sigaction(sig, &default) };
    let mut set = SigSet::empty();
    set.add(sig);
    let _ = set.thread_unblock();
    let _ = signal::raise(sig);
    std::process::exit(128 + sig as i32);
}
