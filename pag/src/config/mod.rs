//! The one TOML configuration file the PAM module and the tools share,
//! `/etc/security/pam_pag.toml` by default.
//!
//! Unknown keys are errors, never ignored, and every error names the file,
//! the line, the column and the key, so a broken file is found and never
//! half-applied.

mod aklog;
mod error;
mod pagsh;
pub mod pam;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use aklog::{check_name, parse_key_type, AklogConfig};
pub use error::ConfigError;
pub use pagsh::PagshConfig;
pub use pam::PamSettings;

/// Where the file is unless a caller says otherwise.
pub const DEFAULT_PATH: &str = "/etc/security/pam_pag.toml";

/// The whole file. Each tool reads its own section; sections are added by
/// the parts that use them.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[pagsh]`
    pub pagsh: PagshConfig,
    /// `[pam]` and its `[pam.service.<name>]` sections.
    pub pam: PamSettings,
    /// `[aklog]`
    pub aklog: AklogConfig,
}

impl Config {
    /// Parse `text`, attributing errors to `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::from_toml(path, text, &e))?;
        config.pam.validate(path, text)?;
        Ok(config)
    }

    /// Load `path`. A missing file is an error here; see [`Config::load_or_default`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, &e))?;
        Self::parse(&text, path)
    }

    /// Load `path`, or the defaults when it does not exist (a fresh install
    /// has no file); any other problem is an error.
    pub fn load_or_default(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ConfigError::io(path, &e)),
        }
    }
}

/// The path to use: `PAG_CONFIG` from the environment for tools run by a
/// user (tests, trying a file before installing it), else [`DEFAULT_PATH`].
/// The PAM module does not use this; it takes only its `config=` argument.
pub fn tool_path() -> PathBuf {
    std::env::var_os("PAG_CONFIG").map_or_else(|| PathBuf::from(DEFAULT_PATH), PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/security/pam_pag.toml"))
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn pagsh_section() {
        let c = parse("[pagsh]\nlink_user_keyring = false\nallow_no_pag = true\n").unwrap();
        assert!(!c.pagsh.link_user_keyring);
        assert!(c.pagsh.allow_no_pag);
    }

    #[test]
    fn aklog_section() {
        let c = parse("[aklog]\ncells = [\"example.org\", \"other.net\"]\nrealm = \"EXAMPLE.ORG\"\nkey_type = \"user\"\n")
            .unwrap();
        assert_eq!(c.aklog.cells, ["example.org", "other.net"]);
        assert_eq!(c.aklog.realm.as_deref(), Some("EXAMPLE.ORG"));
        assert_eq!(c.aklog.key_type, crate::token::KeyTypeChoice::User);
        assert_eq!(parse("").unwrap().aklog.key_type, crate::token::KeyTypeChoice::Auto);
    }

    #[test]
    fn aklog_bad_values_name_the_key() {
        let e = parse("[aklog]\nkey_type = \"logon\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("aklog.key_type")));
        assert!(e.to_string().contains("\"rxrpc\""), "{e}");
        let e = parse("[aklog]\ncells = [\"a/b\"]\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().contains("a/b"), "{e}");
    }

    #[test]
    fn unknown_key_names_file_line_column_and_key() {
        let e = parse("# comment\n[pagsh]\nlink_user_keyring = true\nbogus = 1\n").unwrap_err();
        assert_eq!(e.line, Some(4));
        assert_eq!(e.column, Some(1));
        assert_eq!(e.key.as_deref(), Some("pagsh.bogus"));
        let text = e.to_string();
        assert!(text.starts_with("/etc/security/pam_pag.toml:4:1: "), "{text}");
        assert!(text.contains("bogus"), "{text}");
    }

    #[test]
    fn unknown_section_is_rejected() {
        let e = parse("[nosuch]\nx = 1\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.to_string().contains("nosuch"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = parse("[pagsh]\nallow_no_pag = \"yes\"\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(e.key.as_deref(), Some("pagsh.allow_no_pag"));
        assert!(e.to_string().contains("boolean"), "{e}");
    }

    #[test]
    fn syntax_error_has_a_position() {
        let e = parse("[pagsh\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.column.is_some());
    }

    #[test]
    fn missing_file_is_default_only_when_asked() {
        let p = Path::new("/nonexistent/pam_pag.toml");
        assert_eq!(Config::load_or_default(p).unwrap(), Config::default());
        let e = Config::load(p).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/pam_pag.toml: "), "{e}");
    }
}
