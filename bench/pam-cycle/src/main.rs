//! pam-cycle: how much a PAM session costs with pam_pag, measured through
//! real libpam against `pam_keyinit.so force revoke` and `pam_permit.so` in
//! the same run (DESIGN.md "Benchmarks"; issue 3, section 9).
//!
//! (a) pam_start + open_session + close_session + pam_end per cycle;
//! (b) open_session + close_session on one handle.
//! Peers are interleaved in rounds so that machine noise hits them alike;
//! each number is the median of all cycles. Then 10,000 sequential logins
//! through pam_pag, with the user's /proc/key-users line before and after.
//!
//! Run as root: `pam-cycle --module target/release/libpam_pag.so
//! [--also LABEL=PATH] [--cycles N]`. It enters a private mount namespace to
//! add its two test users to a private /etc/passwd.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pag_tests::mountns::{self, TestUser};
use pag_tests::pam_driver::Pam;
use pag_tests::stats::median;

/// The user of the 10,000-login quota check.
const PAG_USER: (&str, u32) = ("pagbench", 46990);
/// A pool of users the timed cycles rotate through. pam_keyinit's revoked
/// keyrings stay charged to their user for gc_delay (300 s), and a user's
/// keyring links are charged to maxbytes, so a few thousand keyinit cycles of
/// one user make pam_keyinit fail; every peer rotates through the same pool.
const POOL: u32 = 400;
const POOL_BASE_UID: u32 = 46000;
/// Cycles of (b) on one handle before the next handle (and user).
const HANDLE_CYCLES: usize = 25;

fn pool_user(i: usize) -> String {
    format!("pcb{}", i % POOL as usize)
}

struct Peer {
    label: String,
    service: String,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pam-cycle: {e}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<(), String> {
    let mut module: Option<PathBuf> = None;
    let mut also: Vec<(String, PathBuf)> = Vec::new();
    let mut cycles = 10_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--module" => module = args.next().map(PathBuf::from),
            "--also" => {
                let v = args.next().ok_or("--also needs LABEL=PATH")?;
                let (l, p) = v.split_once('=').ok_or("--also needs LABEL=PATH")?;
                also.push((l.to_owned(), PathBuf::from(p)));
            }
            "--cycles" => {
                cycles = args.next().and_then(|n| n.parse().ok()).ok_or("--cycles needs a number")?
            }
            _ => {
                return Err(format!(
                    "unknown argument {a}; usage: pam-cycle --module PATH [--also LABEL=PATH] [--cycles N]"
                ))
            }
        }
    }
    let module = module.ok_or("--module PATH (the built libpam_pag.so) is required")?;
    // libpam takes a relative module path as relative to its securedir.
    let module = std::fs::canonicalize(&module).map_err(|e| format!("{}: {e}", module.display()))?;
    let also: Vec<(String, PathBuf)> = also
        .into_iter()
        .map(|(l, p)| std::fs::canonicalize(&p).map(|p| (l, p)).map_err(|e| format!("{}: {e}", p.display())))
        .collect::<Result<_, _>>()?;
    if !nix_is_root() {
        return Err("needs root: it creates PAGs for a test user and mounts a private /etc/passwd".into());
    }
    mountns::enter_private().map_err(|e| e.to_string())?;
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut users: Vec<TestUser> = (0..POOL)
        .map(|i| TestUser {
            name: pool_user(i as usize),
            uid: POOL_BASE_UID + i,
            gid: POOL_BASE_UID + i,
            groups: Vec::new(),
        })
        .collect();
    users.push(TestUser {
        name: PAG_USER.0.to_owned(),
        uid: PAG_USER.1,
        gid: PAG_USER.1,
        groups: Vec::new(),
    });
    mountns::add_users(scratch.path(), &users).map_err(|e| e.to_string())?;
    let dir = scratch.path().join("pam.d");
    std::fs::create_dir(&dir).map_err(|e| e.to_string())?;

    let mut peers = vec![
        Peer {
            label: "pam_pag".into(),
            service: write(&dir, "pag", &format!("session required {} notokens", module.display()))?,
        },
        Peer {
            label: "pam_keyinit force revoke".into(),
            service: write(&dir, "keyinit", "session required pam_keyinit.so force revoke")?,
        },
        Peer {
            label: "pam_permit".into(),
            service: write(&dir, "permit", "session required pam_permit.so")?,
        },
    ];
    for (i, (label, path)) in also.iter().enumerate() {
        let service =
            write(&dir, &format!("also{i}"), &format!("session required {} notokens", path.display()))?;
        peers.push(Peer { label: label.clone(), service });
    }

    println!(
        "module: {} ({} bytes; stripped {} bytes)",
        module.display(),
        size(&module),
        stripped_size(&module)?
    );
    println!("cycles per peer: {cycles} (in 20 interleaved rounds); medians in microseconds\n");

    // Warm up: first loads, first @u/@us of each pool user.
    for p in &peers {
        for i in 0..POOL as usize {
            full_cycle(&dir, p, &pool_user(i))?;
        }
    }
    let (a, b) = measure(&dir, &peers, cycles)?;
    let keyinit_a = median(&a[1]);
    let keyinit_b = median(&b[1]);
    println!("| module | (a) start+open+close+end | ratio to pam_keyinit | (b) open+close on one handle | ratio to pam_keyinit |");
    println!("|---|---:|---:|---:|---:|");
    for (i, p) in peers.iter().enumerate() {
        let (ma, mb) = (median(&a[i]), median(&b[i]));
        println!(
            "| {} | {:.1} | {:.3} | {:.1} | {:.3} |",
            p.label,
            micros(ma),
            ratio(ma, keyinit_a),
            micros(mb),
            ratio(mb, keyinit_b)
        );
    }

    println!("\n10,000 sequential logins of {} through pam_pag:", PAG_USER.0);
    let root_before = key_users(0);
    full_cycle(&dir, &peers[0], PAG_USER.0)?; // the user's own @u and @us exist from here on
    let before = key_users(PAG_USER.1);
    for _ in 0..10_000 {
        full_cycle(&dir, &peers[0], PAG_USER.0)?;
    }
    // Unreferenced PAGs are collected by the key garbage collector shortly after.
    std::thread::sleep(Duration::from_secs(2));
    let after = key_users(PAG_USER.1);
    let root_after = key_users(0);
    println!("  /proc/key-users {} before: {before}", PAG_USER.1);
    println!("  /proc/key-users {} after:  {after}", PAG_USER.1);
    println!("  /proc/key-users 0 before: {root_before}");
    println!("  /proc/key-users 0 after:  {root_after}");
    println!("  user counts unchanged: {}", if before == after { "yes" } else { "NO" });
    Ok(())
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Uid:").map(|u| u.split_whitespace().nth(1) == Some("0")))
        })
        .unwrap_or(false)
}

