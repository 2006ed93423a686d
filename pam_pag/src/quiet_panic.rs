//! Keep panics inside a hook off the application's stderr.
//!
//! The hooks catch every panic and turn it into a log line and
//! PAM_SERVICE_ERR, but Rust's default panic hook would still print the
//! panic message to stderr first: into an ssh session, onto a login prompt.
//! A module must never write there. The panic hook is process-wide, so we
//! chain rather than replace: panics on a thread that is inside one of our
//! hooks are silent (the hook's guard logs them), every other panic goes to
//! whatever hook was installed before. The module is never unloaded
//! (`-z nodelete`), so the installed hook stays valid for the process.

use std::cell::Cell;
use std::panic::{self, PanicHookInfo};
use std::sync::Once;

thread_local! {
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

static INSTALL: Once = Once::new();

/// Run `work` with this thread marked as inside a pam_pag hook.
pub fn silenced<T>(work: impl FnOnce() -> T) -> T {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if !IN_HOOK.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = IN_HOOK.with(|f| f.replace(true));
    // Restore on the way out, including when `work` unwinds.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IN_HOOK.with(|f| f.set(self.0));
        }
    }
    let _restore = Restore(outer);
    work()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_is_set_inside_and_restored_after_a_panic() {
        assert!(!IN_HOOK.with(Cell::get));
        let caught = std::panic::catch_unwind(|| silenced(|| panic!("quiet")));
        assert!(caught.is_err());
        assert!(!IN_HOOK.with(Cell::get));
        assert!(silenced(|| IN_HOOK.with(Cell::get)));
    }
}
