//! `aklog --renew` and `pagsh --renew` against a real MIT KDC with short
//! tickets (10-20 s, renewable for minutes), so that several lifetimes pass
//! within a test. Every job runs in a fresh session keyring; the tokens are
//! real keys (user keys on a kernel without AF_RXRPC, rxrpc keys in the kAFS
//! VM tier). Needs root (the jobs of one test run as a leased uid).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A shell loop that checks the token for example.org once a second for
/// `seconds` and prints one line per check: `ok <expiry>`, `MISSING` or
/// `EXPIRED`.
fn checker(seconds: u32) -> String {
    format!(
        "i=0; while [ $i -lt {seconds} ]; do i=$((i+1)); \
         e=$(tokens --json | sed -n 's/.*\"expires\": *\\([0-9]*\\).*/\\1/p' | head -n 1); \
         if [ -z \"$e\" ]; then echo MISSING; elif [ \"$e\" -le \"$(date +%s)\" ]; then echo EXPIRED; \
         else echo \"ok $e\"; fi; sleep 1; done"
    )
}

/// `text` quoted for sh.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The distinct expiries the checker saw; fails on any MISSING or EXPIRED.
fn expiries_seen(stdout: &str, checks: usize) -> BTreeSet<u64> {
    let lines: Vec<&str> =
        stdout.lines().filter(|l| l.starts_with("ok ") || l.ends_with("ING") || l == &"EXPIRED").collect();
    assert_eq!(lines.len(), checks, "every check reported: {stdout}");
    assert!(
        lines.iter().all(|l| l.starts_with("ok ")),
        "the token was missing or expired at some check: {stdout}"
    );
    lines.iter().map(|l| l[3..].parse().unwrap()).collect()
}

/// A KDC whose `user` gets the ticket lifetimes asked for, and a
/// keytab principal `svc` whose tickets last 15 s.
fn kdc() -> Fx {
    let fx = fixture();
    fx.kdc.add_random_principal("svc").unwrap();
    fx.kdc.kadmin("modprinc -maxlife \"15 seconds\" svc").unwrap();
    fx
}

/// kinit `user` into `ccache` with `args` (lifetime, renewable lifetime).
fn kinit(fx: &Fx, ccache: &str, args: &[&str]) {
    fx.kdc.kinit_password_args(USER, PASSWORD, ccache, args).unwrap();
}

/// Start `script` with sh in a fresh session keyring, in the background.
fn spawn_session(fx: &Fx, ccache: &str, script: &str) -> Child {
    fx.command("keyctl", ccache)
        .args(["session", "-", "sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running keyctl session")
}

/// Start `pagsh --renew ARGS -- sh -c SCRIPT` in the background (its pid is
/// the renewer's: keyctl and pagsh exec). Stdout is read line by line.
fn spawn_job(fx: &Fx, ccache: &str, args: &str, script: &str) -> Child {
    let mut c = fx.command("keyctl", ccache);
    c.args(["session", "-", "sh", "-c", &format!("exec pagsh --renew {args} -- sh -c {}", quote(script))]);
    c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("running pagsh")
}

/// Wait for a line of the child's stdout starting with `prefix`; the lines
/// read so far go to `seen`.
fn wait_for_line(child: &mut Child, prefix: &str, seen: &mut Vec<String>) -> String {
    let stdout = child.stdout.as_mut().unwrap();
    let mut reader = BufReader::new(stdout);
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "the job ended before printing {prefix:?}: {seen:?}");
        let line = line.trim_end().to_owned();
        seen.push(line.clone());
        if line.starts_with(prefix) {
            return line;
        }
    }
}

fn finish(child: Child, mut seen: Vec<String>) -> Out {
    let out = child.wait_with_output().unwrap();
    seen.push(String::from_utf8_lossy(&out.stdout).into_owned());
    Out {
        code: out.status.code().unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0)),
        stdout: seen.join("\n"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn signal(child: &Child, signal: Signal) {
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
}

/// Processes of `uid`, from /proc.
fn processes_of(uid: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        let real_uid =
            status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().next());
        if real_uid == Some(uid.to_string().as_str()) {
            found.push(status.lines().next().unwrap_or_default().to_owned());
        }
    }
    found
}

