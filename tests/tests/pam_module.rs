//! pam_pag.so through real libpam: every hook and setcred flag, the call
//! orders of sshd, gdm, sudo and su, on_close, the token program's privilege
//! drop, environment and time limit, config errors, blocked keyrings, and
//! the exact syslog lines. Each test drives `pam-drive` in its own private
//! mount namespace (test users in a private /etc/passwd, /dev/log captured).
//! Needs root: CI runs these as root; as another user each test fails and
//! says why.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DRIVER: &str = env!("CARGO_BIN_EXE_pam-drive");

fn require_root() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test loads pam_pag.so through libpam, creates PAGs for other users and mounts a \
         private /etc/passwd and /dev/log: it needs root (CI runs it as root)"
    );
}

/// The module cargo built for this test run (pam_pag is a dev-dependency).
fn module() -> PathBuf {
    if let Some(path) = std::env::var_os("PAM_PAG_MODULE") {
        return path.into();
    }
    let debug_dir = Path::new(DRIVER).parent().expect("driver has a directory");
    let path = debug_dir.join("deps/libpam_pag.so");
    assert!(path.exists(), "{} not built", path.display());
    path
}

/// One test's world: a service directory, scripts, a test user.
struct Lab {
    dir: tempfile::TempDir,
    user: String,
    uid: u32,
}

/// A uid per test and test process, so tests running in parallel (and
/// other engineers' tests) never share a key quota.
fn lab(tag: u32) -> Lab {
    require_root();
    let uid = 47000 + (std::process::id() % 400) * 30 + tag;
    let dir = tempfile::Builder::new().prefix("pam-pag-test").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    Lab { dir, user: format!("pagt{uid}"), uid }
}

struct Run {
    steps: Vec<String>,
    syslog: Vec<String>,
    elapsed: Duration,
}

impl Lab {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write service `svc`: `MODULE` stands for the module path.
    fn service(&self, text: &str) {
        let module = module();
        std::fs::write(self.path().join("svc"), text.replace("MODULE", &module.to_string_lossy())).unwrap();
        std::fs::write(
            self.path().join("other"),
            "auth required pam_deny.so\naccount required pam_deny.so\n\
             session required pam_deny.so\npassword required pam_deny.so\n",
        )
        .unwrap();
    }

    fn script(&self, name: &str, body: &str) -> String {
        let path = self.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn user_spec(&self) -> String {
        format!("{}:{}:{}:pagtgrp{}={}", self.user, self.uid, self.uid, self.uid, self.uid + 100000)
    }

    fn command(&self, extra: &[&str], steps: &[&str]) -> Command {
        let mut cmd = Command::new(DRIVER);
        cmd.args(["--confdir", &self.path().to_string_lossy(), "--add-user", &self.user_spec(), "--syslog"])
            .args(extra)
            .args(["svc", &self.user])
            .args(steps)
            .env_remove("KRB5CCNAME");
        cmd
    }

    /// pam-drive for `user` (one that exists, or one that must not) rather
    /// than the lab's own user.
    fn command_as(&self, user: &str, steps: &[&str]) -> Command {
        let mut cmd = Command::new(DRIVER);
        cmd.args(["--confdir", &self.path().to_string_lossy(), "--syslog", "svc", user]).args(steps);
        cmd
    }

    fn drive_with(&self, mut cmd: Command) -> Run {
        let start = Instant::now();
        let out = cmd.output().unwrap();
        let elapsed = start.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "pam-drive failed: {:?}\n{stderr}", out.status);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let dir = self.path().to_string_lossy().into_owned();
        let mut steps = Vec::new();
        let mut syslog = Vec::new();
        for line in text.lines() {
            match line.strip_prefix("syslog ") {
                Some(s) if s.contains(" pam_pag(") => {
                    let (prio, rest) = s.split_once(' ').unwrap();
                    let message = rest.split_once(": ").unwrap().1;
                    let severity = prio.rsplit('.').next().unwrap();
                    assert!(prio.starts_with("10."), "facility must be authpriv: {line}");
                    syslog.push(normalise(&format!("{severity} {message}"), &dir, &self.user));
                }
                Some(_) => {}
                None => steps.push(normalise(line, &dir, &self.user)),
            }
        }
        Run { steps, syslog, elapsed }
    }

    fn drive(&self, steps: &[&str]) -> Run {
        self.drive_with(self.command(&[], steps))
    }
}

