//! `[aklog]`: defaults for `aklog`; its command line overrides them.

use serde::{Deserialize, Deserializer};

use crate::token::KeyTypeChoice;

/// The `[aklog]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AklogConfig {
    /// Cells to get tokens for when the command line names none. Empty:
    /// /etc/openafs/ThisCell, else /proc/net/afs/rootcell.
    #[serde(deserialize_with = "cells")]
    pub cells: Vec<String>,
    /// The Kerberos realm of every cell, unless `-k` says otherwise. None:
    /// krb5.conf's domain-to-realm mapping of the cell name, else the cell
    /// name in upper case.
    #[serde(deserialize_with = "realm")]
    pub realm: Option<String>,
    /// The key type tokens are stored as: `auto` (rxrpc, else user), `rxrpc`
    /// or `user`. `--key-type` overrides it.
    #[serde(deserialize_with = "key_type")]
    pub key_type: KeyTypeChoice,
}

impl Default for AklogConfig {
    fn default() -> Self {
        AklogConfig { cells: Vec::new(), realm: None, key_type: KeyTypeChoice::Auto }
    }
}

/// Why a cell or realm name is refused, or None when it is fine. Names end
/// up in Kerberos principal names (`afs/<cell>@<REALM>`) and key
/// descriptions, so the characters that separate their parts are refused.
pub fn check_name(what: &str, name: &str) -> Option<String> {
    if name.is_empty() {
        return Some(format!("empty {what} name"));
    }
    if let Some(c) =
        name.chars().find(|c| matches!(c, '/' | '@' | '\\' | ';') || c.is_whitespace() || c.is_control())
    {
        return Some(format!("{what} name {name:?} contains {c:?}"));
    }
    None
}

/// Parse a key type name as `--key-type` and the file spell it.
pub fn parse_key_type(name: &str) -> Option<KeyTypeChoice> {
    match name {
        "auto" => Some(KeyTypeChoice::Auto),
        "rxrpc" => Some(KeyTypeChoice::Rxrpc),
        "user" => Some(KeyTypeChoice::User),
        _ => None,
    }
}

fn cells<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let cells = Vec::<String>::deserialize(d)?;
    for cell in &cells {
        if let Some(problem) = check_name("cell", cell) {
            return Err(serde::de::Error::custom(problem));
        }
    }
    Ok(cells)
}

fn realm<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let realm = String::deserialize(d)?;
    match check_name("realm", &realm) {
        Some(problem) => Err(serde::de::Error::custom(problem)),
        None => Ok(Some(realm)),
    }
}

fn key_type<'de, D: Deserializer<'de>>(d: D) -> Result<KeyTypeChoice, D::Error> {
    let name = String::deserialize(d)?;
    parse_key_type(&name).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "unknown key type {name:?}; expected \"auto\", \"rxrpc\" or \"user\""
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_separators_are_refused() {
        assert!(check_name("cell", "example.org").is_none());
        assert!(check_name("cell", "").is_some());
        for bad in ["a/b", "a@b", "a b", "a\\b", "a;b", "a\nb"] {
            assert!(check_name("cell", bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn key_type_names() {
        assert_eq!(parse_key_type("auto"), Some(KeyTypeChoice::Auto));
        assert_eq!(parse_key_type("rxrpc"), Some(KeyTypeChoice::Rxrpc));
        assert_eq!(parse_key_type("user"), Some(KeyTypeChoice::User));
        assert_eq!(parse_key_type("logon"), None);
    }
}
