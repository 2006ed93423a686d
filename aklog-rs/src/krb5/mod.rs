//! MIT libkrb5, through bindings bindgen generates from `<krb5.h>` (see
//! build.rs for the allowlist), wrapped in owning types that free what
//! libkrb5 allocated exactly once.
//!
//! This is the only module of the crate that may use `unsafe`. Every value
//! that crosses the boundary is either copied into Rust memory before the
//! libkrb5 object that owns it is freed, or borrowed for no longer than the
//! wrapper that frees it (the lifetimes tie each wrapper to its context).

use std::ffi::{CStr, CString};
use std::fmt;
use std::ptr;

#[allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]
mod bindings {
    include!(concat!(env!("OUT_DIR"), "/krb5_bindings.rs"));
}

/// libkrb5 error codes aklog reacts to, as `krb5_error_code` values.
pub mod code {
    use super::bindings as b;

    /// The KDC does not know the service principal.
    pub const SERVICE_UNKNOWN: i32 = b::KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN;
    /// The KDC does not know the client principal.
    pub const CLIENT_UNKNOWN: i32 = b::KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN;
    /// A ticket (usually the TGT) has expired.
    pub const TICKET_EXPIRED: i32 = b::KRB5KRB_AP_ERR_TKT_EXPIRED;
    /// Clock skew too great.
    pub const SKEW: i32 = b::KRB5KRB_AP_ERR_SKEW;
    /// No matching credentials in the cache (for example no TGT).
    pub const CC_NOTFOUND: i32 = b::KRB5_CC_NOTFOUND;
    /// End of the credentials cache.
    pub const CC_END: i32 = b::KRB5_CC_END;
    /// A FILE: cache that does not exist.
    pub const FCC_NOFILE: i32 = b::KRB5_FCC_NOFILE;
    /// No KDC of the realm answered.
    pub const KDC_UNREACH: i32 = b::KRB5_KDC_UNREACH;
    /// The realm's KDCs could not be looked up.
    pub const REALM_CANT_RESOLVE: i32 = b::KRB5_REALM_CANT_RESOLVE;
    /// No KDC is known for the realm (MIT: "Cannot find KDC for realm").
    pub const REALM_UNKNOWN: i32 = b::KRB5_REALM_UNKNOWN;
    /// No cross-realm path to the service's realm.
    pub const NO_TKT_IN_RLM: i32 = b::KRB5_NO_TKT_IN_RLM;
    /// No KCM daemon listens on the configured socket.
    pub const KCM_NO_SERVER: i32 = b::KRB5_KCM_NO_SERVER;
}

mod tgt;
pub use tgt::{Keytab, Tgt};

/// Single-DES enctypes, whose session key rxkad uses as it is.
pub const DES_ENCTYPES: [i32; 3] = [
    bindings::ENCTYPE_DES_CBC_CRC as i32,
    bindings::ENCTYPE_DES_CBC_MD4 as i32,
    bindings::ENCTYPE_DES_CBC_MD5 as i32,
];

/// Triple-DES enctypes, whose session key loses its parity bits before
/// rxkad-kdf: 5 (des3-cbc-md5 in Heimdal's and OpenAFS's names,
/// ENCTYPE_DES3_CBC_SHA in MIT's), 7 (old des3-cbc-sha1, which MIT's
/// <krb5.h> does not name) and 16 (des3-cbc-sha1), as OpenAFS's
/// tkt_DeriveDesKey lists them.
pub const DES3_ENCTYPES: [i32; 3] =
    [bindings::ENCTYPE_DES3_CBC_SHA as i32, 7, bindings::ENCTYPE_DES3_CBC_SHA1 as i32];

/// A failed libkrb5 call: its code and libkrb5's own message for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Krb5Error {
    /// The `krb5_error_code`.
    pub code: i32,
    /// libkrb5's text, which includes details such as the cache name.
    pub message: String,
}

impl fmt::Display for Krb5Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Krb5Error {}

/// Result of a libkrb5 call.
pub type Krb5Result<T> = Result<T, Krb5Error>;

/// A `krb5_context`.
pub struct Context {
    raw: bindings::krb5_context,
}

impl Context {
    /// `krb5_init_context`: reads krb5.conf (`KRB5_CONFIG`).
    pub fn new() -> Krb5Result<Self> {
        let mut raw: bindings::krb5_context = ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer; on success libkrb5 stores a context we own and free in Drop.
        let code = unsafe { bindings::krb5_init_context(&mut raw) };
        if code != 0 {
            // Without a context there is no error-message table to ask.
            return Err(Krb5Error {
                code,
                message: format!("cannot initialise Kerberos (error {code}); check krb5.conf or KRB5_CONFIG"),
            });
        }
        Ok(Context { raw })
    }

