//! pag-kcm's command line and start-up: each mistake gets one clear
//! message naming what is wrong, and exit 1 (2 for usage), before anything
//! is bound or written.

mod support;

use std::process::{Command, Output};

use support::text;

fn pag_kcm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pag-kcm")).args(args).output().unwrap()
}

#[test]
fn bad_arguments_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let socket = format!("{d}/s");
    let state = format!("{d}/state");
    let base = ["--socket", &socket, "--state-dir", &state];

    let out = pag_kcm(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--bogus"));

    let out = pag_kcm(&[&base[..], &["--gc-interval", "0"]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    let missing = format!("{d}/nope.toml");
    let out = pag_kcm(&[&base[..], &["--config", &missing]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains(&missing) && text(&out).contains("--config"), "{}", text(&out));

    let bad = format!("{d}/bad.toml");
    std::fs::write(&bad, "[pam]\nnotokens = true\n[kcm]\nmax_caches = 0\n").unwrap();
    let out = pag_kcm(&[&base[..], &["--config", &bad]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains(&format!("{bad}:4")) && text(&out).contains("kcm.max_caches"),
        "{}",
        text(&out)
    );

    let empty = format!("{d}/empty.toml");
    std::fs::write(&empty, "").unwrap();
    let out = pag_kcm(&[&base[..], &["--config", &empty, "--tag-gids", "5-10"]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("tag_gids \"5-10\""), "{}", text(&out));

    // A state directory others may read is refused, not used.
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = pag_kcm(&[&base[..], &["--config", &empty]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains(&state) && text(&out).contains("0700"), "{}", text(&out));
    assert!(!std::path::Path::new(&socket).exists(), "bound before checking its state directory");
}

#[test]
fn a_socket_another_daemon_answers_on_is_not_taken_over() {
    let site = support::Site::start(&[]);
    let out = Command::new(env!("CARGO_BIN_EXE_pag-kcm"))
        .arg("--socket")
        .arg(&site.socket)
        .arg("--state-dir")
        .arg(site.dir.path().join("other-state"))
        .arg("--config")
        .arg(site.dir.path().join("pam_pag.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("already answers there"), "{}", text(&out));
    // The first daemon still serves.
    support::ok(&site.kinit("alice", &[]));
    assert!(support::ok(&site.tool(&["klist"])).contains("alice@EXAMPLE.ORG"));
}
