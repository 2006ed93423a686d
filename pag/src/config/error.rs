//! Configuration errors that say where: file, line, column and key, always
//! on one line (they go to syslog, where a newline starts a new record).

use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration file that could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// 1-based column, where known.
    pub column: Option<usize>,
    /// Dotted key (`section.key`), where the error is about one.
    pub key: Option<String>,
    /// What is wrong (one line).
    pub message: String,
}

impl ConfigError {
    /// The file could not be read; `named_by` says who named it when it had
    /// to exist (`PAG_CONFIG`, `config=`, `--config`).
    pub fn io(path: &Path, error: &std::io::Error, named_by: Option<&str>) -> Self {
        let why = io_text(error);
        let message = match named_by {
            Some(by) if error.kind() == std::io::ErrorKind::NotFound => format!(
                "cannot read the configuration named by {by}: {why} (only the default {} may be absent)",
                super::DEFAULT_PATH
            ),
            _ => format!("cannot read: {why}"),
        };
        ConfigError { path: path.to_owned(), line: None, column: None, key: None, message }
    }

    /// An error about `key` (dotted), found after the TOML syntax was read:
    /// the position is that of the key as written, else of its section.
    pub fn invalid(path: &Path, text: &str, key: &str, message: impl AsRef<str>) -> Self {
        let (line, column) = locate(text, key).map_or((None, None), |(l, c)| (Some(l), Some(c)));
        ConfigError {
            path: path.to_owned(),
            line,
            column,
            key: Some(key.to_owned()),
            message: one_line(message.as_ref()),
        }
    }

    /// Translate a TOML syntax error, whose span is a byte range, into line,
    /// column and the dotted key written on that line.
    pub fn from_toml(path: &Path, text: &str, error: &toml::de::Error) -> Self {
        let message = one_line(error.message());
        let Some(span) = error.span() else {
            return ConfigError { path: path.to_owned(), line: None, column: None, key: None, message };
        };
        let (line, column) = line_column(text, span.start);
        let key = key_at(text, span.start);
        ConfigError { path: path.to_owned(), line: Some(line), column: Some(column), key, message }
    }

    /// The same error with a note added (for example "and 2 more").
    pub fn with_note(mut self, note: &str) -> Self {
        self.message = format!("{} ({note})", self.message);
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// An I/O error's text without Rust's "(os error N)" tail.
fn io_text(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_owned(),
        None => error.to_string(),
    }
}

/// A message on one line: the toml crate's messages may span several
/// (`invalid table header\nexpected ...`); syslog would cut them apart.
pub(crate) fn one_line(message: &str) -> String {
    let parts: Vec<String> = message
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    parts.join("; ")
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A dotted name as written (`pam . service."su-l"`) in canonical form
/// (`pam.service.su-l`).
fn canonical(name: &str) -> String {
    name.split('.').map(|p| p.trim().trim_matches('"').trim_matches('\'')).collect::<Vec<_>>().join(".")
}

/// The table a header line names (`[a.b]` or `[[a]]`), canonical.
fn header(line: &str) -> Option<String> {
    let t = line.trim();
    if !t.starts_with('[') {
        return None;
    }
    let inner = t.trim_start_matches('[');
    let end = inner.find(']')?;
    Some(canonical(&inner[..end]))
}

/// The key a `key = value` line sets, canonical, without its table.
fn assigned(line: &str) -> Option<String> {
    let t = line.trim();
    if t.starts_with('#') || t.starts_with('[') {
        return None;
    }
    let (key, _) = t.split_once('=')?;
    Some(canonical(key))
}

/// The table a line belongs to, joined with the key at the start of the line.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let (line_no, _) = line_column(text, offset);
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    if let Some(name) = header(line) {
        return Some(name);
    }
    let key = assigned(line)?;
    let table = text.lines().take(line_no - 1).filter_map(header).last();
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key,
    })
}

/// Line and column of `dotted` as written: a `key = ` line whose table and
/// key together make it, else its own header (`[pam.service.sshd]`), else
/// the first header below it.
fn locate(text: &str, dotted: &str) -> Option<(usize, usize)> {
    let indent = |line: &str| line.len() - line.trim_start().len() + 1;
    let mut current = String::new();
    let mut below = None;
    for (n, line) in text.lines().enumerate() {
        if let Some(name) = header(line) {
            if name == dotted {
                return Some((n + 1, indent(line)));
            }
            if below.is_none() && name.starts_with(&format!("{dotted}.")) {
                below = Some((n + 1, indent(line)));
            }
            current = name;
        } else if let Some(key) = assigned(line) {
            let full = if current.is_empty() { key } else { format!("{current}.{key}") };
            if full == dotted || full.starts_with(&format!("{dotted}.")) {
                return Some((n + 1, indent(line)));
            }
        }
    }
    below
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn key_in_a_table() {
        let text = "[a]\nx = 1\n[b.c]\n  y = 2\n";
        assert_eq!(key_at(text, text.find("y").unwrap()).as_deref(), Some("b.c.y"));
        assert_eq!(key_at(text, text.find("x").unwrap()).as_deref(), Some("a.x"));
        assert_eq!(locate(text, "b.c.y"), Some((4, 3)));
    }

    #[test]
    fn quoted_headers_and_sections_are_found() {
        let text = "[pam]\n[pam.service.\"su-l\"]\ntimeout = 0\n[aklog]\n";
        assert_eq!(locate(text, "pam.service.su-l.timeout"), Some((3, 1)));
        assert_eq!(locate(text, "pam.service.su-l"), Some((2, 1)));
        assert_eq!(locate(text, "aklog"), Some((4, 1)));
        assert_eq!(locate("[pam.service.x]\n", "pam.service"), Some((1, 1)));
        assert_eq!(locate("pam.debug = 1\n", "pam.debug"), Some((1, 1)));
    }

    #[test]
    fn invalid_value_points_at_its_key() {
        let e = ConfigError::invalid(Path::new("f.toml"), "[s]\nk = 3\n", "s.k", "must be 1");
        assert_eq!(e.to_string(), "f.toml:2:1: key `s.k`: must be 1");
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(
            one_line("invalid table header\nexpected `.`, `]`\n"),
            "invalid table header; expected `.`, `]`"
        );
        let e = ConfigError::invalid(Path::new("f"), "", "k", "a\nb");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn io_errors_have_no_os_error_tail() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        let c = ConfigError::io(Path::new("/x"), &e, None);
        assert_eq!(c.to_string(), "/x: cannot read: No such file or directory");
        let c = ConfigError::io(Path::new("/x"), &e, Some("PAG_CONFIG"));
        assert_eq!(
            c.to_string(),
            "/x: cannot read the configuration named by PAG_CONFIG: No such file or directory \
             (only the default /etc/security/pam_pag.toml may be absent)"
        );
    }
}