    fn error(&self, code: i32) -> Krb5Error {
        // libkrb5 returns a NUL-terminated string (never NULL for a live context) that we copy and then free
        // with the matching function.
        // SAFETY: the context is live.
        let message = unsafe {
            let text = bindings::krb5_get_error_message(self.raw, code);
            if text.is_null() {
                format!("Kerberos error {code}")
            } else {
                let owned = CStr::from_ptr(text).to_string_lossy().into_owned();
                bindings::krb5_free_error_message(self.raw, text);
                owned
            }
        };
        Krb5Error { code, message }
    }

    fn check(&self, code: i32) -> Krb5Result<()> {
        if code == 0 {
            Ok(())
        } else {
            Err(self.error(code))
        }
    }

    /// A string a libkrb5 call returns through an out-pointer: `call` fills
    /// it (returning a krb5 error code), it is copied, and `free` releases it.
    fn out_string(
        &self,
        call: impl FnOnce(*mut *mut libc::c_char) -> i32,
        free: impl FnOnce(*mut libc::c_char),
    ) -> Krb5Result<String> {
        let mut text: *mut libc::c_char = ptr::null_mut();
        self.check(call(&mut text))?;
        if text.is_null() {
            return Ok(String::new());
        }
        // SAFETY: on success libkrb5 stored a NUL-terminated string, which we copy before `free` releases it.
        let owned = unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned();
        free(text);
        Ok(owned)
    }

    /// The name of the default credentials cache (`KRB5CCNAME`, else the
    /// `default_ccache_name` of krb5.conf, else libkrb5's built-in default).
    pub fn default_ccache_name(&self) -> Option<String> {
        // The result is a string owned by the context (or NULL), copied before anything else touches the
        // context.
        // SAFETY: the context is live.
        unsafe {
            let name = bindings::krb5_cc_default_name(self.raw);
            (!name.is_null()).then(|| CStr::from_ptr(name).to_string_lossy().into_owned())
        }
    }

