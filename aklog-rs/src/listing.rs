//! How `tokens` shows tokens: OpenAFS's layout for people, JSON for scripts.
//!
//! OpenAFS prints `User's (AFS ID n) tokens for afs@cell [Expires Nov 27
//! 12:00]`; there is no protection database here, so where the principal is
//! known it takes the place of the AFS ID, and the key type follows.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{Local, TimeZone};
use pag::token::Token;
use serde::Serialize;

use crate::place::Place;

/// The expiry as OpenAFS prints it: ctime's "Mon DD HH:MM", local time.
pub fn expiry_text(expiry: u32) -> String {
    match Local.timestamp_opt(i64::from(expiry), 0).single() {
        Some(t) => t.format("%b %e %H:%M").to_string(),
        None => format!("@{expiry}"),
    }
}

/// One token line.
pub fn token_line(token: &Token, now: SystemTime) -> String {
    let who = match &token.principal {
        Some(p) => format!("User's ({p}) tokens"),
        None => "Tokens".to_owned(),
    };
    let when = if token.is_expired_at(now) {
        "[>> Expired <<]".to_owned()
    } else {
        format!("[Expires {}]", expiry_text(token.rxkad.expiry))
    };
    format!("{who} for {} {when} ({} key)", token.description(), token.key_type)
}

/// The whole listing: a header naming the PAG (or saying there is none),
/// one line per token, and OpenAFS's end marker.
pub fn text(place: Option<&Place>, tokens: &[Token], now: SystemTime) -> String {
    let mut out = String::from("\n");
    match place {
        Some(Place::Pag(p)) => out.push_str(&format!("Tokens held in PAG {}:\n\n", p.id())),
        Some(other) => out.push_str(&format!("You are not in a PAG. Tokens held in the {}:\n\n", other.describe())),
        None => out.push_str("You are not in a PAG and have no session keyring; there are no tokens.\n\n"),
    }
    for t in tokens {
        out.push_str(&token_line(t, now));
        out.push('\n');
    }
    out.push_str("   --End of list--\n");
    out
}

/// `tokens --json`.
#[derive(Debug, Serialize)]
pub struct JsonListing {
    /// The PAG id, or null outside a PAG.
    pub pag: Option<i32>,
    /// The keyring the tokens were read from, or null when there is none.
    pub keyring: Option<i32>,
    /// `pag`, `session`, `user-session` or null.
    pub keyring_kind: Option<&'static str>,
    /// The tokens.
    pub tokens: Vec<JsonToken>,
}

/// One token in `tokens --json`.
#[derive(Debug, Serialize)]
pub struct JsonToken {
    /// The cell, lower case.
    pub cell: String,
    /// The key description, `afs@<cell>`.
    pub description: String,
    /// `rxrpc` or `user`.
    pub key_type: &'static str,
    /// The key serial.
    pub serial: Option<i32>,
    /// The Kerberos client principal, where known.
    pub principal: Option<String>,
    /// Expiry, seconds since the epoch.
    pub expires: u32,
    /// Expiry in local time, RFC 3339.
    pub expires_local: String,
    /// Whether it has expired.
    pub expired: bool,
}

/// The JSON listing.
pub fn json(place: Option<&Place>, tokens: &[Token], now: SystemTime) -> String {
    let listing = JsonListing {
        pag: place.and_then(Place::pag).map(|p| p.id().0 .0),
        keyring: place.map(|p| p.keyring().0),
        keyring_kind: place.map(Place::kind),
        tokens: tokens
            .iter()
            .map(|t| JsonToken {
                cell: t.cell.clone(),
                description: t.description(),
                key_type: t.key_type.name(),
                serial: t.serial.map(|s| s.0),
                principal: t.principal.clone(),
                expires: t.rxkad.expiry,
                expires_local: Local
                    .timestamp_opt(i64::from(t.rxkad.expiry), 0)
                    .single()
                    .map_or_else(String::new, |d| d.to_rfc3339()),
                expired: t.is_expired_at(now),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&listing).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Seconds since the epoch, for tests.
pub fn epoch(seconds: u64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_secs(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pag::token::rxrpc::{RxkadToken, KVNO_KERBEROS5};
    use pag::token::KeyType;

    fn token(cell: &str, expiry: u32, principal: Option<&str>) -> Token {
        let rxkad = RxkadToken { expiry, kvno: KVNO_KERBEROS5, session_key: [1; 8], ticket: vec![2; 10] };
        Token::new(cell, KeyType::User, rxkad, principal.map(str::to_owned))
    }

    #[test]
    fn lines_follow_openafs() {
        let now = epoch(1000);
        let live = token_line(&token("Example.ORG", 2_000_000_000, Some("u@R")), now);
        assert!(live.starts_with("User's (u@R) tokens for afs@example.org [Expires "), "{live}");
        assert!(live.ends_with("] (user key)"), "{live}");
        let expired = token_line(&token("c", 999, None), now);
        assert_eq!(expired, "Tokens for afs@c [>> Expired <<] (user key)");
    }

    #[test]
    fn listing_without_a_keyring_says_so() {
        let text = text(None, &[], epoch(0));
        assert!(text.contains("not in a PAG"), "{text}");
        assert!(text.ends_with("   --End of list--\n"));
    }

    #[test]
    fn json_has_every_field() {
        let v: serde_json::Value =
            serde_json::from_str(&json(None, &[token("c", 5, Some("p@R"))], epoch(10))).unwrap();
        assert_eq!(v["pag"], serde_json::Value::Null);
        assert_eq!(v["tokens"][0]["cell"], "c");
        assert_eq!(v["tokens"][0]["principal"], "p@R");
        assert_eq!(v["tokens"][0]["expires"], 5);
        assert_eq!(v["tokens"][0]["expired"], true);
        assert_eq!(v["tokens"][0]["key_type"], "user");
    }
}
