//! The configuration file, every section, with the library's own parser:
//! what is reported here is what the module and the tools will see.

use std::path::{Path, PathBuf};

use pag::config::{self, ConfigError, Document, PamSettings, Presence};

use crate::report::Report;

/// What the file gives the module: `[pam]`, or `None` when `[pam]` (or the
/// whole file) is broken and logins fall back to the fail-safe defaults.
pub struct FileSettings {
    pub path: PathBuf,
    pub pam: Option<PamSettings>,
}

/// Check the file and say what each mistake does.
pub fn check(named: Option<&Path>, report: &mut Report) -> FileSettings {
    let (path, presence) = match named {
        Some(p) => (p.to_owned(), Presence::NamedBy("--config")),
        None => (PathBuf::from(config::DEFAULT_PATH), Presence::MayBeAbsent),
    };
    let (document, pam) = read_pam(&path, presence, report);
    let Some(document) = document else {
        return FileSettings { path, pam };
    };
    let errors = document.errors();
    for e in &errors {
        report.error("config", format!("{e}{}", consequence(e)));
    }
    if errors.is_empty() {
        report.ok("config", format!("{}: every section is valid", path.display()));
    }
    FileSettings { path, pam }
}

/// Read `path` as the module does; report a file that cannot be read or
/// parsed at all. Returns the document (if any) and its `[pam]`.
fn read_pam(path: &Path, presence: Presence, report: &mut Report) -> (Option<Document>, Option<PamSettings>) {
    match Document::read(path, presence) {
        Ok(Some(d)) => {
            let pam = d.pam().ok();
            (Some(d), pam)
        }
        Ok(None) => {
            report.ok("config", format!("{}: no file; the built-in defaults apply", path.display()));
            (None, Some(PamSettings::default()))
        }
        Err(e) => {
            report.error("config", format!("{e}{}", consequence(&e)));
            (None, None)
        }
    }
}

/// What a mistake means for logins and tools, by the section it is in.
fn consequence(e: &ConfigError) -> &'static str {
    let section = e.key.as_deref().map(|k| k.split('.').next().unwrap_or(""));
    match section {
        Some("pam") | None => {
            " (until fixed, every pam_pag login gets a PAG with the built-in defaults and no token program)"
        }
        Some("aklog") => " (aklog refuses to run until fixed; logins are not affected)",
        Some("pagsh") => " (pagsh refuses to run until fixed; logins are not affected)",
        Some(_) => " (no reader uses it; logins are not affected)",
    }
}
