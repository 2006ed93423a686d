//! pam-drive: run PAM calls against a service through real libpam, one step
//! per argument, printing each result; for the pam_pag tests (run as root).
//!
//! ```text
//! pam-drive [--confdir DIR] [--private] [--add-user NAME:UID:GID[:GROUP=GID...]]
//!           [--syslog] [--seccomp eperm|enosys] [--pam-pag-toml FILE] SERVICE USER STEP...
//! ```
//! Steps: `authenticate`, `acct_mgmt`, `open_session`, `close_session`,
//! `setcred:establish|reinitialize|refresh|delete`, `putenv:NAME=VALUE`,
//! `show` (what the session keyring is), `root-sh:CMD`, `user-sh:CMD` (CMD as
//! USER: groups, gid and uid dropped), `initgroups` (the user's groups, as
//! sshd's child does before its second setcred), `fork` ... `join` (the
//! steps between run in a child process), `wait-stdin` (print `ready`, block
//! until stdin closes), `ignore-sigchld`, `sigchld` (print whether SIGCHLD
//! is ignored), `become-user` (drop to USER for good: groups, gid, uid, as a
//! screen locker runs), `restart` (pam_end the handle and start a new one,
//! as a second application of the same process would), `end`.
//! `--private` enters a private mount namespace (implied by `--add-user`
//! and `--syslog`); `--syslog` captures /dev/log there and prints each line
//! as `syslog <facility>.<severity> <tag>: <message>` at the end.
//! `--pam-pag-toml FILE` puts FILE at /etc/security/pam_pag.toml there
//! (implies `--private`), for stacks whose pam_pag lines carry no arguments.

#![forbid(unsafe_code)]

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use nix::unistd::{Uid, User};
use pag_tests::mountns::{self, TestUser};
use pag_tests::pam_driver::{self, Pam};
use pag_tests::syslog::Capture;

struct Args {
    confdir: Option<PathBuf>,
    private: bool,
    users: Vec<TestUser>,
    syslog: bool,
    seccomp: Option<i32>,
    /// A file to put at /etc/security/pam_pag.toml in the private namespace.
    pam_pag_toml: Option<PathBuf>,
    service: String,
    user: String,
    steps: Vec<String>,
}

fn parse_user(spec: &str) -> Result<TestUser, String> {
    let mut parts = spec.split(':');
    let (Some(name), Some(uid), Some(gid)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("--add-user {spec}: want NAME:UID:GID[:GROUP=GID...]"));
    };
    let number = |s: &str| s.parse::<u32>().map_err(|_| format!("--add-user {spec}: `{s}` is not a number"));
    let mut groups = Vec::new();
    for g in parts {
        let (n, id) =
            g.split_once('=').ok_or_else(|| format!("--add-user {spec}: group `{g}` wants NAME=GID"))?;
        groups.push((n.to_owned(), number(id)?));
    }
    Ok(TestUser { name: name.to_owned(), uid: number(uid)?, gid: number(gid)?, groups })
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        confdir: None,
        private: false,
        users: Vec::new(),
        syslog: false,
        seccomp: None,
        pam_pag_toml: None,
        service: String::new(),
        user: String::new(),
        steps: Vec::new(),
    };
    let mut positional = Vec::new();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--confdir" => a.confdir = Some(it.next().ok_or("--confdir needs a directory")?.into()),
            "--private" => a.private = true,
            "--add-user" => a.users.push(parse_user(&it.next().ok_or("--add-user needs a value")?)?),
            "--syslog" => a.syslog = true,
            "--pam-pag-toml" => a.pam_pag_toml = Some(it.next().ok_or("--pam-pag-toml needs a file")?.into()),
            "--seccomp" => {
                a.seccomp = Some(match it.next().as_deref() {
                    Some("eperm") => libc::EPERM,
                    Some("enosys") => libc::ENOSYS,
                    other => return Err(format!("--seccomp wants eperm or enosys, not {other:?}")),
                })
            }
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    a.service = positional.next().ok_or("missing SERVICE")?;
    a.user = positional.next().ok_or("missing USER")?;
    a.steps = positional.collect();
    a.private |= a.syslog || !a.users.is_empty() || a.pam_pag_toml.is_some();
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pam-drive: {e}");
            return ExitCode::from(2);
        }
    };
    let scratch = match tempfile::Builder::new().prefix("pam-drive").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("pam-drive: temp dir: {e}");
            return ExitCode::from(1);
        }
    };
    let setup = || -> std::io::Result<Option<Capture>> {
        if args.private {
            mountns::enter_private()?;
        }
        if let Some(file) = &args.pam_pag_toml {
            mountns::pam_pag_toml_at_default(scratch.path(), file)?;
        }
        if !args.users.is_empty() {
            mountns::add_users(scratch.path(), &args.users)?;
        }
        if args.syslog {
            return Capture::at_dev_log(scratch.path()).map(Some);
        }
        Ok(None)
    };
    let capture = match setup() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pam-drive: setting up the namespace: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(errno) = args.seccomp {
        if let Err(e) = pag_tests::seccomp::block_keyrings(errno) {
            eprintln!("pam-drive: seccomp: {e}");
            return ExitCode::from(1);
        }
    }
    let status = drive(&args);
    if let Some(capture) = capture {
        for line in capture.sync() {
            println!("syslog {}.{} {}: {}", line.facility, line.severity, line.tag, line.message);
        }
    }
    let _ = std::io::stdout().flush();
    status
}

