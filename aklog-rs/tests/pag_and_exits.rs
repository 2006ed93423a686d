//! -setpag with a real parent shell, tokens and unlog in and out of a PAG,
//! and the exit codes that do not depend on Kerberos.

mod common;

use std::path::PathBuf;

use common::*;

/// The number after "keyring: _ses" on the first line of `keyctl show @s`.
fn session_serial(show: &str) -> String {
    let line =
        show.lines().find(|l| l.contains("keyring: _ses")).unwrap_or_else(|| panic!("no _ses in {show}"));
    line.split_whitespace().next().unwrap().to_owned()
}

#[test]
fn setpag_gives_the_parent_shell_a_new_pag_holding_the_token() {
    let fx = fixture();
    let out = fx.session(
        &fx.file_ccache("cc"),
        "keyctl show @s; echo ==; aklog -setpag -c example.org || exit $?; echo ==; keyctl show @s; echo ==; tokens",
    );
    assert_eq!(out.code, 0, "{out:?}");
    let parts: Vec<&str> = out.stdout.split("==\n").collect();
    let (before, after, listing) = (session_serial(parts[0]), session_serial(parts[2]), parts[3]);
    assert_ne!(before, after, "the shell's @s did not change: {out:?}");
    assert!(parts[2].contains("user: pag:marker"), "the new @s is not a PAG: {}", parts[2]);
    assert!(parts[2].contains("afs@example.org"), "the token is not in the new @s: {}", parts[2]);
    assert!(listing.contains(&format!("Tokens held in PAG {after}:")), "{listing}");
    assert!(listing.contains("User's (user@AKLOG.TEST) tokens for afs@example.org [Expires "), "{listing}");
    assert!(listing.trim_end().ends_with("--End of list--"), "{listing}");
    assert_eq!(
        out.stderr.matches("kAFS will not see").count(),
        1,
        "exactly one kAFS warning: {}",
        out.stderr
    );
}

