//! The one TOML configuration file the PAM module and the tools share,
//! `/etc/security/pam_pag.toml` by default.
//!
//! Unknown keys are errors, never ignored, and every error names the file,
//! the line, the column and the key. Each reader interprets only its own
//! section ([`Document`]): a mistake in `[aklog]` never touches a login.
//! `pag check` interprets every section with the same code.

mod aklog;
mod document;
mod error;
mod kcm;
mod pagsh;
pub mod pam;

use std::path::{Path, PathBuf};

pub use aklog::{check_name, parse_key_type, AklogConfig};
pub use document::{Document, Presence, SECTIONS};
pub use error::ConfigError;
pub use kcm::KcmConfig;
pub use pagsh::PagshConfig;
pub use pam::PamSettings;

/// Where the file is unless a caller says otherwise.
pub const DEFAULT_PATH: &str = "/etc/security/pam_pag.toml";

/// The sections, as readers name the one they use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `[pam]` and `[pam.service.<name>]`: the PAM module.
    Pam,
    /// `[pagsh]`: pagsh.
    Pagsh,
    /// `[aklog]`: aklog.
    Aklog,
    /// `[kcm]`: pag-kcm.
    Kcm,
}

/// The whole file, interpreted.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Config {
    /// `[pagsh]`
    pub pagsh: PagshConfig,
    /// `[pam]` and its `[pam.service.<name>]` sections.
    pub pam: PamSettings,
    /// `[aklog]`
    pub aklog: AklogConfig,
    /// `[kcm]`
    pub kcm: KcmConfig,
}

impl Config {
    /// Parse `text`, every section, attributing errors to `path`; the first
    /// mistake (in file order) is the error.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let document = Document::parse(text, path)?;
        if let Some(first) = first_error(document.errors()) {
            return Err(first);
        }
        Ok(Config {
            pagsh: document.pagsh().unwrap_or_default(),
            pam: document.pam().unwrap_or_default(),
            aklog: document.aklog().unwrap_or_default(),
            kcm: document.kcm().unwrap_or_default(),
        })
    }

    /// Load `path`, every section. A missing file is an error here.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, &e, None))?;
        Self::parse(&text, path)
    }

    /// Load `path`, every section, or the defaults when it does not exist.
    pub fn load_or_default(path: &Path) -> Result<Self, ConfigError> {
        match Document::read(path, Presence::MayBeAbsent)? {
            Some(document) => Self::parse(document.text(), path),
            None => Ok(Self::default()),
        }
    }

    /// What a tool run by a user reads: the file [`tool_path`] names, only
    /// `section` of it interpreted (the others keep their defaults). A file
    /// named by `PAG_CONFIG` must exist; the default path may be absent.
    pub fn load_tool(section: Section) -> Result<Self, ConfigError> {
        let (path, presence) = tool_source();
        let Some(document) = Document::read(&path, presence)? else { return Ok(Self::default()) };
        let mut config = Config::default();
        let result = match section {
            Section::Pam => document.pam().map(|s| config.pam = s),
            Section::Pagsh => document.pagsh().map(|s| config.pagsh = s),
            Section::Aklog => document.aklog().map(|s| config.aklog = s),
            Section::Kcm => document.kcm().map(|s| config.kcm = s),
        };
        match result {
            Ok(()) => Ok(config),
            Err(errors) => Err(first_error(errors).expect("an Err carries at least one error")),
        }
    }
}

/// The first error, noting how many more there are (one line for a tool's
/// message or the module's log; `pag check` lists them all).
pub fn first_error(errors: Vec<ConfigError>) -> Option<ConfigError> {
    let more = errors.len().saturating_sub(1);
    let first = errors.into_iter().next()?;
    Some(if more > 0 {
        first.with_note(&format!("and {more} more; `pag check` lists them all"))
    } else {
        first
    })
}

/// The path to use: `PAG_CONFIG` from the environment for tools run by a
/// user (tests, trying a file before installing it), else [`DEFAULT_PATH`].
/// The PAM module does not use this; it takes only its `config=` argument.
pub fn tool_path() -> PathBuf {
    tool_source().0
}

