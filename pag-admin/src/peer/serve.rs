//! `pag peer serve SOCKET`: accept connections one at a time, identify
//! each peer (`pag::peer::identify`), look its tag up in the registry, and
//! print one line per peer. Exit status: 0 after `--count` peers, 1 the
//! socket cannot be set up or identifying failed on this side, 2 usage.

use std::io::Write;
use std::ops::RangeInclusive;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use pag::peer::registry::Registry;
use pag::peer::{Identify, Peer};
use serde::Serialize;

use crate::tags;

/// `pag peer serve SOCKET [--count N] [--json] [--no-challenge] [--timeout MS] [--tag-gids FIRST-LAST]`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to listen. An existing socket nobody listens on is replaced;
    /// any other existing file is refused.
    #[arg(value_name = "SOCKET")]
    socket: PathBuf,
    /// Exit after this many peers (default: serve until killed).
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// One JSON object per line instead of a sentence.
    #[arg(long)]
    json: bool,
    /// Do not challenge: use only what the kernel reports (uid, pid,
    /// groups), for clients that do not take part.
    #[arg(long)]
    no_challenge: bool,
    /// How long a peer has to answer the challenge, in ms.
    #[arg(long, value_name = "MS", default_value = "2000", value_parser = super::parse_timeout)]
    timeout: Duration,
    /// The tag range pam_pag hands out (`tag_gids` in pam_pag.toml); without
    /// it no tag is reported.
    #[arg(long, value_name = "FIRST-LAST", value_parser = parse_range)]
    tag_gids: Option<RangeInclusive<u32>>,
    /// The tag registry (default $PAG_TAG_REGISTRY, else /run/pag/tags).
    #[arg(long, value_name = "DIR", hide = true)]
    tag_registry: Option<PathBuf>,
}

/// One peer, as printed with `--json`.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Line {
    uid: u32,
    gid: u32,
    pid: i32,
    /// The PAG it proved, or null.
    pag: Option<i32>,
    proved: bool,
    official: bool,
    /// Its tag gid, or null.
    tag: Option<u32>,
    /// The PAG the registry says the tag was handed out with, when the
    /// registry names the peer's own uid; else null.
    registered_pag: Option<i32>,
    note: Option<String>,
}

/// Run it.
pub fn run(args: &Args) -> ExitCode {
    let listener = match listen(&args.socket) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("pag peer serve: {e}");
            return ExitCode::from(1);
        }
    };
    let how =
        Identify { challenge: !args.no_challenge, timeout: args.timeout, tag_gids: args.tag_gids.clone() };
    let registry = pag::peer::registry::Registry::at(tags::dir(args.tag_registry.as_ref()));
    let code = serve(&listener, &how, &registry, args);
    // Served its count (or failed): the socket goes with the server.
    let _ = std::fs::remove_file(&args.socket);
    code
}

fn serve(listener: &UnixListener, how: &Identify, registry: &Registry, args: &Args) -> ExitCode {
    let mut served = 0u64;
    while args.count.is_none_or(|n| served < n) {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            // A peer that connected and vanished before accept(): not ours to report.
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ECONNABORTED as i32) => continue,
            Err(e) => {
                eprintln!("pag peer serve: accepting a connection: {e}");
                return ExitCode::from(1);
            }
        };
        let line = match identify(&stream, how, registry) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("pag peer serve: {e}");
                return ExitCode::from(1);
            }
        };
        // The verdict is made; the peer is done with (the proof's key is gone).
        drop(stream);
        let text = if args.json {
            serde_json::to_string(&line).expect("a line serializes")
        } else {
            sentence(&line)
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
            // Whoever read our output is gone: nobody to report to.
            return ExitCode::from(1);
        }
        served += 1;
    }
    ExitCode::SUCCESS
}

/// Identify one peer and look its tag up.
fn identify(stream: &UnixStream, how: &Identify, registry: &Registry) -> pag::Result<Line> {
    let peer = pag::peer::identify(stream, how)?;
    Ok(line(peer, registry))
}

