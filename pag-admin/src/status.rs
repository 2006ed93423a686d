//! `pag status`: the PAG this process is in (and so the shell that ran
//! it): its id, owner, whether a login's or the user's own, the marker's
//! user, the tag, the tokens. Exit status: 0 in a PAG, 1 not in a PAG,
//! 2 usage, 3 kernel keyrings unusable here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use chrono::{Local, TimeZone};
use pag::token::Token;
use pag::{Current, Pag};
use serde::Serialize;

use crate::tags;

/// `pag status [--json]`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON, for scripts.
    #[arg(long, short = 'j')]
    pub json: bool,
    /// The tag registry (default $PAG_TAG_REGISTRY, else /run/pag/tags).
    #[arg(long, value_name = "DIR", hide = true)]
    pub tag_registry: Option<PathBuf>,
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct Status {
    /// Whether the session keyring is a PAG.
    in_pag: bool,
    /// The PAG id (keyring serial), or null.
    pag: Option<i32>,
    /// The keyring `@s` resolves to, or null when there is none.
    keyring: Option<i32>,
    /// `pag`, `session` (a plain session keyring), `user-session` (no
    /// session keyring of its own: the user's shared one) or null.
    keyring_kind: Option<&'static str>,
    /// The PAG keyring's owner.
    owner: Option<Ids>,
    /// Made by root for a login (the PAM module).
    official: bool,
    /// `login` (official) or `own` (pagsh, aklog -setpag), or null.
    made_by: Option<&'static str>,
    /// The uid that made the marker.
    marker_uid: Option<u32>,
    /// The user the marker names (whose login or own tool made the PAG).
    user: Option<u32>,
    /// The tag gid of this PAG among this process's groups, or null.
    tag: Option<u32>,
    /// Why the tag is null or what it means, or null.
    tag_note: Option<String>,
    /// The tokens in the PAG.
    tokens: Vec<JsonToken>,
}

#[derive(Debug, Serialize)]
struct Ids {
    uid: u32,
    gid: u32,
}

#[derive(Debug, Serialize)]
struct JsonToken {
    cell: String,
    key_type: &'static str,
    serial: Option<i32>,
    principal: Option<String>,
    /// Expiry, seconds since the epoch.
    expires: u32,
    expired: bool,
}