/// Replace what changes between runs: the temp dir, the user, PAG serials.
fn normalise(line: &str, dir: &str, user: &str) -> String {
    let line = line.replace(dir, "$DIR").replace(user, "$USER");
    let mut out = String::new();
    let mut rest = line.as_str();
    while let Some(i) = rest.find("PAG ").or_else(|| rest.find("pag ")) {
        out.push_str(&rest[..i + 4]);
        rest = &rest[i + 4..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push('N');
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A token program's shell body that first hands back an empty token
/// message (format `pag::token::handover`, version 1, no tokens) on
/// `$PAG_TOKEN_FD`, as our aklog does when it got nothing.
fn hands_back_nothing(body: &str) -> String {
    format!("printf 'PAGT\\001\\000\\000' >&\"$PAG_TOKEN_FD\"\n{body}")
}

#[test]
fn only_the_pam_hooks_are_exported() {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(module())
        .output()
        .expect("nm (binutils) is installed");
    assert!(out.status.success());
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
        .collect();
    names.sort();
    assert_eq!(
        names,
        strings(&[
            "pam_sm_acct_mgmt",
            "pam_sm_authenticate",
            "pam_sm_close_session",
            "pam_sm_open_session",
            "pam_sm_setcred"
        ])
    );
}

#[test]
fn a_login_gets_a_root_owned_pag_that_the_user_can_use() {
    let l = lab(0);
    l.service("session required MODULE notokens\n");
    let r = l.drive(&[
        "open_session",
        "show",
        "user-sh:keyctl show @s >/dev/null && k=$(printf hello | keyctl padd user mine @s) && keyctl print $k && keyctl unlink $k @s >/dev/null && echo unlinked",
        "user-sh:keyctl new_session >/dev/null 2>&1 || echo cannot-replace",
        "close_session",
        "end",
    ]);
    assert_eq!(
        r.steps,
        strings(&[
            "open_session: 0 Success",
            "show: pag N owner 0 marker_uid 0 uid 0 euid 0",
            "hello",
            "unlinked",
            "user-sh:keyctl show @s >/dev/null && k=$(printf hello | keyctl padd user mine @s) && keyctl print $k && keyctl unlink $k @s >/dev/null && echo unlinked: exit 0",
            "cannot-replace",
            "user-sh:keyctl new_session >/dev/null 2>&1 || echo cannot-replace: exit 0",
            "close_session: 0 Success",
            "end: 0",
        ])
    );
    assert_eq!(
        r.syslog,
        strings(&[
            "6 pam_pag(svc:session): user $USER: created PAG N (keyring owned by root)",
            "6 pam_pag(svc:session): user $USER: session closed, left PAG N (notokens, nothing to unlog)",
        ])
    );
}

#[test]
fn keyring_owner_user_gives_the_pag_to_the_user() {
    let l = lab(1);
    l.service("session required MODULE notokens keyring_owner=user\n");
    let r =
        l.drive(&["open_session", "show", "user-sh:keyctl new_session >/dev/null && echo replaced", "end"]);
    assert_eq!(r.steps[1], format!("show: pag N owner {} marker_uid 0 uid 0 euid 0", l.uid));
    assert_eq!(r.steps[2], "replaced");
    assert_eq!(
        r.syslog,
        strings(&["6 pam_pag(svc:session): user $USER: created PAG N (keyring owned by the user)"])
    );
}

fn call_order_service(l: &Lab) {
    let ok = l.script("ok.sh", &hands_back_nothing("exit 0"));
    l.service(&format!(
        "auth optional MODULE debug program={ok} always_aklog\nauth required pam_permit.so\n\
         account optional MODULE debug\naccount required pam_permit.so\n\
         session required MODULE debug program={ok} always_aklog\n"
    ));
}

#[test]
fn sshd_order_setcred_open_then_setcred_again_in_the_child() {
    let l = lab(2);
    call_order_service(&l);
    let r = l.drive(&[
        "setcred:establish",
        "open_session",
        "show",
        "fork",
        "initgroups",
        "setcred:establish",
        "show",
        "join",
        "close_session",
        "setcred:delete",
        "end",
    ]);
    assert_eq!(r.steps[2], "show: pag N owner 0 marker_uid 0 uid 0 euid 0");
    assert_eq!(r.steps[5], "show: pag N owner 0 marker_uid 0 uid 0 euid 0");
    let created: Vec<_> = r.syslog.iter().filter(|l| l.contains("created PAG")).collect();
    assert_eq!(created.len(), 1, "{:#?}", r.syslog);
    assert_eq!(
        r.syslog,
        strings(&[
            "6 pam_pag(svc:setcred): user $USER: created PAG N (keyring owned by root)",
            "7 pam_pag(svc:setcred): user $USER: running $DIR/ok.sh",
            "7 pam_pag(svc:setcred): user $USER: $DIR/ok.sh ran as pid 1 of its own PID namespace",
            "7 pam_pag(svc:setcred): user $USER: $DIR/ok.sh succeeded",
            "7 pam_pag(svc:setcred): user $USER: $DIR/ok.sh handed back no tokens",
            "7 pam_pag(svc:session): user $USER: PAG N already set up by this handle",
            "7 pam_pag(svc:setcred): user $USER: PAG N already set up by this handle",
            "6 pam_pag(svc:session): user $USER: session closed, removed 0 token(s) from PAG N",
            "7 pam_pag(svc:setcred): user $USER: already closed",
        ])
    );
}

#[test]
fn the_child_is_in_the_same_pag_as_the_parent() {
    let l = lab(3);
    l.service(
        "auth required pam_permit.so\nauth optional MODULE notokens\nsession required MODULE notokens\n",
    );
    let out = l
        .command(
            &[],
            &[
                "setcred:establish",
                "open_session",
                "show",
                "fork",
                "setcred:establish",
                "show",
                "join",
                "end",
            ],
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let shows: Vec<&str> = text.lines().filter(|l| l.starts_with("show: pag ")).collect();
    assert_eq!(shows.len(), 2, "{text}");
    assert_eq!(shows[0], shows[1]);
}

#[test]
fn gdm_order_setcred_before_open_session() {
    let l = lab(4);
    call_order_service(&l);
    let r = l.drive(&["setcred:establish", "open_session", "close_session", "setcred:delete", "end"]);
    assert_eq!(
        r.steps[..4],
        strings(&[
            "setcred:establish: 0 Success",
            "open_session: 0 Success",
            "close_session: 0 Success",
            "setcred:delete: 0 Success"
        ])
    );
    assert_eq!(r.syslog.iter().filter(|l| l.contains("created PAG")).count(), 1);
    assert_eq!(r.syslog[0], "6 pam_pag(svc:setcred): user $USER: created PAG N (keyring owned by root)");
    assert_eq!(r.syslog[5], "7 pam_pag(svc:session): user $USER: PAG N already set up by this handle");
}

#[test]
fn sudo_order_reinitialize_before_open_session_then_refresh() {
    let l = lab(5);
    call_order_service(&l);
    let r = l.drive(&["setcred:reinitialize", "open_session", "setcred:refresh", "close_session", "end"]);
    assert_eq!(
        r.syslog,
        strings(&[
            "7 pam_pag(svc:setcred): user $USER: no session of this handle to refresh",
            "6 pam_pag(svc:session): user $USER: created PAG N (keyring owned by root)",
            "7 pam_pag(svc:session): user $USER: running $DIR/ok.sh",
            "7 pam_pag(svc:session): user $USER: $DIR/ok.sh ran as pid 1 of its own PID namespace",
            "7 pam_pag(svc:session): user $USER: $DIR/ok.sh succeeded",
            "7 pam_pag(svc:session): user $USER: $DIR/ok.sh handed back no tokens",
            "7 pam_pag(svc:setcred): user $USER: running $DIR/ok.sh",
            "7 pam_pag(svc:setcred): user $USER: $DIR/ok.sh ran as pid 1 of its own PID namespace",
            "7 pam_pag(svc:setcred): user $USER: $DIR/ok.sh succeeded",
            "7 pam_pag(svc:setcred): user $USER: $DIR/ok.sh handed back no tokens",
            "6 pam_pag(svc:session): user $USER: session closed, removed 0 token(s) from PAG N",
        ])
    );
}

#[test]
fn su_order_auth_account_setcred_open_then_the_user_shell() {
    let l = lab(6);
    call_order_service(&l);
    let r = l.drive(&[
        "authenticate",
        "acct_mgmt",
        "setcred:establish",
        "open_session",
        "fork",
        "user-sh:keyctl rdescribe @s",
        "join",
        "close_session",
        "setcred:delete",
        "end",
    ]);
    assert_eq!(
        r.steps[..4],
        strings(&[
            "authenticate: 0 Success",
            "acct_mgmt: 0 Success",
            "setcred:establish: 0 Success",
            "open_session: 0 Success"
        ])
    );
    assert_eq!(r.steps[4], "keyring;0;0;0f030000;_ses", "the user's shell is in the root-owned PAG");
    assert_eq!(r.syslog.iter().filter(|l| l.contains("created PAG")).count(), 1);
}

fn token_lab(tag: u32, on_close: &str) -> (Lab, Vec<String>) {
    let l = lab(tag);
    // The token program runs in a throwaway keyring of its own and hands
    // its token back; the module stores it in the PAG, root-owned.
    let program = env!("CARGO_BIN_EXE_hand-back");
    l.service(&format!(
        "session required MODULE program={program} program_arg=example.org on_close={on_close}\n"
    ));
    let has =
        "root-sh:keyctl search @s user afs@example.org >/dev/null 2>&1 && echo has-token || echo no-token";
    let r = l.drive(&[
        "putenv:KRB5CCNAME=KCM:",
        "open_session",
        has,
        "root-sh:keyctl rdescribe $(keyctl search @s user afs@example.org) | cut -d';' -f1,2,4,5",
        "close_session",
        has,
        "end",
    ]);
    let interesting =
        r.steps.into_iter().filter(|s| !s.contains(": exit ") && !s.contains(": 0 Success")).collect();
    assert!(
        r.syslog.iter().any(|s| s.starts_with("6 pam_pag(svc:session): user $USER: session closed, ")),
        "{:#?}",
        r.syslog
    );
    (l, interesting)
}

#[test]
fn on_close_unlog_removes_the_tokens_the_module_stored_root_owned() {
    let (_l, steps) = token_lab(7, "unlog");
    assert_eq!(steps, strings(&["has-token", "user;0;0b110000;afs@example.org", "no-token", "end: 0"]));
}

#[test]
fn on_close_retain_keeps_them() {
    let (_l, steps) = token_lab(8, "retain");
    assert_eq!(steps, strings(&["has-token", "user;0;0b110000;afs@example.org", "has-token", "end: 0"]));
}

#[test]
fn on_close_revoke_revokes_the_pag() {
    let (l, steps) = token_lab(9, "revoke");
    assert_eq!(steps, strings(&["has-token", "user;0;0b110000;afs@example.org", "no-token", "end: 0"]));
    l.service("session required MODULE notokens on_close=revoke\n");
    let r = l.drive(&["open_session", "close_session", "root-sh:keyctl rdescribe @s 2>&1", "end"]);
    assert_eq!(r.steps[2], "keyctl_describe: Key has been revoked");
    assert_eq!(r.syslog[1], "6 pam_pag(svc:session): user $USER: session closed, revoked PAG N");
}

#[test]
fn no_krb5ccname_no_token_program_unless_always_aklog() {
    let l = lab(10);
    let shared = l.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let marker = shared.join("ran");
    let prog = l.script("touch.sh", &format!("touch {}", marker.display()));
    l.service(&format!("session required MODULE debug program={prog}\n"));
    let r = l.drive(&["open_session", "end"]);
    assert_eq!(r.syslog[1], "7 pam_pag(svc:session): user $USER: no KRB5CCNAME; not running $DIR/touch.sh");
    assert!(!marker.exists());
    l.service(&format!("session required MODULE program={prog} always_aklog\n"));
    l.drive(&["open_session", "end"]);
    assert!(marker.exists());
}

#[test]
fn token_program_runs_as_the_user_with_groups_gid_uid_dropped() {
    let l = lab(11);
    l.service("session required MODULE always_aklog program=/bin/grep program_arg=-E program_arg=^(Uid|Gid|Groups): program_arg=/proc/self/status\n");
    let r = l.drive(&["open_session", "end"]);
    let (u, g) = (l.uid, l.uid + 100000);
    assert_eq!(
        r.syslog[1..4],
        [
            format!("6 pam_pag(svc:session): user $USER: /bin/grep: Uid:\\x09{u}\\x09{u}\\x09{u}\\x09{u}"),
            format!("6 pam_pag(svc:session): user $USER: /bin/grep: Gid:\\x09{u}\\x09{u}\\x09{u}\\x09{u}"),
            format!("6 pam_pag(svc:session): user $USER: /bin/grep: Groups:\\x09{u} {g} "),
        ]
    );
}

/// The program's environment lines from the syslog, sorted.
fn env_lines(r: &Run, program: &str) -> Vec<String> {
    let prefix = format!("6 pam_pag(svc:session): user $USER: {program}: ");
    let mut env: Vec<String> =
        r.syslog.iter().filter_map(|l| l.strip_prefix(prefix.as_str())).map(str::to_owned).collect();
    env.sort();
    env
}

#[test]
fn token_program_environment_is_an_allowlist() {
    let l = lab(12);
    l.service("session required MODULE program=/usr/bin/env program_env=AKLOG_DEBUG always_aklog\n");
    // What ~/.pam_environment (pam_env user_readenv=1) can put there.
    let steps = [
        "putenv:LD_PRELOAD=/tmp/evil.so",
        "putenv:LD_LIBRARY_PATH=/tmp",
        "putenv:KRB5_CONFIG=/tmp/krb5.conf",
        "putenv:KRB5_TRACE=/tmp/trace",
        "putenv:PAG_CONFIG=/tmp/pag.toml",
        "putenv:GCONV_PATH=/tmp",
        "putenv:HOME=/tmp/fake-home",
        "putenv:PATH=/tmp/bin",
        "putenv:SHELL=/tmp/sh",
        "putenv:LANG=C.UTF-8",
        "putenv:LC_TIME=C",
        "putenv:TZ=UTC",
        "putenv:AKLOG_DEBUG=1",
        "putenv:UNLISTED=x",
        "open_session",
        "end",
    ];
    let mut cmd = l.command(&[], &steps);
    // Only in the process environment (the caller's, under su or sudo): never passed.
    cmd.env("KRB5CCNAME", "FILE:/tmp/krb5cc_from_process").env("PAG_TEST_SECRET", "s3cret");
    let r = l.drive_with(cmd);
    assert_eq!(
        env_lines(&r, "/usr/bin/env"),
        strings(&[
            "AKLOG_DEBUG=1",
            "HOME=/",
            "LANG=C.UTF-8",
            "LC_TIME=C",
            "LOGNAME=$USER",
            // Set by the module: where to hand the tokens back.
            "PAG_TOKEN_FD=3",
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "SHELL=/bin/sh",
            "TZ=UTC",
            "USER=$USER",
        ])
    );
}

#[test]
fn krb5ccname_is_checked_and_only_the_pam_one_is_used() {
    let l = lab(29);
    l.service("session required MODULE program=/usr/bin/env debug\n");
    // Only in the process environment: the program does not even run.
    let mut cmd = l.command(&[], &["open_session", "end"]);
    cmd.env("KRB5CCNAME", "FILE:/tmp/krb5cc_from_process");
    let r = l.drive_with(cmd);
    assert_eq!(r.syslog[1], "7 pam_pag(svc:session): user $USER: no KRB5CCNAME; not running /usr/bin/env");
    // A file of another user's, a symlink, a session keyring: refused, said why.
    let theirs = l.path().join("krb5cc_root");
    std::fs::write(&theirs, "").unwrap();
    let link = l.path().join("krb5cc_link");
    std::os::unix::fs::symlink(&theirs, &link).unwrap();
    for (ccache, why) in [
        (
            format!("FILE:{}", theirs.display()),
            "$DIR/krb5cc_root is owned by uid 0, not by the user".to_owned(),
        ),
        (link.display().to_string(), "$DIR/krb5cc_link is a symbolic link".to_owned()),
        ("KEYRING:session:x".to_owned(), "a KEYRING:session: cache is in the login's keyrings".to_owned()),
    ] {
        let r = l.drive(&[&format!("putenv:KRB5CCNAME={ccache}"), "open_session", "end"]);
        let expected = "4 pam_pag(svc:session): user $USER: not passed to /usr/bin/env: KRB5CCNAME ";
        assert!(r.syslog[1].starts_with(expected) && r.syslog[1].contains(&why), "{:?}", r.syslog);
        assert!(!r.syslog.iter().any(|l| l.contains("/usr/bin/env: KRB5CCNAME=")), "{:?}", r.syslog);
    }
    // The user's own file is passed.
    let mine = l.path().join("krb5cc_mine");
    std::fs::write(&mine, "").unwrap();
    nix::unistd::chown(&mine, Some(nix::unistd::Uid::from_raw(l.uid)), None).unwrap();
    let r = l.drive(&[&format!("putenv:KRB5CCNAME=FILE:{}", mine.display()), "open_session", "end"]);
    assert!(
        env_lines(&r, "/usr/bin/env").contains(&"KRB5CCNAME=FILE:$DIR/krb5cc_mine".to_owned()),
        "{:?}",
        r.syslog
    );
}

#[test]
fn program_env_with_a_dangerous_name_is_an_argument_error_that_fails_safe() {
    let l = lab(30);
    l.service("session required MODULE program_env=KRB5_CONFIG always_aklog\n");
    let r = l.drive(&["open_session", "end"]);
    assert_eq!(r.steps[0], "open_session: 0 Success");
    assert!(r.syslog[0].starts_with("3 pam_pag(svc:session): module argument `program_env=KRB5_CONFIG`: `KRB5_CONFIG` may not be passed"), "{:?}", r.syslog);
    assert!(r.syslog[0].ends_with(FAIL_SAFE), "{:?}", r.syslog);
    assert_eq!(r.syslog[1], "6 pam_pag(svc:session): user $USER: created PAG N (keyring owned by root)");
}

/// Is a process whose command line contains `marker` alive?
fn alive(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(marker))
            .unwrap_or(false)
    })
}

#[test]
fn a_program_that_closes_its_pipes_and_sleeps_is_killed_with_its_setsid_child_at_the_deadline() {
    let l = lab(31);
    // A sleep duration no other process has: how to find what it left behind.
    let mark = format!("41.{}", l.uid);
    // Short enough that the old runner (which waited for it without a
    // deadline) fails this test in seconds rather than hanging.
    let main = format!("8.{}", l.uid);
    let prog = l
        .script("quiet.sh", &format!("exec >/dev/null 2>&1 </dev/null\nsetsid sleep {mark} &\nsleep {main}"));
    l.service(&format!("session required MODULE program={prog} always_aklog timeout=2 debug\n"));
    let r = l.drive(&["open_session", "end"]);
    assert!(r.elapsed < Duration::from_secs(3), "open_session held the login for {:?}", r.elapsed);
    assert_eq!(r.steps[0], "open_session: 0 Success");
    assert!(
        r.syslog.contains(
            &"3 pam_pag(svc:session): user $USER: $DIR/quiet.sh did not finish within 2 s and was killed"
                .to_owned()
        ),
        "{:#?}",
        r.syslog
    );
    assert!(r.syslog.contains(
        &"7 pam_pag(svc:session): user $USER: $DIR/quiet.sh ran as pid 1 of its own PID namespace".to_owned()
    ));
    assert!(!alive(&format!("sleep {mark}")), "the setsid child survived the deadline");
    assert!(!alive(&format!("sleep {main}")), "the program survived the deadline");
}

#[test]
fn a_setsid_grandchild_goes_when_the_program_exits() {
    let l = lab(32);
    let mark = format!("42.{}", l.uid);
    let prog =
        l.script("leave.sh", &format!("(setsid sleep {mark} </dev/null >/dev/null 2>&1 &)\necho done"));
    l.service(&format!("session required MODULE program={prog} always_aklog timeout=20\n"));
    let r = l.drive(&["open_session", "end"]);
    assert!(r.elapsed < Duration::from_secs(3), "took {:?}", r.elapsed);
    assert_eq!(r.syslog[1], "6 pam_pag(svc:session): user $USER: $DIR/leave.sh: done");
    assert!(!alive(&format!("sleep {mark}")), "the setsid grandchild outlived the program");
}

#[test]
fn a_chatty_program_gets_100_lines_and_one_summary_into_syslog() {
    let l = lab(33);
    l.service("session required MODULE program=/usr/bin/yes always_aklog timeout=1\n");
    let r = l.drive(&["open_session", "end"]);
    assert!(r.elapsed < Duration::from_secs(3), "took {:?}", r.elapsed);
    let program_lines = r.syslog.iter().filter(|l| l.contains("/usr/bin/yes: y")).count();
    assert_eq!(program_lines, 100);
    let summary: Vec<_> = r.syslog.iter().filter(|l| l.contains("output over the limit")).collect();
    assert_eq!(summary.len(), 1, "{summary:?}");
    assert!(summary[0].starts_with("4 pam_pag(svc:session): user $USER: /usr/bin/yes: output over the limit of 100 lines and 16384 bytes per run: "));
    assert_eq!(
        r.syslog.len(),
        1 + 100 + 1 + 1,
        "created, 100 lines, summary, timed out: {:?}",
        &r.syslog[100..]
    );
}

#[test]
fn program_output_reaches_syslog_escaped() {
    let l = lab(34);
    let prog =
        l.script("noisy.sh", r"printf 'cr\rx esc\033[31mred nul\000x rlo\342\200\256x bs\\x1b bad\377\n'");
    l.service(&format!("session required MODULE program={prog} always_aklog\n"));
    let r = l.drive(&["open_session", "end"]);
    assert_eq!(
        r.syslog[1],
        r"6 pam_pag(svc:session): user $USER: $DIR/noisy.sh: cr\x0dx esc\x1b[31mred nul\x00x rlo\u{202e}x bs\\x1b bad\xff"
    );
}

#[test]
fn the_program_runs_in_a_throwaway_keyring_it_cannot_keep() {
    let l = lab(35);
    let prog = l.script(
        "keys.sh",
        "keyctl rdescribe @s\nkeyctl link @s @u 2>/dev/null && echo linked || echo cannot-link\n\
         keyctl setperm @s 0x3f000000 2>/dev/null && echo reperm || echo cannot-setperm\n\
         keyctl show @s | tail -n +2 | wc -l",
    );
    l.service(&format!("session required MODULE program={prog} always_aklog\n"));
    let r = l.drive(&["open_session", "root-sh:keyctl rdescribe @s", "end"]);
    let out: Vec<&str> =
        r.syslog[1..5].iter().map(|l| l.rsplit_once("keys.sh: ").map_or(l.as_str(), |p| p.1)).collect();
    assert_eq!(out, ["keyring;0;0;0f000000;_ses", "cannot-link", "cannot-setperm", "1"], "{:#?}", r.syslog);
    // ... and not the PAG, which root's shell in the login sees.
    assert_eq!(r.steps[1], "keyring;0;0;0f030000;_ses", "{:?}", r.steps);
}

#[test]
fn a_hanging_token_program_is_killed_at_the_time_limit() {
    let l = lab(13);
    let hang = l.script("hang.sh", "echo starting\nexec sleep 60");
    l.service(&format!("session required MODULE program={hang} always_aklog timeout=1\n"));
    let r = l.drive(&["open_session", "end"]);
    assert!(r.elapsed < Duration::from_secs(8), "took {:?}", r.elapsed);
    assert_eq!(r.steps[0], "open_session: 0 Success");
    assert_eq!(
        r.syslog[1..],
        strings(&[
            "6 pam_pag(svc:session): user $USER: $DIR/hang.sh: starting",
            "3 pam_pag(svc:session): user $USER: $DIR/hang.sh did not finish within 1 s and was killed",
        ])
    );
    l.service(&format!("session required MODULE program={hang} always_aklog timeout=1 tokens_required\n"));
    let r = l.drive(&["open_session", "end"]);
    assert_eq!(r.steps[0], "open_session: 14 Cannot make/remove an entry for the specified session");
}

#[test]
fn a_program_that_daemonizes_does_not_hold_up_the_login() {
    let l = lab(14);
    let daemon = l.script("daemon.sh", "(sleep 30 &)\necho started");
    l.service(&format!("session required MODULE program={daemon} always_aklog timeout=20\n"));
    let r = l.drive(&["open_session", "end"]);
    assert!(r.elapsed < Duration::from_secs(5), "took {:?}", r.elapsed);
    assert_eq!(r.syslog[1], "6 pam_pag(svc:session): user $USER: $DIR/daemon.sh: started");
}

#[test]
fn a_failing_token_program_is_logged_and_fails_only_with_tokens_required() {
    let l = lab(15);
    let fail = l.script("fail.sh", "echo 'aklog: no ticket' >&2\nexit 4");
    l.service(&format!("session required MODULE program={fail} always_aklog\n"));
    let r = l.drive(&["open_session", "end"]);
    assert_eq!(r.steps[0], "open_session: 0 Success");
    assert_eq!(
        r.syslog[1..],
        strings(&[
            "5 pam_pag(svc:session): user $USER: $DIR/fail.sh: aklog: no ticket",
            "3 pam_pag(svc:session): user $USER: $DIR/fail.sh failed with exit status 4",
        ])
    );
    l.service("session required MODULE program=/nonexistent/aklog always_aklog tokens_required\n");
    let r = l.drive(&["open_session", "end"]);
    assert_eq!(r.steps[0], "open_session: 14 Cannot make/remove an entry for the specified session");
    assert_eq!(
        r.syslog[1],
        "3 pam_pag(svc:session): user $USER: cannot run /nonexistent/aklog: No such file or directory"
    );
}

fn config_case(l: &Lab, toml: &str) -> Run {
    std::fs::write(l.path().join("pam_pag.toml"), toml).unwrap();
    l.service(
        "session required MODULE config=$DIR/pam_pag.toml\n"
            .replace("$DIR", &l.path().to_string_lossy())
            .as_str(),
    );
    l.drive(&["open_session", "end"])
}

/// What every fail-safe line ends with.
const FAIL_SAFE: &str = "; this session gets a PAG with the built-in defaults and no token program";

/// A service whose lines (auth and session) name the lab's config file and
/// a token program that leaves a mark when it runs; sshd's order.
fn fail_safe_case(l: &Lab, toml: &str, extra: &str) -> (Run, bool) {
    std::fs::write(l.path().join("pam_pag.toml"), toml).unwrap();
    let shared = l.path().join("shared");
    let _ = std::fs::create_dir(&shared);
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let mark = shared.join("ran");
    let _ = std::fs::remove_file(&mark);
    let ok = l.script("mark.sh", &hands_back_nothing(&format!("touch {}", mark.display())));
    let cfg = l.path().join("pam_pag.toml");
    let args = format!("config={} program={ok} always_aklog {extra}", cfg.display());
    l.service(&format!(
        "auth required pam_permit.so\nauth optional MODULE {args}\nsession required MODULE {args}\n"
    ));
    let r = l.drive(&["setcred:establish", "open_session", "show", "close_session", "setcred:delete", "end"]);
    (r, mark.exists())
}

#[test]
fn config_errors_fail_safe_a_pag_no_program_one_line_with_file_line_and_key() {
    let l = lab(16);
    let created = "6 pam_pag(svc:setcred): user $USER: created PAG N (keyring owned by root)";
    let closed =
        "6 pam_pag(svc:session): user $USER: session closed, left PAG N (notokens, nothing to unlog)";
    for (toml, error) in [
        (
            "[pam]\ndebug = true\nbogus = 1\n",
            "$DIR/pam_pag.toml:3:1: key `pam.bogus`: unknown field `bogus`, expected one of",
        ),
        (
            "[pam]\ntimeout = \"10\"\n",
            "$DIR/pam_pag.toml:2:1: key `pam.timeout`: invalid type: string \"10\", expected u32",
        ),
        ("[pam\n", "$DIR/pam_pag.toml:1:5: invalid table header; expected `.`, `]`"),
        (
            "[pam.service.svc]\nprogram = \"aklog\"\n",
            "$DIR/pam_pag.toml:2:1: key `pam.service.svc.program`: must be an absolute path",
        ),
        (
            "[pam]\nprogram_env = [\"AKLOG_DEBUG\", \"LD_PRELOAD\"]\n",
            "$DIR/pam_pag.toml:2:1: key `pam.program_env`: `LD_PRELOAD` may not be passed",
        ),
    ] {
        let (r, ran) = fail_safe_case(&l, toml, "");
        assert!(!ran, "{toml:?}: the token program ran");
        assert_eq!(
            r.steps[..3],
            strings(&[
                "setcred:establish: 0 Success",
                "open_session: 0 Success",
                "show: pag N owner 0 marker_uid 0 uid 0 euid 0"
            ]),
            "{toml:?}"
        );
        assert_eq!(r.syslog.len(), 3, "{toml:?}: {:#?}", r.syslog);
        let line = &r.syslog[0];
        assert!(line.starts_with(&format!("3 pam_pag(svc:setcred): {error}")), "{toml:?}: {line}");
        assert!(line.ends_with(FAIL_SAFE) && !line.contains("\\x0a"), "{line}");
        assert_eq!(r.syslog[1..], strings(&[created, closed]), "{toml:?}");
    }

    // A file named by config= must exist.
    let l = lab(36);
    l.service("session required MODULE config=/nonexistent/pam_pag.toml\n");
    let r = l.drive(&["open_session", "show", "end"]);
    assert_eq!(r.steps[0], "open_session: 0 Success");
    assert_eq!(r.steps[1], "show: pag N owner 0 marker_uid 0 uid 0 euid 0");
    assert_eq!(r.syslog, [
        format!("3 pam_pag(svc:session): /nonexistent/pam_pag.toml: cannot read the configuration named by config=: No such file or directory (only the default /etc/security/pam_pag.toml may be absent){FAIL_SAFE}"),
        "6 pam_pag(svc:session): user $USER: created PAG N (keyring owned by root)".to_owned(),
    ]);
}

#[test]
fn mistakes_in_sections_the_module_does_not_read_leave_logins_alone() {
    let l = lab(37);
    let toml = "[aklog]\ncells = \"example.org\"\n[pagsh]\nallow_no_pag = \"yes\"\n[nosuch]\nx = 1\n[pam]\non_close = \"revoke\"\n";
    let (r, ran) = fail_safe_case(&l, toml, "");
    assert!(ran, "the token program did not run: {:#?}", r.syslog);
    assert_eq!(
        r.syslog,
        strings(&[
            "6 pam_pag(svc:setcred): user $USER: created PAG N (keyring owned by root)",
            "6 pam_pag(svc:session): user $USER: session closed, revoked PAG N",
        ])
    );
}

#[test]
fn a_bad_module_argument_fails_safe_too() {
    let l = lab(38);
    let (r, ran) = fail_safe_case(&l, "", "timeout=soon");
    assert!(!ran, "the token program ran");
    assert_eq!(r.steps[1], "open_session: 0 Success");
    assert_eq!(
        r.syslog,
        [
            format!("3 pam_pag(svc:setcred): module argument `timeout=soon`: `soon` is not a non-negative integer{FAIL_SAFE}"),
            "6 pam_pag(svc:setcred): user $USER: created PAG N (keyring owned by root)".to_owned(),
            "6 pam_pag(svc:session): user $USER: session closed, left PAG N (notokens, nothing to unlog)".to_owned(),
        ]
    );
}

#[test]
fn service_section_and_arguments_override_the_file() {
    let l = lab(17);
    let r = config_case(&l, "[pam]\nnotokens = true\non_close = \"retain\"\n[pam.service.svc]\ndebug = true\n[pam.service.login]\non_close = \"revoke\"\n");
    assert_eq!(r.steps[0], "open_session: 0 Success");
    assert_eq!(
        r.syslog,
        strings(&["6 pam_pag(svc:session): user $USER: created PAG N (keyring owned by root)"])
    );
    let cfg = l.path().join("pam_pag.toml");
    l.service(&format!("session required MODULE config={} on_close=revoke\n", cfg.display()));
    let r = l.drive(&["open_session", "close_session", "end"]);
    assert_eq!(r.syslog[1], "6 pam_pag(svc:session): user $USER: session closed, revoked PAG N");
}

#[test]
fn arguments_unknown_are_logged_and_ignored() {
    let l = lab(18);
    l.service("session required MODULE notokens frobnicate\n");
    let r = l.drive(&["open_session", "end"]);
    assert_eq!(r.steps[0], "open_session: 0 Success");
    assert_eq!(r.syslog[0], "3 pam_pag(svc:session): ignoring unknown module argument `frobnicate`");
}

#[test]
fn unknown_user_is_user_unknown() {
    let l = lab(19);
    l.service("session required MODULE\n");
    let r = l.drive_with(l.command_as("pagt-nosuchuser", &["open_session", "end"]));
    assert_eq!(r.steps[0], "open_session: 10 User not known to the underlying authentication module");
    assert_eq!(r.syslog, strings(&["3 pam_pag(svc:session): user pagt-nosuchuser: unknown user"]));
}

#[test]
fn root_and_low_uids_can_be_skipped() {
    let l = lab(20);
    l.service("session required MODULE debug ignore_root\nsession required pam_permit.so\n");
    let r = l.drive_with(l.command_as("root", &["open_session", "show", "end"]));
    assert_eq!(r.syslog, strings(&["7 pam_pag(svc:session): user root: ignored (ignore_root)"]));
    l.service("session required MODULE minimum_uid=4000000000\nsession required pam_permit.so\n");
    let r = l.drive(&["open_session", "end"]);
    assert_eq!(r.steps[0], "open_session: 0 Success");
    assert!(r.syslog.is_empty(), "{:?}", r.syslog);
}

#[test]
fn blocked_keyrings_eperm_and_enosys() {
    let l = lab(21);
    for (mode, text) in [("eperm", "Operation not permitted"), ("enosys", "Function not implemented")] {
        // A whole session (default on_close = unlog, tokens on): one line, at open.
        l.service("session required MODULE\nsession required pam_permit.so\n");
        let r = l.drive_with(l.command(&["--seccomp", mode], &["open_session", "close_session", "end"]));
        assert_eq!(r.steps[0], "open_session: 0 Success", "{mode}");
        assert_eq!(r.steps[1], "close_session: 0 Success", "{mode}");
        assert_eq!(r.syslog.len(), 1, "{mode}: {:?}", r.syslog);
        assert_eq!(
            r.syslog[0],
            format!(
                "4 pam_pag(svc:session): user $USER: no PAG for this session: using kernel keyrings: \
                 keyctl get_keyring_id: {text} (kernel keyrings are blocked here, probably by a seccomp filter \
                 (Docker's default profile denies keyctl, add_key and request_key); allow those system calls to use PAGs)"
            )
        );
        l.service(
            "session required MODULE notokens on_keyring_unavailable=fail\nsession required pam_permit.so\n",
        );
        let r = l.drive_with(l.command(&["--seccomp", mode], &["open_session", "end"]));
        assert_eq!(
            r.steps[0], "open_session: 14 Cannot make/remove an entry for the specified session",
            "{mode}"
        );
        assert!(r.syslog[0]
            .starts_with("3 pam_pag(svc:session): user $USER: cannot create a PAG: using kernel keyrings: "));
    }
}

/// /proc/key-users: (keys, bytes) charged to `uid`.
fn key_usage(uid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/key-users").unwrap();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        if f.next() == Some(&format!("{uid}:")) {
            let _usage = f.next();
            let keys = f.next().unwrap().split('/').next().unwrap().parse().unwrap();
            let bytes = f.next().unwrap().split('/').next().unwrap().parse().unwrap();
            return (keys, bytes);
        }
    }
    (0, 0)
}

