//! A driver over real libpam: start a handle for a service whose file is in
//! a directory of our choosing (`pam_start_confdir`, Linux-PAM 1.4+), so a
//! test loads the built `pam_pag.so` through the same code paths sshd or
//! login use, without touching `/etc/pam.d`.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::Path;
use std::ptr;

/// PAM_SUCCESS.
pub const SUCCESS: i32 = 0;
/// PAM_ESTABLISH_CRED.
pub const ESTABLISH_CRED: i32 = 0x2;
/// PAM_DELETE_CRED.
pub const DELETE_CRED: i32 = 0x4;
/// PAM_REINITIALIZE_CRED.
pub const REINITIALIZE_CRED: i32 = 0x8;
/// PAM_REFRESH_CRED.
pub const REFRESH_CRED: i32 = 0x10;
const CONV_ERR: c_int = 19;

#[repr(C)]
struct PamConv {
    conv: extern "C" fn(c_int, *mut *const c_void, *mut *mut c_void, *mut c_void) -> c_int,
    appdata: *mut c_void,
}

#[link(name = "pam")]
extern "C" {
    fn pam_start_confdir(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
    fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_acct_mgmt(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_setcred(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_open_session(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_close_session(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_putenv(pamh: *mut c_void, name_value: *const c_char) -> c_int;
    fn pam_getenvlist(pamh: *mut c_void) -> *mut *mut c_char;
    fn pam_strerror(pamh: *mut c_void, errnum: c_int) -> *const c_char;
}

/// The shape of pam_authenticate, pam_acct_mgmt, pam_setcred and the
/// session calls.
type FlagsCall = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;

/// The conversation: the modules under test never need to ask anything.
extern "C" fn no_conversation(
    _n: c_int,
    _m: *mut *const c_void,
    _r: *mut *mut c_void,
    _d: *mut c_void,
) -> c_int {
    CONV_ERR
}

static CONVERSATION: PamConv = PamConv { conv: no_conversation, appdata: ptr::null_mut() };

// SAFETY: PamConv is immutable and holds a function pointer and a null pointer.
unsafe impl Sync for PamConv {}

/// One PAM handle.
pub struct Pam {
    handle: *mut c_void,
    last: c_int,
}

/// An error starting PAM: the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartError(pub i32);

fn c(text: &str) -> CString {
    CString::new(text).expect("no NUL bytes in test strings")
}

impl Pam {
    /// pam_start_confdir for `service` and `user`; with `confdir` None, the
    /// system's `/etc/pam.d`.
    pub fn start(service: &str, user: &str, confdir: Option<&Path>) -> Result<Pam, StartError> {
        let service = c(service);
        let user = c(user);
        let dir = confdir.map(|d| c(&d.to_string_lossy()));
        let mut handle = ptr::null_mut();
        // All strings are NUL-terminated and live across the call; CONVERSATION is static.
        // SAFETY: valid C strings and a valid out pointer for `handle`.
        let code = unsafe {
            pam_start_confdir(
                service.as_ptr(),
                user.as_ptr(),
                &CONVERSATION,
                dir.as_ref().map_or(ptr::null(), |d| d.as_ptr()),
                &mut handle,
            )
        };
        if code != SUCCESS || handle.is_null() {
            return Err(StartError(code));
        }
        Ok(Pam { handle, last: SUCCESS })
    }

    /// One of libpam's `(handle, flags) -> code` calls; the code is kept for
    /// pam_end, as applications pass the last status there.
    fn call(&mut self, entry: FlagsCall, flags: i32) -> i32 {
        // SAFETY: `entry` is a libpam function taking a handle and flags; the handle is live until pam_end.
        let code = unsafe { entry(self.handle, flags) };
        self.last = code;
        code
    }

    /// pam_authenticate.
    pub fn authenticate(&mut self, flags: i32) -> i32 {
        self.call(pam_authenticate, flags)
    }

    /// pam_acct_mgmt.
    pub fn acct_mgmt(&mut self, flags: i32) -> i32 {
        self.call(pam_acct_mgmt, flags)
    }

    /// pam_setcred.
    pub fn setcred(&mut self, flags: i32) -> i32 {
        self.call(pam_setcred, flags)
    }

    /// pam_open_session.
    pub fn open_session(&mut self, flags: i32) -> i32 {
        self.call(pam_open_session, flags)
    }

    /// pam_close_session.
    pub fn close_session(&mut self, flags: i32) -> i32 {
        self.call(pam_close_session, flags)
    }

    /// pam_putenv("NAME=value").
    pub fn putenv(&mut self, name_value: &str) -> i32 {
        let text = c(name_value);
        // SAFETY: live handle; libpam copies the string.
        unsafe { pam_putenv(self.handle, text.as_ptr()) }
    }

    /// The PAM environment, as "NAME=value" strings.
    pub fn env(&self) -> Vec<String> {
        // SAFETY: live handle; the result is a malloc'd NULL-terminated array of malloc'd strings we own.
        let list = unsafe { pam_getenvlist(self.handle) };
        let mut out = Vec::new();
        if list.is_null() {
            return out;
        }
        for i in 0.. {
            // SAFETY: NULL-terminated array; we stop at the NULL.
            let entry = unsafe { *list.add(i) };
            if entry.is_null() {
                break;
            }
            // SAFETY: each entry is a NUL-terminated string we now own.
            out.push(unsafe { CStr::from_ptr(entry) }.to_string_lossy().into_owned());
            // SAFETY: malloc'd for us, not used again.
            unsafe { libc::free(entry.cast()) };
        }
        // SAFETY: the array was malloc'd for us.
        unsafe { libc::free(list.cast()) };
        out
    }

    /// pam_strerror's text for `code`.
    pub fn strerror(&self, code: i32) -> String {
        // SAFETY: live handle; pam_strerror returns a static string.
        let text = unsafe { pam_strerror(self.handle, code) };
        if text.is_null() {
            return format!("code {code}");
        }
        // SAFETY: non-null static NUL-terminated string.
        unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned()
    }

    /// pam_end with the last code; returns pam_end's code.
    pub fn end(mut self) -> i32 {
        self.finish()
    }

    fn finish(&mut self) -> i32 {
        if self.handle.is_null() {
            return SUCCESS;
        }
        // SAFETY: live handle, ended exactly once (nulled below).
        let code = unsafe { pam_end(self.handle, self.last) };
        self.handle = ptr::null_mut();
        code
    }
}

impl Drop for Pam {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Write a service file `dir/<service>` with `lines` (pam.d syntax).
pub fn write_service(dir: &Path, service: &str, lines: &[String]) -> std::io::Result<()> {
    std::fs::write(dir.join(service), lines.join("\n") + "\n")
}
