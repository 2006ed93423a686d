//! The library against the real kernel keyrings.
//!
//! Every test first puts its own thread into a fresh anonymous session
//! keyring (credentials, and so session keyrings, are per thread), so tests
//! never see each other's keys nor touch the keyring of whoever runs them.

use nix::errno::Errno;
use pag::sys::{self, KeySerial, Special};
use pag::token::rxrpc::{RxkadToken, KVNO_KERBEROS5};
use pag::token::{KeyType, KeyTypeChoice, Token, TokenStore};
use pag::{CreateOptions, Current, ErrorKind};

fn fresh_session() -> KeySerial {
    sys::join_new_session_keyring().expect("joining a fresh session keyring for the test")
}

fn token(cell: &str, expiry: u32) -> Token {
    let rxkad = RxkadToken { expiry, kvno: KVNO_KERBEROS5, session_key: [0x5a; 8], ticket: vec![0xc3; 600] };
    Token::new(cell, KeyType::User, rxkad, Some("alice@EXAMPLE.ORG".into()))
}

fn kernel_has_rxrpc() -> bool {
    std::fs::read_to_string("/proc/key-types")
        .map(|t| t.lines().any(|l| l.split(':').nth(1).map(str::trim) == Some("rxrpc")))
        .unwrap_or(false)
}

#[test]
fn a_new_pag_replaces_the_session_keyring_and_is_recognised() {
    let before = fresh_session();
    assert_eq!(pag::current().unwrap(), Current::Session(before));

    let pag = pag::create(&CreateOptions::default()).unwrap();
    assert_ne!(pag.keyring(), before);
    assert_eq!(sys::special_id(Special::Session, false).unwrap(), pag.keyring());
    assert_eq!(pag::current().unwrap(), Current::Pag(pag.clone()));
    assert_eq!(pag.id().to_string(), pag.keyring().0.to_string());

    // A second PAG is another keyring again.
    let second = pag::create(&CreateOptions::default()).unwrap();
    assert_ne!(second.keyring(), pag.keyring());
}

#[test]
fn pag_keyring_and_marker_have_the_documented_owner_and_permissions() {
    fresh_session();
    let pag = pag::create(&CreateOptions::default()).unwrap();
    let ring = sys::describe(pag.keyring()).unwrap();
    assert_eq!(ring.key_type, "keyring");
    assert_eq!(
        ring.perm, 0x1f03_0000,
        "a user's own PAG: possessor view+read+write+search+link (for session_to_parent), owner view+read"
    );
    assert_eq!(ring.uid, nix::unistd::getuid().as_raw());
    assert_eq!(ring.gid, nix::unistd::getgid().as_raw());

    let marker = sys::describe(pag.marker()).unwrap();
    assert_eq!((marker.key_type.as_str(), marker.description.as_str()), ("user", "pag:marker"));
    assert_eq!(marker.perm, 0x0b03_0000, "possessor view+read+search only: no write, link, setattr");
}

#[test]
fn the_user_keyring_is_linked_only_when_asked() {
    fresh_session();
    let user = sys::special_id(Special::User, true).unwrap();
    let without = pag::create(&CreateOptions::default()).unwrap();
    assert!(!sys::keyring_links(without.keyring()).unwrap().contains(&user));
    let with = pag::create(&CreateOptions { link_user_keyring: true }).unwrap();
    assert!(sys::keyring_links(with.keyring()).unwrap().contains(&user));
}

#[test]
fn a_plain_session_keyring_is_not_a_pag_even_with_a_forged_marker() {
    let session = fresh_session();
    // A marker that names another keyring, as one copied from a PAG would.
    sys::add_key("user", pag::group::MARKER_DESCRIPTION, b"pag-marker 1\nkeyring 1\n", session).unwrap();
    assert_eq!(pag::current().unwrap(), Current::Session(session));
    // Garbage in the marker is not a PAG either.
    sys::add_key("user", pag::group::MARKER_DESCRIPTION, b"hello", session).unwrap();
    assert_eq!(pag::current().unwrap(), Current::Session(session));
}

