//! The libpam calls the module makes, behind safe wrappers; the only place
//! (with `sys`) that may use `unsafe`.
//!
//! pam-bindings has no pam_getenv, pam_getenvlist, pam_putenv or pam_set_data
//! with a cleanup function, and its hook macro does not let us catch panics in
//! our own entry shape, so the seven calls we need are declared here directly.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr::NonNull;

use crate::handle::{PamHandle, SessionState};
use crate::pam::{self, Code};

/// libpam's opaque handle.
#[repr(C)]
pub struct RawHandle {
    _private: [u8; 0],
}

type Cleanup = extern "C" fn(*mut RawHandle, *mut c_void, c_int);

#[link(name = "pam")]
extern "C" {
    fn pam_get_user(pamh: *mut RawHandle, user: *mut *const c_char, prompt: *const c_char) -> c_int;
    fn pam_get_item(pamh: *const RawHandle, item_type: c_int, item: *mut *const c_void) -> c_int;
    fn pam_getenv(pamh: *mut RawHandle, name: *const c_char) -> *const c_char;
    fn pam_getenvlist(pamh: *mut RawHandle) -> *mut *mut c_char;
    fn pam_putenv(pamh: *mut RawHandle, name_value: *const c_char) -> c_int;
    fn pam_set_data(
        pamh: *mut RawHandle,
        name: *const c_char,
        data: *mut c_void,
        cleanup: Option<Cleanup>,
    ) -> c_int;
    fn pam_get_data(pamh: *const RawHandle, name: *const c_char, data: *mut *const c_void) -> c_int;
}

/// The name our per-handle state is kept under (pam_set_data).
const STATE_NAME: &CStr = c"pam_pag_session";

/// A handle libpam passed to a hook; valid for the duration of that hook.
pub struct Libpam {
    raw: NonNull<RawHandle>,
}

impl Libpam {
    /// Wrap the handle a hook received; `None` for a null pointer.
    pub fn from_hook(raw: *mut RawHandle) -> Option<Libpam> {
        NonNull::new(raw).map(|raw| Libpam { raw })
    }
}

/// The module arguments a hook received, as strings (lossy for non-UTF-8).
pub fn args_from_hook(argc: c_int, argv: *const *const c_char) -> Vec<String> {
    let Ok(count) = usize::try_from(argc) else { return Vec::new() };
    if argv.is_null() {
        return Vec::new();
    }
    (0..count)
        .filter_map(|i| {
            // SAFETY: libpam passes argv with argc valid entries for the duration of the hook call; i < argc.
            let arg = unsafe { *argv.add(i) };
            // Each non-null entry is a NUL-terminated string owned by libpam's parsed configuration.
            // SAFETY: the string is alive during the call.
            (!arg.is_null()).then(|| unsafe { CStr::from_ptr(arg) }.to_string_lossy().into_owned())
        })
        .collect()
}

fn owned(ptr: *const c_char) -> Option<String> {
    // Callers pass only pointers libpam returned as C strings, which stay valid until the next call that
    // changes that item; we copy at once.
    // SAFETY: a live NUL-terminated string.
    (!ptr.is_null()).then(|| unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned())
}

extern "C" fn free_state(_pamh: *mut RawHandle, data: *mut c_void, _status: c_int) {
    if !data.is_null() {
        // The only data stored under STATE_NAME is a Box<SessionState> leaked by set_state, and libpam calls
        // this cleanup exactly once per stored pointer (on replace or pam_end).
        // SAFETY: we reclaim a Box we leaked, once.
        drop(unsafe { Box::from_raw(data.cast::<SessionState>()) });
    }
}

impl PamHandle for Libpam {
    fn user(&self) -> Result<String, Code> {
        let mut user: *const c_char = std::ptr::null();
        // A null prompt lets libpam use its default.
        // SAFETY: the handle is live during the hook; `user` is a valid out pointer.
        let code = unsafe { pam_get_user(self.raw.as_ptr(), &mut user, std::ptr::null()) };
        if code != pam::SUCCESS {
            return Err(code);
        }
        owned(user).filter(|u| !u.is_empty()).ok_or(pam::USER_UNKNOWN)
    }

    fn service(&self) -> Option<String> {
        let mut item: *const c_void = std::ptr::null();
        // SAFETY: live handle, valid out pointer; PAM_SERVICE is a C string.
        let code = unsafe { pam_get_item(self.raw.as_ptr(), pam::ITEM_SERVICE, &mut item) };
        if code != pam::SUCCESS {
            return None;
        }
        owned(item.cast())
    }

    fn getenv(&self, name: &str) -> Option<String> {
        let name = CString::new(name).ok()?;
        // SAFETY: live handle, NUL-terminated name owned here.
        owned(unsafe { pam_getenv(self.raw.as_ptr(), name.as_ptr()) })
    }

    fn env_list(&self) -> Vec<(String, String)> {
        // The result is a malloc'd NULL-terminated array of malloc'd "NAME=value" strings that we own and
        // free below.
        // SAFETY: live handle.
        let list = unsafe { pam_getenvlist(self.raw.as_ptr()) };
        if list.is_null() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            // SAFETY: the array is NULL-terminated; we stop at the NULL.
            let entry = unsafe { *list.add(i) };
            if entry.is_null() {
                break;
            }
            if let Some((k, v)) = owned(entry).as_deref().and_then(|e| e.split_once('=')) {
                out.push((k.to_owned(), v.to_owned()));
            }
            // SAFETY: each entry was malloc'd by libpam for us and is not used again.
            unsafe { libc::free(entry.cast()) };
            i += 1;
        }
        // SAFETY: the array itself was malloc'd for us; its entries are freed.
        unsafe { libc::free(list.cast()) };
        out
    }

    fn putenv(&mut self, name: &str, value: &str) -> Result<(), Code> {
        if name.is_empty() || name.contains('=') {
            return Err(pam::BAD_ITEM);
        }
        let entry = CString::new(format!("{name}={value}")).map_err(|_| pam::BAD_ITEM)?;
        // libpam copies the string.
        // SAFETY: live handle, NUL-terminated "NAME=value" owned here for the call.
        let code = unsafe { pam_putenv(self.raw.as_ptr(), entry.as_ptr()) };
        if code == pam::SUCCESS {
            Ok(())
        } else {
            Err(code)
        }
    }

    fn state(&self) -> Option<SessionState> {
        let mut data: *const c_void = std::ptr::null();
        // SAFETY: live handle, valid out pointer, static NUL-terminated name.
        let code = unsafe { pam_get_data(self.raw.as_ptr(), STATE_NAME.as_ptr(), &mut data) };
        if code != pam::SUCCESS || data.is_null() {
            return None;
        }
        // Only set_state stores under this name, always a Box<SessionState>, alive until pam_end or
        // replacement.
        // SAFETY: the pointer is a live SessionState.
        Some(unsafe { &*data.cast::<SessionState>() }.clone())
    }

    fn set_state(&mut self, state: SessionState) -> Result<(), Code> {
        let data = Box::into_raw(Box::new(state));
        let raw = self.raw.as_ptr();
        // libpam takes ownership of `data` and calls free_state on it (and on any value it replaces).
        // SAFETY: live handle, static name, a leaked Box as data.
        let code = unsafe { pam_set_data(raw, STATE_NAME.as_ptr(), data.cast(), Some(free_state)) };
        if code != pam::SUCCESS {
            // SAFETY: libpam refused, so it did not take `data`; reclaim it.
            drop(unsafe { Box::from_raw(data) });
            return Err(code);
        }
        Ok(())
    }
}
