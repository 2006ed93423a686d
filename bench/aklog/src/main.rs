//! aklog-bench: the benchmark, against a real MIT KDC on 127.0.0.1.
//!
//! 1. With the service ticket already cached: `aklog -force -c example.org`
//!    against `kvno afs/example.org` (both read the cache and do no KDC
//!    round trip; aklog also derives the key and stores the token).
//! 2. In a PAG holding 20 tokens: `tokens` against `keyctl show @s`.
//!
//! Runs are interleaved (A, B, A, B, ...) so drift on this noisy machine
//! hits both sides alike; the table shows medians and the ratio.
//!
//! Usage: `cargo build --release -p aklog-rs -p aklog-bench &&
//! target/release/aklog-bench [RUNS]` (RUNS >= 50, default 200). The aklog,
//! tokens and unlog binaries are taken from the directory of this program.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use pag_tests::kdc::{Kdc, Options};
use pag_tests::stats::median;

const REALM: &str = "BENCH.TEST";
const PASSWORD: &str = "bench password";
const TOKEN_CELLS: usize = 20;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aklog-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let runs: usize = match std::env::args().nth(1) {
        Some(a) => a.parse().map_err(|_| format!("RUNS must be a number, not {a:?}"))?,
        None => 200,
    };
    if runs < 50 {
        return Err("RUNS must be at least 50".into());
    }
    let bins = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for b in ["aklog", "tokens"] {
        if !bins.join(b).exists() {
            return Err(format!("{} is missing: cargo build --release -p aklog-rs", bins.join(b).display()));
        }
    }

    let mut options = Options::new(REALM);
    options.domain_realm.push(("example.org".into(), REALM.into()));
    let kdc = Kdc::start_with(options).map_err(|e| e.to_string())?;
    kdc.add_principal("user", PASSWORD).map_err(|e| e.to_string())?;
    kdc.add_random_principal("afs/example.org").map_err(|e| e.to_string())?;
    let cells: Vec<String> = (1..=TOKEN_CELLS).map(|i| format!("cell{i:02}.example.org")).collect();
    for c in &cells {
        kdc.add_random_principal(&format!("afs/{c}")).map_err(|e| e.to_string())?;
    }
    let ccache = format!("FILE:{}", kdc.dir().join("cc").display());
    kdc.kinit_password("user", PASSWORD, &ccache).map_err(|e| e.to_string())?;

    // Everything below runs in a PAG of its own, so the tokens land there.
    let pag = pag::create(&pag::CreateOptions { link_user_keyring: true }).map_err(|e| e.to_string())?;

    let cmd = |program: PathBuf, args: &[&str]| {
        let mut c = kdc.command(program);
        // An empty configuration (a named file must exist): the built-in defaults.
        c.env("KRB5CCNAME", &ccache).env("PAG_CONFIG", "/dev/null").args(args);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c
    };
    let mut aklog = cmd(bins.join("aklog"), &["-force", "-c", "example.org"]);
    let mut kvno = cmd(PathBuf::from("kvno"), &["afs/example.org"]);
    // Warm up: the first run fetches and caches the service ticket.
    check(&mut aklog)?;
    check(&mut kvno)?;
    let (a, k) = interleave(runs, &mut aklog, &mut kvno)?;

    let mut tokens = cmd(bins.join("tokens"), &[]);
    let mut show = cmd(PathBuf::from("keyctl"), &["show", "@s"]);
    // The floor: the same pair on an empty PAG is the fixed cost of
    // starting each program, with no token to list.
    check(&mut cmd(bins.join("unlog"), &[]))?;
    let (t0, s0) = interleave(runs, &mut tokens, &mut show)?;

    let mut args = vec!["-c"];
    args.extend(cells.iter().map(String::as_str).flat_map(|c| [c, "-c"]));
    args.pop();
    check(&mut cmd(bins.join("aklog"), &args))?;
    let listed = pag.tokens().list().map_err(|e| e.to_string())?.len();
    if listed != TOKEN_CELLS {
        return Err(format!("expected {TOKEN_CELLS} tokens in PAG {}, found {listed}", pag.id()));
    }
    let (t, s) = interleave(runs, &mut tokens, &mut show)?;

    println!(
        "aklog-bench: {runs} interleaved runs each, medians of wall time; KDC {} on port {}",
        REALM,
        kdc.port()
    );
    println!();
    println!("| command | median | peer | peer median | ratio | target |");
    println!("|---|---|---|---|---|---|");
    row("aklog -force -c example.org (ticket cached)", &a, "kvno afs/example.org", &k, 1.2);
    row(&format!("tokens ({TOKEN_CELLS} tokens in the PAG)"), &t, "keyctl show @s", &s, 1.1);
    row("tokens (empty PAG: start-up cost only)", &t0, "keyctl show @s", &s0, 1.1);
    Ok(())
}

fn check(c: &mut Command) -> Result<(), String> {
    let status = c.status().map_err(|e| format!("{:?}: {e}", c.get_program()))?;
    if !status.success() {
        return Err(format!("{:?} {:?} failed: {status}", c.get_program(), c.get_args().collect::<Vec<_>>()));
    }
    Ok(())
}

fn interleave(
    runs: usize,
    a: &mut Command,
    b: &mut Command,
) -> Result<(Vec<Duration>, Vec<Duration>), String> {
    let (mut ta, mut tb) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        for (c, times) in [(&mut *a, &mut ta), (&mut *b, &mut tb)] {
            let start = Instant::now();
            check(c)?;
            times.push(start.elapsed());
        }
    }
    Ok((ta, tb))
}

fn row(name: &str, ours: &[Duration], peer: &str, theirs: &[Duration], target: f64) {
    let (m, p) = (median(ours), median(theirs));
    let ratio = m.as_secs_f64() / p.as_secs_f64();
    let verdict = if ratio <= target { "met" } else { "missed" };
    println!(
        "| {name} | {:.3} ms | {peer} | {:.3} ms | {ratio:.2}x | <= {target}x {verdict} |",
        m.as_secs_f64() * 1e3,
        p.as_secs_f64() * 1e3
    );
}
