//! The result tables and the verdict.

use std::time::Duration;

use crate::memory::{Measured, Rss};
use crate::site::{FILE, PAG, SSSD};
use crate::timing::{Sample, TOOLS};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The samples of one (tool, backend).
fn of<'a>(samples: &'a [Sample], tool: &str, backend: &str) -> Vec<&'a Sample> {
    samples.iter().filter(|s| s.tool == tool && s.backend == backend).collect()
}

/// Median wall time of (tool, backend), ms.
pub fn median_wall(samples: &[Sample], tool: &str, backend: &str) -> f64 {
    median(of(samples, tool, backend).iter().map(|s| ms(s.wall)))
}

pub fn print_timing(samples: &[Sample], rounds: usize, warmup: usize, tgs: usize) {
    println!(
        "kcm-bench: {rounds} rounds after {warmup} warm-up rounds; per round klist then kvno, each against \
         the three backends in an order rotated every round; times of whole client processes in ms"
    );
    println!();
    println!("| command | backend | min | median | max | client CPU (median) | daemon CPU (median) |");
    println!("|---|---|---|---|---|---|---|");
    for tool in TOOLS {
        for backend in [PAG, SSSD, FILE] {
            let s = of(samples, tool, backend);
            let walls: Vec<f64> = s.iter().map(|s| ms(s.wall)).collect();
            let min = walls.iter().copied().fold(f64::INFINITY, f64::min);
            let max = walls.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let client = median(s.iter().map(|s| ms(s.client_cpu)));
            let daemon: Vec<f64> = s.iter().filter_map(|s| s.daemon_cpu.map(ms)).collect();
            let daemon = if daemon.is_empty() { "-".to_owned() } else { format!("{:.3}", median(daemon)) };
            let name = if *tool == "kvno" { "kvno (cached)" } else { tool };
            println!(
                "| {name} | {backend} | {min:.3} | {:.3} | {max:.3} | {client:.3} | {daemon} |",
                median(walls.iter().copied())
            );
        }
    }
    println!();
    println!("| command | pag-kcm / sssd-kcm (medians) | pag-kcm / FILE: (medians) | target (<= sssd-kcm) |");
    println!("|---|---|---|---|");
    for tool in TOOLS {
        let (p, s, f) = (
            median_wall(samples, tool, PAG),
            median_wall(samples, tool, SSSD),
            median_wall(samples, tool, FILE),
        );
        let met = if p <= s { "met" } else { "missed" };
        println!("| {tool} | {:.2}x | {:.2}x | {met} |", p / s, p / f);
    }
    println!();
    println!(
        "TGS requests for the service during the timed runs: {tgs} ({})",
        if tgs == 0 { "every kvno was served from its cache" } else { "NOT all served from the caches" }
    );
}

pub fn print_memory(measured: &[Measured], logins: usize) {
    println!();
    println!(
        "Memory per cached login: {logins} logins (a uid each: kinit, then kvno of the service, so a TGT \
         and a service ticket) added to each daemon; kB = (after - before) / {logins}"
    );
    println!();
    println!(
        "| daemon | VmRSS before kB | VmRSS after kB | kB per login (VmRSS) | kB per login (RssAnon) | \
         kB per login (RssFile) | state | files | bytes | kB allocated | bytes per login (growth / N) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for m in measured {
        let per = |f: fn(&Rss) -> u64| m.per_login(logins, f);
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {:.0} |",
            m.name,
            m.before.total,
            m.after.total,
            per(|r| r.total),
            per(|r| r.anon),
            per(|r| r.file),
            m.stored.dir,
            m.stored.files,
            m.stored.bytes,
            m.stored.allocated_kb,
            (m.stored.bytes as f64 - m.stored_before.bytes as f64) / logins as f64
        );
    }
    let fills: Vec<String> =
        measured.iter().map(|m| format!("{} {:.1} s", m.name, m.fill.as_secs_f64())).collect();
    println!();
    println!("Filling took (both at once, one KDC): {}", fills.join(", "));
}

pub fn print_verdict(samples: &[Sample]) {
    println!();
    for tool in TOOLS {
        let (p, s) = (median_wall(samples, tool, PAG), median_wall(samples, tool, SSSD));
        println!("pag-kcm {tool} median {p:.3} ms vs sssd-kcm {s:.3} ms: ratio {:.2}", p / s);
    }
}