    /// `krb5_cc_default`: the default credentials cache.
    pub fn default_ccache(&self) -> Krb5Result<Ccache<'_>> {
        let mut raw: bindings::krb5_ccache = ptr::null_mut();
        // SAFETY: live context, valid out-pointer; the handle is closed in Drop.
        self.check(unsafe { bindings::krb5_cc_default(self.raw, &mut raw) })?;
        Ok(Ccache { context: self, raw })
    }

    /// `krb5_parse_name`. Callers pass names built from validated parts.
    pub fn parse_name(&self, name: &str) -> Krb5Result<Principal<'_>> {
        let text = CString::new(name).map_err(|_| Krb5Error {
            code: 0,
            message: format!("principal name {name:?} contains a NUL byte"),
        })?;
        let mut raw: bindings::krb5_principal = ptr::null_mut();
        // SAFETY: live context, NUL-terminated input, valid out-pointer; the principal is freed in Drop.
        self.check(unsafe { bindings::krb5_parse_name(self.raw, text.as_ptr(), &mut raw) })?;
        Ok(Principal { context: self, raw })
    }

    /// `krb5_get_host_realm`: the realms krb5.conf's `[domain_realm]` (or
    /// DNS, where enabled) maps `host` to. An empty list or an empty realm
    /// (the "referral realm") means no mapping.
    pub fn host_realms(&self, host: &str) -> Krb5Result<Vec<String>> {
        let text = CString::new(host)
            .map_err(|_| Krb5Error { code: 0, message: format!("host name {host:?} contains a NUL byte") })?;
        let mut list: *mut *mut libc::c_char = ptr::null_mut();
        // SAFETY: live context, NUL-terminated input, valid out-pointer.
        self.check(unsafe { bindings::krb5_get_host_realm(self.raw, text.as_ptr(), &mut list) })?;
        let mut realms = Vec::new();
        // On success `list` is a NULL-terminated array of NUL-terminated strings, all copied before the array
        // is freed with the matching function.
        // SAFETY: we read the array only while it is live.
        unsafe {
            if !list.is_null() {
                let mut at = list;
                while !(*at).is_null() {
                    realms.push(CStr::from_ptr(*at).to_string_lossy().into_owned());
                    at = at.add(1);
                }
                bindings::krb5_free_host_realm(self.raw, list);
            }
        }
        Ok(realms)
    }

    /// Whether krb5.conf names a KDC for `realm` (`kdc` in its `[realms]`
    /// entry). None when the configuration cannot be read.
    pub fn realm_has_kdc(&self, realm: &str) -> Option<bool> {
        let realm = CString::new(realm).ok()?;
        let profile = self.profile()?;
        let names = [c"realms".as_ptr(), realm.as_ptr(), c"kdc".as_ptr(), ptr::null()];
        let mut values: *mut *mut libc::c_char = ptr::null_mut();
        // A list returned on success is freed below with the matching function.
        // SAFETY: live profile, a NULL-terminated array of NUL-terminated names, valid out-pointer.
        let code = unsafe { bindings::profile_get_values(profile.raw, names.as_ptr(), &mut values) };
        if code == 0 {
            // SAFETY: `values` came from profile_get_values.
            unsafe { bindings::profile_free_list(values) };
            return Some(true);
        }
        // No such section or entry: no KDC; anything else: unknown.
        let missing = [bindings::PROF_NO_SECTION, bindings::PROF_NO_RELATION];
        missing.iter().any(|&m| libc::c_long::from(m) == code).then_some(false)
    }

    /// Whether libkrb5 looks KDCs up in DNS: `dns_lookup_kdc` in
    /// `[libdefaults]`, defaulting to `dns_fallback`, defaulting to true
    /// (MIT's rule).
    pub fn dns_lookup_kdc(&self) -> bool {
        let Some(profile) = self.profile() else { return true };
        let boolean = |name: &CStr, default: bool| {
            let mut value: libc::c_int = 0;
            // SAFETY: live profile, NUL-terminated names (NULL subsubname), valid out-pointer.
            let code = unsafe {
                bindings::profile_get_boolean(
                    profile.raw,
                    c"libdefaults".as_ptr(),
                    name.as_ptr(),
                    ptr::null(),
                    libc::c_int::from(default),
                    &mut value,
                )
            };
            if code == 0 {
                value != 0
            } else {
                default
            }
        };
        let fallback = boolean(c"dns_fallback", true);
        boolean(c"dns_lookup_kdc", fallback)
    }

    /// The context's configuration (a copy, released on drop).
    fn profile(&self) -> Option<Profile> {
        let mut raw: bindings::profile_t = ptr::null_mut();
        // SAFETY: live context, valid out-pointer; the copy is released in Profile's Drop.
        let code = unsafe { bindings::krb5_get_profile(self.raw, &mut raw) };
        (code == 0 && !raw.is_null()).then_some(Profile { raw })
    }

    /// `krb5_timeofday`: the current time as libkrb5 sees it (seconds).
    pub fn now(&self) -> Krb5Result<u32> {
        let mut now: bindings::krb5_timestamp = 0;
        // SAFETY: live context, valid out-pointer.
        self.check(unsafe { bindings::krb5_timeofday(self.raw, &mut now) })?;
        // krb5 timestamps are unsigned after 2038 (MIT's ts2tt convention).
        Ok(now as u32)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // Every wrapper borrowing the context has been dropped (the borrow checker ensures it).
        // SAFETY: the context was made by krb5_init_context and is freed once.
        unsafe { bindings::krb5_free_context(self.raw) }
    }
}

/// A copy of the context's krb5.conf profile.
struct Profile {
    raw: bindings::profile_t,
}

impl Drop for Profile {
    fn drop(&mut self) {
        // SAFETY: the profile came from krb5_get_profile and is released once.
        unsafe { bindings::profile_release(self.raw) }
    }
}

/// An open credentials cache.
pub struct Ccache<'c> {
    context: &'c Context,
    raw: bindings::krb5_ccache,
}

impl<'c> Ccache<'c> {
    /// The cache's full name, `TYPE:residual`.
    pub fn full_name(&self) -> Krb5Result<String> {
        self.context.out_string(
            // SAFETY: live context and cache; `out` is a valid out-pointer.
            |out| unsafe { bindings::krb5_cc_get_full_name(self.context.raw, self.raw, out) },
            // SAFETY: the string came from krb5_cc_get_full_name.
            |text| unsafe { bindings::krb5_free_string(self.context.raw, text) },
        )
    }

