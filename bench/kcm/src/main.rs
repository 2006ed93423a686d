//! kcm-bench: the benchmark for pag-kcm. `klist` and `kvno` (the
//! service ticket cached) against pag-kcm, sssd-kcm (the anchor) and a
//! FILE: cache (the floor), in one interleaved run; then memory per cached
//! login of both daemons.
//!
//! Everything runs in one test container (`pag_tests::container`): a real
//! MIT KDC on its loopback, sssd-kcm (Debian's, unpacked, never installed
//! on the host) and the built pag-kcm (without --trace, its state on a
//! tmpfs as under systemd) on sockets of their own, each selected by a
//! krb5.conf of its own. alice logs in to each (kinit) and asks once for
//! the service ticket (kvno), so every later kvno finds it cached; the KDC's
//! log must show no TGS request for the service during the timed runs.
//!
//! Timing: this program, run again inside the container as alice (the
//! hidden `time` subcommand, see timing.rs), spawns each client command and
//! times it from spawn to reap; entering the container happens once, not
//! per command. The table shows min/median/max per (command, backend), the
//! client's and the daemon's CPU, and the ratios of medians.
//!
//! Usage (as root): `cargo build --release -p pag-kcm -p kcm-bench &&
//! target/release/kcm-bench [--rounds N] [--warmup N] [--logins N]`
//! (defaults 200, 10, 300; about two minutes). pag-kcm is taken from the directory of this
//! program; sssd-kcm from the unpacked packages (scripts/unpack-debs).

#![forbid(unsafe_code)]

mod memory;
mod report;
mod site;
mod timing;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pag_tests::container::As;
use timing::{Backend, Sample};

/// klist and kvno against pag-kcm, sssd-kcm and a FILE: cache; memory per cached login.
#[derive(Parser)]
#[command(name = "kcm-bench")]
struct Cli {
    /// Counted rounds (each: klist and kvno against every backend).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(5..=100_000))]
    rounds: u64,
    /// Rounds run first and not counted.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=1000))]
    warmup: u64,
    /// Logins added to each daemon for the memory figures (0: skip them). sssd-kcm's kinit slows as
    /// its database grows: 300 take about 1 min, 1000 about 6.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    logins: u64,
    #[command(subcommand)]
    inner: Option<Inner>,
}

#[derive(Subcommand)]
enum Inner {
    /// The timed loop, run inside the container by the benchmark itself.
    #[command(hide = true)]
    Time {
        #[arg(long)]
        rounds: usize,
        #[arg(long)]
        warmup: usize,
        #[arg(long)]
        service: String,
        /// NAME,KRB5_CONFIG,CCNAME,PID (- for none); repeated.
        #[arg(long = "backend", required = true)]
        backends: Vec<Backend>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.inner {
        Some(Inner::Time { rounds, warmup, service, backends }) => {
            timing::run(*rounds, *warmup, service, backends)
        }
        None => run(&cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kcm-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("must run as root: it starts a container (namespaces, mounts) with a KDC and both \
                    daemons, and runs clients as other users"
            .into());
    }
    let (rounds, warmup, logins) = (cli.rounds as usize, cli.warmup as usize, cli.logins as usize);
    eprintln!("kcm-bench: starting the container, the KDC, sssd-kcm and pag-kcm");
    let site = site::Site::start(logins)?;
    let result = measure(&site, rounds, warmup, logins);
    let down = site.teardown();
    result.and(down)
}

fn measure(site: &site::Site, rounds: usize, warmup: usize, logins: usize) -> Result<(), String> {
    let tgs_before = site.service_tgs_requests();
    eprintln!("kcm-bench: timing {rounds} rounds (+{warmup} warm-up)");
    let samples = time_inside(site, rounds, warmup)?;
    let tgs = site.service_tgs_requests() - tgs_before;
    report::print_timing(&samples, rounds, warmup, tgs);
    if logins > 0 {
        eprintln!("kcm-bench: adding {logins} logins to each daemon");
        let measured = memory::measure(site, logins)?;
        report::print_memory(&measured, logins);
    }
    report::print_verdict(&samples);
    if tgs > 0 {
        return Err(format!("{tgs} TGS requests for {} while timing: kvno was not cached", site::SERVICE));
    }
    Ok(())
}

/// Run this program's `time` subcommand in the container as alice.
fn time_inside(site: &site::Site, rounds: usize, warmup: usize) -> Result<Vec<Sample>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let exe = exe.display().to_string();
    let (rounds_s, warmup_s) = (rounds.to_string(), warmup.to_string());
    let mut argv =
        vec![exe.as_str(), "time", "--rounds", &rounds_s, "--warmup", &warmup_s, "--service", site::SERVICE];
    let backends: Vec<String> = site.backends.iter().map(Backend::to_arg).collect();
    for b in &backends {
        argv.extend(["--backend", b.as_str()]);
    }
    let out = site
        .ct
        .command(&As::User(site::USER.into()), &argv)
        .output()
        .map_err(|e| format!("the timing run: {e}"))?;
    if !out.status.success() {
        return Err(format!("the timing run: {}: {}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    let samples = Sample::parse_all(&String::from_utf8_lossy(&out.stdout))?;
    let expected = rounds * timing::TOOLS.len() * site.backends.len();
    if samples.len() != expected {
        return Err(format!("the timing run gave {} samples, not {expected}", samples.len()));
    }
    Ok(samples)
}
