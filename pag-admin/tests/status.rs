//! `pag status` inside and outside PAGs: a login PAG made as pam_pag makes
//! it (with a token and a tag), a user's own PAG, a plain session keyring,
//! blocked keyrings; exit codes and `--json` parsed. Needs root.

mod support;

use std::process::{Command, Output};

use pag::token::rxrpc::{RxkadToken, KVNO_KERBEROS5};
use pag::token::{KeyType, Token};
use serde_json::Value;
use support::*;

fn status(c: &mut Command) -> (Output, Value) {
    let o = output(c);
    let v = serde_json::from_str(&text(&o.stdout)).unwrap_or_else(|e| panic!("{e}: {o:?}"));
    (o, v)
}

fn status_args(scratch: &Scratch) -> Vec<String> {
    let registry = scratch.registry_dir().to_string_lossy().into_owned();
    vec![PAG.into(), "status".into(), "--json".into(), "--tag-registry".into(), registry]
}

#[test]
fn in_a_login_pag_the_user_sees_it_its_token_and_that_the_registry_is_roots() {
    let scratch = Scratch::new();
    let args = status_args(&scratch);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    in_login(USER, |pag| {
        let tag = scratch.registry().hand_out(&TAGS, pag::sys::KeySerial(pag), USER.uid).unwrap().unwrap();
        let rxkad = RxkadToken {
            expiry: 4_000_000_000,
            kvno: KVNO_KERBEROS5,
            session_key: [1; 8],
            ticket: vec![2; 40],
        };
        let current = pag::current().unwrap();
        let token = Token::new("Example.ORG", KeyType::User, rxkad, Some("user@EXAMPLE.ORG".into()));
        current.pag().unwrap().tokens().add(&token).unwrap();
        let (o, v) = status(&mut as_user(USER, &[tag], &argv));
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        assert_eq!((v["in_pag"].clone(), v["pag"].clone()), (true.into(), pag.into()), "{v}");
        assert_eq!((v["official"].clone(), v["made_by"].clone()), (true.into(), "login".into()), "{v}");
        assert_eq!(
            (v["owner"]["uid"].clone(), v["user"].clone(), v["marker_uid"].clone()),
            (0.into(), USER.uid.into(), 0.into())
        );
        let t = &v["tokens"][0];
        assert_eq!((t["cell"].clone(), t["key_type"].clone()), ("example.org".into(), "user".into()), "{v}");
        assert_eq!(
            (t["expires"].clone(), t["expired"].clone()),
            (4_000_000_000u32.into(), false.into()),
            "{v}"
        );
        assert_eq!(t["principal"], "user@EXAMPLE.ORG");
        // The registry is root's alone (0700): the user cannot look the tag up.
        assert_eq!(v["tag"], Value::Null, "{v}");
        assert!(v["tag_note"].as_str().unwrap().contains("cannot be read"), "{v}");
        // The sentence form says the same.
        let human = output(&mut as_user(USER, &[tag], &argv[..2]));
        let human = text(&human.stdout);
        assert!(human.starts_with(&format!("PAG {pag} (official: made by root for a login)\n")), "{human}");
        assert!(human.contains("afs@example.org (user key, user@EXAMPLE.ORG) expires "), "{human}");
    });
}

#[test]
fn root_in_its_login_pag_sees_its_tag_and_not_a_tag_it_kept_from_another() {
    let scratch = Scratch::new();
    let args = status_args(&scratch);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let root = pag::Owner { uid: 0, gid: 0 };
    let (old_pag, old_tag) = in_login(root, |pag| {
        (pag, scratch.registry().hand_out(&TAGS, pag::sys::KeySerial(pag), 0).unwrap().unwrap())
    });
    in_login(root, |pag| {
        let tag = scratch.registry().hand_out(&TAGS, pag::sys::KeySerial(pag), 0).unwrap().unwrap();
        let (o, v) = status(&mut as_user(root, &[old_tag, tag], &argv));
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        assert_eq!((v["pag"].clone(), v["tag"].clone()), (pag.into(), tag.into()), "{v}");
        // With only the tag of the earlier login (left, or outlived), no tag
        // is this PAG's, and the note names the login the gid belongs to.
        let (_, v) = status(&mut as_user(root, &[old_tag], &argv));
        assert_eq!(v["tag"], Value::Null, "{v}");
        let note = v["tag_note"].as_str().unwrap();
        assert!(note.contains(&format!("group {old_tag} is the tag of PAG {old_pag}")), "{v}");
    });
}

#[test]
fn a_users_own_pag_is_not_official() {
    let scratch = Scratch::new();
    let args = status_args(&scratch);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            let own = pag::create(&pag::CreateOptions::default()).unwrap();
            let (o, v) = status(Command::new(argv[0]).args(&argv[1..]));
            assert_eq!(o.status.code(), Some(0), "{o:?}");
            assert_eq!(v["pag"], own.keyring().0);
            assert_eq!((v["official"].clone(), v["made_by"].clone()), (false.into(), "own".into()), "{v}");
        })
        .join()
        .unwrap()
    });
}

#[test]
fn outside_a_pag_status_says_what_the_keyring_is_and_exits_1() {
    let scratch = Scratch::new();
    let args = status_args(&scratch);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    in_plain_session(|keyring| {
        let (o, v) = status(&mut as_user(USER, &[], &argv));
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        assert_eq!((v["in_pag"].clone(), v["pag"].clone()), (false.into(), Value::Null), "{v}");
        assert_eq!(
            (v["keyring"].clone(), v["keyring_kind"].clone()),
            (keyring.into(), "session".into()),
            "{v}"
        );
        let human = output(&mut as_user(USER, &[], &argv[..2]));
        assert_eq!(human.status.code(), Some(1));
        assert!(text(&human.stdout)
            .starts_with(&format!("Not in a PAG: the session keyring {keyring} is a plain")));
    });
}

#[test]
fn usage_is_2_and_blocked_keyrings_are_3() {
    let o = output(Command::new(PAG).args(["status", "--bogus"]));
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let seccomp = pag_tests::workspace::built_binary("with-seccomp").unwrap();
    let o = output(Command::new(seccomp).args(["eperm", "--", PAG, "status"]));
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(text(&o.stderr).starts_with("pag status: "), "{o:?}");
}
