//! pagsh end to end: the real binary, real kernel keyrings, real keyctl(1)
//! as the "other process" that tries to get in.
//!
//! Each test first puts its own thread into a fresh session keyring so that
//! the "caller" of pagsh is a known keyring that no other test shares.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use pag::sys::{self, KeySerial, Special};
use pag::token::rxrpc::{RxkadToken, KVNO_KERBEROS5};
use pag::token::{KeyType, Token, TokenStore};

/// An unprivileged uid/gid with no other processes or keys of its own.
const NOBODY: u32 = 65534;
/// A config path that does not exist: the defaults, whatever the host has.
/// An empty file: the defaults (a file named by PAG_CONFIG must exist).
const NO_CONFIG: &str = "/dev/null";

fn fresh_session() -> KeySerial {
    sys::join_new_session_keyring().expect("joining a fresh session keyring for the test")
}

fn pagsh_path() -> &'static str {
    env!("CARGO_BIN_EXE_pagsh")
}

fn pagsh() -> Command {
    let mut c = Command::new(pagsh_path());
    c.env("SHELL", "/bin/sh").env("PAG_CONFIG", NO_CONFIG);
    c
}

/// A workspace binary of another package (built by `cargo build --workspace`).
fn workspace_bin(name: &str) -> PathBuf {
    pag_tests::built_binary(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Run `argv` as uid/gid `id` with no supplementary groups, through setpriv(1).
fn as_user(id: u32, argv: &[&str]) -> Command {
    assert!(nix::unistd::geteuid().is_root(), "this test switches users and needs root (CI runs as root)");
    let mut c = Command::new("setpriv");
    c.args([format!("--reuid={id}"), format!("--regid={id}"), "--clear-groups".into(), "--".into()]);
    c.args(argv).env("PAG_CONFIG", NO_CONFIG).env("SHELL", "/bin/sh");
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("running a command")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_new_pag_differs_from_the_caller_which_is_unchanged() {
    let caller = fresh_session();
    let o = run(pagsh().args(["-v", "--", "keyctl", "id", "@s"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let inside: i32 = stdout(&o).parse().unwrap();
    assert_ne!(inside, caller.0);
    assert_eq!(stderr(&o).trim(), format!("pagsh: new PAG {inside}"), "-v prints the PAG id");
    assert_eq!(sys::special_id(Special::Session, false).unwrap(), caller, "the caller keeps its keyring");

    // A shell around pagsh keeps its own keyring too.
    let script = format!("keyctl id @s; {} -- keyctl id @s; keyctl id @s", pagsh_path());
    let o = run(Command::new("sh").args(["-c", &script]).env("PAG_CONFIG", NO_CONFIG));
    let text = stdout(&o);
    let ids: Vec<&str> = text.lines().collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(ids[0], caller.0.to_string());
    assert_eq!(ids[0], ids[2]);
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn children_setsid_and_background_processes_share_the_pag() {
    fresh_session();
    let dir = tempdir("share");
    let daemon_out = dir.join("daemon");
    let script = format!(
        "keyctl id @s; sh -c 'keyctl id @s'; setsid keyctl id @s; (keyctl id @s) & wait; \
         nohup keyctl id @s 2>/dev/null; \
         setsid -f sh -c 'sleep 0.3; keyctl id @s > {0}.tmp; mv {0}.tmp {0}' </dev/null >/dev/null 2>&1",
        daemon_out.display()
    );
    let o = run(pagsh().args(["-c", &script]));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let ids: Vec<&str> = text.lines().collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(ids.iter().all(|i| i == &ids[0]), "every child is in the PAG: {ids:?}");
    // The daemonized process outlives pagsh and is still in the PAG.
    assert_eq!(wait_for_file(&daemon_out).trim(), ids[0]);
}

#[test]
fn an_unprivileged_user_owns_the_pag_with_the_documented_permissions() {
    let id = NOBODY.to_string();
    let o = run(&mut as_user(NOBODY, &[pagsh_path(), "--", "keyctl", "rdescribe", "@s"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("keyring;{id};{id};1f030000;_ses"));
    // From the inside it is the user's: add, read and unlink keys.
    let script = "k=$(printf secret | keyctl padd user mine @s) && keyctl print $k && keyctl unlink $k @s";
    let o = run(&mut as_user(NOBODY, &[pagsh_path(), "--", "sh", "-c", script]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("secret"), "{}", stdout(&o));
}

/// A PAG of `uid` holding a key `afs@example.org`, kept alive until dropped.
struct LivePag {
    child: std::process::Child,
    pag: String,
    token: String,
}

impl LivePag {
    fn start(uid: u32) -> Self {
        // The key gets the permissions the token store gives tokens.
        let script = "k=$(printf 'very secret token' | keyctl padd user afs@example.org @s) || exit 1; \
                      keyctl setperm $k 0x3f000000 || exit 1; echo \"$(keyctl id @s) $k\"; read line";
        let mut child = as_user(uid, &[pagsh_path(), "--", "sh", "-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let mut parts = line.split_whitespace().map(str::to_owned);
        let (pag, token) = (parts.next().expect("PAG id"), parts.next().expect("token id"));
        LivePag { child, pag, token }
    }
}

impl Drop for LivePag {
    fn drop(&mut self) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.write_all(b"done\n");
        }
        let _ = self.child.wait();
    }
}

#[test]
fn a_same_uid_process_outside_the_pag_cannot_get_in() {
    fresh_session();
    let live = LivePag::start(NOBODY);
    // The attacker: same uid, a session keyring of its own, as another login has.
    let outside = |argv: &[&str]| {
        let mut full = vec!["keyctl", "session", "-"];
        full.extend_from_slice(argv);
        run(&mut as_user(NOBODY, &full))
    };
    let denied = |o: &Output, what: &str| {
        assert!(!o.status.success(), "{what} must fail, got: {}", stdout(o));
        assert!(stderr(o).contains("Permission denied"), "{what}: {}", stderr(o));
    };
    denied(&outside(&["keyctl", "print", &live.token]), "reading the token");
    denied(&outside(&["keyctl", "pipe", &live.token]), "piping the token");
    denied(&outside(&["keyctl", "search", &live.pag, "user", "afs@example.org"]), "searching the PAG");
    denied(&outside(&["keyctl", "link", &live.pag, "@s"]), "linking the PAG");
    denied(&outside(&["keyctl", "link", &live.token, "@s"]), "linking the token");
    denied(&outside(&["keyctl", "add", "user", "planted", "x", &live.pag]), "writing into the PAG");
    denied(&outside(&["keyctl", "setperm", &live.pag, "0x3f3f0000"]), "changing the PAG's permissions");

    // Joining by any name gives some other keyring, never the PAG.
    for name in ["_ses", "pag:marker", "afs@example.org", live.pag.as_str()] {
        let o = run(&mut as_user(NOBODY, &["keyctl", "session", name, "keyctl", "id", "@s"]));
        assert!(o.status.success(), "{}", stderr(&o));
        assert_ne!(stdout(&o), live.pag, "joining {name:?} must not enter the PAG");
    }

    // /proc/keys shows the attacker the PAG keyring (owner view) but not the token.
    let o = outside(&["cat", "/proc/keys"]);
    let token_hex = format!("{:08x}", live.token.parse::<u32>().unwrap());
    assert!(!stdout(&o).lines().any(|l| l.starts_with(&token_hex)), "token visible in /proc/keys");

    // Root outside the PAG has no override either.
    let o = run(Command::new("keyctl").args(["session", "-", "keyctl", "print", &live.token]));
    assert!(!o.status.success(), "root outside read the token: {}", stdout(&o));
    let o = run(Command::new("keyctl").args([
        "session",
        "-",
        "keyctl",
        "search",
        &live.pag,
        "user",
        "afs@example.org",
    ]));
    assert!(!o.status.success(), "root outside searched the PAG");
}

#[test]
fn exit_status_and_death_by_signal_pass_through() {
    fresh_session();
    assert_eq!(run(pagsh().args(["--", "sh", "-c", "exit 42"])).status.code(), Some(42));
    assert_eq!(run(pagsh().args(["-c", "exit 3"])).status.code(), Some(3));
    let killed = run(pagsh().args(["--", "sh", "-c", "kill -KILL $$"]));
    assert_eq!(killed.status.signal(), Some(9));
    // With --setsid from a process group leader pagsh must fork; the status
    // and the signal still come through.
    let mut c = pagsh();
    c.args(["--setsid", "--", "sh", "-c", "kill -TERM $$"]).process_group(0);
    assert_eq!(run(&mut c).status.signal(), Some(15));
    let mut c = pagsh();
    c.args(["--setsid", "--", "sh", "-c", "exit 9"]).process_group(0);
    assert_eq!(run(&mut c).status.code(), Some(9));
}

#[test]
fn setsid_makes_a_session_leader_whether_or_not_pagsh_leads_a_group() {
    fresh_session();
    let probe = "test $(ps -o sid= -p $$) -eq $$ && keyctl id @s";
    let mut leader = pagsh();
    leader.args(["--setsid", "--", "sh", "-c", probe]).process_group(0);
    let mut plain = pagsh();
    plain.args(["--setsid", "--", "sh", "-c", probe]);
    for c in [&mut leader, &mut plain] {
        let o = run(c);
        assert!(o.status.success(), "not a session leader: {}", stderr(&o));
        assert!(stdout(&o).parse::<i32>().is_ok(), "{}", stdout(&o));
    }
}

#[test]
fn dash_c_passes_the_command_and_its_arguments_through_the_shell() {
    fresh_session();
    let o = run(pagsh().args(["-c", r#"printf '%s|' "$0" "$1" "$2""#, "zero", "a b", "c'd \"e\""]));
    assert_eq!(stdout(&o), r#"zero|a b|c'd "e"|"#);
    let o = run(pagsh().args(["-c", "echo $((6 * 7)); echo 'single $HOME'"]));
    assert_eq!(stdout(&o), "42\nsingle $HOME");
}

#[test]
fn the_shell_is_shell_then_passwd_then_bin_sh() {
    fresh_session();
    let o = run(pagsh().env("SHELL", "/bin/bash").args(["-c", "echo \"$BASH_VERSION\""]));
    assert!(!stdout(&o).is_empty(), "$SHELL is used");
    let o = run(pagsh().env_remove("SHELL").args(["-c", "echo ok"]));
    assert_eq!(stdout(&o), "ok", "without $SHELL the passwd shell runs: {}", stderr(&o));
}

#[test]
fn programs_that_cannot_run_get_the_shell_exit_codes() {
    fresh_session();
    let o = run(pagsh().args(["--", "/nonexistent/program"]));
    assert_eq!(o.status.code(), Some(127));
    assert_eq!(stderr(&o).trim_end(), "pagsh: /nonexistent/program: command not found");
    let o = run(pagsh().args(["--", "/etc/passwd"]));
    assert_eq!(o.status.code(), Some(126));
    assert_eq!(stderr(&o).trim_end(), "pagsh: /etc/passwd: cannot execute: Permission denied");
}

#[test]
fn blocked_keyrings_fail_clearly_unless_allowed() {
    let with_seccomp = workspace_bin("with-seccomp");
    for (mode, errno_text) in [("eperm", "Operation not permitted"), ("enosys", "Function not implemented")] {
        let o = run(Command::new(&with_seccomp).args([mode, "--", pagsh_path(), "--", "echo", "ran"]));
        assert_eq!(o.status.code(), Some(125), "{mode}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{mode}: the program must not run");
        let err = stderr(&o);
        assert!(err.starts_with("pagsh: cannot create a PAG: "), "{err}");
        assert!(err.contains(errno_text) && err.contains("seccomp"), "{err}");
        assert!(err.contains("--allow-no-pag"), "{err}");

        let o = run(Command::new(&with_seccomp).args([
            mode,
            "--",
            pagsh_path(),
            "--allow-no-pag",
            "--",
            "echo",
            "ran",
        ]));
        assert_eq!(o.status.code(), Some(0), "{mode}: {}", stderr(&o));
        assert_eq!(stdout(&o), "ran");
        assert!(stderr(&o).starts_with("pagsh: warning: running without a PAG: "), "{}", stderr(&o));
    }
}

fn sample_token() -> Token {
    let rxkad = RxkadToken {
        expiry: 2_000_000_000,
        kvno: KVNO_KERBEROS5,
        session_key: [7; 8],
        ticket: vec![0xab; 300],
    };
    Token::new("example.org", KeyType::User, rxkad, Some("alice@EXAMPLE.ORG".into()))
}

#[test]
fn keep_tokens_carries_the_callers_tokens_and_the_default_does_not() {
    let caller = fresh_session();
    TokenStore::new(caller).add(&sample_token()).unwrap();
    let expected: String = sample_token().payload().unwrap().iter().map(|b| format!("{b:02x}")).collect();
    let show = "k=$(keyctl search @s user afs@example.org 2>/dev/null) \
                && keyctl pipe $k | od -An -tx1 -v | tr -d ' \\n' || echo absent";

    let o = run(pagsh().args(["-c", show]));
    assert_eq!(stdout(&o), "absent", "a new PAG starts empty, as in OpenAFS");

    let o = run(pagsh().args(["--keep-tokens", "-c", show]));
    assert_eq!(stdout(&o), expected, "the same token, byte for byte: {}", stderr(&o));
    assert_eq!(TokenStore::new(caller).list().unwrap().len(), 1, "the caller keeps its own");
}

#[test]
fn a_full_key_quota_names_the_sysctls() {
    // A uid of its own, so that filling its quota disturbs nobody; the keys
    // go when the session keyring holding them does.
    let uid = 54321;
    let script = format!(
        "i=0; for size in 2000 200 20 1; do \
           while [ $i -lt 400 ] && head -c $size /dev/zero | keyctl padd user k$i @s >/dev/null 2>&1; \
           do i=$((i+1)); done; \
         done; {} -- true",
        pagsh_path()
    );
    let o = run(&mut as_user(uid, &["keyctl", "session", "-", "sh", "-c", &script]));
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("Quota exceeded") || err.contains("quota exceeded"), "{err}");
    assert!(err.contains("kernel.keys.maxkeys") && err.contains("kernel.keys.maxbytes"), "{err}");
}

#[test]
fn a_broken_config_file_is_named_with_line_and_key() {
    fresh_session();
    let file = tempdir("config").join("pam_pag.toml");
    std::fs::write(&file, "[pagsh]\nallow_no_pag = true\nlink_user_keyrings = false\n").unwrap();
    let o = run(pagsh().env("PAG_CONFIG", &file).args(["--", "true"]));
    assert_eq!(o.status.code(), Some(125));
    let err = stderr(&o);
    let expected = format!("pagsh: {}:3:1: key `pagsh.link_user_keyrings`: ", file.display());
    assert!(err.starts_with(&expected), "{err}");
}

#[test]
fn a_missing_file_named_by_pag_config_is_an_error() {
    let o = run(pagsh().env("PAG_CONFIG", "/nonexistent/pam_pag.toml").args(["--", "echo", "ran"]));
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(
        stderr(&o).trim_end(),
        "pagsh: /nonexistent/pam_pag.toml: cannot read the configuration named by PAG_CONFIG: No such file \
         or directory (only the default /etc/security/pam_pag.toml may be absent)"
    );
    assert!(stdout(&o).is_empty());
}

#[test]
fn pagsh_reads_only_its_own_section() {
    fresh_session();
    let file = tempdir("config-other").join("pam_pag.toml");
    std::fs::write(&file, "[aklog]\ncells = \"example.org\"\n[pam]\nbogus = 1\n").unwrap();
    let o = run(pagsh().env("PAG_CONFIG", &file).args(["--", "echo", "ran"]));
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "ran"), "{}", stderr(&o));
}

#[test]
fn the_config_file_sets_the_defaults() {
    let file = tempdir("config-ok").join("pam_pag.toml");
    std::fs::write(&file, "[pagsh]\nallow_no_pag = true\n").unwrap();
    let o = run(Command::new(workspace_bin("with-seccomp"))
        .args(["eperm", "--", pagsh_path(), "--", "echo", "ran"])
        .env("PAG_CONFIG", &file));
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "ran"), "{}", stderr(&o));
}

#[test]
fn usage_errors_and_help() {
    let o = run(pagsh().arg("--bogus"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--bogus"));
    let o = run(pagsh().arg("--help"));
    assert!(o.status.success());
    assert!(stdout(&o).contains("--keep-tokens") && stdout(&o).contains("125"));
    let o = run(pagsh().arg("--version"));
    assert!(stdout(&o).starts_with("pagsh "));
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pagsh-test-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn wait_for_file(path: &Path) -> String {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{} did not appear within 5 s", path.display());
}