/// Hold `n` sessions of the lab's user open, each in its own pam-drive.
fn hold_sessions(l: &Lab, n: usize, first_steps: &[&str]) -> Vec<std::process::Child> {
    let mut held = Vec::new();
    for _ in 0..n {
        let steps: Vec<&str> =
            first_steps.iter().copied().chain(["open_session", "wait-stdin", "end"]).collect();
        let mut cmd = l.command(&[], &steps);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        held.push(cmd.spawn().unwrap());
    }
    for child in &mut held {
        let mut out = BufReader::new(child.stdout.as_mut().unwrap());
        let mut line = String::new();
        for _ in first_steps {
            out.read_line(&mut line).unwrap();
            line.clear();
        }
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "open_session: 0 Success\n");
        line.clear();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
    }
    held
}

fn release(held: Vec<std::process::Child>) {
    for mut child in held {
        drop(child.stdin.take());
        let _ = child.stdout.take().map(|mut s| std::io::copy(&mut s, &mut std::io::sink()));
        child.wait().unwrap();
    }
}

#[test]
fn three_hundred_concurrent_sessions_leave_the_user_quota_alone() {
    let l = lab(22);
    // Each login's token program hands back a token with a 600-byte ticket,
    // which the module stores root-owned in the PAG; tokens_required makes
    // any failure fail that login.
    let program = env!("CARGO_BIN_EXE_hand-back");
    l.service(&format!(
        "session required MODULE program={program} program_arg=example.org tokens_required\n"
    ));
    let before = key_usage(l.uid);
    let held = hold_sessions(&l, 300, &["putenv:KRB5CCNAME=KCM:"]);
    let during = key_usage(l.uid);
    // The user's own @u and @us at most; no PAG keyring, marker or token is charged to the user.
    assert!(during.0 <= before.0 + 2, "user keys went from {before:?} to {during:?} with 300 sessions");
    assert!(during.1 <= before.1 + 30, "user bytes went from {before:?} to {during:?} with 300 sessions");
    let add = "user-sh:head -c 600 /dev/zero | keyctl padd user big @s >/dev/null && echo added";
    let has = "user-sh:keyctl rdescribe $(keyctl search @s user afs@example.org) | cut -d';' -f1,2,4,5";
    let r = l.drive(&["putenv:KRB5CCNAME=KCM:", "open_session", "show", has, add, "end"]);
    release(held);
    assert_eq!(r.steps[1], "open_session: 0 Success");
    assert_eq!(r.steps[2], "show: pag N owner 0 marker_uid 0 uid 0 euid 0");
    assert_eq!(r.steps[3], "user;0;0b110000;afs@example.org", "{:?}", r.steps);
    assert_eq!(r.steps[5], "added", "{:?}", r.steps);
}

