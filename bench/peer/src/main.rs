//! peer-bench: what identifying a Unix socket peer's PAG costs a daemon,
//! against what it pays today for the uid alone.
//!
//! Three servers in threads of this process, each on its own socket; the
//! client (the main thread, in a login PAG made as pam_pag makes it, with a
//! tag gid among its groups) connects and waits for the server's one-byte
//! "done":
//!
//! 1. proof round trip: connect, `identify` with the challenge, `prove`,
//!    the daemon's check of the keyring;
//! 2. tag lookup: connect, `identify` without challenge (SO_PEERCRED +
//!    SO_PEERGROUPS), the registry lookup;
//! 3. the peer: connect, getsockopt(SO_PEERCRED).
//!
//! Runs are interleaved (1, 2, 3, 1, 2, 3, ...) so drift on this noisy
//! machine hits all alike; the table shows medians and ratios to 3.
//!
//! Usage (root: a login PAG is root-owned): `cargo build --release -p
//! peer-bench && target/release/peer-bench [RUNS]` (RUNS >= 50, default 2000).

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::unistd::{setgroups, Gid};
use pag::config::pam::KeyringOwner;
use pag::login::{self, LoginPag};
use pag::peer::registry::Registry;
use pag::peer::Identify;
use pag_tests::stats::median;

const TAGS: std::ops::RangeInclusive<u32> = 70_900..=70_999;
const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Copy)]
enum Mode {
    Proof,
    Tag,
    PeerCred,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peer-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let runs: usize = match std::env::args().nth(1) {
        Some(a) => a.parse().map_err(|_| format!("RUNS must be a number, not {a:?}"))?,
        None => 2000,
    };
    if runs < 50 {
        return Err("RUNS must be at least 50".into());
    }
    if !nix::unistd::geteuid().is_root() {
        return Err("run as root: the client's login PAG is root-owned, as pam_pag makes it".into());
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let registry = Registry::at(dir.path().join("tags"));

    // The client: this thread, in a login PAG of root's (so the peer's uid
    // is the PAG's user), with the PAG's tag among its groups.
    let pag = login::create_pag(&LoginPag {
        user: pag::Owner { uid: 0, gid: 0 },
        keyring_owner: KeyringOwner::Root,
        link_user_keyring: false,
        tag_gids: None,
    })
    .map_err(|e| e.to_string())?;
    let tag = registry
        .hand_out(&TAGS, pag.keyring(), 0)
        .map_err(|e| e.to_string())?
        .ok_or("no free tag in the bench's range")?;
    setgroups(&[Gid::from_raw(tag)]).map_err(|e| format!("setgroups: {e}"))?;

    let modes = [Mode::Proof, Mode::Tag, Mode::PeerCred];
    let sockets: Vec<PathBuf> =
        ["proof", "tag", "peercred"].iter().map(|n| dir.path().join(format!("{n}.sock"))).collect();
    for (mode, path) in modes.iter().zip(&sockets) {
        let listener = UnixListener::bind(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (mode, registry) = (*mode, registry.clone());
        std::thread::spawn(move || serve(&listener, mode, &registry));
    }

    // Check each once: the proof names this PAG, official; the tag maps to it.
    let mut times: Vec<Vec<Duration>> = (0..3).map(|_| Vec::with_capacity(runs)).collect();
    for _ in 0..10 {
        for (mode, path) in modes.iter().zip(&sockets) {
            client(*mode, path)?;
        }
    }
    for _ in 0..runs {
        for (i, (mode, path)) in modes.iter().zip(&sockets).enumerate() {
            let start = Instant::now();
            client(*mode, path)?;
            times[i].push(start.elapsed());
        }
    }

    let base = median(&times[2]);
    println!(
        "peer-bench: {runs} interleaved runs each, medians of wall time (connect to the daemon's verdict)"
    );
    println!();
    println!("| what the daemon learns | how | median | ratio to SO_PEERCRED |");
    println!("|---|---|---|---|");
    let row = |what: &str, how: &str, samples: &[Duration]| {
        let m = median(samples);
        println!(
            "| {what} | {how} | {:.1} µs | {:.2}x |",
            m.as_secs_f64() * 1e6,
            m.as_secs_f64() / base.as_secs_f64()
        );
    };
    row("the proved PAG, official", "link challenge (identify + prove)", &times[0]);
    row("the tag and its login's PAG", "SO_PEERCRED + SO_PEERGROUPS + registry open", &times[1]);
    row("the uid only", "SO_PEERCRED", &times[2]);
    Ok(())
}

/// One client run: connect, take part if asked, wait for the verdict byte.
fn client(mode: Mode, path: &Path) -> Result<(), String> {
    let mut stream = UnixStream::connect(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Mode::Proof = mode {
        pag::peer::prove(&stream, TIMEOUT).map_err(|e| format!("prove: {e}"))?;
    }
    let mut verdict = [0u8; 1];
    stream.read_exact(&mut verdict).map_err(|e| format!("reading the verdict: {e}"))?;
    match verdict[0] {
        b'y' => Ok(()),
        _ => Err(format!("the server did not identify the client as expected ({})", path.display())),
    }
}

/// A server: identify each connection as `mode` says, answer `y` if it
/// found what it should (the PAG proved and official; the tag registered
/// to the peer's uid; a uid), else `n`.
fn serve(listener: &UnixListener, mode: Mode, registry: &Registry) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let ok = match mode {
            Mode::Proof => {
                let how = Identify { challenge: true, timeout: TIMEOUT, tag_gids: None };
                pag::peer::identify(&stream, &how).is_ok_and(|p| p.proved && p.official && p.pag.is_some())
            }
            Mode::Tag => {
                let how = Identify { challenge: false, timeout: TIMEOUT, tag_gids: Some(TAGS) };
                pag::peer::identify(&stream, &how)
                    .is_ok_and(|p| p.tag.and_then(|t| registry.lookup(t)).is_some_and(|r| r.uid == p.uid))
            }
            Mode::PeerCred => getsockopt(&stream, PeerCredentials).is_ok(),
        };
        let _ = stream.write_all(if ok { b"y" } else { b"n" });
    }
}
