//! `PAG_MOVE_TO_KCM=1` (with `PAG_TOKEN_FD`, set by pam_pag's `kcm`): before
//! fetching tokens, move the login's tickets from the cache `KRB5CCNAME`
//! names (the `FILE:` cache pam_krb5 or sshd made) into the KCM default
//! cache `KCM:`, and destroy the source; then fetch the tokens from `KCM:`.
//!
//! pam_pag runs aklog as the user with the login's tag among its groups, so
//! the KCM daemon (pag-kcm) files the cache under that login's PAG. The
//! outcome goes back to the module as the ccache record of the hand-back
//! message (`pag::token::handover`); only a reported move makes it set
//! `KRB5CCNAME=KCM:` for the session.
//!
//! An environment variable, as `PAG_TOKEN_FD` is, so that a token program
//! that does not know it ignores it (and the module then sees no report).

use pag::token::handover::{CcacheReport, MAX_RECORD_LEN};

use crate::krb5::{code, Context, Krb5Error};

/// The variable that asks for the move.
pub const ENV: &str = "PAG_MOVE_TO_KCM";
/// Where the tickets go: the default cache of the caller's KCM collection.
pub const DESTINATION: &str = "KCM:";

/// Whether the move was asked for (`PAG_MOVE_TO_KCM=1`).
pub fn requested() -> bool {
    std::env::var_os(ENV).is_some_and(|v| v == "1")
}

/// Move the default cache's credentials into [`DESTINATION`]: what to
/// report. `debug` says each step.
pub fn move_to_kcm(debug: &dyn Fn(&str)) -> CcacheReport {
    match try_move(debug) {
        Ok(()) => CcacheReport::Moved(DESTINATION.to_owned()),
        Err(why) => CcacheReport::NotMoved(printable(&why)),
    }
}

fn try_move(debug: &dyn Fn(&str)) -> Result<(), String> {
    let krb5 = |what: &str| {
        let what = what.to_owned();
        move |e: Krb5Error| format!("{what}: {e}")
    };
    let context = Context::new().map_err(krb5("Kerberos"))?;
    let source = context.default_ccache().map_err(krb5("the login's cache"))?;
    let source_name = source.full_name().map_err(krb5("the login's cache"))?;
    if source_name.starts_with(DESTINATION) {
        return Err(format!("{source_name} is a KCM cache already"));
    }
    let client = source.principal().map_err(krb5(&source_name))?;
    let destination = context.resolve_ccache(DESTINATION).map_err(|e| {
        let hint = if e.code == code::KCM_NO_SERVER { " (is pag-kcm running?)" } else { "" };
        format!("{DESTINATION} {e}{hint}")
    })?;
    destination.initialize(&client).map_err(krb5(DESTINATION))?;
    if let Err(e) = source.copy_creds_to(&destination) {
        // Leave no half-filled cache behind for a session that keeps its
        // old KRB5CCNAME anyway.
        let _ = destination.destroy();
        return Err(format!("copying {source_name} into {DESTINATION}: {e}"));
    }
    let landed = destination.full_name().unwrap_or_else(|_| DESTINATION.to_owned());
    debug(&format!("tickets of {source_name} copied into {landed}"));
    // The copy is what counts: once it is there the session should use it.
    // A source that cannot be removed is said here (the module checks too).
    match source.destroy() {
        Ok(()) => debug(&format!("{source_name} destroyed")),
        Err(e) => eprintln!("aklog: warning: tickets copied into {landed}, but {source_name} stays: {e}"),
    }
    Ok(())
}

/// `text` as a record value: printable ASCII, at most [`MAX_RECORD_LEN`] bytes.
fn printable(text: &str) -> String {
    let mut out: String = text.chars().map(|c| if (' '..='~').contains(&c) { c } else { '?' }).collect();
    out.truncate(MAX_RECORD_LEN);
    if out.is_empty() {
        out.push('?');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_become_record_values() {
        assert_eq!(printable("No KCM server found"), "No KCM server found");
        assert_eq!(printable("a\nb\u{e9}"), "a?b?");
        assert_eq!(printable(&"x".repeat(400)).len(), MAX_RECORD_LEN);
        assert_eq!(printable(""), "?");
    }
}