/// The control: a user-owned PAG is made with the user's ids (as
/// pam_keyinit makes its keyrings) and charged to the user, so the same load
/// uses up the user's quota: the kernel lets session keyrings overrun it,
/// but then the user cannot add a key of their own. The marker stays root's.
#[test]
fn user_owned_pags_count_against_the_users_quota() {
    let l = lab(23);
    l.service("session required MODULE notokens keyring_owner=user\n");
    let maxkeys: usize =
        std::fs::read_to_string("/proc/sys/kernel/keys/maxkeys").unwrap().trim().parse().unwrap();
    let held = hold_sessions(&l, maxkeys, &[]);
    let during = key_usage(l.uid);
    let add = "user-sh:head -c 600 /dev/zero | keyctl padd user big @s 2>&1 >/dev/null || echo refused";
    let r = l.drive(&["open_session", "show", add, "end"]);
    release(held);
    assert!(during.0 >= maxkeys as u64, "{maxkeys} user-owned PAGs, but the user is charged {during:?}");
    assert_eq!(r.steps[0], "open_session: 0 Success", "{:?}", r.syslog);
    assert_eq!(r.steps[1], format!("show: pag N owner {} marker_uid 0 uid 0 euid 0", l.uid));
    assert_eq!(r.steps[2..4], strings(&["add_key: Disk quota exceeded", "refused"]), "{:?}", r.steps);
}

