//! `pag check` against fixtures: a configuration file (`--config`), a PAM
//! directory (`--pam-dir`) and a fake /proc (`--system-root`); never the
//! host's /etc. The keyring probe is the real one (blocked with seccomp in
//! one test). The program checks want root-owned fixture files: run as
//! root (CI does).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const PAG: &str = env!("CARGO_BIN_EXE_pag");

struct Fx {
    dir: tempfile::TempDir,
}

fn fx() -> Fx {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "the program checks need root-owned fixture files: run as root"
    );
    let fx = Fx { dir: tempfile::tempdir().unwrap() };
    std::fs::create_dir(fx.path().join("pam.d")).unwrap();
    fx.write("pam.d/common-auth", "auth required pam_unix.so\n");
    fx.write("pam.d/common-session", "session required pam_unix.so\nsession optional pam_krb5.so\n");
    // The shipped sshd stack, bare pam_pag.so lines.
    let sshd = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/pam.d/sshd")).unwrap();
    let sshd: String = sshd
        .lines()
        .filter(|l| !l.contains("common-account") && !l.contains("common-password"))
        .map(|l| format!("{l}\n"))
        .collect();
    fx.write("pam.d/sshd", &sshd);
    fx.write("aklog", "#!/bin/sh\nexit 0\n");
    std::fs::set_permissions(fx.path().join("aklog"), PermissionsExt::from_mode(0o755)).unwrap();
    fx.write(
        "pam_pag.toml",
        &format!("[pam]\nprogram = \"{}\"\ncells = [\"example.org\"]\n", fx.path().join("aklog").display()),
    );
    // A quiet system: keyrings in use but far from the limits, Yama on,
    // AF_RXRPC present, no OpenAFS.
    let keys = "proc/sys/kernel/keys";
    for (name, value) in [
        ("maxkeys", "200"),
        ("maxbytes", "20000"),
        ("root_maxkeys", "1000000"),
        ("root_maxbytes", "25000000"),
    ] {
        fx.write(&format!("{keys}/{name}"), value);
    }
    fx.write(
        "proc/key-users",
        "    0:   120 119/119 97/1000000 2087/25000000\n 1000:     5 5/5 5/200 120/20000\n",
    );
    fx.write("proc/sys/kernel/yama/ptrace_scope", "1\n");
    fx.write("proc/key-types", "0000000a: user\n0000000b: rxrpc\n");
    fx.write("proc/modules", "ext4 1 0 - Live 0x0\n");
    fx
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Fx {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) {
        let p = self.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn command(&self) -> Command {
        let mut c = Command::new(PAG);
        c.arg("check")
            .arg("--config")
            .arg(self.path().join("pam_pag.toml"))
            .arg("--pam-dir")
            .arg(self.path().join("pam.d"))
            .arg("--system-root")
            .arg(self.path());
        c
    }

    fn check(&self, extra: &[&str]) -> Out {
        run(self.command().args(extra))
    }

    fn dir_text(&self, text: &str) -> String {
        text.replace(&self.path().display().to_string(), "$FX")
    }
}

