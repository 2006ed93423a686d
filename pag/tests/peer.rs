//! Peer identification against the real kernel: a daemon (the test
//! thread, root) and clients in forked children that make or enter keyrings,
//! switch uids and then connect, so SO_PEERCRED reports what they became.
//! Needs root.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{setgroups, setresgid, setresuid, ForkResult, Gid, Uid};
use pag::config::pam::KeyringOwner;
use pag::login::{self, LoginPag};
use pag::peer::{self, wire, Identify, Peer};
use pag::sys::{self, KeySerial, Special};
use pag::Owner;

const USER: Owner = Owner { uid: 65534, gid: 65534 };
const SHORT: Duration = Duration::from_millis(300);

/// A listening socket in the abstract namespace, unique per test.
fn listener() -> (UnixListener, SocketAddr) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!("pag-peer-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    (UnixListener::bind_addr(&addr).unwrap(), addr)
}

/// Fork a client that runs `client(connect)` with a fresh session keyring;
/// `connect` connects to the test's socket (call it after switching ids).
/// The test thread identifies the connection with `how`; returns what it saw.
fn scenario(how: Identify, client: impl FnOnce(&dyn Fn() -> UnixStream)) -> Peer {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the peer tests need root (they switch uids); run them as root"
    );
    let (listener, addr) = listener();
    match pag_tests::process::fork().unwrap() {
        ForkResult::Child => {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                sys::join_new_session_keyring().unwrap();
                let connect = || UnixStream::connect_addr(&addr).unwrap();
                client(&connect);
            }));
            std::process::exit(if outcome.is_ok() { 0 } else { 1 });
        }
        ForkResult::Parent { child } => {
            let (stream, _) = listener.accept().unwrap();
            let peer = peer::identify(&stream, &how).unwrap();
            drop(stream);
            match waitpid(child, None).unwrap() {
                WaitStatus::Exited(_, 0) => {}
                other => panic!("the client failed: {other:?}"),
            }
            peer
        }
    }
}

fn become_user(uid: u32, gid: u32) {
    setgroups(&[Gid::from_raw(gid)]).unwrap();
    setresgid(Gid::from_raw(gid), Gid::from_raw(gid), Gid::from_raw(gid)).unwrap();
    setresuid(Uid::from_raw(uid), Uid::from_raw(uid), Uid::from_raw(uid)).unwrap();
}

fn login_pag(user: Owner) -> KeySerial {
    let login =
        LoginPag { user, keyring_owner: KeyringOwner::Root, link_user_keyring: false, tag_gids: None };
    login::create_pag(&login).unwrap().keyring()
}

#[test]
fn a_login_proves_its_official_pag() {
    let peer = scenario(Identify::default(), |connect| {
        login_pag(USER);
        become_user(USER.uid, USER.gid);
        let stream = connect();
        let proof = peer::prove(&stream, Duration::from_secs(2)).unwrap();
        assert_eq!(proof.keyring, sys::special_id(Special::Session, false).unwrap());
    });
    assert!(peer.proved && peer.official, "{peer:?}");
    assert!(peer.pag.is_some() && peer.uid == USER.uid, "{peer:?}");
    assert_eq!(peer.note, None);
}

#[test]
fn two_logins_of_one_user_prove_two_different_pags() {
    let one = scenario(Identify::default(), |connect| {
        login_pag(USER);
        become_user(USER.uid, USER.gid);
        peer::prove(&connect(), Duration::from_secs(2)).unwrap();
    });
    let two = scenario(Identify::default(), |connect| {
        login_pag(USER);
        become_user(USER.uid, USER.gid);
        peer::prove(&connect(), Duration::from_secs(2)).unwrap();
    });
    assert!(one.proved && two.proved, "{one:?} {two:?}");
    assert_ne!(one.pag, two.pag);
}

