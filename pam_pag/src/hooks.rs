//! The exported `pam_sm_*` hooks, each in the same shape: entry (turn the
//! raw arguments into safe values), work ([`session::run`]), exit (turn a
//! panic into a log line and PAM_SERVICE_ERR, so none crosses into C).
//!
//! `#[no_mangle]` counts as unsafe code to the compiler; this module has no
//! `unsafe` block. The version script (`pam_pag.map`) exports only these.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::ffi::{self, Libpam, RawHandle};
use crate::kernel::System;
use crate::log::{Log, Syslog};
use crate::pam::{self, Cred};
use crate::session::{self, Hook};

fn entry(hook: Hook, pamh: *mut RawHandle, argc: c_int, argv: *const *const c_char) -> c_int {
    guard(hook, || {
        let Some(mut handle) = Libpam::from_hook(pamh) else { return pam::SYSTEM_ERR };
        let args = ffi::args_from_hook(argc, argv);
        let mut sink = Syslog;
        session::run(hook, &mut handle, &mut System, &args, &mut sink, &session::resolve_from_file)
    })
}

/// Run `work`; a panic becomes a log line and PAM_SERVICE_ERR.
fn guard(hook: Hook, work: impl FnOnce() -> c_int) -> c_int {
    match catch_unwind(AssertUnwindSafe(|| crate::quiet_panic::silenced(work))) {
        Ok(code) => code,
        Err(_) => {
            let mut sink = Syslog;
            let _ = catch_unwind(AssertUnwindSafe(|| {
                Log::new("unknown", hook.facility(), &mut sink).error("internal error (panic); failing safe");
            }));
            pam::SERVICE_ERR
        }
    }
}

#[no_mangle]
pub extern "C" fn pam_sm_open_session(
    pamh: *mut RawHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(Hook::OpenSession, pamh, argc, argv)
}

#[no_mangle]
pub extern "C" fn pam_sm_close_session(
    pamh: *mut RawHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(Hook::CloseSession, pamh, argc, argv)
}

#[no_mangle]
pub extern "C" fn pam_sm_setcred(
    pamh: *mut RawHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(Hook::Setcred(Cred::from_flags(flags)), pamh, argc, argv)
}

#[no_mangle]
pub extern "C" fn pam_sm_authenticate(
    pamh: *mut RawHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(Hook::Authenticate, pamh, argc, argv)
}

#[no_mangle]
pub extern "C" fn pam_sm_acct_mgmt(
    pamh: *mut RawHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(Hook::AcctMgmt, pamh, argc, argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_service_err() {
        assert_eq!(guard(Hook::OpenSession, || panic!("boom")), pam::SERVICE_ERR);
        assert_eq!(guard(Hook::OpenSession, || pam::SUCCESS), pam::SUCCESS);
    }
}
