//! Configuration errors that say where: file, line, column and key.

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
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// The file could not be read.
    pub fn io(path: &Path, error: &std::io::Error) -> Self {
        ConfigError { path: path.to_owned(), line: None, column: None, key: None, message: error.to_string() }
    }

    /// An error for a value that parsed but makes no sense, at `key`.
    pub fn invalid(path: &Path, text: &str, key: &str, message: impl Into<String>) -> Self {
        let (line, column) = find_key(text, key).map_or((None, None), |(l, c)| (Some(l), Some(c)));
        ConfigError {
            path: path.to_owned(),
            line,
            column,
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }

    /// Translate a toml error, whose span is a byte range, into line, column
    /// and the dotted key written on that line.
    pub fn from_toml(path: &Path, text: &str, error: &toml::de::Error) -> Self {
        let message = error.message().trim().to_owned();
        let Some(span) = error.span() else {
            return ConfigError { path: path.to_owned(), line: None, column: None, key: None, message };
        };
        let (line, column) = line_column(text, span.start);
        let key = key_at(text, span.start);
        ConfigError { path: path.to_owned(), line: Some(line), column: Some(column), key, message }
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

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The table a line belongs to (`[a.b]` or `[[a]]` above it), joined with
/// the bare or quoted key at the start of the line.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let trimmed = line.trim_start();
    if trimmed.starts_with('[') {
        let name = trimmed.trim_start_matches('[').split(']').next()?.trim();
        return Some(name.to_owned());
    }
    let (key, _) = trimmed.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let table = text[..line_start].lines().rev().find_map(|l| {
        let l = l.trim();
        l.starts_with('[').then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
    });
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_owned(),
    })
}

/// Line and column of `section.key` as written, for errors found after parsing.
fn find_key(text: &str, dotted: &str) -> Option<(usize, usize)> {
    let (table, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let mut current = String::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
        } else if current == table {
            if let Some((k, _)) = t.split_once('=') {
                if k.trim().trim_matches('"') == key {
                    return Some((n + 1, line.len() - line.trim_start().len() + 1));
                }
            }
        }
    }
    None
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
        assert_eq!(find_key(text, "b.c.y"), Some((4, 3)));
    }

    #[test]
    fn invalid_value_points_at_its_key() {
        let e = ConfigError::invalid(Path::new("f.toml"), "[s]\nk = 3\n", "s.k", "must be 1");
        assert_eq!(e.to_string(), "f.toml:2:1: key `s.k`: must be 1");
    }
}
