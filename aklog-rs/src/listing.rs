//! How `tokens` shows tokens: OpenAFS's layout for people, JSON for scripts.
//!
//! OpenAFS prints `User's (AFS ID n) tokens for afs@cell [Expires Nov 27
//! 12:00]`; there is no protection database here, so where the principal is
//! known it takes the place of the AFS ID, and the key type follows.

use std::time::SystemTime;

use chrono::{Datelike, Local, TimeZone, Timelike};
use pag::token::Token;
use serde::Serialize;

use crate::place::Place;

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The expiry as OpenAFS prints it: ctime's "Mon DD HH:MM" (day padded
/// with a space), local time. Written out rather than through chrono's
/// strftime, whose per-call format parsing showed in `tokens`' profile.
pub fn expiry_text(expiry: u32) -> String {
    match Local.timestamp_opt(i64::from(expiry), 0).single() {
        Some(t) => {
            format!("{} {:>2} {:02}:{:02}", MONTHS[t.month0() as usize], t.day(), t.hour(), t.minute())
        }
        None => format!("@{expiry}"),
    }
}

/// One token line.
pub fn token_line(token: &Token, now: SystemTime) -> String {
    let mut line = String::with_capacity(128);
    push_token_line(&mut line, token, now);
    line
}

/// Append one token line (without newline) to `out`; written in place, as
/// `tokens` may list many tokens and each intermediate String showed in its
/// profile.
fn push_token_line(out: &mut String, token: &Token, now: SystemTime) {
    match &token.principal {
        Some(p) => {
            out.push_str("User's (");
            out.push_str(p);
            out.push_str(") tokens");
        }
        None => out.push_str("Tokens"),
    }
    out.push_str(" for afs@");
    out.push_str(&token.cell);
    if token.is_expired_at(now) {
        out.push_str(" [>> Expired <<]");
    } else {
        out.push_str(" [Expires ");
        out.push_str(&expiry_text(token.rxkad.expiry));
        out.push(']');
    }
    out.push_str(" (");
    out.push_str(token.key_type.name());
    out.push_str(" key)");
}

/// The whole listing: a header naming the PAG (or saying there is none),
/// one line per token, and OpenAFS's end marker.
pub fn text(place: Option<&Place>, tokens: &[Token], now: SystemTime) -> String {
    let mut out = String::with_capacity(128 * (tokens.len() + 2));
    match place {
        Some(Place::Pag(p)) => out.push_str(&format!("\nTokens held in PAG {}:\n\n", p.id())),
        Some(other) => {
            out.push_str(&format!("\nYou are not in a PAG. Tokens held in the {}:\n\n", other.describe()))
        }
        None => out.push_str("\nYou are not in a PAG and have no session keyring; there are no tokens.\n\n"),
    }
    for t in tokens {
        push_token_line(&mut out, t, now);
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

#[cfg(test)]
mod tests {
    use super::*;
    use pag::token::rxrpc::{RxkadToken, KVNO_KERBEROS5};
    use pag::token::KeyType;
    use std::time::UNIX_EPOCH;

    fn epoch(seconds: u64) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_secs(seconds)
    }

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
    fn expiry_reads_like_ctime() {
        // Compare with chrono's own strftime of the same instant.
        for t in [0u32, 1_795_800_295, 1_700_000_000, 2_000_000_000] {
            let want = Local.timestamp_opt(i64::from(t), 0).unwrap().format("%b %e %H:%M").to_string();
            assert_eq!(expiry_text(t), want);
        }
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