#[test]
fn pam_driver_reports_stdout_flushes() {
    // The driver's own contract the tests above rely on: one line per step.
    let l = lab(25);
    l.service("session required pam_permit.so\n");
    let r = l.drive(&["open_session", "close_session", "end"]);
    assert_eq!(r.steps, strings(&["open_session: 0 Success", "close_session: 0 Success", "end: 0"]));
    let _ = std::io::stdout().flush();
}

#[test]
fn the_callers_sigchld_disposition_is_left_alone() {
    let l = lab(24);
    let ok = l.script("ok.sh", &hands_back_nothing("echo hi"));
    l.service(&format!("session required MODULE program={ok} always_aklog\n"));
    let r = l.drive(&["sigchld", "open_session", "sigchld", "end"]);
    assert_eq!(r.steps[..3], strings(&["sigchld: default", "open_session: 0 Success", "sigchld: default"]));
    assert_eq!(r.syslog[1], "6 pam_pag(svc:session): user $USER: $DIR/ok.sh: hi");
    // An application that ignores SIGCHLD keeps ignoring it; the module cannot
    // collect the status then (the kernel reaped the child) and says so.
    let r = l.drive(&["ignore-sigchld", "open_session", "sigchld", "end"]);
    assert_eq!(r.steps[..3], strings(&["ignore-sigchld: ok", "open_session: 0 Success", "sigchld: ignored"]));
    assert_eq!(
        r.syslog[1..],
        strings(&[
            "6 pam_pag(svc:session): user $USER: $DIR/ok.sh: hi",
            "4 pam_pag(svc:session): user $USER: exit status of $DIR/ok.sh unknown: No child processes",
        ])
    );
}

