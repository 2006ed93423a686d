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
    /// Names of PAM environment variables passed to the token program, on
    /// top of the fixed allowlist. Names that change how a program or its
    /// libraries behave are refused (see [`program_env_refusal`]).
    pub program_env: Option<Vec<String>>,
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
    /// Hand each PAG one supplementary group from this range, `"FIRST-LAST"`,
    /// so daemons can tell logins apart (see `pag::peer`). Off by default.
    pub tag_gids: Option<String>,
    /// Move the login's tickets into its KCM cache and set `KRB5CCNAME=KCM:`
    /// (done by the token program, run with the login's tag). Off by default.
    pub kcm: Option<bool>,
    /// `[pam.service.<name>]` sections, allowed only directly under `[pam]`.
    pub service: BTreeMap<String, PamSettings>,
}

impl PamSettings {
    /// The section for `service`, if the file has one.
    pub fn for_service(&self, service: &str) -> Option<&PamSettings> {
        self.service.get(service)
    }

    /// Refuse what the types cannot: nested service sections, a relative
    /// program path, a zero timeout, a dangerous `program_env` name. Every
    /// mistake, not only the first.
    pub(crate) fn validate(&self, path: &Path, text: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        self.validate_layer(path, text, "pam", &mut errors);
        for (name, section) in &self.service {
            let prefix = format!("pam.service.{name}");
            if let Some(nested) = section.service.keys().next() {
                errors.push(ConfigError::invalid(
                    path,
                    text,
                    &format!("{prefix}.service.{nested}"),
                    "service sections cannot be nested; write [pam.service.<name>] directly",
                ));
            }
            section.validate_layer(path, text, &prefix, &mut errors);
        }
        errors
    }

    fn validate_layer(&self, path: &Path, text: &str, prefix: &str, errors: &mut Vec<ConfigError>) {
        if let Some(program) = &self.program {
            if !program.starts_with('/') {
                let key = format!("{prefix}.program");
                errors.push(ConfigError::invalid(path, text, &key, "must be an absolute path"));
            }
        }
        if self.timeout == Some(0) {
            let key = format!("{prefix}.timeout");
            errors.push(ConfigError::invalid(path, text, &key, "must be at least 1 second"));
        }
        if let Some(range) = &self.tag_gids {
            if let Err(why) = parse_tag_gids(range) {
                errors.push(ConfigError::invalid(path, text, &format!("{prefix}.tag_gids"), why));
            }
        }
        for name in self.program_env.iter().flatten() {
            if let Some(why) = program_env_refusal(name) {
                let key = format!("{prefix}.program_env");
                errors.push(ConfigError::invalid(path, text, &key, format!("`{name}` {why}")));
            }
        }
    }
}

/// Smallest first gid of `tag_gids`: below it are the system's own groups.
pub const TAG_GIDS_MIN: u32 = 1000;
/// Most gids `tag_gids` may span.
pub const TAG_GIDS_MAX_SPAN: u32 = 1_000_000;

/// Parse `tag_gids`, `"FIRST-LAST"`: decimal, FIRST at least
/// [`TAG_GIDS_MIN`], LAST at least FIRST and below 4294967295 (which means
/// "no group" to the kernel), at most [`TAG_GIDS_MAX_SPAN`] gids.
pub fn parse_tag_gids(text: &str) -> Result<std::ops::RangeInclusive<u32>, String> {
    let (first, last) = text.split_once('-').ok_or_else(|| format!("`{text}` is not FIRST-LAST"))?;
    let number = |n: &str| n.trim().parse::<u32>().map_err(|_| format!("`{}` is not a gid", n.trim()));
    let (first, last) = (number(first)?, number(last)?);
    if first < TAG_GIDS_MIN {
        return Err(format!("starts at {first}, among the system's own groups (use {TAG_GIDS_MIN} or more)"));
    }
    if last < first || last == u32::MAX {
        return Err(format!("`{text}` is not a range of gids"));
    }
    if last - first >= TAG_GIDS_MAX_SPAN {
        return Err(format!("spans more than {TAG_GIDS_MAX_SPAN} gids"));
    }
    Ok(first..=last)
}

