//! pam_pag.so: the PAM adapter over the `pag` library.
//!
//! The PAM hooks (`pam_sm_open_session`, `pam_sm_setcred`, ...) are the work
//! of the PAM module issue; until then this crate builds the library name
//! (`libpam_pag.so`) that packaging and tests rely on and exports nothing.

#![forbid(unsafe_code)]