#[test]
fn login_order_open_before_setcred_runs_the_program_once_the_ticket_is_there() {
    let l = lab(26);
    let ok = l.script("ok.sh", &hands_back_nothing("echo got tokens"));
    l.service(&format!(
        "auth required pam_permit.so\nauth optional MODULE program={ok}\nsession required MODULE program={ok}\n"
    ));
    // util-linux login: open_session, then setcred(ESTABLISH); pam_krb5 puts
    // KRB5CCNAME into the PAM environment in between (putenv stands in for it).
    let r = l.drive(&[
        "authenticate",
        "open_session",
        "putenv:KRB5CCNAME=KCM:",
        "setcred:establish",
        "close_session",
        "setcred:delete",
        "end",
    ]);
    assert_eq!(
        r.syslog,
        strings(&[
            "6 pam_pag(svc:session): user $USER: created PAG N (keyring owned by root)",
            "6 pam_pag(svc:setcred): user $USER: $DIR/ok.sh: got tokens",
            "6 pam_pag(svc:session): user $USER: session closed, removed 0 token(s) from PAG N",
        ])
    );
}

#[test]
fn the_pag_is_inherited_across_fork_exec_setsid_and_daemonizing() {
    let l = lab(27);
    l.service("session required MODULE notokens\n");
    let shared = l.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = shared.join("daemon");
    let daemonize = format!(
        "user-sh:echo in $(keyctl id @s); setsid sh -c 'echo in $(keyctl id @s)'; \
         (setsid sh -c 'sleep 0.3; echo in $(keyctl id @s) > {}' </dev/null >/dev/null 2>&1 &)",
        out.display()
    );
    let mut cmd = l.command(&[], &["open_session", "root-sh:echo pag $(keyctl id @s)", &daemonize, "end"]);
    let output = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !out.exists() || std::fs::read_to_string(&out).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the daemon never wrote:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pag = text.lines().find_map(|l| l.strip_prefix("pag ")).expect("driver's serial").trim().to_owned();
    let seen: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("in ")).collect();
    assert_eq!(seen, [pag.as_str(), pag.as_str()], "{text}");
    assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), format!("in {pag}"));
}

