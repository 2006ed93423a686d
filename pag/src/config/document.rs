//! A configuration file read as TOML, whose sections are interpreted one at
//! a time: each reader interprets only the section it uses (the PAM module
//! `[pam]`, pagsh `[pagsh]`, aklog `[aklog]`, pag-kcm `[kcm]`), so a mistake in one section
//! never changes what another reader does; `pag check` interprets them all.
//!
//! Within a section every key is checked on its own, so all the mistakes of
//! a section are found in one pass, each with its line and dotted key.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::error::one_line;
use super::{AklogConfig, ConfigError, KcmConfig, PagshConfig, PamSettings};

/// The sections a file may have.
pub const SECTIONS: &[&str] = &["pam", "pagsh", "aklog", "kcm"];

/// Whether the file must exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The default path: a fresh install has no file, which means defaults.
    MayBeAbsent,
    /// A path someone named (`PAG_CONFIG`, `config=`, `--config`): a typo
    /// in it must not silently mean "defaults".
    NamedBy(&'static str),
}

/// A file whose TOML syntax is correct.
#[derive(Debug, Clone)]
pub struct Document {
    path: PathBuf,
    text: String,
    table: Table,
}

impl Document {
    /// Parse `text`; only a TOML syntax error fails here.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let table: Table = toml::from_str(text).map_err(|e| ConfigError::from_toml(path, text, &e))?;
        Ok(Document { path: path.to_owned(), text: text.to_owned(), table })
    }

    /// Read and parse `path`. `Ok(None)`: absent, and allowed to be.
    pub fn read(path: &Path, presence: Presence) -> Result<Option<Self>, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && presence == Presence::MayBeAbsent => {
                Ok(None)
            }
            Err(e) => {
                let by = match presence {
                    Presence::NamedBy(by) => Some(by),
                    Presence::MayBeAbsent => None,
                };
                Err(ConfigError::io(path, &e, by))
            }
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its text.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn invalid(&self, key: &str, message: impl AsRef<str>) -> ConfigError {
        ConfigError::invalid(&self.path, &self.text, key, message)
    }

    /// `[pam]` with its `[pam.service.<name>]` sections, or every mistake in them.
    pub fn pam(&self) -> Result<PamSettings, Vec<ConfigError>> {
        let settings: PamSettings = self.section("pam", Some("service"))?;
        let errors = settings.validate(&self.path, &self.text);
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }

    /// `[pagsh]`, or every mistake in it.
    pub fn pagsh(&self) -> Result<PagshConfig, Vec<ConfigError>> {
        self.section("pagsh", None)
    }

    /// `[aklog]`, or every mistake in it.
    pub fn aklog(&self) -> Result<AklogConfig, Vec<ConfigError>> {
        self.section("aklog", None)
    }

    /// `[kcm]`, or every mistake in it.
    pub fn kcm(&self) -> Result<KcmConfig, Vec<ConfigError>> {
        let settings: KcmConfig = self.section("kcm", None)?;
        let errors: Vec<ConfigError> = settings
            .validate()
            .into_iter()
            .map(|(key, why)| self.invalid(&format!("kcm.{key}"), why))
            .collect();
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }

    /// Top-level names that are no section of ours.
    pub fn unknown_sections(&self) -> Vec<ConfigError> {
        let expected = "the sections are [pam], [pam.service.<name>], [pagsh], [aklog] and [kcm]";
        self.table
            .iter()
            .filter(|(name, _)| !SECTIONS.contains(&name.as_str()))
            .map(|(name, value)| match value {
                Value::Table(_) => self.invalid(name, format!("unknown section `[{name}]`; {expected}")),
                _ => self.invalid(name, format!("unknown key `{name}` outside any section; {expected}")),
            })
            .collect()
    }

    /// Every mistake in the file, in file order.
    pub fn errors(&self) -> Vec<ConfigError> {
        let mut errors = self.unknown_sections();
        errors.extend(self.pam().err().unwrap_or_default());
        errors.extend(self.pagsh().err().unwrap_or_default());
        errors.extend(self.aklog().err().unwrap_or_default());
        errors.extend(self.kcm().err().unwrap_or_default());
        errors.sort_by_key(|e| (e.line.unwrap_or(usize::MAX), e.column.unwrap_or(0)));
        errors
    }

    /// Interpret section `name` as `T`; absent means `T::default()`.
    /// `nested`: a key of `T` whose value is a table of sections of the same
    /// shape (`[pam.service.<name>]`), checked key by key too.
    fn section<T: DeserializeOwned + Default>(
        &self,
        name: &str,
        nested: Option<&str>,
    ) -> Result<T, Vec<ConfigError>> {
        let Some(value) = self.table.get(name) else { return Ok(T::default()) };
        let Value::Table(table) = value else {
            return Err(vec![
                self.invalid(name, format!("`{name}` must be a section ([{name}]), not a value"))
            ]);
        };
        match Value::Table(table.clone()).try_into::<T>() {
            Ok(t) => Ok(t),
            Err(whole) => {
                let mut errors = Vec::new();
                self.check_keys::<T>(name, table, nested, &mut errors);
                if errors.is_empty() {
                    errors.push(self.invalid(name, one_line(whole.message())));
                }
                Err(errors)
            }
        }
    }

    /// Try each key of `table` alone as `T`, so each mistake is found and
    /// attributed to its own key.
    fn check_keys<T: DeserializeOwned>(
        &self,
        prefix: &str,
        table: &Table,
        nested: Option<&str>,
        errors: &mut Vec<ConfigError>,
    ) {
        for (key, value) in table {
            let dotted = format!("{prefix}.{key}");
            if Some(key.as_str()) == nested {
                let Value::Table(sections) = value else {
                    errors.push(self.invalid(&dotted, format!("must be sections ([{dotted}.<name>])")));
                    continue;
                };
                for (inner, section) in sections {
                    let inner_dotted = format!("{dotted}.{inner}");
                    match section {
                        // A nested section of a nested section is refused by validate().
                        Value::Table(t) => self.check_keys::<T>(&inner_dotted, t, None, errors),
                        _ => errors.push(
                            self.invalid(&inner_dotted, format!("must be a section ([{inner_dotted}])")),
                        ),
                    }
                }
                continue;
            }
            let mut one = Table::new();
            one.insert(key.clone(), value.clone());
            if let Err(e) = Value::Table(one).try_into::<T>() {
                errors.push(self.invalid(&dotted, one_line(e.message())));
            }
        }
    }
}
