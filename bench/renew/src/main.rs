//! renew-bench: the issue's benchmark for renewal. What a renewer costs
//! while it has nothing to do, `pagsh --renew --cell example.org -- sleep N`
//! against kstart's `krenew -K 1 -- sleep N` (which wakes every minute).
//!
//! A real MIT KDC on 127.0.0.1 issues each job its own ticket, valid for
//! 10 h and renewable for 7 days, so neither renewer renews anything while
//! it is measured. PAIRS jobs of each kind run at once (they are idle), each
//! in its own `keyctl session -`, started in turn (pag, krenew; then
//! krenew, pag; ...) so that start-up order and drift fall on both alike.
//! Once every command runs and a settling pause has passed, each renewer's
//! process tree (the renewer and any children, never the `sleep` command) is
//! sampled, again after WINDOW seconds, and:
//!
//! - CPU: the tree's schedstat run time (ns) plus the CPU of the children
//!   the renewer reaped (cutime + cstime): the difference over the window,
//!   and that rate per hour;
//! - wakeups: voluntary context switches over the window, per hour;
//! - memory at the end: VmRSS, PSS (smaps_rollup: pages shared with the
//!   other renewers, libkrb5's for one, are divided among them) and USS
//!   (private pages, what each renewer alone adds);
//! - start: wall time from spawning `keyctl session` until `sleep` runs,
//!   and the renewer's CPU until then (keyctl and pagsh exec into it).
//!
//! The table shows medians over the jobs and the ratio pag/krenew; the
//! issue's target for the idle costs is a ratio at or below 1.
//!
//! Usage: `cargo build --release -p aklog-rs -p pagsh -p renew-bench &&
//! target/release/renew-bench [--window SECONDS] [--pairs N]` (defaults:
//! 180 s, 5 pairs). pagsh and aklog are taken from the directory of this
//! program; krenew from PATH (Debian: `apt-get install kstart`).

#![forbid(unsafe_code)]

mod job;
mod procfs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use job::{Job, Kind, Setup};
use pag_tests::kdc::{Kdc, Options};
use procfs::Sample;

const REALM: &str = "BENCH.TEST";
const PASSWORD: &str = "bench password";
/// After the last command starts: let start-up work (the first refresh's
/// worker being reaped, SIGCHLD) finish before the window opens.
const SETTLE: Duration = Duration::from_secs(5);

/// The idle cost of `pagsh --renew` against `krenew -K 1`.
#[derive(Parser)]
#[command(name = "renew-bench")]
struct Cli {
    /// Seconds each renewer is watched while idle (krenew -K 1 wakes every 60).
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u64).range(60..))]
    window: u64,
    /// Jobs of each kind, running at once.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(3..=50))]
    pairs: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("renew-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `name` in a directory of PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

fn run(cli: &Cli) -> Result<(), String> {
    let bins = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for b in ["pagsh", "aklog"] {
        if !bins.join(b).exists() {
            return Err(format!(
                "{} is missing: cargo build --release -p aklog-rs -p pagsh -p renew-bench",
                bins.join(b).display()
            ));
        }
    }
    if on_path("krenew").is_none() {
        return Err(
            "krenew, the peer, is not on PATH: install kstart (Debian: apt-get install kstart)".into()
        );
    }
    if on_path("keyctl").is_none() {
        return Err("keyctl is not on PATH: install keyutils (Debian: apt-get install keyutils)".into());
    }

    let mut options = Options::new(REALM);
    options.domain_realm.push(("example.org".into(), REALM.into()));
    let kdc = Kdc::start_with(options).map_err(|e| e.to_string())?;
    kdc.add_principal("user", PASSWORD).map_err(|e| e.to_string())?;
    kdc.add_random_principal("afs/example.org").map_err(|e| e.to_string())?;
    let config = kdc.dir().join("pam_pag.toml");
    std::fs::write(&config, "").map_err(|e| e.to_string())?;
    let window = Duration::from_secs(cli.window);
    let pagsh = bins.join("pagsh");
    // The commands outlive the measurement; they are ended after it.
    let setup = Setup { kdc: &kdc, pagsh: &pagsh, config: &config, seconds: cli.window + 600 };

    let mut jobs: Vec<Job> = Vec::new();
    for i in 0..cli.pairs {
        let order = if i % 2 == 0 { [Kind::Pag, Kind::Krenew] } else { [Kind::Krenew, Kind::Pag] };
        for kind in order {
            let name = format!("{}-{i}", label(kind));
            let ccache = format!("FILE:{}", kdc.dir().join(&name).display());
            kdc.kinit_password_args("user", PASSWORD, &ccache, &["-l", "10h", "-r", "7d"])
                .map_err(|e| e.to_string())?;
            jobs.push(Job::start(&setup, kind, &ccache, &name)?);
        }
    }
    eprintln!(
        "renew-bench: {} jobs idle; measuring for {} s after {} s to settle",
        jobs.len(),
        cli.window,
        SETTLE.as_secs()
    );
    std::thread::sleep(SETTLE);
    let before = samples(&jobs)?;
    std::thread::sleep(window);
    let after = samples(&jobs)?;
    for (j, (b, a)) in jobs.iter().zip(before.iter().zip(&after)) {
        if b.others + a.others > 0 {
            eprintln!(
                "renew-bench: {} renewer {} had other processes in its tree (a refresh?): {}",
                label(j.kind),
                j.renewer,
                j.stderr()
            );
        }
    }

    let per = |kind: Kind| -> Vec<Measured> {
        jobs.iter()
            .zip(before.iter().zip(&after))
            .filter(|(j, _)| j.kind == kind)
            .map(|(j, (b, a))| Measured::new(j, b, a, window))
            .collect()
    };
    let (pag, krenew) = (per(Kind::Pag), per(Kind::Krenew));
    drop(jobs);
    print_table(cli, &kdc, &pag, &krenew);
    Ok(())
}

fn label(kind: Kind) -> &'static str {
    match kind {
        Kind::Pag => "pag",
        Kind::Krenew => "krenew",
    }
}