#[test]
fn a_process_naming_a_keyring_it_is_not_in_proves_nothing() {
    // It claims some other keyring (here: a login PAG it made and then left
    // for a fresh session keyring) without linking the challenge there.
    let peer = scenario(Identify::default(), |connect| {
        let elsewhere = login_pag(USER);
        sys::join_new_session_keyring().unwrap();
        become_user(USER.uid, USER.gid);
        let stream = connect();
        let mut challenge = [0u8; wire::CHALLENGE_LEN];
        std::io::Read::read_exact(&mut &stream, &mut challenge).unwrap();
        std::io::Write::write_all(&mut &stream, &wire::response(wire::Response::Linked(elsewhere))).unwrap();
    });
    assert!(!peer.proved && peer.pag.is_none(), "{peer:?}");
    assert!(peer.note.as_deref().unwrap_or("").contains("does not hold the challenge"), "{peer:?}");
}

#[test]
fn a_process_of_another_uid_in_a_pag_is_not_its_user() {
    let peer = scenario(Identify::default(), |connect| {
        login_pag(USER);
        become_user(65533, 65533);
        peer::prove(&connect(), Duration::from_secs(2)).unwrap();
    });
    assert!(!peer.proved && peer.pag.is_none(), "{peer:?}");
    assert!(peer.note.as_deref().unwrap_or("").contains("but the peer is uid 65533"), "{peer:?}");
}

#[test]
fn a_users_own_pag_cannot_be_verified_by_root() {
    let peer = scenario(Identify::default(), |connect| {
        become_user(USER.uid, USER.gid);
        pag::create(&pag::CreateOptions::default()).unwrap();
        peer::prove(&connect(), Duration::from_secs(2)).unwrap();
    });
    assert!(!peer.proved, "{peer:?}");
    assert!(peer.note.as_deref().unwrap_or("").contains("cannot be read by uid 0"), "{peer:?}");
}

#[test]
fn a_plain_session_keyring_is_proved_but_is_no_pag() {
    // Root's own fresh session keyring: root may read it, it holds the key.
    let peer = scenario(Identify::default(), |connect| {
        peer::prove(&connect(), Duration::from_secs(2)).unwrap();
    });
    assert!(peer.proved && peer.pag.is_none() && !peer.official, "{peer:?}");
    assert!(peer.note.as_deref().unwrap_or("").contains("not a PAG"), "{peer:?}");
}

#[test]
fn silence_a_closed_socket_and_garbage_end_as_not_proved_within_the_time_limit() {
    let how = Identify { timeout: SHORT, ..Identify::default() };
    let started = Instant::now();
    let silent = scenario(how.clone(), |connect| {
        let _stream = connect();
        std::thread::sleep(SHORT * 3);
    });
    assert!(started.elapsed() < SHORT * 3 + Duration::from_secs(1));
    assert!(
        !silent.proved && silent.note.as_deref().unwrap_or("").contains("no answer within 300 ms"),
        "{silent:?}"
    );
    let closed = scenario(how.clone(), |connect| drop(connect()));
    assert!(!closed.proved, "{closed:?}");
    let garbage = scenario(how, |connect| {
        let stream = connect();
        std::io::Write::write_all(&mut &stream, b"GET / HTTP/1.0\r\n\r\n").unwrap();
    });
    assert!(!garbage.proved && garbage.note.as_deref().unwrap_or("").contains("not a proof"), "{garbage:?}");
}

#[test]
fn an_unmodified_client_is_identified_by_its_tag_alone() {
    let how = Identify { challenge: false, timeout: SHORT, tag_gids: Some(70_000..=70_099) };
    let peer = scenario(how, |connect| {
        setgroups(&[Gid::from_raw(100), Gid::from_raw(70_042)]).unwrap();
        setresuid(Uid::from_raw(USER.uid), Uid::from_raw(USER.uid), Uid::from_raw(USER.uid)).unwrap();
        let _stream = connect();
    });
    assert_eq!((peer.uid, peer.tag, peer.proved), (USER.uid, Some(70_042), false), "{peer:?}");
}