#[test]
fn current_with_links_finds_what_current_finds_and_lists_the_same_tokens() {
    // A plain session keyring: no PAG's permissions, so nothing is read for it.
    let session = fresh_session();
    assert_eq!(pag::group::current_with_links().unwrap(), (Current::Session(session), None));

    // A PAG with tokens: the same PAG, and its links list the same tokens.
    let pag = pag::create(&CreateOptions::default()).unwrap();
    let store = pag.tokens();
    for i in 0..5 {
        store.add(&token(&format!("cell{i}.example.org"), 2_000_000_000)).unwrap();
    }
    let (current, links) = pag::group::current_with_links().unwrap();
    assert_eq!(current, pag::current().unwrap());
    assert_eq!(current, Current::Pag(pag.clone()));
    let links = links.expect("a PAG's links are read to find its marker");
    assert_eq!(links.len(), sys::keyring_links(pag.keyring()).unwrap().len());
    assert_eq!(store.list_described(&links), store.list().unwrap());
    assert_eq!(store.list().unwrap().len(), 5);

    // A forged marker in a keyring with a PAG's permissions is no PAG here either.
    let fake = fresh_session();
    sys::setperm(fake, pag::perm::OWN_PAG_KEYRING).unwrap();
    sys::add_key("user", pag::group::MARKER_DESCRIPTION, b"pag-marker 1\nkeyring 1\n", fake).unwrap();
    let (current, links) = pag::group::current_with_links().unwrap();
    assert_eq!(current, Current::Session(fake));
    assert_eq!(links.map(|l| l.len()), Some(1));
}

#[test]
fn the_marker_cannot_be_linked_into_another_keyring_or_changed() {
    fresh_session();
    let pag = pag::create(&CreateOptions::default()).unwrap();
    let other = sys::add_keyring("elsewhere", pag.keyring()).unwrap();
    assert_eq!(sys::link(pag.marker(), other).unwrap_err().errno, Errno::EACCES);
    assert_eq!(sys::setperm(pag.marker(), 0x3f3f_0000).unwrap_err().errno, Errno::EACCES);
}

#[test]
fn token_store_adds_lists_replaces_and_removes() {
    fresh_session();
    let pag = pag::create(&CreateOptions::default()).unwrap();
    let store = pag.tokens();
    assert!(store.list().unwrap().is_empty());

    let serial = store.add(&token("Example.ORG", 2_000_000_000)).unwrap();
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1);
    let t = &listed[0];
    assert_eq!(t.cell, "example.org");
    assert_eq!(t.key_type, KeyType::User);
    assert_eq!(t.rxkad, token("x", 2_000_000_000).rxkad);
    assert_eq!(t.principal.as_deref(), Some("alice@EXAMPLE.ORG"));
    assert_eq!(t.serial, Some(serial));
    let d = sys::describe(serial).unwrap();
    assert_eq!((d.key_type.as_str(), d.description.as_str()), ("user", "afs@example.org"));
    assert_eq!(d.perm, 0x3f00_0000, "only processes in the PAG may see or use a token");
    // Built in a staging keyring of this thread and linked over: nothing
    // is left there.
    let thread = sys::special_id(Special::Thread, false).unwrap();
    let staged: Vec<_> =
        sys::keyring_links(thread).unwrap().into_iter().filter(|k| sys::describe(*k).is_ok()).collect();
    assert!(staged.is_empty(), "{staged:?}");

    // Same cell again: replaced, not duplicated.
    store.add(&token("example.org", 2_000_000_100)).unwrap();
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].rxkad.expiry, 2_000_000_100);

    store.add(&token("other.org", 1)).unwrap();
    assert_eq!(store.list().unwrap().len(), 2);
    assert!(store.list().unwrap().iter().any(|t| t.cell == "other.org" && t.is_expired()));

    assert_eq!(store.remove("OTHER.org").unwrap(), 1);
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(store.remove("nosuch.org").unwrap(), 0);
    assert_eq!(store.remove_all().unwrap(), 1);
    assert!(store.list().unwrap().is_empty());
    // Principals went with their tokens; the marker stayed. (Invalidated
    // keys can stay listed until the kernel's collector unlinks them, but
    // they can no longer be described or used.)
    let left: Vec<String> = sys::keyring_links(pag.keyring())
        .unwrap()
        .into_iter()
        .filter_map(|k| sys::describe(k).ok().map(|d| d.description))
        .collect();
    assert_eq!(left, vec!["pag:marker".to_string()]);
}