/// A command exits on its own: its status comes back through pagsh and the
/// renewer, which then leave no process and no key of the user behind. The
/// job runs as an unprivileged uid, so its keys can be counted.
#[test]
fn a_job_keeps_a_valid_token_through_three_lifetimes_then_leaves_nothing() {
    let fx = kdc();
    let lease = pag_tests::container::lease_uid().unwrap();
    let uid = lease.uid();
    // The user reads the KDC's client configuration and its own cache.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(fx.kdc.dir(), std::fs::Permissions::from_mode(0o711)).unwrap();
    for f in [fx.kdc.krb5_conf(), fx.config.as_path()] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let cache_file = dir.path().join("cc");
    let ccache = format!("FILE:{}", cache_file.display());
    kinit(&fx, &ccache, &["-l", "15s", "-r", "5m"]);
    nix::unistd::chown(&cache_file, Some(uid.into()), Some(uid.into())).unwrap();
    let keys_before = pag_tests::container::keys_owned_by(uid).unwrap();

    let started = Instant::now();
    let script = format!("klist | grep -o 'KEYRING:session:[^ ]*'; {}; exit 3", checker(50));
    let out = fx
        .command("setpriv", &ccache)
        .env("HOME", "/")
        .args(["--reuid", &uid.to_string(), "--regid", &uid.to_string(), "--clear-groups", "--"])
        .args([
            "keyctl",
            "session",
            "-",
            "pagsh",
            "--renew",
            "--cell",
            "example.org",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "the command's status comes back: {stdout}\n{stderr}");
    assert!(started.elapsed() >= Duration::from_secs(50));
    assert!(
        stdout.contains("KEYRING:session:aklog-renew-"),
        "the job's cache is private to its PAG: {stdout}"
    );
    let expiries = expiries_seen(&stdout, 50);
    assert!(expiries.len() >= 4, "the token was refreshed at least three times: {expiries:?}\n{stderr}");
    let said: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("Joined session keyring")).collect();
    assert!(said.is_empty(), "nothing to say: {stderr}");

    // The kernel frees the PAG's keys once its last process is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let keys = pag_tests::container::keys_owned_by(uid).unwrap();
        let procs = processes_of(uid);
        if keys <= keys_before && procs.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: {keys} keys (before: {keys_before}), processes {procs:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A service account's job: no ticket to begin with, a new one from the
/// keytab whenever needed, tokens throughout.
#[test]
fn a_keytab_job_without_a_ticket_gets_tokens_and_keeps_them() {
    let fx = kdc();
    let keytab = fx.kdc.dir().join("svc.keytab");
    fx.kdc.write_keytab("svc", &keytab).unwrap();
    let none = fx.file_ccache("never-made");
    let script = format!("klist | grep '^Default principal'; {}", checker(35));
    let out = fx.session_as(
        Session::Fresh,
        &none,
        false,
        &format!(
            "pagsh --renew --keytab {} --cell example.org -- sh -c {}",
            keytab.display(),
            quote(&script)
        ),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("Default principal: svc@AKLOG.TEST"), "{out:?}");
    let expiries = expiries_seen(&out.stdout, 35);
    assert!(expiries.len() >= 3, "fresh tickets from the keytab: {expiries:?}\n{}", out.stderr);
}

/// A ticket that is not renewable: the command runs with the tokens it
/// has, and the renewer says why it cannot keep them.
#[test]
fn a_ticket_that_is_not_renewable_ends_renewal_with_the_reason() {
    let fx = kdc();
    let ccache = fx.file_ccache("cc");
    kinit(&fx, &ccache, &["-l", "1h"]);
    let out = fx.session_as(
        Session::Fresh,
        &ccache,
        false,
        "pagsh --renew --cell example.org -- sh -c 'tokens | grep -c afs@example.org'",
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.trim(), "1", "{out:?}");
    assert!(out.stderr.contains("the ticket is not renewable (get one with kinit -r)"), "{out:?}");
}

/// The renewable lifetime runs out: said once, and the command goes on.
#[test]
fn the_end_of_the_renewable_lifetime_is_said_once() {
    let fx = kdc();
    let ccache = fx.file_ccache("cc");
    kinit(&fx, &ccache, &["-l", "8s", "-r", "16s"]);
    let out = fx.session_as(Session::Fresh, &ccache, false, "pagsh --renew --cell example.org -- sleep 20");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stderr.matches("the ticket has reached its renewable lifetime: renewal stopped").count(),
        1,
        "{out:?}"
    );
}

/// The KDC goes away while a refresh is due and comes back: the renewer
/// says so once, backs off, and recovers; the token never lapses.
#[test]
fn a_kdc_that_stops_and_comes_back_backoff_then_recovery() {
    let mut fx = kdc();
    let ccache = fx.file_ccache("cc");
    kinit(&fx, &ccache, &["-l", "30s", "-r", "5m"]);
    let mut job = spawn_job(&fx, &ccache, "--cell example.org", &format!("echo started; {}", checker(16)));
    let mut seen = Vec::new();
    wait_for_line(&mut job, "started", &mut seen);
    fx.kdc.stop();
    // SIGALRM: refresh now, with no KDC.
    signal(&job, Signal::SIGALRM);
    std::thread::sleep(Duration::from_secs(5));
    fx.kdc.start_again().unwrap();
    let out = finish(job, seen);
    assert_eq!(out.code, 0, "{out:?}");
    expiries_seen(&out.stdout, 16);
    assert_eq!(out.stderr.matches("trying again with backoff").count(), 1, "{out:?}");
    assert_eq!(out.stderr.matches("a KDC answered again").count(), 1, "{out:?}");
}

/// SIGTERM and SIGHUP sent to the renewer reach the command; SIGINT does
/// not (the terminal sends it to the whole group); the command's status
/// comes back.
#[test]
fn signals_to_the_renewer_reach_the_command_except_sigint() {
    let fx = kdc();
    let ccache = fx.file_ccache("cc");
    kinit(&fx, &ccache, &["-l", "1h", "-r", "2h"]);
    let script = "trap 'echo got INT' INT; trap 'echo got HUP' HUP; trap 'echo got TERM; exit 7' TERM; \
                  echo ready; while :; do sleep 0.1; done";
    let mut job = spawn_job(&fx, &ccache, "--cell example.org", script);
    let mut seen = Vec::new();
    wait_for_line(&mut job, "ready", &mut seen);
    signal(&job, Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(500));
    signal(&job, Signal::SIGHUP);
    wait_for_line(&mut job, "got HUP", &mut seen);
    signal(&job, Signal::SIGTERM);
    let out = finish(job, seen);
    assert_eq!(out.code, 7, "{out:?}");
    assert!(out.stdout.contains("got TERM"), "{out:?}");
    assert!(!out.stdout.contains("got INT"), "SIGINT was passed on: {out:?}");
}

/// The command starts with no signal blocked (the renewer blocks the ones
/// it reads), so a program that does not set its own mask gets SIGTERM.
#[test]
fn the_command_starts_with_no_signal_blocked_and_dies_of_a_relayed_sigterm() {
    let fx = kdc();
    let ccache = fx.file_ccache("cc");
    kinit(&fx, &ccache, &["-l", "1h", "-r", "2h"]);
    let out = fx.session_as(
        Session::Fresh,
        &ccache,
        false,
        "pagsh --renew --cell example.org -- grep SigBlk /proc/self/status",
    );
    assert_eq!(out.stdout.trim(), "SigBlk:\t0000000000000000", "{out:?}");
    let mut job = spawn_job(&fx, &ccache, "--cell example.org", "echo started; exec sleep 60");
    let mut seen = Vec::new();
    wait_for_line(&mut job, "started", &mut seen);
    std::thread::sleep(Duration::from_millis(200));
    signal(&job, Signal::SIGTERM);
    let out = finish(job, seen);
    assert_eq!(out.code, 128 + 15, "sleep died of SIGTERM, and so did the renewer: {out:?}");
}

/// Two renewing jobs of one user: each in its own PAG with its own cache;
/// `unlog` in one removes its tokens for good (the renewer does not add
/// them back) and leaves the other's alone.
#[test]
fn two_jobs_of_one_user_never_touch_each_other() {
    let fx = kdc();
    let ccache = fx.file_ccache("cc");
    kinit(&fx, &ccache, &["-l", "12s", "-r", "5m"]);
    let show = "echo \"pag $(keyctl show @s | sed -n 2p | awk '{print $1}') \
                marker $(keyctl search @s user pag:marker >/dev/null && echo yes) cache $KRB5CCNAME\"";
    let a_script = format!("{show}; sleep 2; unlog; echo unlogged; {}", checker(18));
    let b_script = format!("{show}; {}", checker(20));
    let a = spawn_job(&fx, &ccache, "--cell example.org", &a_script);
    let b = spawn_job(&fx, &ccache, "--cell example.org", &b_script);
    let (a, b) = (finish(a, Vec::new()), finish(b, Vec::new()));
    assert_eq!((a.code, b.code), (0, 0), "{a:?}\n{b:?}");
    let ident = |o: &Out| o.stdout.lines().find(|l| l.starts_with("pag ")).unwrap().to_owned();
    assert_ne!(ident(&a), ident(&b), "one PAG and one cache each");
    assert!(ident(&a).contains("marker yes"), "{}", ident(&a));
    // A: gone after unlog, and never back, though refreshes were due.
    let after_unlog = a.stdout.split("unlogged").nth(1).unwrap();
    assert!(after_unlog.lines().filter(|l| !l.is_empty()).all(|l| l == "MISSING"), "{a:?}");
    assert!(a.stderr.contains("the token for example.org was removed (unlog or logout)"), "{a:?}");
    // B: valid throughout, and refreshed.
    assert!(expiries_seen(&b.stdout, 20).len() >= 2, "{b:?}");
}

/// `aklog --renew` in a running session stops when the process that
/// started it (the login's shell) exits.
#[test]
fn a_renewer_without_a_command_stops_with_the_process_that_started_it() {
    let fx = kdc();
    let ccache = fx.file_ccache("cc");
    kinit(&fx, &ccache, &["-l", "1h", "-r", "2h"]);
    let mut session = spawn_session(
        &fx,
        &ccache,
        "aklog --renew -c example.org & echo \"renewer $!\"; sleep 1; tokens | grep -c afs@example.org; sleep 1",
    );
    let mut seen = Vec::new();
    let pid: i32 = wait_for_line(&mut session, "renewer ", &mut seen)[8..].parse().unwrap();
    let out = finish(session, seen);
    assert!(out.stdout.contains("\n1"), "the renewer stored a token: {out:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while kill(Pid::from_raw(pid), None).is_ok() {
        assert!(Instant::now() < deadline, "the renewer outlived the shell that started it");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bad_input_is_named_with_a_defined_exit() {
    let fx = kdc();
    let ccache = fx.file_ccache("cc");
    let run = |script: &str| fx.session_as(Session::Fresh, &ccache, false, script);
    assert_fails(
        &run("aklog --renew --keytab /nonexistent/kt -c example.org"),
        4,
        "cannot read the keytab /nonexistent/kt",
    );
    assert_fails(&run("aklog --principal x -c example.org"), 1, "--keytab");
    assert_fails(&run("aklog --renew -setpag -c example.org"), 1, "--setpag");
    assert_fails(&run("aklog --renew -c example.org"), 4, "no ticket in the cache");
    assert_fails(&run("aklog -c example.org -- true"), 1, "--renew");
    assert_fails(&run("aklog-renewer"), 1, "started by aklog --renew");
    let keyring = fx.session_as(Session::Fresh, "KEYRING:session:x", false, "pagsh --renew -- true");
    assert_fails(&keyring, 125, "KEYRING:session:x is in your current session keyring");
    kinit(&fx, &ccache, &["-l", "1h", "-r", "2h"]);
    assert_fails(&run("aklog --renew -c example.org -- /nonexistent/cmd"), 127, "command not found");
}

/// With a keytab there is no ticket end to give up at: a KDC away for
/// longer than a ticket's life is waited for, and the tokens come back.
#[test]
fn a_keytab_job_waits_out_a_kdc_away_longer_than_a_ticket() {
    let mut fx = kdc();
    let keytab = fx.kdc.dir().join("svc.keytab");
    fx.kdc.write_keytab("svc", &keytab).unwrap();
    let args = format!("--keytab {} --cell example.org", keytab.display());
    let mut job = spawn_job(&fx, &fx.file_ccache("unused"), &args, &format!("echo started; {}", checker(40)));
    let mut seen = Vec::new();
    wait_for_line(&mut job, "started", &mut seen);
    fx.kdc.stop();
    std::thread::sleep(Duration::from_secs(22));
    fx.kdc.start_again().unwrap();
    let out = finish(job, seen);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stderr.matches("trying again with backoff for as long as it takes").count(), 1, "{out:?}");
    assert_eq!(out.stderr.matches("a KDC answered again").count(), 1, "{out:?}");
    // The 15 s token lapsed while the KDC was away, and came back after.
    let lines: Vec<&str> =
        out.stdout.lines().filter(|l| l.starts_with("ok ") || *l == "EXPIRED" || *l == "MISSING").collect();
    let lapse =
        lines.iter().position(|l| !l.starts_with("ok ")).expect("the token lapsed while the KDC was away");
    assert!(lines[lapse..].iter().any(|l| l.starts_with("ok ")), "tokens came back: {out:?}");
    assert!(lines.last().unwrap().starts_with("ok "), "{out:?}");
}

/// The KDC refusing to renew (its ticket-granting key was changed, so it
/// can no longer read the ticket) ends renewal, said once, and the command
/// goes on.
#[test]
fn a_kdc_that_refuses_renewal_ends_it_with_the_reason() {
    let fx = kdc();
    let ccache = fx.file_ccache("cc");
    kinit(&fx, &ccache, &["-l", "1h", "-r", "2h"]);
    let mut job = spawn_job(&fx, &ccache, "--cell example.org", "echo started; sleep 3; echo still here");
    let mut seen = Vec::new();
    wait_for_line(&mut job, "started", &mut seen);
    fx.kdc.kadmin(&format!("cpw -randkey krbtgt/{REALM}@{REALM}")).unwrap();
    signal(&job, Signal::SIGALRM);
    let out = finish(job, seen);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("still here"), "{out:?}");
    assert_eq!(out.stderr.matches("renewing the ticket: ").count(), 1, "{out:?}");
    assert!(out.stderr.contains("renewal stopped"), "{out:?}");
}
