//! What /proc says about one renewer's process tree: CPU time to the
//! nanosecond, voluntary context switches (each one a sleep the process
//! woke from), and memory (RSS, PSS, private).
//!
//! The tree is the renewer and its descendants except the command it runs
//! (`sleep`, found by name) and that command's own descendants: the
//! renewer's cost, not the job's.

use std::fs;
use std::time::Duration;

use pag_tests::stats::proc_field as field;

/// The name (`comm`) of the command every job runs.
pub const COMMAND: &str = "sleep";

/// One look at a renewer's tree.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// CPU time of the tree's live processes (all threads, from
    /// /proc/PID/task/TID/schedstat) plus what the renewer's reaped
    /// children used (cutime + cstime of /proc/PID/stat, clock ticks).
    pub cpu: Duration,
    /// Voluntary context switches of the tree's live threads.
    pub wakeups: u64,
    /// VmRSS, kB.
    pub rss_kb: u64,
    /// Pss of /proc/PID/smaps_rollup, kB: shared pages divided among the
    /// processes that map them (both renewers map libkrb5).
    pub pss_kb: u64,
    /// Private_Clean + Private_Dirty, kB: what only this process maps.
    pub uss_kb: u64,
    /// Processes in the tree besides the renewer (0 when idle: a refresh
    /// runs in a short-lived worker).
    pub others: usize,
}

/// Read `path`; a process that is gone reads as an error naming it.
fn read(path: &str) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

/// The threads of `pid`.
fn tasks(pid: u32) -> Result<Vec<u32>, String> {
    let dir = format!("/proc/{pid}/task");
    let entries = fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))?;
    Ok(entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
}

/// The children of `pid` (of all its threads).
pub fn children(pid: u32) -> Result<Vec<u32>, String> {
    let mut found = Vec::new();
    for tid in tasks(pid)? {
        let text = read(&format!("/proc/{pid}/task/{tid}/children")).unwrap_or_default();
        found.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
    }
    Ok(found)
}

/// The process's name as the kernel keeps it (changes at exec).
pub fn comm(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|c| c.trim_end().to_owned())
}

/// The command's pid if `pid` has a child that has become it (exec'd).
pub fn command_child(pid: u32) -> Option<u32> {
    children(pid).ok()?.into_iter().find(|&c| comm(c).as_deref() == Some(COMMAND))
}

/// The renewer and its descendants, the command's subtree left out.
fn tree(renewer: u32) -> Result<Vec<u32>, String> {
    let mut members = vec![renewer];
    let mut i = 0;
    while i < members.len() {
        for child in children(members[i])? {
            if comm(child).as_deref() != Some(COMMAND) {
                members.push(child);
            }
        }
        i += 1;
    }
    Ok(members)
}

/// The value of `key:` in a /proc file of `Key: value [kB]` lines.
/// cutime + cstime of `pid`, in clock ticks.
fn reaped_ticks(pid: u32) -> Result<u64, String> {
    let stat = read(&format!("/proc/{pid}/stat"))?;
    // Fields after the `(comm)`, which may hold spaces: state is field 3.
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).ok_or("malformed stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let at = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).ok_or("malformed stat");
    Ok(at(16)? + at(17)?)
}

fn clock_ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().map_or(100, |t| t as u64)
}

/// Look at the tree of `renewer` now.
pub fn sample(renewer: u32) -> Result<Sample, String> {
    let members = tree(renewer)?;
    let mut s = Sample { others: members.len() - 1, ..Sample::default() };
    let mut ns = 0u64;
    for &pid in &members {
        for tid in tasks(pid)? {
            // A thread may end between the listing and the reads: it is
            // simply not counted (its time goes to the process's total).
            let (Ok(schedstat), Ok(status)) = (
                read(&format!("/proc/{pid}/task/{tid}/schedstat")),
                read(&format!("/proc/{pid}/task/{tid}/status")),
            ) else {
                continue;
            };
            ns += schedstat.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0);
            s.wakeups += field(&status, "voluntary_ctxt_switches").unwrap_or(0);
        }
        let status = read(&format!("/proc/{pid}/status"))?;
        s.rss_kb += field(&status, "VmRSS").unwrap_or(0);
        let rollup = read(&format!("/proc/{pid}/smaps_rollup"))?;
        s.pss_kb += field(&rollup, "Pss").unwrap_or(0);
        s.uss_kb +=
            field(&rollup, "Private_Clean").unwrap_or(0) + field(&rollup, "Private_Dirty").unwrap_or(0);
    }
    let ticks = reaped_ticks(renewer)?;
    ns += ticks * 1_000_000_000 / clock_ticks_per_second();
    s.cpu = Duration::from_nanos(ns);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_samples() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.cpu > Duration::ZERO && s.rss_kb > 0 && s.pss_kb > 0, "{s:?}");
    }
}