/// [`tool_path`] and whether it must exist.
pub fn tool_source() -> (PathBuf, Presence) {
    match std::env::var_os("PAG_CONFIG") {
        Some(p) => (PathBuf::from(p), Presence::NamedBy("PAG_CONFIG")),
        None => (PathBuf::from(DEFAULT_PATH), Presence::MayBeAbsent),
    }
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
    fn kcm_section_bounds() {
        let c = parse("[kcm]\nmax_caches = 4\nidle_timeout = 60\n").unwrap();
        assert_eq!(c.kcm.max_caches, 4);
        assert_eq!(c.kcm.idle_timeout, 60);
        assert_eq!(c.kcm.max_creds, KcmConfig::default().max_creds);
        let e = parse("[kcm]\nmax_caches = 0\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("kcm.max_caches"));
        assert_eq!(e.line, Some(2));
        let e = parse("[kcm]\nmax_cache = 3\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("kcm.max_cache"));
    }

    #[test]
    fn unknown_section_is_called_a_section() {
        let e = parse("[nosuch]\nx = 1\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert_eq!(
            e.to_string(),
            "/etc/security/pam_pag.toml:1:1: key `nosuch`: unknown section `[nosuch]`; the sections are \
             [pam], [pam.service.<name>], [pagsh], [aklog] and [kcm]"
        );
        let e = parse("debug = true\n").unwrap_err();
        assert!(e.message.starts_with("unknown key `debug` outside any section"), "{e}");
    }

    #[test]
    fn a_syntax_error_is_one_line() {
        for text in ["[pam\n", "[pam]\ndebug = \n", "[pam]\ncells = [\"a\"\n"] {
            let e = parse(text).unwrap_err();
            assert!(!e.to_string().contains('\n'), "{e:?}");
            assert!(e.line.is_some(), "{e:?}");
        }
    }

    #[test]
    fn each_reader_sees_only_its_section() {
        let d = Document::parse("[aklog]\ncells = \"example.org\"\n[pam]\ndebug = true\n", Path::new("f"))
            .unwrap();
        assert_eq!(d.pam().unwrap().debug, Some(true));
        assert!(d.pagsh().is_ok());
        let errors = d.aklog().unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "f:2:1: key `aklog.cells`: invalid type: string \"example.org\", expected a sequence"
        );
    }

    #[test]
    fn every_mistake_is_found_in_file_order() {
        let text =
            "[pam]\ntimeout = 0\nbogus = 1\non_close = \"x\"\n[pam.service.sshd]\nprogram = \"aklog\"\n\
                    nope = 2\n[pagsh]\nallow_no_pag = 3\n[oops]\n";
        let d = Document::parse(text, Path::new("f")).unwrap();
        let found: Vec<(Option<usize>, Option<String>)> =
            d.errors().into_iter().map(|e| (e.line, e.key)).collect();
        let key = |s: &str| Some(s.to_owned());
        assert_eq!(
            found,
            [
                (Some(3), key("pam.bogus")),
                (Some(4), key("pam.on_close")),
                (Some(7), key("pam.service.sshd.nope")),
                (Some(9), key("pagsh.allow_no_pag")),
                (Some(10), key("oops")),
            ]
        );
        // The type errors hide the value checks until they are fixed.
        let d =
            Document::parse("[pam]\ntimeout = 0\n[pam.service.sshd]\nprogram = \"aklog\"\n", Path::new("f"))
                .unwrap();
        let keys: Vec<String> = d.errors().into_iter().filter_map(|e| e.key).collect();
        assert_eq!(keys, ["pam.timeout", "pam.service.sshd.program"]);
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
        assert_eq!(e.to_string(), "/nonexistent/pam_pag.toml: cannot read: No such file or directory");
        let e = Document::read(p, Presence::NamedBy("--config")).unwrap_err();
        assert!(e.message.starts_with("cannot read the configuration named by --config: "), "{e}");
        assert!(Document::read(p, Presence::MayBeAbsent).unwrap().is_none());
    }
}
