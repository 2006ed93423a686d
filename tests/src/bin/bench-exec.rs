//! bench-exec: time whole commands, interleaved, and report medians and the
//! ratio of each against a peer measured in the same run.
//!
//! hyperfine runs all iterations of one command, then the next; on a shared,
//! noisy machine a load that comes and goes then lands on one command only.
//! Here every round runs each command once, in an order that rotates, so
//! background load falls on all of them alike and the ratio stays honest.
//!
//! usage: bench-exec [--runs N] [--warmup N] NAME=COMMAND...
//! The first NAME is the peer the others are compared with. COMMAND is split
//! on whitespace (no shell, so no shell start-up is measured).

#![forbid(unsafe_code)]

use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use pag_tests::stats::median;

struct Bench {
    name: String,
    argv: Vec<String>,
    times: Vec<Duration>,
}

fn main() -> ExitCode {
    let mut runs = 300usize;
    let mut warmup = 30usize;
    let mut benches = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number =
            |what: &str| args.next().and_then(|v| v.parse().ok()).ok_or(format!("{what} needs a number"));
        let parsed = match arg.as_str() {
            "--runs" => number("--runs").map(|n| runs = n),
            "--warmup" => number("--warmup").map(|n| warmup = n),
            spec => match spec.split_once('=') {
                Some((name, command)) if !command.trim().is_empty() => {
                    let argv = command.split_whitespace().map(str::to_owned).collect();
                    benches.push(Bench { name: name.to_owned(), argv, times: Vec::with_capacity(runs) });
                    Ok(())
                }
                _ => Err(format!("expected NAME=COMMAND, got {spec:?}")),
            },
        };
        if let Err(e) = parsed {
            eprintln!("bench-exec: {e}\nusage: bench-exec [--runs N] [--warmup N] NAME=COMMAND...");
            return ExitCode::from(2);
        }
    }
    if benches.is_empty() {
        eprintln!("usage: bench-exec [--runs N] [--warmup N] NAME=COMMAND...");
        return ExitCode::from(2);
    }

    let count = benches.len();
    for round in 0..warmup + runs {
        for i in 0..count {
            let bench = &mut benches[(round + i) % count];
            let elapsed = match time_once(&bench.argv) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("bench-exec: {}: {e}", bench.name);
                    return ExitCode::from(1);
                }
            };
            if round >= warmup {
                bench.times.push(elapsed);
            }
        }
    }

    let medians: Vec<Duration> = benches.iter().map(|b| median(&b.times)).collect();
    let peer = medians[0];
    let width = benches.iter().map(|b| b.name.len()).max().unwrap_or(0).max(7);
    println!(
        "{:<width$} {:>6} {:>12} {:>10}",
        "command",
        "runs",
        "median",
        format!("vs {}", benches[0].name)
    );
    for (b, m) in benches.iter().zip(&medians) {
        println!(
            "{:<width$} {:>6} {:>10.1}us {:>9.3}x",
            b.name,
            b.times.len(),
            m.as_secs_f64() * 1e6,
            m.as_secs_f64() / peer.as_secs_f64()
        );
    }
    ExitCode::SUCCESS
}

fn time_once(argv: &[String]) -> Result<Duration, String> {
    let start = Instant::now();
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    if !status.success() {
        return Err(format!("exited with {status}"));
    }
    Ok(elapsed)
}