#[test]
fn setpag_refused_for_a_multithreaded_parent_says_why() {
    let fx = fixture();
    // python3 with a second thread running is a multithreaded parent.
    let script = "python3 -c 'import subprocess, sys, threading, time
threading.Thread(target=time.sleep, args=(3,), daemon=True).start()
sys.exit(subprocess.run([\"aklog\", \"-setpag\", \"-c\", \"example.org\"]).returncode)'";
    let out = fx.session(&fx.file_ccache("cc"), script);
    assert_fails(&out, 5, "single-threaded");
}

#[test]
fn tokens_and_unlog_in_a_pag() {
    let fx = fixture();
    let out = fx.session(
        &fx.file_ccache("cc"),
        "aklog -setpag -c example.org -c aklog.test || exit $?; unlog -cell example.org || exit $?; tokens; \
         unlog -cell nosuch; echo rc=$?; unlog || exit $?; tokens --json",
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("tokens for afs@aklog.test"), "{}", out.stdout);
    assert!(!out.stdout.contains("tokens for afs@example.org"), "{}", out.stdout);
    assert!(out.stdout.contains("rc=0"), "{}", out.stdout);
    assert!(out.stderr.contains("no token held for cell nosuch"), "{}", out.stderr);
    assert!(!out.stderr.contains("not in a PAG"), "{}", out.stderr);
    let v = json_tokens(&out.stdout);
    assert!(v["pag"].is_i64(), "{v}");
    assert_eq!(v["keyring_kind"], "pag");
    assert_eq!(v["tokens"].as_array().unwrap().len(), 0, "{v}");
}

#[test]
fn tokens_and_unlog_in_a_plain_session_keyring_say_there_is_no_pag() {
    let fx = fixture();
    let out =
        fx.session(&fx.file_ccache("cc"), "aklog -c example.org || exit $?; tokens; unlog; tokens --json");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("You are not in a PAG. Tokens held in the session keyring"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("tokens for afs@example.org"), "{}", out.stdout);
    assert!(out.stderr.contains("unlog: you are not in a PAG"), "{}", out.stderr);
    let v = json_tokens(&out.stdout);
    assert_eq!(v["pag"], serde_json::Value::Null);
    assert_eq!(v["keyring_kind"], "session");
    assert_eq!(v["tokens"].as_array().unwrap().len(), 0);
}

#[test]
fn without_a_session_keyring_aklog_says_so_and_uses_the_user_session_keyring() {
    let fx = fixture();
    // Joining _uid_ses.<uid> by name makes @s the same keyring as @us.
    let out = fx.session_as(
        Session::UserSession,
        &fx.file_ccache("cc"),
        true,
        "aklog -c example.org || exit $?; tokens; unlog -cell example.org",
    );
    assert_fails(&out, 0, "no PAG and no session keyring of your own");
    assert!(
        out.stdout.contains("You are not in a PAG. Tokens held in the user-session keyring"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("tokens for afs@example.org"), "{}", out.stdout);
}

#[test]
fn bad_arguments_exit_1() {
    let fx = fixture();
    for script in [
        "aklog -bogus",
        "aklog -c",
        "aklog -c a/b",
        "aklog -k 'A B' -c example.org",
        "aklog --key-type logon -c example.org",
        "tokens -x",
        "unlog -cell",
        "unlog -cell a@b",
    ] {
        let out = fx.session_as(Session::Fresh, &fx.file_ccache("cc"), false, script);
        assert_eq!(out.code, 1, "{script}: {out:?}");
        assert!(!out.stderr.trim().is_empty(), "{script}: no message");
    }
    let out = fx.session_as(Session::Fresh, &fx.file_ccache("cc"), false, "aklog --help && aklog -help");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("-setpag") || out.stdout.contains("--setpag"), "{}", out.stdout);
}

#[test]
fn an_unknown_single_dash_option_is_named_whole() {
    let fx = fixture();
    for (script, word) in
        [("aklog -bogus", "-bogus"), ("unlog -cell a -bogus", "-bogus"), ("tokens -jsonx", "-jsonx")]
    {
        let out = fx.session_as(Session::Fresh, &fx.file_ccache("cc"), false, script);
        assert_fails(&out, 1, &format!("unknown option '{word}'"));
        assert!(out.stderr.contains("Usage:"), "{script}: {}", out.stderr);
        assert!(!out.stderr.contains(&format!("'{}'", &word[..2])), "{script}: {}", out.stderr);
    }
    // Clusters of short options still work.
    let out = fx.session(&fx.file_ccache("cc"), "aklog -dcexample.org");
    assert_fails(&out, 0, "cell example.org: token stored");
}

#[test]
fn each_command_has_its_own_help() {
    let fx = fixture();
    for (command, first) in [
        ("aklog", "Get AFS tokens from your Kerberos tickets and store them in your PAG"),
        ("tokens", "List the AFS tokens of your PAG"),
        ("unlog", "Remove the AFS tokens of your PAG"),
    ] {
        for help in ["--help", "-help"] {
            let out =
                fx.session_as(Session::Fresh, &fx.file_ccache("cc"), false, &format!("{command} {help}"));
            assert_eq!(out.code, 0, "{command} {help}: {out:?}");
            let line = out.stdout.lines().find(|l| !l.starts_with("Joined session keyring")).unwrap_or("");
            assert_eq!(line, first, "{command} {help}: {}", out.stdout);
        }
    }
}

#[test]
fn no_cell_anywhere_exits_3() {
    // Whatever this host has: AFSCONF points at an empty directory (no
    // ThisCell) and a new network namespace has no kAFS root cell (kAFS
    // keeps one per namespace), so neither the host's OpenAFS nor kAFS
    // configuration can name a cell.
    let fx = fixture();
    let empty = tempfile::tempdir().unwrap();
    let script = format!("AFSCONF={} unshare --net aklog", empty.path().display());
    let out = fx.session(&fx.file_ccache("cc"), &script);
    assert_fails(&out, 3, "no cell given");
    assert!(out.stderr.contains(&format!("{}/ThisCell", empty.path().display())), "{}", out.stderr);
}

#[test]
fn afsconf_names_the_directory_of_this_cell() {
    let fx = fixture();
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(conf.path().join("ThisCell"), "example.org\n").unwrap();
    let script = format!("AFSCONF={} aklog -d || exit $?; tokens --json", conf.path().display());
    let out = fx.session(&fx.file_ccache("cc"), &script);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains(&format!("cell from {}/ThisCell", conf.path().display())), "{}", out.stderr);
    let v = json_tokens(&out.stdout);
    assert_eq!(v["tokens"][0]["cell"], "example.org", "{v}");
}

#[test]
fn cells_and_key_type_from_the_config_file() {
    let fx = fixture();
    std::fs::write(&fx.config, "[aklog]\ncells = [\"example.org\", \"aklog.test\"]\nkey_type = \"user\"\n")
        .unwrap();
    let out = fx.session(&fx.file_ccache("cc"), "aklog || exit $?; tokens --json");
    assert_eq!(out.code, 0, "{out:?}");
    // key_type = "user" asks for user keys directly: no fallback warning.
    assert!(!out.stderr.contains("kAFS will not see"), "{}", out.stderr);
    let v = json_tokens(&out.stdout);
    assert_eq!(v["tokens"].as_array().unwrap().len(), 2, "{v}");
}

#[test]
fn broken_config_exits_3_with_file_and_line() {
    let fx = fixture();
    std::fs::write(&fx.config, "[aklog]\ncells = [\"example.org\"]\nbogus = 1\n").unwrap();
    let out = fx.session(&fx.file_ccache("cc"), "aklog");
    assert_fails(&out, 3, &format!("{}:3:1", fx.config.display()));
}

#[test]
fn a_missing_file_named_by_pag_config_exits_3() {
    let fx = fixture();
    let out = fx.session(&fx.file_ccache("cc"), "PAG_CONFIG=/nonexistent/pam_pag.toml aklog -c example.org");
    assert_fails(&out, 3, "/nonexistent/pam_pag.toml: cannot read the configuration named by PAG_CONFIG");
}

#[test]
fn rxrpc_key_type_on_a_kernel_without_it_exits_5() {
    let fx = fixture();
    let out = fx.session(&fx.file_ccache("cc"), "aklog --key-type rxrpc -c example.org");
    if std::path::Path::new("/proc/net/rxrpc").exists() {
        assert_eq!(out.code, 0, "this kernel has AF_RXRPC: {out:?}");
        return;
    }
    assert_fails(&out, 5, "AF_RXRPC");
}

/// The with-seccomp helper of pag-tests, built by `cargo test --workspace`.
fn with_seccomp() -> PathBuf {
    pag_tests::built_binary("with-seccomp").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn no_usable_keyring_exits_5() {
    let fx = fixture();
    let ccache = fx.file_ccache("cc");
    fx.kdc.kinit_password(USER, PASSWORD, &ccache).unwrap();
    for mode in ["eperm", "enosys"] {
        let out = fx
            .command(with_seccomp().to_str().unwrap(), &ccache)
            .args([mode, "--", "aklog", "-c", "example.org"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(5), "{mode}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("seccomp"), "{mode}: {out:?}");
    }
}

#[test]
fn path_outside_afs_exits_6() {
    let fx = fixture();
    let out = fx.session(&fx.file_ccache("cc"), "aklog -path /tmp");
    assert_fails(&out, 6, "not in AFS");
    // A path that does not exist: the system's words, no "(os error 2)".
    let out = fx.session(&fx.file_ccache("cc"), "aklog -path /nonexistent/afs/x");
    assert_fails(&out, 6, "aklog: /nonexistent/afs/x: No such file or directory\n");
    assert!(!out.stderr.contains("os error"), "{}", out.stderr);
}

#[test]
fn tokens_marks_an_expired_token() {
    let fx = fixture();
    // A 3-second TGT gives a service ticket (and token) ending with it.
    let script = "printf '%s\\n' \"$PW\" | kinit -l 3s user >/dev/null || exit 99; \
                  aklog -c example.org || exit $?; tokens; sleep 4; tokens; tokens --json";
    let out = fx.session_as(Session::Fresh, &fx.file_ccache("cc"), false, script);
    assert_eq!(out.code, 0, "{out:?}");
    let listings: Vec<&str> = out.stdout.split("--End of list--\n").collect();
    assert!(listings[0].contains("tokens for afs@example.org [Expires "), "{}", listings[0]);
    assert!(listings[1].contains("tokens for afs@example.org [>> Expired <<]"), "{}", listings[1]);
    let v = json_tokens(listings[2]);
    assert_eq!(v["tokens"][0]["expired"], true, "{v}");
}

#[test]
fn setpag_without_any_stored_token_leaves_the_shell_alone() {
    if std::path::Path::new("/proc/net/rxrpc").exists() {
        panic!("this test needs a kernel without AF_RXRPC, so that --key-type rxrpc fails to store");
    }
    let fx = fixture();
    let out = fx.session(
        &fx.file_ccache("cc"),
        "keyctl show @s; echo ==; aklog -setpag --key-type rxrpc -c example.org; echo rc=$?; echo ==; keyctl show @s",
    );
    let parts: Vec<&str> = out.stdout.split("==\n").collect();
    assert_eq!(parts.len(), 3, "{out:?}");
    assert!(parts[1].starts_with("rc=5"), "{out:?}");
    assert_eq!(session_serial(parts[0]), session_serial(parts[2]), "the shell's @s changed: {out:?}");
    assert!(out.stderr.contains("the shell keeps its session keyring"), "{}", out.stderr);
}

#[test]
fn setpag_takes_a_keyring_session_cache_along() {
    let fx = fixture();
    let out = fx.session(
        "KEYRING:session:aklog-setpag",
        "aklog -setpag -c example.org || exit $?; keyctl show @s; echo ==; klist",
    );
    assert_eq!(out.code, 0, "{out:?}");
    let (show, klist) = out.stdout.split_once("==\n").unwrap();
    assert!(show.contains("user: pag:marker"), "{show}");
    assert!(show.contains("keyring: _krb_aklog-setpag"), "the cache was left behind: {show}");
    assert!(klist.contains("Default principal: user@AKLOG.TEST"), "{klist}");
    assert!(klist.contains("afs/example.org@AKLOG.TEST"), "{klist}");
}