fn write(dir: &Path, name: &str, line: &str) -> Result<String, String> {
    std::fs::write(dir.join(name), format!("{line}\n")).map_err(|e| e.to_string())?;
    Ok(name.to_owned())
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn stripped_size(path: &Path) -> Result<u64, String> {
    let out = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let status = std::process::Command::new("strip")
        .arg("-o")
        .arg(out.path())
        .arg(path)
        .status()
        .map_err(|e| format!("strip: {e}"))?;
    if !status.success() {
        return Err(format!("strip failed: {status}"));
    }
    Ok(size(out.path()))
}

fn full_cycle(dir: &Path, p: &Peer, user: &str) -> Result<Duration, String> {
    let start = Instant::now();
    let mut pam =
        Pam::start(&p.service, user, Some(dir)).map_err(|e| format!("{}: pam_start: {}", p.label, e.0))?;
    let open = pam.open_session(0);
    let close = pam.close_session(0);
    pam.end();
    let t = start.elapsed();
    if open != 0 || close != 0 {
        return Err(format!("{}: open {open}, close {close}", p.label));
    }
    Ok(t)
}

/// (a) and (b) samples per peer, interleaved in rounds.
/// Per peer, one list of cycle times.
type Samples = Vec<Vec<Duration>>;

fn measure(dir: &Path, peers: &[Peer], cycles: usize) -> Result<(Samples, Samples), String> {
    let rounds = 20;
    let per_round = cycles.div_ceil(rounds);
    let mut a = vec![Vec::with_capacity(cycles); peers.len()];
    let mut b = vec![Vec::with_capacity(cycles); peers.len()];
    let mut n = 0;
    for round in 0..rounds {
        for (i, p) in peers.iter().enumerate() {
            for _ in 0..per_round {
                a[i].push(full_cycle(dir, p, &pool_user(n))?);
                n += 1;
            }
            // A handle per 25 cycles, each of another pool user (see POOL).
            for chunk in 0..per_round.div_ceil(HANDLE_CYCLES) {
                let user = pool_user((round * peers.len() + i) * 64 + chunk);
                let mut pam = Pam::start(&p.service, &user, Some(dir))
                    .map_err(|e| format!("{}: pam_start: {}", p.label, e.0))?;
                for _ in 0..HANDLE_CYCLES.min(per_round - chunk * HANDLE_CYCLES) {
                    let start = Instant::now();
                    let open = pam.open_session(0);
                    let close = pam.close_session(0);
                    b[i].push(start.elapsed());
                    if open != 0 || close != 0 {
                        return Err(format!(
                            "{} (one handle, user {user}): open {open}, close {close}",
                            p.label
                        ));
                    }
                }
                pam.end();
            }
        }
    }
    Ok((a, b))
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ratio(x: Duration, peer: Duration) -> f64 {
    x.as_secs_f64() / peer.as_secs_f64()
}

fn key_users(uid: u32) -> String {
    let text = std::fs::read_to_string("/proc/key-users").unwrap_or_default();
    text.lines()
        .find(|l| l.trim_start().starts_with(&format!("{uid}:")))
        .map_or_else(|| "(no line: no keys)".to_owned(), |l| l.trim().to_owned())
}
