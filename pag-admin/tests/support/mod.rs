//! What the `pag status` and `pag peer` tests share: logins made as the PAM
//! module makes them (`pag::login::create_pag`, in a thread of their own,
//! whose session keyring becomes the PAG), commands run from inside them as
//! another uid with chosen groups (util-linux `setpriv`), and a tag
//! registry in a temporary directory. Needs root (uid switching, root-owned
//! login PAGs).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pag::config::pam::KeyringOwner;
use pag::login::{self, LoginPag};
use pag::peer::registry::Registry;
use pag::Owner;

pub const PAG: &str = env!("CARGO_BIN_EXE_pag");
/// The test user (nobody) and another uid.
pub const USER: Owner = Owner { uid: 65534, gid: 65534 };
pub const OTHER: Owner = Owner { uid: 65533, gid: 65533 };
/// The tag range these tests hand tags out of.
pub const TAGS: std::ops::RangeInclusive<u32> = 70_100..=70_199;
pub const TAGS_ARG: &str = "70100-70199";

pub fn need_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests make login PAGs as root and switch uids: run them as root"
    );
}

/// A scratch directory with a tag registry in it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        need_root();
        Scratch { dir: tempfile::tempdir().unwrap() }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn registry_dir(&self) -> PathBuf {
        self.path().join("tags")
    }
    pub fn registry(&self) -> Registry {
        Registry::at(self.registry_dir())
    }
}

/// Run `body` in a new thread whose session keyring is a fresh login PAG
/// for `user` (root-owned, as pam_pag makes it); what it spawns is in
/// that PAG. `body` gets the PAG's serial.
pub fn in_login<R: Send>(user: Owner, body: impl FnOnce(i32) -> R + Send) -> R {
    std::thread::scope(|s| {
        s.spawn(|| {
            let login = LoginPag {
                user,
                keyring_owner: KeyringOwner::Root,
                link_user_keyring: false,
                tag_gids: None,
            };
            let pag = login::create_pag(&login).expect("a login PAG");
            body(pag.keyring().0)
        })
        .join()
        .expect("the login thread")
    })
}

/// Run `body` in a new thread with a fresh plain session keyring (no PAG).
pub fn in_plain_session<R: Send>(body: impl FnOnce(i32) -> R + Send) -> R {
    std::thread::scope(|s| {
        s.spawn(|| body(pag::sys::join_new_session_keyring().expect("a session keyring").0))
            .join()
            .expect("the session thread")
    })
}

/// `argv` as `who` with exactly the supplementary `groups`.
pub fn as_user(who: Owner, groups: &[u32], argv: &[&str]) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid", &who.uid.to_string(), "--regid", &who.gid.to_string()]);
    if groups.is_empty() {
        c.arg("--clear-groups");
    } else {
        let list: Vec<String> = groups.iter().map(u32::to_string).collect();
        c.args(["--groups", &list.join(",")]);
    }
    c.arg("--").args(argv);
    c
}

/// Run and collect; the command must have been started.
pub fn output(c: &mut Command) -> Output {
    c.output().unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