/// conf/pam.d/su-l, with Debian's stock su and common-* files around it
/// (pam-auth-update's, from the installed profiles; never this host's
/// /etc/pam.d), loads and gives `su -l`'s target user a PAG (su's call
/// order: authenticate as root through pam_rootok, setcred, open_session).
/// The whole system session stack runs (pam_unix and pam_systemd, which log
/// to the captured /dev/log only).
#[test]
fn the_su_l_example_stack_works() {
    let l = lab(28);
    let confdir = l.path().join("pam.d");
    std::fs::create_dir(&confdir).unwrap();
    let stacks = pag_tests::container::debian_pam_d_for_host(&l.path().join("staging")).unwrap();
    for (service, stack) in stacks {
        std::fs::write(confdir.join(service), stack.render()).unwrap();
    }
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/pam.d/su-l")).unwrap();
    let module = module();
    std::fs::write(confdir.join("su-l"), example.replace("pam_pag.so", &module.to_string_lossy())).unwrap();
    let mut cmd = Command::new(DRIVER);
    cmd.args([
        "--confdir",
        &confdir.to_string_lossy(),
        "--add-user",
        &l.user_spec(),
        "--syslog",
        "su-l",
        &l.user,
    ])
    .args([
        "authenticate",
        "setcred:establish",
        "open_session",
        "show",
        "close_session",
        "setcred:delete",
        "end",
    ]);
    let r = l.drive_with(cmd);
    assert_eq!(
        r.steps,
        strings(&[
            "authenticate: 0 Success",
            "setcred:establish: 0 Success",
            "open_session: 0 Success",
            "show: pag N owner 0 marker_uid 0 uid 0 euid 0",
            "close_session: 0 Success",
            "setcred:delete: 0 Success",
            "end: 0",
        ])
    );
    assert_eq!(
        r.syslog,
        strings(&[
            // pam_rootok is `sufficient` in su's auth stack, so setcred ends
            // before pam_pag's auth line; open_session creates the PAG.
            "6 pam_pag(su-l:session): user $USER: created PAG N (keyring owned by root)",
            "6 pam_pag(su-l:session): user $USER: session closed, removed 0 token(s) from PAG N",
        ])
    );
}

