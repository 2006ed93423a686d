//! `[pam]` and `[pam.service.<name>]`: settings of the PAM module.
//!
//! Every setting is optional here so that layers can be merged: built-in
//! defaults, then `[pam]`, then the section of the PAM service (`sshd`,
//! `login`, ...), then the module arguments in the `pam.d` line. The module
//! owns the defaults and the merge; this file only says what may be written.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::ConfigError;

/// What to do with the PAG when the session closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnClose {
    /// Remove the tokens from the PAG; processes left behind keep the PAG
    /// but lose the AFS identity (what pam_afs_session does).
    Unlog,
    /// Revoke the PAG keyring: everything in it is gone for every process.
    Revoke,
    /// Leave the PAG and its tokens alone.
    Retain,
}

/// What to do when kernel keyrings are unavailable (seccomp EPERM or ENOSYS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnKeyringUnavailable {
    /// Log one line and return PAM_IGNORE, so the login goes on without a PAG.
    Ignore,
    /// Fail the session (PAM_SESSION_ERR, PAM_CRED_ERR for setcred).
    Fail,
}

/// Which uid owns (and is charged for) the PAG keyring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyringOwner {
    /// root owns the keyring and the marker, and the module gives the keys
    /// the token program added to root too: nothing of a login counts
    /// against the user's key quota. The user cannot replace the session
    /// keyring with `keyctl new_session` or KEYCTL_SESSION_TO_PARENT.
    Root,
    /// The user owns the keyring and keeps the token keys, as with
    /// pam_keyinit: many concurrent logins exhaust the user's key quota.
    User,
}

/// One layer of settings (`[pam]` or a service section). `None` means "not
/// set in this layer".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PamSettings {
    /// Log debug lines.
    pub debug: Option<bool>,
    /// Do nothing for users with a uid below this.
    pub minimum_uid: Option<u32>,
    /// Do nothing for root.
    pub ignore_root: Option<bool>,
    /// Create no PAG; only obtain tokens in the session keyring there is.
    pub nopag: Option<bool>,
    /// Run no token program.
    pub notokens: Option<bool>,
    /// The token program (an absolute path).
    pub program: Option<String>,
    /// Arguments for the token program, before any `-cell` arguments.
    pub program_args: Option<Vec<String>>,
    /// Cells to get tokens for; each is passed as `-cell <name>`.
    pub cells: Option<Vec<String>>,
    /// Seconds the token program may run before it is killed.
    pub timeout: Option<u32>,
    /// Run the token program even when there is no KRB5CCNAME.
    pub always_aklog: Option<bool>,
    /// What closing the session does.
    pub on_close: Option<OnClose>,
    /// Link the user's user keyring (`@u`) into the PAG.
    pub link_user_keyring: Option<bool>,
    /// What to do where keyrings are blocked.
    pub on_keyring_unavailable: Option<OnKeyringUnavailable>,
    /// Fail the login when the token program fails.
    pub tokens_required: Option<bool>,
    /// Who owns the PAG keyring.
    pub keyring_owner: Option<KeyringOwner>,
    /// `[pam.service.<name>]` sections, allowed only directly under `[pam]`.
    pub service: BTreeMap<String, PamSettings>,
}

impl PamSettings {
    /// The section for `service`, if the file has one.
    pub fn for_service(&self, service: &str) -> Option<&PamSettings> {
        self.service.get(service)
    }

    /// Refuse what the types cannot: nested service sections, a relative
    /// program path, a zero timeout.
    pub(crate) fn validate(&self, path: &Path, text: &str) -> Result<(), ConfigError> {
        self.validate_layer(path, text, "pam")?;
        for (name, section) in &self.service {
            let prefix = format!("pam.service.{name}");
            if let Some(nested) = section.service.keys().next() {
                return Err(ConfigError::invalid(
                    path,
                    text,
                    &format!("{prefix}.service.{nested}"),
                    "service sections cannot be nested; write [pam.service.<name>] directly",
                ));
            }
            section.validate_layer(path, text, &prefix)?;
        }
        Ok(())
    }

    fn validate_layer(&self, path: &Path, text: &str, prefix: &str) -> Result<(), ConfigError> {
        if let Some(program) = &self.program {
            if !program.starts_with('/') {
                let key = format!("{prefix}.program");
                return Err(ConfigError::invalid(path, text, &key, "must be an absolute path"));
            }
        }
        if self.timeout == Some(0) {
            let key = format!("{prefix}.timeout");
            return Err(ConfigError::invalid(path, text, &key, "must be at least 1 second"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/security/pam_pag.toml"))
    }

    #[test]
    fn pam_and_service_sections() {
        let c = parse(
            "[pam]\ndebug = true\non_close = \"revoke\"\ncells = [\"example.org\"]\n\
             [pam.service.sshd]\ntimeout = 3\nkeyring_owner = \"user\"\n",
        )
        .unwrap();
        assert_eq!(c.pam.debug, Some(true));
        assert_eq!(c.pam.on_close, Some(OnClose::Revoke));
        assert_eq!(c.pam.cells.as_deref(), Some(&["example.org".to_owned()][..]));
        let sshd = c.pam.for_service("sshd").unwrap();
        assert_eq!(sshd.timeout, Some(3));
        assert_eq!(sshd.keyring_owner, Some(KeyringOwner::User));
        assert_eq!(sshd.debug, None);
        assert!(c.pam.for_service("login").is_none());
    }

    #[test]
    fn unknown_key_in_a_service_section_names_it() {
        let e = parse("[pam]\n[pam.service.su-l]\nbogus = 1\n").unwrap_err();
        assert_eq!((e.line, e.column), (Some(3), Some(1)));
        assert_eq!(e.key.as_deref(), Some("pam.service.su-l.bogus"));
    }

    #[test]
    fn wrong_enum_value_names_the_key() {
        let e = parse("[pam]\non_close = \"later\"\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(e.key.as_deref(), Some("pam.on_close"));
        assert!(e.message.contains("unlog"), "{e}");
    }

    #[test]
    fn nested_service_is_refused() {
        let e = parse("[pam.service.a.service.b]\ndebug = true\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("pam.service.a.service.b"));
    }

    #[test]
    fn relative_program_and_zero_timeout_are_refused() {
        let e = parse("[pam]\nprogram = \"aklog\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/security/pam_pag.toml:2:1: key `pam.program`: must be an absolute path"
        );
        let e = parse("[pam.service.login]\ntimeout = 0\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("pam.service.login.timeout"));
        assert_eq!(e.line, Some(2));
    }
}
