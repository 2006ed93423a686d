//! What the module needs from its PAM handle, as a trait, so that the
//! session logic runs against libpam in production and against a scripted
//! fake in unit tests.

use crate::kernel::UserEntry;
use crate::pam::Code;

/// What this handle has done, kept with the handle (pam_set_data) so that
/// the second of setcred(ESTABLISH) and open_session, and sshd's setcred in
/// its child, find the PAG the first one made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionState {
    /// The serial of the PAG keyring this handle created, if it made one.
    pub pag: Option<i32>,
    /// Set once setcred(ESTABLISH) or open_session did its work (also when
    /// it went on without a PAG: `nopag`, or keyrings unavailable).
    pub established: bool,
    /// The token program has not run yet for this session (there was no
    /// KRB5CCNAME when the session was set up).
    pub tokens_pending: bool,
    /// Set once close_session or setcred(DELETE) applied `on_close`.
    pub closed: bool,
    /// Keyrings were blocked (seccomp) when the session was set up: the one
    /// warning was logged then, and closing has nothing to do.
    pub keyrings_unavailable: bool,
    /// The user the session was set up for, so later hooks of this handle
    /// need no second password-database lookup when PAM_USER is unchanged.
    pub user: Option<UserEntry>,
    /// Configuration problems (a broken file, a bad argument) already
    /// logged for this session: each is said once, not by every hook.
    pub reported: Vec<String>,
    /// The tag gid handed out with the PAG (`tag_gids`): added to the
    /// process's groups again by each later hook, since applications call
    /// initgroups() between them (sshd's child, su).
    pub tag: Option<u32>,
}

/// The PAM handle of one call.
pub trait PamHandle {
    /// PAM_USER, asking the application if needed; an error code otherwise.
    fn user(&self) -> Result<String, Code>;
    /// PAM_SERVICE.
    fn service(&self) -> Option<String>;
    /// One variable of the PAM environment.
    fn getenv(&self, name: &str) -> Option<String>;
    /// The whole PAM environment.
    fn env_list(&self) -> Vec<(String, String)>;
    /// Set one variable of the PAM environment (what the session gets).
    fn putenv(&mut self, name: &str, value: &str) -> Result<(), Code>;
    /// The state stored by an earlier hook of this handle.
    fn state(&self) -> Option<SessionState>;
    /// Store the state for later hooks of this handle.
    fn set_state(&mut self, state: SessionState) -> Result<(), Code>;
}
