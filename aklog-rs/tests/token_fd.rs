//! aklog with PAG_TOKEN_FD against a real MIT KDC: the tokens arrive on a
//! pipe as one hand-over message that `pag::token::handover::parse` takes,
//! nothing is stored in the session keyring, the exit codes are OpenAFS's,
//! and a bad descriptor is exit 5. Each run is in its own fresh session
//! keyring (`keyctl session -`).

mod common;

use common::*;
use pag::token::handover::{self, CcacheReport, HandedToken, Limits};

/// What a hand-over run gave: aklog's exit code, the tokens on the pipe, and
/// the keys in the session keyring afterwards (`keyctl rlist @s`).
struct HandedOver {
    code: i32,
    tokens: Vec<HandedToken>,
    ccache: Option<CcacheReport>,
    session_keys: String,
    stderr: String,
    /// `klist` of the login's cache afterwards (exit code, output).
    klist: (i32, String),
}

/// Run `aklog <args>` with PAG_TOKEN_FD=3, fd 3 the write end of a pipe
/// into `od`, in a fresh session keyring after kinit.
fn hand_over(fx: &Fx, args: &str) -> HandedOver {
    hand_over_with(fx, "", args)
}

/// [`hand_over`] with `env` (`NAME=value ...`) for aklog.
fn hand_over_with(fx: &Fx, env: &str, args: &str) -> HandedOver {
    let rc = fx.kdc.dir().join("aklog.rc");
    let script = format!(
        "{{ {env} PAG_TOKEN_FD=3 aklog {args} 3>&1 >/dev/null; echo $? >{rc}; }} | od -An -v -tx1 | tr -d ' \\n'\n\
         echo; echo ==; cat {rc}; echo ==; keyctl rlist @s; echo ==; klist 2>&1; echo $?",
        rc = rc.display()
    );
    let out = fx.session(&fx.file_ccache("cc"), &script);
    assert_eq!(out.code, 0, "the script itself failed: {out:?}");
    let parts: Vec<&str> = out.stdout.split("==\n").collect();
    assert_eq!(parts.len(), 4, "{out:?}");
    let message = hex(parts[0].trim());
    let message = handover::parse_message(&message, &Limits::default())
        .unwrap_or_else(|e| panic!("the hand-over message does not parse: {e}: {out:?}"));
    let klist = parts[3].trim_end();
    let (listing, code) = klist.rsplit_once('\n').unwrap_or(("", klist));
    HandedOver {
        code: parts[1].trim().parse().unwrap(),
        tokens: message.tokens,
        ccache: message.ccache,
        session_keys: parts[2].trim().to_owned(),
        stderr: out.stderr,
        klist: (code.trim().parse().unwrap(), listing.to_owned()),
    }
}

#[test]
fn tokens_arrive_on_the_pipe_and_nothing_is_stored() {
    let fx = fixture();
    let got = hand_over(&fx, "-d -c example.org -c aklog.test");
    assert_eq!(got.code, 0, "{}", got.stderr);
    let cells: Vec<&str> = got.tokens.iter().map(|t| t.cell.as_str()).collect();
    assert_eq!(cells, ["example.org", "aklog.test"]);
    for t in &got.tokens {
        assert_eq!(t.principal.as_deref(), Some("user@AKLOG.TEST"));
        assert_eq!(t.rxkad.kvno, 256);
        assert!(!t.rxkad.ticket.is_empty());
    }
    assert_eq!(got.session_keys, "", "aklog stored something in the session keyring");
    assert!(got.stderr.contains("2 token(s) handed over on descriptor 3"), "{}", got.stderr);
}