/// The line for `peer`: the registry's word on its tag, checked against
/// what the kernel and the proof said.
fn line(peer: Peer, registry: &Registry) -> Line {
    let mut notes: Vec<String> = peer.note.into_iter().collect();
    let mut registered_pag = None;
    if let Some(tag) = peer.tag {
        match registry.lookup(tag) {
            None => notes.push(format!("tag {tag} has no entry in the tag registry")),
            Some(entry) if entry.uid != peer.uid => notes.push(format!(
                "tag {tag} was handed to uid {}, but the peer is uid {}: not that login's",
                entry.uid, peer.uid
            )),
            Some(entry) => {
                registered_pag = Some(entry.pag);
                if let Some(proved) = peer.pag.filter(|&p| p != entry.pag) {
                    notes.push(format!(
                        "tag {tag} names PAG {}, but the peer proved PAG {proved}: it left that login's PAG",
                        entry.pag
                    ));
                }
            }
        }
    }
    Line {
        uid: peer.uid,
        gid: peer.gid,
        pid: peer.pid,
        pag: peer.pag,
        proved: peer.proved,
        official: peer.official,
        tag: peer.tag,
        registered_pag,
        note: if notes.is_empty() { None } else { Some(notes.join("; ")) },
    }
}

/// The human form of a line.
fn sentence(l: &Line) -> String {
    let mut s = format!("pid {} uid {}: ", l.pid, l.uid);
    match (l.pag, l.proved) {
        (Some(p), _) => {
            let kind = if l.official { "a login's" } else { "the user's own" };
            s.push_str(&format!("proved PAG {p} ({kind})"));
        }
        (None, true) => s.push_str("proved a keyring that is no PAG"),
        (None, false) => s.push_str("no proof"),
    }
    match (l.tag, l.registered_pag) {
        (Some(t), Some(p)) => s.push_str(&format!(", tag {t} of PAG {p}")),
        (Some(t), None) => s.push_str(&format!(", tag {t}")),
        (None, _) => s.push_str(", no tag"),
    }
    if let Some(note) = &l.note {
        s.push_str(&format!(" ({note})"));
    }
    s
}

/// Bind `path`, replacing a stale socket (one nobody listens on) and
/// refusing anything else, and let every user connect (0666): the point is
/// to tell users apart, so all of them must be able to reach it.
fn listen(path: &Path) -> Result<UnixListener, String> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => return Err(format!("{}: a server is already listening there", path.display())),
            Err(_) => std::fs::remove_file(path)
                .map_err(|e| format!("{}: cannot remove the stale socket: {e}", path.display()))?,
        },
        Ok(_) => return Err(format!("{}: exists and is not a socket; not replacing it", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    let listener =
        UnixListener::bind(path).map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| format!("{}: cannot make it 0666: {e}", path.display()))?;
    Ok(listener)
}

/// `FIRST-LAST` (or one gid), as pam_pag.toml's `tag_gids`.
fn parse_range(text: &str) -> Result<RangeInclusive<u32>, String> {
    let number = |s: &str| s.trim().parse::<u32>().map_err(|_| format!("`{s}` is not a group id"));
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => (number(text)?, number(text)?),
    };
    if first == 0 || first > last {
        return Err(format!("`{text}`: want FIRST-LAST with 0 < FIRST <= LAST"));
    }
    Ok(first..=last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("70000-70099"), Ok(70_000..=70_099));
        assert_eq!(parse_range("5"), Ok(5..=5));
        assert!(parse_range("9-1").is_err());
        assert!(parse_range("0-4").is_err());
        assert!(parse_range("a-b").is_err());
    }

    #[test]
    fn a_tag_of_another_uid_is_not_registered_to_the_peer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("70001"), "pag 42\nuid 1000\n").unwrap();
        let registry = Registry::at(dir.path());
        let peer = Peer { uid: 1001, tag: Some(70_001), ..Peer::default() };
        let l = line(peer, &registry);
        assert_eq!(l.registered_pag, None);
        assert!(l.note.as_deref().unwrap().contains("handed to uid 1000, but the peer is uid 1001"), "{l:?}");
        let peer = Peer { uid: 1000, tag: Some(70_001), pag: Some(7), proved: true, ..Peer::default() };
        let l = line(peer, &registry);
        assert_eq!(l.registered_pag, Some(42));
        assert!(l.note.as_deref().unwrap().contains("left that login's PAG"), "{l:?}");
    }
}
