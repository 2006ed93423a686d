//! Uids for container users, leased with a lock file so that containers of
//! concurrent tests (threads or test binaries) never share a uid: the kernel
//! accounts keys per uid, and the teardown check counts a uid's keys.
//!
//! The range is fixed rather than random because the kernel keeps a uid's
//! user keyrings (`_uid.N`, `_uid_ses.N`) for the host's lifetime; reusing a
//! small range keeps that residue bounded.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use nix::fcntl::{Flock, FlockArg};

use super::error::{io_context, Error, Result};

const FIRST_UID: u32 = 61100;
const LAST_UID: u32 = 61999;

/// A uid reserved for one container user (or one host test) until dropped.
pub struct UidLease {
    pub(crate) uid: u32,
    _lock: Flock<File>,
}

impl UidLease {
    /// The uid.
    pub fn uid(&self) -> u32 {
        self.uid
    }
}

fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("pag-test-uid-locks")
}

/// Uids the host's own `/etc/passwd` or `/etc/group` already uses.
fn host_ids() -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    for file in ["/etc/passwd", "/etc/group"] {
        let text = std::fs::read_to_string(file).map_err(io_context(file))?;
        ids.extend(text.lines().filter_map(|l| l.split(':').nth(2)?.parse::<u32>().ok()));
    }
    Ok(ids)
}

/// Lease `count` distinct uids (each also used as the user's own gid).
pub(crate) fn lease(count: usize) -> Result<Vec<UidLease>> {
    let dir = lock_dir();
    std::fs::create_dir_all(&dir).map_err(io_context(dir.display()))?;
    let taken_on_host = host_ids()?;
    let mut leases = Vec::with_capacity(count);
    for uid in FIRST_UID..=LAST_UID {
        if leases.len() == count {
            break;
        }
        if taken_on_host.contains(&uid) {
            continue;
        }
        let path = dir.join(uid.to_string());
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_context(path.display()))?;
        if let Ok(lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            // A uid that still owns keys beyond the kernel's two per-uid
            // keyrings (left by a test that failed before cleaning up) would
            // fail this container's teardown check for something it never
            // did: skip it.
            if super::teardown::key_count(uid).unwrap_or(0) <= 2 {
                leases.push(UidLease { uid, _lock: lock });
            }
        }
    }
    if leases.len() < count {
        return Err(Error::new(format!(
            "no free uid for {count} container users in {FIRST_UID}..={LAST_UID}"
        )));
    }
    Ok(leases)
}