/// Run it.
pub fn run(args: &Args) -> ExitCode {
    let current = match pag::current() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pag status: {e}");
            return ExitCode::from(3);
        }
    };
    let (status, tokens) = match status(&current, args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pag status: {e}");
            return ExitCode::from(3);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status).expect("a status serializes"));
    } else {
        print!("{}", text(&current, &status, &tokens));
    }
    if status.in_pag {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn status(current: &Current, args: &Args) -> pag::Result<(Status, Vec<Token>)> {
    let mut status = Status {
        in_pag: false,
        pag: None,
        keyring: current.session_keyring().map(|k| k.0),
        keyring_kind: None,
        owner: None,
        official: false,
        made_by: None,
        marker_uid: None,
        user: None,
        tag: None,
        tag_note: None,
        tokens: Vec::new(),
    };
    let now = SystemTime::now();
    let mut tokens = Vec::new();
    match current {
        Current::NoSessionKeyring { user_session } => {
            status.keyring_kind = user_session.map(|_| "user-session");
        }
        Current::Session(_) => status.keyring_kind = Some("session"),
        Current::Pag(pag) => {
            status.in_pag = true;
            status.pag = Some(pag.keyring().0);
            status.keyring_kind = Some("pag");
            status.owner = Some(Ids { uid: pag.owner().uid, gid: pag.owner().gid });
            status.official = pag.is_official();
            status.made_by = Some(if pag.is_official() { "login" } else { "own" });
            status.marker_uid = Some(pag.marker_uid());
            status.user = pag.user();
            tokens = pag.tokens().list()?;
            status.tokens = tokens.iter().map(|t| json_token(t, now)).collect();
        }
    }
    (status.tag, status.tag_note) = tag(current.pag(), args);
    Ok((status, tokens))
}

/// The tag: a supplementary group of this process whose registry entry
/// names this PAG. A group whose entry names another PAG is a tag this
/// process kept after leaving (or outliving) that login's PAG: said in the
/// note, never reported as this PAG's tag.
fn tag(pag: Option<&Pag>, args: &Args) -> (Option<u32>, Option<String>) {
    let dir = tags::dir(args.tag_registry.as_ref());
    if let Some(why) = tags::unreadable(&dir) {
        // The registry is root's; the PAG's marker (readable inside it)
        // records the tag too: this process has it if it is in its groups.
        let marked = pag.and_then(Pag::tag);
        let groups = nix::unistd::getgroups().unwrap_or_default();
        if let Some(gid) = marked.filter(|g| groups.contains(&nix::unistd::Gid::from_raw(*g))) {
            return (Some(gid), None);
        }
        return (None, Some(why));
    }
    let registry = pag::peer::registry::Registry::at(&dir);
    let groups = match nix::unistd::getgroups() {
        Ok(g) => g,
        Err(e) => return (None, Some(format!("cannot read this process's groups: {}", e.desc()))),
    };
    let mut others = Vec::new();
    for gid in groups.into_iter().map(|g| g.as_raw()) {
        let Some(entry) = registry.lookup(gid) else { continue };
        if pag.is_some_and(|p| p.keyring().0 == entry.pag) {
            return (Some(gid), None);
        }
        others.push(format!("group {gid} is the tag of PAG {} (uid {})", entry.pag, entry.uid));
    }
    if others.is_empty() {
        (None, None)
    } else {
        others.push("this process left or outlived that login's PAG".into());
        (None, Some(others.join("; ")))
    }
}

fn json_token(t: &Token, now: SystemTime) -> JsonToken {
    JsonToken {
        cell: t.cell.clone(),
        key_type: t.key_type.name(),
        serial: t.serial.map(|s| s.0),
        principal: t.principal.clone(),
        expires: t.rxkad.expiry,
        expired: t.is_expired_at(now),
    }
}

fn text(current: &Current, status: &Status, tokens: &[Token]) -> String {
    let mut out = String::new();
    match current {
        Current::Pag(pag) => {
            let made = if pag.is_official() {
                "official: made by root for a login"
            } else {
                "the user's own (pagsh or aklog -setpag), not a login's"
            };
            out.push_str(&format!("PAG {} ({made})\n", pag.id()));
            out.push_str(&format!("  keyring owner: uid {} gid {}\n", pag.owner().uid, pag.owner().gid));
            let user = pag.user().map_or_else(|| "unknown".to_owned(), |u| u.to_string());
            out.push_str(&format!("  marker: made by uid {}, for user {user}\n", pag.marker_uid()));
        }
        Current::Session(k) => out.push_str(&format!(
            "Not in a PAG: the session keyring {k} is a plain session keyring (keyctl session, pam_keyinit)\n"
        )),
        Current::NoSessionKeyring { user_session: Some(us) } => out.push_str(&format!(
            "Not in a PAG, and no session keyring of its own: @s is the user-session keyring {us}, shared by \
             every process of the user that has none\n"
        )),
        Current::NoSessionKeyring { user_session: None } => {
            out.push_str("Not in a PAG, and no session keyring at all\n")
        }
    }
    match (status.tag, &status.tag_note) {
        (Some(gid), _) => out.push_str(&format!("  tag: gid {gid}\n")),
        (None, Some(note)) => out.push_str(&format!("  tag: none ({note})\n")),
        (None, None) => out.push_str("  tag: none\n"),
    }
    if status.in_pag {
        if tokens.is_empty() {
            out.push_str("  tokens: none\n");
        } else {
            out.push_str("  tokens:\n");
        }
        let now = SystemTime::now();
        for t in tokens {
            let expiry = if t.is_expired_at(now) {
                "expired".to_owned()
            } else {
                match Local.timestamp_opt(i64::from(t.rxkad.expiry), 0).single() {
                    Some(when) => format!("expires {}", when.format("%Y-%m-%d %H:%M")),
                    None => format!("expires @{}", t.rxkad.expiry),
                }
            };
            let principal = t.principal.as_deref().map_or_else(String::new, |p| format!(", {p}"));
            out.push_str(&format!("    afs@{} ({} key{principal}) {expiry}\n", t.cell, t.key_type));
        }
    }
    out
}
