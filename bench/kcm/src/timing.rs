//! The timed loop. It runs inside the container, as the user, in one
//! process for the whole run (`kcm-bench time ...`, started once by the
//! benchmark), so that entering the container costs nothing per command:
//! each sample is one client command, spawned and waited for here, timed
//! from just before the spawn to just after the wait.
//!
//! Interleaving: every round runs each tool against every backend, the
//! backends in an order rotated by one each round (A B C, B C A, C A B,
//! ...), so drift of the machine and the position in the round fall on
//! all of them alike.
//!
//! Besides the wall time, each sample has the command's own CPU (user +
//! system, from getrusage of the reaped children) and the CPU the daemon
//! spent meanwhile (the sum over its threads of /proc/PID/task/*/schedstat,
//! nanoseconds of run time, read before and after): together they show
//! whether time goes to the client, the daemon, or waiting.

use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use nix::sys::resource::{getrusage, UsageWho};

/// The client tools timed, by name.
pub const TOOLS: &[&str] = &["klist", "kvno"];

/// Where a client finds its cache: a krb5.conf, maybe KRB5CCNAME, and the
/// daemon serving it (none for a FILE: cache).
#[derive(Clone, Debug)]
pub struct Backend {
    pub name: String,
    pub krb5_config: String,
    pub ccname: Option<String>,
    pub daemon_pid: Option<u32>,
}

impl Backend {
    /// The form the `time` subcommand takes: NAME,KRB5_CONFIG,CCNAME,PID
    /// with `-` for an absent CCNAME or PID.
    pub fn to_arg(&self) -> String {
        let ccname = self.ccname.as_deref().unwrap_or("-");
        let pid = self.daemon_pid.map_or_else(|| "-".to_owned(), |p| p.to_string());
        format!("{},{},{ccname},{pid}", self.name, self.krb5_config)
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(',').collect();
        let [name, conf, ccname, pid] = parts[..] else {
            return Err(format!("\"{s}\": expected NAME,KRB5_CONFIG,CCNAME,PID (- for none)"));
        };
        let daemon_pid = match pid {
            "-" => None,
            p => Some(p.parse().map_err(|e| format!("pid \"{p}\": {e}"))?),
        };
        Ok(Backend {
            name: name.to_owned(),
            krb5_config: conf.to_owned(),
            ccname: (ccname != "-").then(|| ccname.to_owned()),
            daemon_pid,
        })
    }
}

/// One timed command.
#[derive(Clone, Debug)]
pub struct Sample {
    pub round: usize,
    pub backend: String,
    pub tool: String,
    pub wall: Duration,
    pub client_cpu: Duration,
    pub daemon_cpu: Option<Duration>,
}

impl Sample {
    /// One line of the `time` subcommand's output.
    fn to_line(&self) -> String {
        let daemon = self.daemon_cpu.map_or_else(|| "-".to_owned(), |d| d.as_nanos().to_string());
        format!(
            "sample {} {} {} {} {} {daemon}",
            self.round,
            self.backend,
            self.tool,
            self.wall.as_nanos(),
            self.client_cpu.as_nanos()
        )
    }

    /// Read the lines [`Sample::to_line`] wrote; other lines are ignored.
    pub fn parse_all(text: &str) -> Result<Vec<Sample>, String> {
        text.lines().filter(|l| l.starts_with("sample ")).map(Sample::parse).collect()
    }

    fn parse(line: &str) -> Result<Sample, String> {
        let words: Vec<&str> = line.split(' ').collect();
        let [_, round, backend, tool, wall, client, daemon] = words[..] else {
            return Err(format!("unexpected sample line \"{line}\""));
        };
        let nanos = |w: &str| w.parse::<u64>().map(Duration::from_nanos).map_err(|e| format!("{line}: {e}"));
        Ok(Sample {
            round: round.parse().map_err(|e| format!("{line}: {e}"))?,
            backend: backend.to_owned(),
            tool: tool.to_owned(),
            wall: nanos(wall)?,
            client_cpu: nanos(client)?,
            daemon_cpu: if daemon == "-" { None } else { Some(nanos(daemon)?) },
        })
    }
}

/// The argv of `tool` (`kvno` asks for `service`).
fn argv<'a>(tool: &'a str, service: &'a str) -> Vec<&'a str> {
    match tool {
        "kvno" => vec!["kvno", service],
        _ => vec![tool],
    }
}

fn command(backend: &Backend, argv: &[&str]) -> Command {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .env("KRB5_CONFIG", &backend.krb5_config);
    if let Some(cc) = &backend.ccname {
        cmd.env("KRB5CCNAME", cc);
    }
    cmd
}

/// CPU the reaped children of this process have used so far.
fn children_cpu() -> Result<Duration, String> {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| format!("getrusage: {e}"))?;
    let tv = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    Ok(tv(usage.user_time()) + tv(usage.system_time()))
}

/// Run time of all threads of `pid` (first field of schedstat, ns).
pub fn daemon_cpu(pid: u32) -> Result<Duration, String> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0u64;
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))? {
        let path = entry.map_err(|e| format!("{dir}: {e}"))?.path().join("schedstat");
        // A thread may end between the listing and the read.
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let ns = text.split_whitespace().next().and_then(|w| w.parse::<u64>().ok());
        total += ns.ok_or_else(|| format!("{}: unexpected \"{text}\"", path.display()))?;
    }
    Ok(Duration::from_nanos(total))
}

/// Time one command; a failing command is an error with its output (run
/// again, captured), because a failed klist would be fast for no reason.
fn time_one(backend: &Backend, tool: &str, service: &str, round: usize) -> Result<Sample, String> {
    let argv = argv(tool, service);
    let mut cmd = command(backend, &argv);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let daemon_before = backend.daemon_pid.map(daemon_cpu).transpose()?;
    let cpu_before = children_cpu()?;
    let start = Instant::now();
    let status = cmd.status().map_err(|e| format!("{}: {e}", argv[0]))?;
    let wall = start.elapsed();
    let client_cpu = children_cpu()?.saturating_sub(cpu_before);
    let daemon_after = backend.daemon_pid.map(daemon_cpu).transpose()?;
    if !status.success() {
        let out = command(backend, &argv).output().map_err(|e| format!("{}: {e}", argv[0]))?;
        return Err(format!(
            "`{}` against {} failed in round {round} ({status}); again: {}{}",
            argv.join(" "),
            backend.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let daemon_cpu = match (daemon_before, daemon_after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b)),
        _ => None,
    };
    Ok(Sample { round, backend: backend.name.clone(), tool: tool.to_owned(), wall, client_cpu, daemon_cpu })
}

/// The loop: `warmup` uncounted rounds, then `rounds` counted ones, each
/// sample printed on stdout as it is taken.
pub fn run(rounds: usize, warmup: usize, service: &str, backends: &[Backend]) -> Result<(), String> {
    for round in 0..warmup + rounds {
        let mut order = backends.to_vec();
        order.rotate_left(round % backends.len().max(1));
        for tool in TOOLS {
            for backend in &order {
                let sample = time_one(backend, tool, service, round)?;
                if round >= warmup {
                    println!("{}", Sample { round: round - warmup, ..sample }.to_line());
                }
            }
        }
    }
    Ok(())
}