#[test]
fn rxrpc_keys_need_kernel_support_and_auto_falls_back_to_user() {
    fresh_session();
    let pag = pag::create(&CreateOptions::default()).unwrap();
    let store = pag.tokens();
    let rxrpc = Token { key_type: KeyType::Rxrpc, ..token("example.org", 2_000_000_000) };
    if kernel_has_rxrpc() {
        store.add(&rxrpc).unwrap();
        assert_eq!(store.list().unwrap()[0].key_type, KeyType::Rxrpc);
    } else {
        let e = store.add(&rxrpc).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownKeyType);
        assert_eq!(e.errno(), Some(Errno::ENODEV));
        assert!(e.to_string().contains("AF_RXRPC"), "{e}");
        let (_, used) = store.add_as(&rxrpc, KeyTypeChoice::Auto).unwrap();
        assert_eq!(used, KeyType::User);
        assert_eq!(store.list().unwrap()[0].key_type, KeyType::User);
    }
}

#[test]
fn keys_that_only_look_like_tokens_are_not_listed() {
    let session = fresh_session();
    sys::add_key("user", "afs@broken.org", b"not a token", session).unwrap();
    sys::add_key("user", "something-else", b"x", session).unwrap();
    assert!(TokenStore::new(session).list().unwrap().is_empty());
}

#[test]
fn a_revoked_pag_says_so() {
    fresh_session();
    let pag = pag::create(&CreateOptions::default()).unwrap();
    pag.tokens().add(&token("example.org", 2_000_000_000)).unwrap();
    pag.revoke().unwrap();
    let e = pag.tokens().list().unwrap_err();
    assert_eq!(e.errno(), Some(Errno::EKEYREVOKED));
    assert_eq!(e.kind(), ErrorKind::KeyGone);
}

#[test]
fn search_finds_keys_of_any_type_inside_the_pag() {
    fresh_session();
    let pag = pag::create(&CreateOptions::default()).unwrap();
    let key = sys::add_key("user", "afs@example.org", b"x", pag.keyring()).unwrap();
    assert_eq!(sys::search(Special::Session.serial(), "user", "afs@example.org").unwrap(), key);
    assert_eq!(sys::search(pag.keyring(), "user", "nosuch").unwrap_err().errno, Errno::ENOKEY);
    assert_eq!(sys::read(key).unwrap(), b"x");
    sys::unlink(key, pag.keyring()).unwrap();
    assert_eq!(sys::search(pag.keyring(), "user", "afs@example.org").unwrap_err().errno, Errno::ENOKEY);
}

#[test]
fn persistent_keyring_of_the_caller_is_linked_where_asked() {
    let session = fresh_session();
    let persistent = sys::get_persistent(None, session).unwrap();
    assert!(sys::keyring_links(session).unwrap().contains(&persistent));
    let d = sys::describe(persistent).unwrap();
    assert!(d.description.starts_with("_persistent."), "{}", d.description);
    // Root may ask for another uid's.
    if nix::unistd::geteuid().is_root() {
        let other = sys::get_persistent(Some(65534), session).unwrap();
        assert_eq!(sys::describe(other).unwrap().description, "_persistent.65534");
    }
}

#[test]
fn timeouts_expire_keys() {
    let session = fresh_session();
    let key = sys::add_key("user", "short-lived", b"x", session).unwrap();
    sys::set_timeout(key, 1).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(sys::read(key).unwrap_err().errno, Errno::EKEYEXPIRED);
}
