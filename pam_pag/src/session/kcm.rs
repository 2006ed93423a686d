//! `kcm`: the login's initial tickets go into the login's own KCM cache
//! (pag-kcm), and the session gets `KRB5CCNAME=KCM:`.
//!
//! Copying tickets needs libkrb5, which the module does not link, so the
//! token program does it: it runs as the user, outside the PAG keyring, with
//! the login's tag among its groups (pag-kcm files what a tagged client
//! stores under that login's PAG). The module asks with [`VARIABLE`] in the
//! program's environment (a program that does not know it ignores it, as
//! with `PAG_TOKEN_FD`) and believes only the ccache record of the hand-back
//! message, checked like everything else the user-run program sends. Only a
//! reported move changes `KRB5CCNAME`; anything else leaves the login's
//! cache and `KRB5CCNAME` as they were, with one log line saying why.

use pag::token::handover::CcacheReport;

use super::Call;
use crate::environment;

/// Set to `1` in the token program's environment: move the tickets of
/// `KRB5CCNAME` into `KCM:`, destroy the source, report it (see
/// `pag::token::handover`, record kinds 1 and 2).
pub const VARIABLE: &str = "PAG_MOVE_TO_KCM";

/// Does `ccache` name a KCM cache?
fn is_kcm(ccache: &str) -> bool {
    ccache.starts_with("KCM:")
}

/// The file of a `FILE:` cache (or a bare path), to check it is gone.
fn file_of(ccache: &str) -> Option<&str> {
    ccache.strip_prefix("FILE:").or_else(|| ccache.starts_with('/').then_some(ccache))
}

impl Call<'_, '_> {
    /// The cache whose tickets the program is to move, if it is to move any:
    /// with `kcm` on, a `KRB5CCNAME` that is not KCM: yet, and a tag.
    pub(super) fn kcm_source(&mut self, ccache: Option<&str>, tag: Option<u32>) -> Option<String> {
        if !self.options.kcm {
            return None;
        }
        let who = self.who();
        let ccache = ccache?;
        if is_kcm(ccache) {
            self.log.debug(&format!("{who}: kcm: the tickets are in {ccache} already"));
            return None;
        }
        if tag.is_none() {
            // Untagged, pag-kcm would file the tickets under the user's
            // per-uid caches, which every untagged process of the user shares.
            self.log.warning(&format!(
                "{who}: kcm: this login has no tag (tag_gids unset or none free), so there is no login \
                 cache to move its tickets to; they stay in {ccache}"
            ));
            return None;
        }
        Some(ccache.to_owned())
    }

    /// Act on what the program reported about the move it was asked for
    /// (`asked`: the cache it was to move), one log line in every case.
    pub(super) fn kcm_outcome(&mut self, asked: Option<&str>, report: Option<CcacheReport>) {
        let who = self.who();
        let program = self.options.program.clone();
        let Some(source) = asked else {
            if report.is_some() {
                self.log.warning(&format!(
                    "{who}: {program} reported on the ticket cache without being asked to; ignored"
                ));
            }
            return;
        };
        let name = match report {
            None => {
                self.log.warning(&format!(
                    "{who}: kcm: {program} did not report moving the tickets into KCM: (a token program \
                     must understand {VARIABLE}; see pam_pag(8)); they stay in {source} and KRB5CCNAME \
                     is unchanged"
                ));
                return;
            }
            Some(CcacheReport::NotMoved(why)) => {
                self.log.warning(&format!(
                    "{who}: kcm: {program} could not move the tickets into KCM: ({why}); they stay in \
                     {source} and KRB5CCNAME is unchanged"
                ));
                return;
            }
            Some(CcacheReport::Moved(name)) => name,
        };
        // The format allows only KCM: names of printable ASCII; the
        // environment's rules apply on top, as to any KRB5CCNAME.
        let kernel = &*self.kernel;
        let checked = environment::check_ccache(&name, self.user.uid, &|p| kernel.lstat(p));
        if let Err(why) = checked.and_then(|()| if is_kcm(&name) { Ok(()) } else { Err("not KCM:".into()) }) {
            self.log.error(&format!(
                "{who}: kcm: {program} reported moving the tickets to {name}, which is refused ({why}); \
                 KRB5CCNAME is unchanged"
            ));
            return;
        }
        if let Err(code) = self.handle.putenv("KRB5CCNAME", &name) {
            self.log.error(&format!(
                "{who}: kcm: the tickets were moved into {name}, but KRB5CCNAME cannot be set (PAM code \
                 {code}); the session still names {source}"
            ));
            return;
        }
        let left = file_of(source).filter(|path| self.kernel.lstat(std::path::Path::new(path)).is_ok());
        match left {
            Some(path) => self.log.warning(&format!(
                "{who}: kcm: moved the tickets into {name} and set KRB5CCNAME={name}, but {path} is \
                 still there"
            )),
            None => self
                .log
                .info(&format!("{who}: kcm: moved the tickets from {source} into {name}; KRB5CCNAME={name}")),
        }
    }
}