/// Names `program_env` may never list, whatever the administrator wants:
/// the program runs as the user but is started by root, and these change
/// which code it loads, which configuration it trusts or where it writes.
const DANGEROUS_NAMES: &[&str] = &[
    "GCONV_PATH",
    "GETCONF_DIR",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "LOCPATH",
    "NIS_PATH",
    "NLSPATH",
    "RESOLV_HOST_CONF",
    "RES_OPTIONS",
    "TMPDIR",
    "TZDIR",
    "IFS",
    "ENV",
    "BASH_ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "CDPATH",
    "GLOBIGNORE",
    "OPENSSL_CONF",
    "OPENSSL_ENGINES",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Prefixes of names `program_env` may never list (`KRB5` covers
/// KRB5_CONFIG, KRB5_TRACE, KRB5_KTNAME, KRB5CCNAME ...).
const DANGEROUS_PREFIXES: &[&str] = &[
    "LD_",
    "KRB5",
    "PAG_",
    "GLIBC_",
    "MALLOC_",
    "BASH_FUNC_",
    "PYTHON",
    "PERL",
    "RUBY",
    "NODE_",
    "GIO_",
    "GTK_",
];

/// Names the module sets itself.
const MODULE_NAMES: &[&str] = &["HOME", "USER", "LOGNAME", "SHELL", "PATH"];

/// Why `name` may not be listed in `program_env`, or `None` when it may.
pub fn program_env_refusal(name: &str) -> Option<&'static str> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Some("is not an environment variable name (letters, digits and _)");
    }
    let upper = name.to_ascii_uppercase();
    if MODULE_NAMES.contains(&upper.as_str()) {
        return Some(
            "is set by the module (HOME, USER, LOGNAME and SHELL from the password database, a fixed PATH)",
        );
    }
    if DANGEROUS_NAMES.contains(&upper.as_str()) || DANGEROUS_PREFIXES.iter().any(|p| upper.starts_with(p)) {
        return Some(
            "may not be passed to the token program: it changes which code or configuration the program uses",
        );
    }
    None
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
    fn tag_gids_are_a_bounded_range_above_the_system_groups() {
        assert_eq!(parse_tag_gids("70000-70999"), Ok(70_000..=70_999));
        assert_eq!(parse_tag_gids(" 2000 - 2000 "), Ok(2000..=2000));
        for bad in ["70000", "x-1", "100-200", "5000-4000", "1000-4294967295", "1000-9999999"] {
            assert!(parse_tag_gids(bad).is_err(), "{bad}");
        }
        let e = parse("[pam]\ntag_gids = \"5-10\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("pam.tag_gids"));
    }

    #[test]
    fn program_env_refuses_dangerous_names_and_names_the_key() {
        let c = parse("[pam]\nprogram_env = [\"AKLOG_DEBUG\", \"http_proxy\"]\n").unwrap();
        assert_eq!(
            c.pam.program_env.as_deref(),
            Some(&["AKLOG_DEBUG".to_owned(), "http_proxy".to_owned()][..])
        );
        for name in [
            "LD_PRELOAD",
            "ld_library_path",
            "KRB5_CONFIG",
            "KRB5_TRACE",
            "KRB5CCNAME",
            "PAG_CONFIG",
            "GCONV_PATH",
            "HOME",
            "PATH",
            "A=B",
            "",
        ] {
            let e = parse(&format!("[pam]\n[pam.service.sshd]\nprogram_env = [\"OK\", \"{name}\"]\n"))
                .unwrap_err();
            assert_eq!(e.key.as_deref(), Some("pam.service.sshd.program_env"), "{name}");
            assert!(e.message.starts_with(&format!("`{name}` ")), "{e}");
        }
        assert!(program_env_refusal("LD_PRELOAD").unwrap().contains("may not be passed"));
        assert_eq!(program_env_refusal("AKLOG_DEBUG"), None);
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
