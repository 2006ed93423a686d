//! What renewal needs from libkrb5: a named cache, written from scratch
//! with one ticket-granting ticket; the TGT read back, renewed, or fetched
//! with a keytab. Part of the `krb5` module, under its rules: every libkrb5
//! allocation has one owner that frees it once.

use std::ffi::CString;
use std::mem::ManuallyDrop;
use std::ptr;

use super::{bindings, Ccache, Context, Krb5Error, Krb5Result, Principal};

/// A ticket-granting ticket (or any credentials we hold by value), its
/// contents freed (and the key zeroed) on drop.
pub struct Tgt<'c> {
    context: &'c Context,
    raw: Box<bindings::krb5_creds>,
}

impl Tgt<'_> {
    /// When the ticket became valid (its start time, else the
    /// authentication time), seconds since the epoch.
    pub fn start_time(&self) -> u32 {
        let times = &self.raw.times;
        (if times.starttime != 0 { times.starttime } else { times.authtime }) as u32
    }

    /// When it ends.
    pub fn end_time(&self) -> u32 {
        self.raw.times.endtime as u32
    }

    /// Until when it can be renewed (0 when it cannot).
    pub fn renew_till(&self) -> u32 {
        self.raw.times.renew_till as u32
    }

    /// Whether the KDC issued it renewable.
    pub fn renewable(&self) -> bool {
        self.raw.ticket_flags & bindings::TKT_FLG_RENEWABLE as i32 != 0
    }
}

impl Drop for Tgt<'_> {
    fn drop(&mut self) {
        // krb5_free_cred_contents zeroes the key first.
        // SAFETY: the contents were filled by libkrb5 for this context (or are zero) and are freed once.
        unsafe { bindings::krb5_free_cred_contents(self.context.raw, &mut *self.raw) }
    }
}

/// `text` as a C string, or a Kerberos-style error naming what it is.
fn c_string(what: &str, text: &str) -> Krb5Result<CString> {
    CString::new(text).map_err(|_| Krb5Error { code: -1, message: format!("{what} contains a NUL byte") })
}

impl Context {
    /// `krb5_cc_resolve`: the cache called `name` (`TYPE:residual`); it
    /// need not exist yet.
    pub fn resolve_ccache(&self, name: &str) -> Krb5Result<Ccache<'_>> {
        let text = c_string("the cache name", name)?;
        let mut raw: bindings::krb5_ccache = ptr::null_mut();
        // SAFETY: live context, NUL-terminated name, valid out-pointer; the handle is closed in Drop.
        self.check(unsafe { bindings::krb5_cc_resolve(self.raw, text.as_ptr(), &mut raw) })?;
        Ok(Ccache { context: self, raw })
    }

    /// `krb5_kt_resolve`: the keytab called `name` (a path, or `TYPE:residual`).
    pub fn keytab(&self, name: &str) -> Krb5Result<Keytab<'_>> {
        let text = c_string("the keytab name", name)?;
        let mut raw: bindings::krb5_keytab = ptr::null_mut();
        // SAFETY: live context, NUL-terminated name, valid out-pointer; the handle is closed in Drop.
        self.check(unsafe { bindings::krb5_kt_resolve(self.raw, text.as_ptr(), &mut raw) })?;
        Ok(Keytab { context: self, raw })
    }

    /// A `Tgt` from creds libkrb5 filled in place.
    fn fill_creds(&self, fill: impl FnOnce(*mut bindings::krb5_creds) -> i32) -> Krb5Result<Tgt<'_>> {
        let mut tgt = Tgt { context: self, raw: Box::default() };
        // On failure the contents may be partly filled: Tgt's Drop frees them either way.
        self.check(fill(&mut *tgt.raw))?;
        Ok(tgt)
    }
}

impl<'c> Ccache<'c> {
    /// Empty the cache (creating it where needed) for `client`: what
    /// `kinit` does before it stores a new TGT. Other tickets go with it.
    pub fn initialize(&self, client: &Principal<'_>) -> Krb5Result<()> {
        // SAFETY: live context, cache and principal.
        self.context.check(unsafe { bindings::krb5_cc_initialize(self.context.raw, self.raw, client.raw) })
    }

    /// Store `tgt` in the cache.
    pub fn store(&self, tgt: &Tgt<'_>) -> Krb5Result<()> {
        let creds: *const bindings::krb5_creds = &*tgt.raw;
        // libkrb5 copies what it stores; the const-to-mut cast is for the C prototype, which does not write.
        // SAFETY: live context and cache; the creds are valid for the call.
        let code = unsafe { bindings::krb5_cc_store_cred(self.context.raw, self.raw, creds.cast_mut()) };
        self.context.check(code)
    }