fn run(c: &mut Command) -> Out {
    let o = c.output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn lines_with(out: &str, level: &str) -> Vec<String> {
    out.lines().filter(|l| l.starts_with(level)).map(str::to_owned).collect()
}

#[test]
fn a_clean_setup_is_all_ok_and_says_what_a_login_does() {
    let fx = fx();
    // The krb5 order warning is its own test: no pam_krb5 here.
    fx.write("pam.d/common-session", "session required pam_unix.so\n");
    let o = fx.check(&[]);
    let text = fx.dir_text(&o.stdout);
    assert_eq!(o.code, 0, "{text}{}", o.stderr);
    assert!(lines_with(&text, "WARN").is_empty() && lines_with(&text, "ERROR").is_empty(), "{text}");
    for expected in [
        "OK    config: $FX/pam_pag.toml: every section is valid",
        "OK    pam: sshd (setcred, $FX/pam.d/sshd:11): PAG yes, keyring owner root; token program $FX/aklog for example.org, timeout 10 s; on_close unlog",
        "OK    pam: sshd (session, $FX/pam.d/sshd:18): PAG yes, keyring owner root; token program $FX/aklog for example.org, timeout 10 s; on_close unlog",
        "OK    system: kernel keyrings are usable",
        "OK    system: AF_RXRPC is present: tokens are stored as rxrpc keys, which kAFS uses",
        "OK    system: kernel.yama.ptrace_scope = 1: other processes of the same user cannot ptrace into a PAG",
        "OK    system: no OpenAFS client",
        "OK    program: $FX/aklog: executable, root's, not writable by others",
        "0 error(s), 0 warning(s)",
    ] {
        assert!(text.lines().any(|l| l == expected), "missing {expected:?} in\n{text}");
    }
    assert!(text.contains("OK    system: root's key quota") && text.contains("97 of 1000000 keys"), "{text}");
}

#[test]
fn config_mistakes_are_errors_with_file_line_and_key_in_every_section() {
    let fx = fx();
    fx.write(
        "pam_pag.toml",
        "[aklog]\ncells = \"example.org\"\n[pam]\ntimeout = 0\n[pagsh]\nbogus = 1\n[nosuch]\n",
    );
    let o = fx.check(&[]);
    let text = fx.dir_text(&o.stdout);
    assert_eq!(o.code, 1, "{text}");
    assert_eq!(
        lines_with(&text, "ERROR"),
        [
            "ERROR config: $FX/pam_pag.toml:2:1: key `aklog.cells`: invalid type: string \"example.org\", expected a sequence (aklog refuses to run until fixed; logins are not affected)",
            "ERROR config: $FX/pam_pag.toml:4:1: key `pam.timeout`: must be at least 1 second (until fixed, every pam_pag login gets a PAG with the built-in defaults and no token program)",
            "ERROR config: $FX/pam_pag.toml:6:1: key `pagsh.bogus`: unknown field `bogus`, expected `link_user_keyring` or `allow_no_pag` (pagsh refuses to run until fixed; logins are not affected)",
            "ERROR config: $FX/pam_pag.toml:7:1: key `nosuch`: unknown section `[nosuch]`; the sections are [pam], [pam.service.<name>], [pagsh], [aklog] and [kcm] (no reader uses it; logins are not affected)",
        ]
    );
    // What logins then do: the fail-safe defaults.
    assert!(text.contains("OK    pam: sshd (setcred, $FX/pam.d/sshd:11): PAG yes, keyring owner root; no token program; on_close unlog"), "{text}");
}

#[test]
fn a_syntax_error_is_one_line_and_a_named_file_must_exist() {
    let fx = fx();
    fx.write("pam_pag.toml", "[pam\n");
    let o = fx.check(&[]);
    assert_eq!(o.code, 1);
    let errors = lines_with(&fx.dir_text(&o.stdout), "ERROR");
    assert_eq!(errors, ["ERROR config: $FX/pam_pag.toml:1:5: invalid table header; expected `.`, `]` (until fixed, every pam_pag login gets a PAG with the built-in defaults and no token program)"]);
    let o = run(Command::new(PAG)
        .args(["check", "--config", "/nonexistent/pam_pag.toml", "--pam-dir"])
        .arg(fx.path().join("pam.d")));
    assert_eq!(o.code, 1);
    assert!(o.stdout.starts_with("ERROR config: /nonexistent/pam_pag.toml: cannot read the configuration named by --config: No such file or directory"), "{}", o.stdout);
}

#[test]
fn differing_arguments_missing_session_line_and_krb5_order_are_warnings() {
    let fx = fx();
    fx.write("pam.d/sshd", "@include common-auth\nauth optional pam_pag.so debug\nsession required /lib/x86_64-linux-gnu/security/pam_pag.so\n@include common-session\n");
    fx.write(
        "pam.d/login",
        "auth optional pam_pag.so\nsession include common-session\nsession required pam_pag.so\n",
    );
    fx.write("pam.d/su", "auth optional pam_pag.so\nsession required pam_unix.so\n");
    let o = fx.check(&[]);
    let text = fx.dir_text(&o.stdout);
    assert_eq!(o.code, 0, "warnings only: {text}");
    let warnings = lines_with(&text, "WARN");
    assert!(warnings.contains(&"WARN  pam: sshd: the auth line ($FX/pam.d/sshd:2: \"debug\") and the session line ($FX/pam.d/sshd:3: \"\") carry different arguments; each hook sees only its own line's, and whichever runs first (sshd: setcred, from the auth line) sets the session up; put the options in the configuration file instead".to_owned()), "{text}");
    assert!(warnings.contains(&"WARN  pam: sshd: pam_pag's session line ($FX/pam.d/sshd:3) comes before pam_krb5's ($FX/pam.d/common-session:2): where the session is opened before setcred (login), the token program finds no ticket at open_session and waits for setcred".to_owned()), "{text}");
    assert!(
        warnings.iter().any(
            |w| w.starts_with("WARN  pam: su: pam_pag is in the auth stack but not in the session stack")
        ),
        "{text}"
    );
    assert!(
        !warnings.iter().any(|w| w.starts_with("WARN  pam: login:")),
        "login's pam_pag comes after pam_krb5: {text}"
    );
}

#[test]
fn a_bad_module_argument_is_an_error_and_an_unknown_one_a_warning() {
    let fx = fx();
    fx.write(
        "pam.d/sshd",
        "auth optional pam_pag.so timeout=soon frob\nsession required pam_pag.so timeout=soon frob\n",
    );
    let o = fx.check(&[]);
    let text = fx.dir_text(&o.stdout);
    assert_eq!(o.code, 1, "{text}");
    assert!(text.contains("ERROR pam: sshd (session, $FX/pam.d/sshd:2): module argument `timeout=soon`: `soon` is not a non-negative integer; a login gets a PAG with the built-in defaults and no token program"), "{text}");
    assert!(text.contains("OK    pam: sshd (session, $FX/pam.d/sshd:2): PAG yes, keyring owner root; no token program; on_close unlog"), "{text}");
    let fx2 = fx;
    fx2.write("pam.d/sshd", "session required pam_pag.so frob\n");
    let o = fx2.check(&[]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(fx2.dir_text(&o.stdout).contains("WARN  pam: sshd (session, $FX/pam.d/sshd:1): unknown module argument `frob` (logged and ignored by the module)"), "{}", o.stdout);
}

#[test]
fn the_token_program_must_exist_be_roots_and_not_writable_by_others() {
    let fx = fx();
    fx.write("pam_pag.toml", "[pam]\nprogram = \"/nonexistent/aklog\"\n");
    let o = fx.check(&[]);
    assert_eq!(o.code, 1);
    assert!(fx.dir_text(&o.stdout).contains("ERROR program: /nonexistent/aklog: No such file or directory (run by 2 pam_pag line(s), first sshd (setcred, $FX/pam.d/sshd:11)); those logins get no tokens"), "{}", o.stdout);
    let fx = self::fx();
    std::fs::set_permissions(fx.path().join("aklog"), PermissionsExt::from_mode(0o777)).unwrap();
    std::os::unix::fs::chown(fx.path().join("aklog"), Some(1000), None).unwrap();
    let o = fx.check(&[]);
    assert_eq!(o.code, 1);
    assert!(
        fx.dir_text(&o.stdout).contains(
            "ERROR program: $FX/aklog: owned by uid 1000, not root, writable by group or others (mode 0777)"
        ),
        "{}",
        o.stdout
    );
}

#[test]
fn system_warnings_yama_rxrpc_openafs_and_quotas() {
    let fx = fx();
    std::fs::remove_file(fx.path().join("proc/sys/kernel/yama/ptrace_scope")).unwrap();
    fx.write("proc/key-types", "0000000a: user\n");
    fx.write("proc/modules", "openafs 1 0 - Live 0x0\n");
    fx.write(
        "proc/key-users",
        "    0:   120 119/119 999000/1000000 2087/25000000\n 1000:     5 5/5 190/200 120/20000\n",
    );
    let o = fx.check(&[]);
    let text = fx.dir_text(&o.stdout);
    assert_eq!(o.code, 0, "{text}");
    let warnings = lines_with(&text, "WARN");
    for start in [
        "WARN  system: root's key quota (shared by every login whose PAG root owns, about 4 keys and 625 bytes each): 999000 of 1000000 keys, 2087 of 25000000 bytes in use, room for about 250 more sessions; raise",
        "WARN  system: uid 1000 uses 190 of 200 keys",
        "WARN  system: AF_RXRPC is not present",
        "WARN  system: kernel.yama.ptrace_scope is absent (no Yama): a process of the same user can ptrace one in a PAG, so isolation from other processes of the same user holds only through the keyring API",
        "WARN  system: an OpenAFS client is present (the openafs kernel module): its cache manager ignores pag's kAFS tokens",
    ] {
        assert!(warnings.iter().any(|w| w.starts_with(start)), "missing {start:?} in\n{text}");
    }
}

#[test]
fn blocked_keyrings_are_an_error() {
    let fx = fx();
    let seccomp = pag_tests::workspace::built_binary("with-seccomp").unwrap();
    let mut c = Command::new(seccomp);
    c.args(["eperm", "--", PAG]).args(fx.command().get_args());
    let o = run(&mut c);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("ERROR system: kernel keyrings are blocked here (Operation not permitted;"),
        "{}",
        o.stdout
    );
}

#[test]
fn json_for_scripts() {
    let fx = fx();
    fx.write("pam_pag.toml", "[pam]\ntimeout = 0\n");
    let o = fx.check(&["--json"]);
    assert_eq!(o.code, 1);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["errors"], 1);
    let first = &v["findings"][0];
    assert_eq!((first["level"].as_str(), first["area"].as_str()), (Some("error"), Some("config")));
    let sshd = &v["services"][0];
    assert_eq!(sshd["service"], "sshd");
    assert_eq!(sshd["lines"][0]["hook"], "setcred");
    assert_eq!(sshd["lines"][1]["options"]["pag"], true);
    assert_eq!(sshd["lines"][1]["options"]["program"], serde_json::Value::Null, "fail safe: no program");
}

