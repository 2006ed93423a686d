//! Who owns what in a login's PAG, and what its possessors can and cannot
//! do to the root-owned parts, against the real kernel (issue 8's model).
//!
//! Each test runs in a forked child: it switches uids, which glibc applies to
//! every thread of the process, so it must not share a process with other
//! tests. The child joins its own session keyring first, so nothing touches
//! the keyrings of whoever runs the suite. All of these need root.

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{setresgid, setresuid, ForkResult, Gid, Uid};
use pag::config::pam::KeyringOwner;
use pag::login::{self, LoginPag};
use pag::perm;
use pag::sys::{self, KeySerial, Special};
use pag::token::rxrpc::{RxkadToken, KVNO_KERBEROS5};
use pag::token::{KeyType, KeyTypeChoice, Token, TokenStore};
use pag::{CreateOptions, Owner};

/// A uid no test user has (nobody's): the user who logs in.
const USER: Owner = Owner { uid: 65534, gid: 65534 };
/// Another uid: the user who runs sudo or su.
const CALLER: u32 = 65533;

/// Run `body` in a forked child with a fresh session keyring; fail the test
/// with the child's message when it fails.
fn in_child(test: &str, body: impl FnOnce() -> Result<(), String>) {
    assert!(nix::unistd::geteuid().is_root(), "{test} needs root (it switches uids); run the suite as root");
    match pag_tests::process::fork().expect("fork") {
        ForkResult::Child => {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                sys::join_new_session_keyring().map_err(|e| format!("fresh session: {e}"))?;
                body()
            }));
            let code = match outcome {
                Ok(Ok(())) => 0,
                Ok(Err(message)) => {
                    eprintln!("{test}: {message}");
                    1
                }
                Err(_) => 2,
            };
            std::process::exit(code);
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
            WaitStatus::Exited(_, 0) => {}
            other => panic!("{test}: the child failed: {other:?} (its message is above)"),
        },
    }
}

fn check(what: &str, ok: bool) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what.to_owned())
    }
}

fn expect_errno<T: std::fmt::Debug>(what: &str, r: sys::SysResult<T>, errno: Errno) -> Result<(), String> {
    match r {
        Err(e) if e.errno == errno => Ok(()),
        other => Err(format!("{what}: expected {errno}, got {other:?}")),
    }
}

fn token(cell: &str, expiry: u32, fill: u8) -> Token {
    let rxkad = RxkadToken { expiry, kvno: KVNO_KERBEROS5, session_key: [fill; 8], ticket: vec![fill; 600] };
    Token::new(cell, KeyType::User, rxkad, Some("alice@EXAMPLE.ORG".into()))
}

/// Become `uid` for good (real, effective and saved), as the user's own
/// processes in the PAG are.
fn become_user(uid: u32, gid: u32) -> Result<(), String> {
    setresgid(Gid::from_raw(gid), Gid::from_raw(gid), Gid::from_raw(gid)).map_err(|e| e.to_string())?;
    setresuid(Uid::from_raw(uid), Uid::from_raw(uid), Uid::from_raw(uid)).map_err(|e| e.to_string())
}

fn login(owner: KeyringOwner) -> LoginPag {
    LoginPag { user: USER, keyring_owner: owner, link_user_keyring: false, tag_gids: None }
}

#[test]
fn sudo_run_by_a_user_still_gives_a_root_owned_pag() {
    in_child("sudo_run_by_a_user_still_gives_a_root_owned_pag", || {
        // sudo and su keep the calling user as the real uid.
        setresuid(Uid::from_raw(CALLER), Uid::from_raw(0), Uid::from_raw(0)).map_err(|e| e.to_string())?;
        let pag = login::create_pag(&login(KeyringOwner::Root)).map_err(|e| e.to_string())?;
        let ring = sys::describe(pag.keyring()).map_err(|e| e.to_string())?;
        check(&format!("keyring owner {}:{}, want 0:0", ring.uid, ring.gid), (ring.uid, ring.gid) == (0, 0))?;
        check(&format!("perm {:08x}", ring.perm), ring.perm == perm::PAG_KEYRING)?;
        check("marker is root's", pag.marker_uid() == 0 && pag.is_official())?;
        let ids = nix::unistd::getresuid().map_err(|e| e.to_string())?;
        check("the caller's real uid is back", ids.real.as_raw() == CALLER && ids.effective.is_root())
    });
}

#[test]
fn a_user_owned_login_pag_is_the_users_with_roots_marker() {
    in_child("a_user_owned_login_pag_is_the_users_with_roots_marker", || {
        let pag = login::create_pag(&login(KeyringOwner::User)).map_err(|e| e.to_string())?;
        let ring = sys::describe(pag.keyring()).map_err(|e| e.to_string())?;
        check(&format!("keyring owner {}", ring.uid), (ring.uid, ring.gid) == (USER.uid, USER.gid))?;
        check("marker is root's", pag.marker_uid() == 0)?;
        let again = pag::group::recognise(pag.keyring()).map_err(|e| e.to_string())?;
        check("recognised as an official PAG", again.is_some_and(|p| p.is_official()))?;
        let ids = nix::unistd::getresuid().map_err(|e| e.to_string())?;
        check("root again", ids.real.is_root() && ids.effective.is_root())
    });
}

