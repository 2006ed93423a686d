//! bench-container: how long a test container takes to start (and to be
//! torn down with its leak checks), against the bare peer, `unshare` of the
//! same namespaces running `true`, measured in the same run.
//!
//! `bench-container [ITERATIONS]` (default 50; as root). Prints medians.

#![forbid(unsafe_code)]

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use pag_tests::container::{Container, User};
use pag_tests::stats::median;

fn bare_unshare() -> Duration {
    let began = Instant::now();
    let status = Command::new("unshare")
        .args(pag_tests::container::init::UNSHARE_OPTIONS)
        .arg("true")
        .status()
        .expect("unshare");
    assert!(status.success());
    began.elapsed()
}

fn main() -> ExitCode {
    let iterations: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 50,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: bench-container [ITERATIONS]");
            return ExitCode::from(2);
        }
    };
    let (mut peer, mut start, mut start_sshd, mut teardown) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..iterations {
        peer.push(bare_unshare());
        let run = |sshd: bool| -> Result<(Duration, Duration), String> {
            let builder = Container::builder().user(User::new("bench").ssh_key());
            let ct = if sshd { builder.sshd() } else { builder }.start().map_err(|e| e.to_string())?;
            let started = ct.startup_time();
            let began = Instant::now();
            ct.teardown().map_err(|e| e.to_string())?;
            Ok((started, began.elapsed()))
        };
        match (run(false), run(true)) {
            (Ok((plain, down)), Ok((with_sshd, _))) => {
                start.push(plain);
                teardown.push(down);
                start_sshd.push(with_sshd);
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("bench-container: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let peer_median = median(&peer);
    println!("{iterations} iterations, medians:");
    println!("| what | median | ratio to bare unshare |");
    println!("|---|---|---|");
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let ratio = |d: Duration| format!("{:.2}x", d.as_secs_f64() / peer_median.as_secs_f64());
    println!("| bare unshare (same namespaces) running true | {} | 1.00x |", ms(peer_median));
    for (what, samples) in [
        ("container start (pid 1 ready, one user)", start),
        ("container start with sshd listening", start_sshd),
        ("container teardown with leak checks", teardown),
    ] {
        let m = median(&samples);
        println!("| {what} | {} | {} |", ms(m), ratio(m));
    }
    ExitCode::SUCCESS
}