    /// The cache's default client principal; fails when the cache does not
    /// exist or was never initialised (no `kinit`).
    pub fn principal(&self) -> Krb5Result<Principal<'c>> {
        let mut raw: bindings::krb5_principal = ptr::null_mut();
        // SAFETY: live context and cache, valid out-pointer; the principal is freed in Drop.
        let code = unsafe { bindings::krb5_cc_get_principal(self.context.raw, self.raw, &mut raw) };
        self.context.check(code)?;
        Ok(Principal { context: self.context, raw })
    }

    /// `krb5_get_credentials`: a ticket for `server`, from the cache where a
    /// valid one is there, else from the KDC with the cached TGT (and then
    /// stored in the cache, as kvno does).
    pub fn get_credentials(&self, client: &Principal<'_>, server: &Principal<'_>) -> Krb5Result<Creds<'c>> {
        let mut wanted =
            bindings::krb5_creds { client: client.raw, server: server.raw, ..Default::default() };
        let mut out: *mut bindings::krb5_creds = ptr::null_mut();
        // `wanted` borrows the two principals (which outlive the call) and is not freed by us (its other
        // fields are zero); `out` receives creds we own and free in Drop.
        // SAFETY: live context and cache, valid in and out pointers.
        self.context.check(unsafe {
            bindings::krb5_get_credentials(self.context.raw, 0, self.raw, &mut wanted, &mut out)
        })?;
        Ok(Creds { context: self.context, raw: out })
    }
}

impl Drop for Ccache<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle came from krb5_cc_default on this live context.
        unsafe {
            bindings::krb5_cc_close(self.context.raw, self.raw);
        }
    }
}

/// A principal owned by us.
pub struct Principal<'c> {
    context: &'c Context,
    raw: bindings::krb5_principal,
}

impl Principal<'_> {
    /// The principal as text, `name/instance@REALM`.
    pub fn name(&self) -> Krb5Result<String> {
        self.context.out_string(
            // SAFETY: live context and principal; `out` is a valid out-pointer.
            |out| unsafe { bindings::krb5_unparse_name(self.context.raw, self.raw, out) },
            // SAFETY: the string came from krb5_unparse_name.
            |text| unsafe { bindings::krb5_free_unparsed_name(self.context.raw, text) },
        )
    }
}

impl Drop for Principal<'_> {
    fn drop(&mut self) {
        // SAFETY: the principal was allocated by libkrb5 for this context.
        unsafe { bindings::krb5_free_principal(self.context.raw, self.raw) }
    }
}

/// Credentials (a service ticket and its session key) owned by us.
pub struct Creds<'c> {
    context: &'c Context,
    raw: *mut bindings::krb5_creds,
}

impl Creds<'_> {
    fn creds(&self) -> &bindings::krb5_creds {
        // krb5_get_credentials succeeded, so `raw` is non-NULL; the reference cannot outlive `self`.
        // SAFETY: `raw` stays valid until Drop.
        unsafe { &*self.raw }
    }

    /// The session key's enctype.
    pub fn session_enctype(&self) -> i32 {
        self.creds().keyblock.enctype
    }

    /// The session key bytes.
    pub fn session_key(&self) -> &[u8] {
        let key = &self.creds().keyblock;
        // An empty key may have a NULL pointer, which `bytes` accepts for length 0.
        // SAFETY: libkrb5 keeps `length` bytes at `contents` for the life of the creds.
        unsafe { bytes(key.contents, key.length as usize) }
    }

    /// The encoded ticket.
    pub fn ticket(&self) -> &[u8] {
        let ticket = &self.creds().ticket;
        // SAFETY: as for the key: `length` bytes at `data`, owned by the creds.
        unsafe { bytes(ticket.data.cast::<u8>(), ticket.length as usize) }
    }

    /// The ticket's end time, seconds since the epoch (unsigned, so it
    /// stays right after 2038 as libkrb5's own timestamps do).
    pub fn end_time(&self) -> u32 {
        self.creds().times.endtime as u32
    }
}

impl Drop for Creds<'_> {
    fn drop(&mut self) {
        // krb5_free_creds zeroes the key contents before freeing.
        // SAFETY: the creds were allocated by krb5_get_credentials for this context.
        unsafe { bindings::krb5_free_creds(self.context.raw, self.raw) }
    }
}

/// A slice over memory libkrb5 owns.
///
/// # Safety
/// `data` must point to `len` readable bytes that outlive the returned slice,
/// or `len` must be 0.
unsafe fn bytes<'a>(data: *const u8, len: usize) -> &'a [u8] {
    if len == 0 || data.is_null() {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(data, len) }
    }
}