/// A hook run without root (a screen locker's setcred REFRESH, in a handle
/// of its own) does what the user could do: the program runs as the caller
/// (no PID namespace: that needs root), and the tokens it hands back go into
/// the PAG the caller is in, owned by the user. The login's root-owned token
/// is replaced in one step.
#[test]
fn a_refresh_without_root_stores_user_owned_tokens_in_the_callers_pag() {
    let l = lab(40);
    let program = env!("CARGO_BIN_EXE_hand-back");
    let args = format!("debug program={program} program_arg=example.org");
    l.service(&format!("auth optional MODULE {args}\nsession required MODULE {args}\n"));
    let token = "user-sh:keyctl rdescribe $(keyctl search @s user afs@example.org) | cut -d';' -f1,2,4,5";
    let r = l.drive(&[
        "putenv:KRB5CCNAME=KCM:",
        "open_session",
        token,
        "become-user",
        "restart",
        "putenv:KRB5CCNAME=KCM:",
        "setcred:refresh",
        token,
        "end",
    ]);
    let steps: Vec<&String> = r.steps.iter().filter(|s| !s.ends_with(": exit 0")).collect();
    assert_eq!(
        steps,
        [
            "putenv:KRB5CCNAME=KCM:: 0 Success",
            "open_session: 0 Success",
            "user;0;0b110000;afs@example.org",
            "become-user: ok",
            "restart: 0",
            "putenv:KRB5CCNAME=KCM:: 0 Success",
            "setcred:refresh: 0 Success",
            &format!("user;{};3f000000;afs@example.org", l.uid),
            "end: 0",
        ],
        "{:#?}",
        r.syslog
    );
    assert!(
        r.syslog.iter().any(|s| s.contains("refreshing the tokens of the caller's PAG N")),
        "{:#?}",
        r.syslog
    );
    assert!(r.syslog.iter().any(|s| s.contains("ran in its own process group only")), "{:#?}", r.syslog);
}

/// Options and the two PAM lines: each hook sees only its own line's
/// arguments, so the shipped stacks carry none and the file holds the
/// options. With the file at the default path and bare `pam_pag.so` lines,
/// the configured program runs whichever hook comes first.
fn options_only_in_the_file(l: &Lab, steps: &[&str]) -> Run {
    let ok = l.script("ok.sh", &hands_back_nothing("echo got tokens"));
    let toml = l.path().join("pam_pag.toml");
    std::fs::write(&toml, format!("[pam]\nprogram = \"{ok}\"\nalways_aklog = true\non_close = \"revoke\"\n"))
        .unwrap();
    l.service(
        "auth required pam_permit.so\nauth optional MODULE\naccount required pam_permit.so\n\
         session required MODULE\n",
    );
    l.drive_with(l.command(&["--pam-pag-toml", &toml.to_string_lossy()], steps))
}

#[test]
fn sshd_order_with_options_only_in_the_file_runs_the_configured_program() {
    let l = lab(39);
    let r = options_only_in_the_file(
        &l,
        &[
            "setcred:establish",
            "open_session",
            "fork",
            "initgroups",
            "setcred:establish",
            "join",
            "close_session",
            "end",
        ],
    );
    assert_eq!(
        r.syslog,
        strings(&[
            "6 pam_pag(svc:setcred): user $USER: created PAG N (keyring owned by root)",
            "6 pam_pag(svc:setcred): user $USER: $DIR/ok.sh: got tokens",
            "6 pam_pag(svc:session): user $USER: session closed, revoked PAG N",
        ])
    );
}

#[test]
fn login_order_with_options_only_in_the_file_runs_the_configured_program() {
    let l = lab(40);
    let r = options_only_in_the_file(
        &l,
        &["authenticate", "open_session", "setcred:establish", "close_session", "end"],
    );
    assert_eq!(
        r.syslog,
        strings(&[
            "6 pam_pag(svc:session): user $USER: created PAG N (keyring owned by root)",
            "6 pam_pag(svc:session): user $USER: $DIR/ok.sh: got tokens",
            "6 pam_pag(svc:session): user $USER: session closed, revoked PAG N",
        ])
    );
}

/// `aklog -setpag` in a login's root-owned PAG cannot replace the shell's
/// session keyring (the kernel allows that only for a keyring the caller
/// owns): it says so, and what to do, before any Kerberos work, exit 5.
#[test]
fn aklog_setpag_in_a_root_owned_login_pag_says_why_it_cannot() {
    let l = lab(41);
    l.service("session required MODULE notokens\n");
    let aklog = pag_tests::built_binary("aklog").unwrap();
    let cmd = format!("user-sh:{} -setpag -c example.org 2>&1; echo exit=$?", aklog.display());
    let r = l.drive(&["open_session", &cmd, "end"]);
    let said = r.steps[1..r.steps.len() - 2].join("\n");
    assert!(
        said.contains("-setpag: your shell's session keyring is PAG ")
            && said.contains("which pam_pag made for your login and root owns (keyring_owner = \"root\")")
            && said.contains("Run `pagsh` for a shell in a new PAG"),
        "{:#?}",
        r.steps
    );
    assert!(said.ends_with("exit=5"), "{:#?}", r.steps);
    assert!(!said.contains("Kerberos") && !said.contains("KDC"), "it did Kerberos work first: {said}");
}