#[test]
fn usage_errors_exit_2() {
    let o = run(Command::new(PAG).args(["check", "--bogus"]));
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("--bogus"), "{}", o.stderr);
    let o = run(Command::new(PAG).arg("nosuch"));
    assert_eq!(o.code, 2);
    let o = run(Command::new(PAG).arg("--help"));
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("check"), "{}", o.stdout);
}

#[test]
fn the_shipped_stacks_carry_no_pam_pag_arguments() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/pam.d"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let line = line.split('#').next().unwrap();
            if let Some(at) = line.find("pam_pag.so") {
                assert!(line[at + "pam_pag.so".len()..].trim().is_empty(), "{}: {line}", path.display());
            }
        }
    }
}

#[test]
fn tag_gids_overlapping_a_group_or_a_subgid_range_is_an_error() {
    let fx = fx();
    let toml = std::fs::read_to_string(fx.path().join("pam_pag.toml")).unwrap();
    fx.write("pam_pag.toml", &toml.replace("[pam]\n", "[pam]\ntag_gids = \"70000-70999\"\n"));
    fx.write("etc/group", "root:x:0:\nproj:x:70500:alice\n");
    fx.write("etc/subgid", "alice:100000:65536\n");
    let o = fx.check(&[]);
    let text = fx.dir_text(&o.stdout);
    assert_eq!(o.code, 1, "{text}");
    assert!(
        text.lines().any(|l| l
            == "ERROR tags: [pam] tag_gids 70000-70999: group proj has gid 70500, inside tag_gids; logins get no tag"),
        "{text}"
    );
    fx.write("etc/group", "root:x:0:\n");
    fx.write("etc/subgid", "alice:70900:65536\n");
    let text = fx.dir_text(&fx.check(&[]).stdout);
    assert!(text.contains("alice's subordinate gids 70900-136435 in /etc/subgid overlap tag_gids"), "{text}");
    fx.write("etc/subgid", "alice:100000:65536\n");
    let o = fx.check(&[]);
    let text = fx.dir_text(&o.stdout);
    assert!(
        text.lines()
            .any(|l| l
                == "OK    tags: [pam] tag_gids 70000-70999: no group or subordinate gid range inside it"),
        "{text}"
    );
}

#[test]
fn kcm_without_tags_is_a_warning_naming_why() {
    let fx = fx();
    let toml = std::fs::read_to_string(fx.path().join("pam_pag.toml")).unwrap();
    fx.write("pam_pag.toml", &toml.replace("[pam]\n", "[pam]\nkcm = true\n"));
    let text = fx.dir_text(&fx.check(&[]).stdout);
    assert!(
        text.lines().any(|l| l.starts_with("WARN  pam: ")
            && l.contains("kcm = true, but no tag_gids")
            && l.ends_with("the login's tickets stay where pam_krb5 put them")),
        "{text}"
    );
    fx.write("pam_pag.toml", &toml.replace("[pam]\n", "[pam]\nkcm = true\ntag_gids = \"70000-70999\"\n"));
    let text = fx.dir_text(&fx.check(&[]).stdout);
    assert!(!text.contains("kcm = true, but"), "{text}");
    assert!(text.contains("tickets moved into the login's KCM cache (kcm)"), "{text}");
}