#[test]
fn without_a_kcm_daemon_the_move_is_reported_not_done_and_the_file_cache_stays() {
    let fx = fixture();
    // No daemon listens on this socket (ENOENT: KRB5_KCM_NO_SERVER).
    let conf = fx.kdc.dir().join("krb5-kcm.conf");
    let text = std::fs::read_to_string(fx.kdc.krb5_conf()).unwrap();
    let text = text.replacen("[libdefaults]", "[libdefaults]\n    kcm_socket = /nonexistent/pag-kcm.sock", 1);
    std::fs::write(&conf, text).unwrap();
    let env = format!("KRB5_CONFIG={} PAG_MOVE_TO_KCM=1", conf.display());
    let got = hand_over_with(&fx, &env, "-c example.org");
    assert_eq!(got.code, 0, "{}", got.stderr);
    assert_eq!(got.tokens.len(), 1, "the tokens come from the cache that stayed");
    match &got.ccache {
        Some(CcacheReport::NotMoved(why)) => {
            assert!(why.contains("No KCM server found") && why.contains("pag-kcm"), "{why}")
        }
        other => panic!("not reported as not moved: {other:?}"),
    }
    assert_eq!(got.klist.0, 0, "the FILE: cache is gone: {}", got.klist.1);
    assert!(got.klist.1.contains("krbtgt/AKLOG.TEST@AKLOG.TEST"), "{}", got.klist.1);
    // Not asked: no report, a version 1 message as before.
    let got = hand_over_with(&fx, &format!("KRB5_CONFIG={}", conf.display()), "-c example.org");
    assert_eq!((got.code, got.ccache), (0, None));
}

#[test]
fn partial_failure_exits_2_and_hands_over_what_worked() {
    let fx = fixture();
    let got = hand_over(&fx, "-c example.org -c nosuch.example.org");
    assert_eq!(got.code, 2, "{}", got.stderr);
    assert_eq!(got.tokens.len(), 1);
    assert_eq!(got.tokens[0].cell, "example.org");
    assert!(got.stderr.contains("afs/nosuch.example.org@AKLOG.TEST"), "{}", got.stderr);
    assert_eq!(got.session_keys, "");
}

#[test]
fn no_token_at_all_still_sends_an_empty_message() {
    let fx = fixture();
    let got = hand_over(&fx, "-c nosuch.example.org");
    assert_eq!(got.code, 4, "{}", got.stderr);
    assert!(got.tokens.is_empty());
    assert_eq!(got.session_keys, "");
}

#[test]
fn a_bad_descriptor_exits_5_saying_why() {
    let fx = fixture();
    for (setting, needle) in [
        ("PAG_TOKEN_FD=x", "\"x\" is not a descriptor number of 3 or more"),
        ("PAG_TOKEN_FD=", "is not a descriptor number"),
        ("PAG_TOKEN_FD=1", "\"1\" is not a descriptor number of 3 or more"),
        ("PAG_TOKEN_FD=9", "PAG_TOKEN_FD=9: descriptor 9 is not open"),
        ("PAG_TOKEN_FD=3 3</dev/null", "descriptor 3 is not open for writing"),
        ("PAG_TOKEN_FD=3 3>/dev/null", "descriptor 3 is a character device, not a pipe or a file"),
    ] {
        let out = fx.session(&fx.file_ccache("cc"), &format!("{setting} aklog -c example.org"));
        assert_fails(&out, 5, needle);
    }
}

#[test]
fn setpag_is_refused_in_hand_over_mode() {
    let fx = fixture();
    let out = fx.session(&fx.file_ccache("cc"), "PAG_TOKEN_FD=3 aklog -setpag -c example.org 3>/dev/null");
    assert_fails(&out, 1, "-setpag cannot be used with PAG_TOKEN_FD");
}

#[test]
fn a_regular_file_takes_the_message_too() {
    let fx = fixture();
    let file = fx.kdc.dir().join("tokens.bin");
    let out = fx
        .session(&fx.file_ccache("cc"), &format!("PAG_TOKEN_FD=7 aklog -c example.org 7>{}", file.display()));
    assert_eq!(out.code, 0, "{out:?}");
    let tokens = handover::parse(&std::fs::read(&file).unwrap(), &Limits::default()).unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].cell, "example.org");
}
