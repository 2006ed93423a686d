//! The krb5 error codes this daemon answers with (values from MIT's
//! `krb5.h` / `k5-int` error tables; checked against Debian 12's headers).
//!
//! The client treats three codes as "the daemon does not support this
//! operation" and falls back to other operations: `KRB5_FCC_INTERNAL`,
//! `KRB5_CC_IO` and `KRB5_CC_NOSUPP`. Only [`NOSUPP`] is ever sent, and only
//! for operations this daemon does not implement: a real failure answered
//! with one of them would send kinit into its non-atomic fallback.

/// Success.
pub const OK: i32 = 0;
/// "Matching credential not found" (RETRIEVE, REMOVE_CRED).
pub const CC_NOTFOUND: i32 = -1765328243;
/// "End of credential cache reached" (an unknown credential UUID).
pub const CC_END: i32 = -1765328242;
/// "No credentials cache found": an unknown or uninitialised cache.
pub const FCC_NOFILE: i32 = -1765328189;
/// "Bad format in credentials cache": a request that does not parse.
pub const CC_FORMAT: i32 = -1765328185;
/// "Credentials cache operation not supported": an operation not implemented.
pub const NOSUPP: i32 = -1765328137;
/// A bound of this daemon was reached: the client prints strerror(EDQUOT),
/// "Disk quota exceeded"; the daemon's log names the bound.
pub const QUOTA: i32 = libc::EDQUOT;
/// An internal failure that is not the client's (saving state failed).
pub const CC_WRITE: i32 = -1765328187;