fn samples(jobs: &[Job]) -> Result<Vec<Sample>, String> {
    jobs.iter().map(|j| procfs::sample(j.renewer)).collect()
}

/// One job's numbers.
struct Measured {
    cpu: Duration,
    wakeups: u64,
    rss_kb: u64,
    pss_kb: u64,
    uss_kb: u64,
    start_wall: Duration,
    start_cpu: Duration,
    hour_factor: f64,
}

impl Measured {
    fn new(job: &Job, before: &Sample, after: &Sample, window: Duration) -> Measured {
        Measured {
            cpu: after.cpu.saturating_sub(before.cpu),
            wakeups: after.wakeups.saturating_sub(before.wakeups),
            rss_kb: after.rss_kb,
            pss_kb: after.pss_kb,
            uss_kb: after.uss_kb,
            start_wall: job.start_wall,
            start_cpu: job.at_start.cpu,
            hour_factor: 3600.0 / window.as_secs_f64(),
        }
    }
}

fn median_f64(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One row: medians of `f` over both sides, their ratio, and whether it
/// meets "at or below krenew" (`target`).
fn row(name: &str, unit: &str, pag: &[Measured], krenew: &[Measured], f: fn(&Measured) -> f64, target: bool) {
    let (p, k) = (median_f64(pag.iter().map(f)), median_f64(krenew.iter().map(f)));
    let places = if unit == "ms" { 3 } else { 0 };
    let unit = if unit.is_empty() { String::new() } else { format!(" {unit}") };
    let ratio = if k > 0.0 { format!("{:.2}x", p / k) } else { "-".to_owned() };
    let verdict = match target {
        false => "-",
        true if p <= k => "<= 1 met",
        true => "<= 1 missed",
    };
    println!("| {name} | {p:.places$}{unit} | {k:.places$}{unit} | {ratio} | {verdict} |");
}

fn print_table(cli: &Cli, kdc: &Kdc, pag: &[Measured], krenew: &[Measured]) {
    println!(
        "renew-bench: {} jobs of each, idle together for a {} s window; medians; KDC {REALM} on port {}; \
         tickets 10 h, renewable 7 d",
        cli.pairs,
        cli.window,
        kdc.port()
    );
    println!();
    println!("| idle cost | pagsh --renew | krenew -K 1 | ratio | target |");
    println!("|---|---|---|---|---|");
    row("CPU per hour (window x 3600/W)", "ms", pag, krenew, |m| ms(m.cpu) * m.hour_factor, true);
    row("CPU in the window", "ms", pag, krenew, |m| ms(m.cpu), true);
    row("wakeups per hour (voluntary switches)", "", pag, krenew, |m| m.wakeups as f64 * m.hour_factor, true);
    row("wakeups in the window", "", pag, krenew, |m| m.wakeups as f64, true);
    row("VmRSS", "kB", pag, krenew, |m| m.rss_kb as f64, true);
    row("PSS", "kB", pag, krenew, |m| m.pss_kb as f64, true);
    row("USS (private)", "kB", pag, krenew, |m| m.uss_kb as f64, true);
    row("start: until the command runs (wall)", "ms", pag, krenew, |m| ms(m.start_wall), false);
    row("start: renewer CPU until then", "ms", pag, krenew, |m| ms(m.start_cpu), false);
    println!();
    let each =
        |side: &[Measured]| side.iter().map(|m| format!("{:.3}", ms(m.cpu))).collect::<Vec<_>>().join(" ");
    println!("CPU in the window per job (ms): pag {}; krenew {}", each(pag), each(krenew));
    let wakes = |side: &[Measured]| side.iter().map(|m| m.wakeups.to_string()).collect::<Vec<_>>().join(" ");
    println!("wakeups in the window per job: pag {}; krenew {}", wakes(pag), wakes(krenew));
    if cli.window < 600 {
        // aklog-rs/src/renew/supervise.rs: LONGEST_SLEEP.
        println!(
            "note: an idle aklog --renew sleeps up to 600 s at a time, so a {} s window may hold none \
             of its wakeups (--window 660 holds one)",
            cli.window
        );
    }
}