#[test]
fn possessors_can_keep_nothing_root_owned_past_the_login() {
    in_child("possessors_can_keep_nothing_root_owned_past_the_login", || {
        let pag = login::create_pag(&login(KeyringOwner::Root)).map_err(|e| e.to_string())?;
        let store = pag.tokens();
        let (tok, _) = store
            .add_as_with(&token("example.org", 2_000_000_000, 1), KeyTypeChoice::Auto, perm::STORED_TOKEN)
            .map_err(|e| e.to_string())?;
        let d = sys::describe(tok).map_err(|e| e.to_string())?;
        check(&format!("token perm {:08x} uid {}", d.perm, d.uid), d.perm == 0x0b11_0000 && d.uid == 0)?;
        let principal =
            sys::search(pag.keyring(), "user", "pag-principal@example.org").map_err(|e| e.to_string())?;

        become_user(USER.uid, USER.gid)?;
        // Every place a user process could keep a key: its persistent
        // keyring, its user keyring, a keyring of its own.
        let own = sys::add_keyring("hoard", Special::Thread.serial()).map_err(|e| e.to_string())?;
        let user = sys::special_id(Special::User, true).map_err(|e| e.to_string())?;
        let persistent = sys::get_persistent(None, own).map_err(|e| e.to_string())?;
        for target in [own, user, persistent] {
            for (what, key) in
                [("PAG", pag.keyring()), ("marker", pag.marker()), ("token", tok), ("principal", principal)]
            {
                expect_errno(&format!("link {what} into {target}"), sys::link(key, target), Errno::EACCES)?;
            }
        }
        // No growing it on root's quota, no changing it.
        let big = vec![0u8; 30_000];
        expect_errno(
            "update the token",
            sys::add_key("user", "afs@example.org", &big, pag.keyring()),
            Errno::EACCES,
        )?;
        expect_errno("setperm the token", sys::setperm(tok, 0x3f3f_0000), Errno::EACCES)?;
        expect_errno("setperm the PAG", sys::setperm(pag.keyring(), 0x3f3f_0000), Errno::EACCES)?;
        expect_errno("chown the token", sys::chown(tok, Some(USER.uid), None), Errno::EACCES)?;
        // What it may do: read it, and drop it (unlog).
        check("the token reads", sys::read(tok).is_ok())?;
        let listed = TokenStore::new(pag.keyring()).list().map_err(|e| e.to_string())?;
        check(
            "tokens lists it",
            listed.len() == 1 && listed[0].principal.as_deref() == Some("alice@EXAMPLE.ORG"),
        )?;
        let removed = TokenStore::new(pag.keyring()).remove_all().map_err(|e| e.to_string())?;
        check("unlog removes it", removed == 1)?;
        check("gone", TokenStore::new(pag.keyring()).list().map_err(|e| e.to_string())?.is_empty())
    });
}

#[test]
fn a_refresh_links_the_new_token_over_the_old_and_the_users_aklog_can_too() {
    in_child("a_refresh_links_the_new_token_over_the_old_and_the_users_aklog_can_too", || {
        let pag = login::create_pag(&login(KeyringOwner::Root)).map_err(|e| e.to_string())?;
        let store = pag.tokens();
        let stored = |t: &Token| store.add_with(t, perm::STORED_TOKEN).map_err(|e| e.to_string());
        let first = stored(&token("example.org", 2_000_000_000, 1))?;
        let second = stored(&token("example.org", 2_000_000_100, 2))?;
        let links = sys::keyring_links(pag.keyring()).map_err(|e| e.to_string())?;
        check("the new token is linked", links.contains(&second))?;
        check("the old one is displaced", !links.contains(&first))?;
        check("one token", store.list().map_err(|e| e.to_string())?.len() == 1)?;

        // The user's own aklog, in the PAG, replaces root's token with its
        // own (user-owned) one without any right on root's key.
        become_user(USER.uid, USER.gid)?;
        let mine = store.add(&token("example.org", 2_000_000_200, 3)).map_err(|e| e.to_string())?;
        let d = sys::describe(mine).map_err(|e| e.to_string())?;
        check("the user's token is the user's", d.uid == USER.uid && d.perm == perm::TOKEN)?;
        let listed = store.list().map_err(|e| e.to_string())?;
        check("one token, the user's", listed.len() == 1 && listed[0].rxkad.expiry == 2_000_000_200)
    });
}

#[test]
fn a_keyring_is_a_pag_only_as_its_creator_made_it() {
    in_child("a_keyring_is_a_pag_only_as_its_creator_made_it", || {
        become_user(USER.uid, USER.gid)?;
        let recognised = |k: KeySerial| pag::group::recognise(k).map_err(|e| e.to_string());
        // A user's own PAG (pagsh) is a PAG, but not an official one.
        let own = pag::create(&CreateOptions::default()).map_err(|e| e.to_string())?;
        check(
            "pagsh PAG recognised, unofficial",
            recognised(own.keyring())?.is_some_and(|p| !p.is_official()),
        )?;
        // A keyring the user makes and fills like a PAG, with the PAG's
        // permissions still open: not a PAG (a PAG's possessors cannot link
        // it, so its permissions are exact).
        let fake = sys::join_new_session_keyring().map_err(|e| e.to_string())?;
        let payload = format!("pag-marker 1\nkeyring {fake}\n");
        let marker =
            sys::add_key("user", "pag:marker", payload.as_bytes(), fake).map_err(|e| e.to_string())?;
        sys::setperm(marker, perm::MARKER).map_err(|e| e.to_string())?;
        check("open permissions: not a PAG", recognised(fake)?.is_none())?;
        // A marker with other permissions in a PAG-shaped keyring: not a PAG.
        let fake2 = sys::join_new_session_keyring().map_err(|e| e.to_string())?;
        let payload = format!("pag-marker 1\nkeyring {fake2}\n");
        sys::add_key("user", "pag:marker", payload.as_bytes(), fake2).map_err(|e| e.to_string())?;
        sys::setperm(fake2, perm::PAG_KEYRING).map_err(|e| e.to_string())?;
        check("writable marker: not a PAG", recognised(fake2)?.is_none())
    });
}