fn drive(args: &Args) -> ExitCode {
    let mut pam = match Pam::start(&args.service, &args.user, args.confdir.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            println!("start: {}", e.0);
            return ExitCode::from(1);
        }
    };
    let steps = &args.steps;
    let mut i = 0;
    while i < steps.len() {
        let step = steps[i].as_str();
        i += 1;
        if step == "fork" {
            let Some(join) = steps[i..].iter().position(|s| s == "join").map(|p| p + i) else {
                println!("fork: no matching join");
                return ExitCode::from(2);
            };
            let _ = std::io::stdout().flush();
            match fork_child() {
                Child::InChild => {
                    for s in &steps[i..join] {
                        run_step(&mut pam, args, s);
                    }
                    let _ = std::io::stdout().flush();
                    std::process::exit(0);
                }
                Child::Parent(pid) => {
                    let status = nix::sys::wait::waitpid(pid, None);
                    println!("join: {status:?}");
                }
            }
            i = join + 1;
            continue;
        }
        if step == "end" {
            let code = pam.end();
            println!("end: {code}");
            return ExitCode::SUCCESS;
        }
        if step == "restart" {
            let code = pam.end();
            pam = match Pam::start(&args.service, &args.user, args.confdir.as_deref()) {
                Ok(p) => p,
                Err(e) => {
                    println!("restart: {}", e.0);
                    return ExitCode::from(1);
                }
            };
            println!("restart: {code}");
            continue;
        }
        run_step(&mut pam, args, step);
    }
    ExitCode::SUCCESS
}

enum Child {
    InChild,
    Parent(nix::unistd::Pid),
}

/// fork(2): the PAM handle lives in this process, so the child must be a
/// fork, as sshd's session child is.
fn fork_child() -> Child {
    match pag_tests::process::fork() {
        Ok(nix::unistd::ForkResult::Child) => Child::InChild,
        Ok(nix::unistd::ForkResult::Parent { child }) => Child::Parent(child),
        Err(e) => {
            println!("fork: {e}");
            std::process::exit(1);
        }
    }
}

/// Drop to `u` for good, as an application running as the user is.
fn become_user(u: &User) -> nix::Result<()> {
    nix::unistd::setgroups(&[u.gid])?;
    nix::unistd::setresgid(u.gid, u.gid, u.gid)?;
    nix::unistd::setresuid(u.uid, u.uid, u.uid)
}

fn show(code: i32, pam: &Pam) -> String {
    format!("{code} {}", pam.strerror(code))
}

fn run_step(pam: &mut Pam, args: &Args, step: &str) {
    let (name, value) = step.split_once(':').unwrap_or((step, ""));
    let result = match name {
        "authenticate" => show(pam.authenticate(0), pam),
        "acct_mgmt" => show(pam.acct_mgmt(0), pam),
        "open_session" => show(pam.open_session(0), pam),
        "close_session" => show(pam.close_session(0), pam),
        "setcred" => {
            let flag = match value {
                "establish" => pam_driver::ESTABLISH_CRED,
                "reinitialize" => pam_driver::REINITIALIZE_CRED,
                "refresh" => pam_driver::REFRESH_CRED,
                "delete" => pam_driver::DELETE_CRED,
                other => {
                    println!("{step}: unknown setcred action {other}");
                    return;
                }
            };
            show(pam.setcred(flag), pam)
        }
        "putenv" => show(pam.putenv(value), pam),
        "show" => describe_session(),
        "initgroups" => match user(&args.user) {
            Some(u) => match CString::new(args.user.as_str()).map(|n| nix::unistd::initgroups(&n, u.gid)) {
                Ok(Ok(())) => "ok".to_owned(),
                other => format!("failed: {other:?}"),
            },
            None => "no such user".to_owned(),
        },
        "become-user" => match user(&args.user) {
            Some(u) => match become_user(&u) {
                Ok(()) => "ok".to_owned(),
                Err(e) => format!("failed: {e}"),
            },
            None => "no such user".to_owned(),
        },
        "root-sh" => run_sh(Command::new("/bin/sh").args(["-c", value])),
        "user-sh" => match user(&args.user) {
            Some(u) => {
                let mut cmd = Command::new("/bin/sh");
                cmd.args(["-c", value]).uid(u.uid.as_raw()).gid(u.gid.as_raw()).current_dir("/");
                run_sh(&mut cmd)
            }
            None => "no such user".to_owned(),
        },
        "ignore-sigchld" => match pag_tests::process::ignore_sigchld() {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("failed: {e}"),
        },
        "sigchld" => {
            if pag_tests::process::sigchld_ignored() {
                "ignored".to_owned()
            } else {
                "default".to_owned()
            }
        }
        "wait-stdin" => {
            println!("ready");
            let _ = std::io::stdout().flush();
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            "done".to_owned()
        }
        _ => format!("unknown step {step:?}"),
    };
    println!("{step}: {result}");
    let _ = std::io::stdout().flush();
}

fn user(name: &str) -> Option<User> {
    User::from_name(name).ok().flatten()
}

fn run_sh(cmd: &mut Command) -> String {
    let _ = std::io::stdout().flush();
    match cmd.status() {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exit {c}"),
            (_, Some(sig)) => format!("signal {sig}"),
            _ => "?".to_owned(),
        },
        Err(e) => format!("cannot run: {e}"),
    }
}

fn describe_session() -> String {
    match pag::current() {
        Ok(pag::Current::Pag(p)) => format!(
            "pag {} owner {} marker_uid {} uid {} euid {}",
            p.id(),
            p.owner().uid,
            p.marker_uid(),
            Uid::current(),
            Uid::effective()
        ),
        Ok(pag::Current::Session(k)) => format!("session {k}"),
        Ok(pag::Current::NoSessionKeyring { .. }) => "none".to_owned(),
        Err(e) => format!("error {e}"),
    }
}