    /// `krb5_cc_copy_creds`: every credential of this cache (config
    /// entries too) stored into `to`, which must be initialised.
    pub fn copy_creds_to(&self, to: &Ccache<'_>) -> Krb5Result<()> {
        // SAFETY: live context and both caches; libkrb5 only reads `self` and writes `to`.
        self.context.check(unsafe { bindings::krb5_cc_copy_creds(self.context.raw, self.raw, to.raw) })
    }

    /// `krb5_cc_destroy`: remove the cache and close the handle.
    pub fn destroy(self) -> Krb5Result<()> {
        let cache = ManuallyDrop::new(self);
        // The handle is consumed by krb5_cc_destroy whatever it returns, so Drop must not close it again.
        // SAFETY: live context and cache.
        cache.context.check(unsafe { bindings::krb5_cc_destroy(cache.context.raw, cache.raw) })
    }

    /// The cache's ticket-granting ticket for `client`'s own realm
    /// (`krbtgt/REALM@REALM`).
    pub fn tgt(&self, client: &Principal<'_>) -> Krb5Result<Tgt<'c>> {
        let name = client.name()?;
        let realm = name.rsplit_once('@').map_or("", |(_, r)| r);
        let server = self.context.parse_name(&format!("krbtgt/{realm}@{realm}"))?;
        let mut wanted =
            bindings::krb5_creds { client: client.raw, server: server.raw, ..Default::default() };
        let context = self.context;
        // `wanted` only borrows the two principals, which outlive the call.
        // SAFETY: live context and cache, valid in and out pointers.
        context.fill_creds(|out| unsafe {
            bindings::krb5_cc_retrieve_cred(context.raw, self.raw, 0, &mut wanted, out)
        })
    }

    /// `krb5_get_renewed_creds`: the cache's TGT renewed by the KDC (not
    /// stored: the caller initialises the cache and stores it).
    pub fn renew(&self, client: &Principal<'_>) -> Krb5Result<Tgt<'c>> {
        let context = self.context;
        // A NULL service means the TGT.
        // SAFETY: live context, cache and principal; `out` is a valid creds struct to fill.
        context.fill_creds(|out| unsafe {
            bindings::krb5_get_renewed_creds(context.raw, out, client.raw, self.raw, ptr::null())
        })
    }
}

/// An open keytab.
pub struct Keytab<'c> {
    context: &'c Context,
    raw: bindings::krb5_keytab,
}

impl<'c> Keytab<'c> {
    /// The principal of the keytab's first entry (as `k5start -U` takes it).
    pub fn first_principal(&self) -> Krb5Result<Principal<'c>> {
        let context = self.context;
        let mut cursor: bindings::krb5_kt_cursor = ptr::null_mut();
        // SAFETY: live context and keytab, valid out-pointer.
        context.check(unsafe { bindings::krb5_kt_start_seq_get(context.raw, self.raw, &mut cursor) })?;
        let mut entry = bindings::krb5_keytab_entry::default();
        // SAFETY: the cursor was just started on this keytab; `entry` is a valid struct to fill.
        let code = unsafe { bindings::krb5_kt_next_entry(context.raw, self.raw, &mut entry, &mut cursor) };
        let principal = if code == 0 {
            let mut copy: bindings::krb5_principal = ptr::null_mut();
            // The entry's principal is copied before the entry's contents are freed.
            // SAFETY: the entry was filled by krb5_kt_next_entry; the copy is ours and freed by Principal.
            let copied = unsafe { bindings::krb5_copy_principal(context.raw, entry.principal, &mut copy) };
            // SAFETY: the entry's contents came from krb5_kt_next_entry and are freed once.
            unsafe { bindings::krb5_free_keytab_entry_contents(context.raw, &mut entry) };
            context.check(copied).map(|()| Principal { context, raw: copy })
        } else {
            Err(context.error(code))
        };
        // SAFETY: the cursor was started on this keytab and is ended once.
        unsafe { bindings::krb5_kt_end_seq_get(context.raw, self.raw, &mut cursor) };
        principal
    }

    /// `krb5_get_init_creds_keytab`: a new TGT for `client` from its key in
    /// this keytab (not stored).
    pub fn init_creds(&self, client: &Principal<'_>) -> Krb5Result<Tgt<'c>> {
        let context = self.context;
        // No start time offset, the TGT as service, default options.
        // SAFETY: live context, keytab and principal; `out` is a valid creds struct to fill.
        context.fill_creds(|out| unsafe {
            bindings::krb5_get_init_creds_keytab(
                context.raw,
                out,
                client.raw,
                self.raw,
                0,
                ptr::null(),
                ptr::null_mut(),
            )
        })
    }
}

impl Drop for Keytab<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle came from krb5_kt_resolve on this live context and is closed once.
        unsafe {
            bindings::krb5_kt_close(self.context.raw, self.raw);
        }
    }
}
