//! The tag registry: which login a tag gid was handed to.
//!
//! pam_pag gives each login's PAG one supplementary group from the range
//! the administrator reserved (`tag_gids`) and records it here, one file per
//! gid, so a daemon maps a peer's tag (SO_PEERGROUPS) to its PAG with one
//! open(2) instead of scanning /proc/keys. The directory is root's alone
//! (0700): only root hands tags out, and only root-run daemons read them.
//!
//! A tag is handed out again only once the PAG it named is gone from the
//! kernel (no process has it as its session keyring any more), and the
//! least recently handed-out free gid goes first, so reuse is as late as
//! the range allows. What a daemon may conclude from a tag alone: "a
//! process of the registered uid that was, at some point, in this login's
//! PAG" (it may have left the PAG since, or outlived it; a gid cannot be
//! taken away from a process). Cross-check the uid (SO_PEERCRED) against
//! the registered one, and ask for a proof where it matters.

use std::fs;
use std::io::Write;
use std::ops::RangeInclusive;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::sys::{self, KeySerial};

/// Where the registry lives.
pub const DEFAULT_DIR: &str = "/run/pag/tags";

/// What the registry says about a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// The PAG (keyring serial) the tag was handed out with.
    pub pag: i32,
    /// The user of that login.
    pub uid: u32,
}

/// A registry in `dir` ([`DEFAULT_DIR`] in production; tests use their own).
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

impl Default for Registry {
    fn default() -> Self {
        Registry { dir: PathBuf::from(DEFAULT_DIR) }
    }
}

impl Registry {
    /// The registry in `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Registry { dir: dir.into() }
    }

    fn path(&self, tag: u32) -> PathBuf {
        self.dir.join(tag.to_string())
    }

    /// What `tag` was handed out with, if anything.
    pub fn lookup(&self, tag: u32) -> Option<Registered> {
        parse(&fs::read_to_string(self.path(tag)).ok()?)
    }

    /// [`Registry::lookup`] and when the record was written (nanoseconds
    /// since the epoch): a hand-out replaces the file, so the time tells one
    /// login of a tag from a later one even if the kernel reused the serial.
    pub fn lookup_stamped(&self, tag: u32) -> Option<(Registered, u128)> {
        let path = self.path(tag);
        let written = fs::metadata(&path).ok()?.modified().ok()?;
        let stamp = written.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
        Some((parse(&fs::read_to_string(path).ok()?)?, stamp))
    }

    /// Hand out a tag from `range` for the PAG `pag` of user `uid`: a gid
    /// never handed out, else the least recently handed-out one whose PAG
    /// is gone. `None` when every tag names a live PAG.
    pub fn hand_out(
        &self,
        range: &RangeInclusive<u32>,
        pag: KeySerial,
        uid: u32,
    ) -> std::io::Result<Option<u32>> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        let record = format!("pag {}\nuid {uid}\n", pag.0);
        // Never handed out: claim it by creating its file (O_EXCL decides races).
        let mut reusable = Vec::new();
        for tag in range.clone() {
            match create_new(&self.path(tag), &record) {
                Ok(()) => return Ok(Some(tag)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => reusable.push(tag),
                Err(e) => return Err(e),
            }
        }
        // All handed out once: the oldest whose PAG is gone.
        let mut candidates: Vec<(std::time::SystemTime, u32)> = reusable
            .into_iter()
            .filter_map(|tag| {
                let modified = fs::metadata(self.path(tag)).and_then(|m| m.modified()).ok()?;
                Some((modified, tag))
            })
            .collect();
        candidates.sort();
        for (_, tag) in candidates {
            let Some(old) = self.lookup(tag) else { continue };
            if pag_alive(KeySerial(old.pag)) {
                continue;
            }
            // Replace atomically: write aside, rename over.
            let aside = self.dir.join(format!(".{tag}.{}", std::process::id()));
            let _ = fs::remove_file(&aside);
            create_new(&aside, &record)?;
            fs::rename(&aside, self.path(tag))?;
            return Ok(Some(tag));
        }
        Ok(None)
    }
}

/// Why `range` cannot serve as tags on a system whose `/etc/group` and
/// `/etc/subgid` read `group` and `subgid`: a real group inside it (its
/// members would pass as a login), or a subordinate range overlapping it
/// (newgidmap lets a user give its processes those gids in a user
/// namespace, and SO_PEERGROUPS reports them). Groups that only a network
/// directory (SSSD, LDAP) knows are the administrator's to keep out.
pub fn conflicts(range: &RangeInclusive<u32>, group: &str, subgid: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in group.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if let (Some(name), Some(gid)) = (fields.first(), fields.get(2).and_then(|g| g.parse::<u32>().ok())) {
            if range.contains(&gid) {
                found.push(format!("group {name} has gid {gid}, inside tag_gids"));
            }
        }
    }
    for line in subgid.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        let (Some(owner), Some(start), Some(count)) = (
            fields.first(),
            fields.get(1).and_then(|s| s.parse::<u64>().ok()),
            fields.get(2).and_then(|c| c.parse::<u64>().ok()),
        ) else {
            continue;
        };
        let (first, last) = (u64::from(*range.start()), u64::from(*range.end()));
        if start <= last && start + count > first {
            found.push(format!(
                "{owner}'s subordinate gids {start}-{} in /etc/subgid overlap tag_gids",
                start + count - 1
            ));
        }
    }
    found
}

/// [`conflicts`] for this system's `/etc/group` and `/etc/subgid`.
pub fn system_conflicts(range: &RangeInclusive<u32>) -> Vec<String> {
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    conflicts(range, &read("/etc/group"), &read("/etc/subgid"))
}

/// Whether the keyring `pag` still exists in the kernel (revoked counts as
/// alive: processes may still be in it).
fn pag_alive(pag: KeySerial) -> bool {
    pag_state(pag) != PagState::Gone
}

/// What became of a PAG, as a daemon keeping something for it sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagState {
    /// The keyring exists (readable to us or not).
    Live,
    /// Revoked (`on_close = "revoke"` at logout); it goes once unused.
    Revoked,
    /// No process has it any more.
    Gone,
}

/// The state of the keyring `pag`.
pub fn pag_state(pag: KeySerial) -> PagState {
    match sys::describe(pag) {
        Ok(_) => PagState::Live,
        Err(e) if e.errno == Errno::EKEYREVOKED => PagState::Revoked,
        Err(e) if e.errno == Errno::ENOKEY => PagState::Gone,
        // EACCES: it exists, we may not look (a PAG the user owns).
        Err(_) => PagState::Live,
    }
}

fn create_new(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

fn parse(text: &str) -> Option<Registered> {
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' '));
    Some(Registered { pag: field("pag")?.parse().ok()?, uid: field("uid")?.parse().ok()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_and_garbage_does_not() {
        assert_eq!(parse("pag 12\nuid 1000\n"), Some(Registered { pag: 12, uid: 1000 }));
        assert_eq!(parse("pag x\nuid 1\n"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn real_groups_and_subordinate_ranges_inside_the_range_are_named() {
        let range = 100_000..=100_999;
        let group = "root:x:0:\nstaff:x:50:\nproj:x:100500:alice\n";
        let subgid = "alice:100900:65536\nbob:300000:65536\n";
        assert_eq!(
            conflicts(&range, group, subgid),
            [
                "group proj has gid 100500, inside tag_gids",
                "alice's subordinate gids 100900-166435 in /etc/subgid overlap tag_gids",
            ]
        );
        assert!(conflicts(&(200_000..=200_999), group, subgid).is_empty());
    }

    #[test]
    fn tags_are_handed_out_once_while_their_pag_lives() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::at(dir.path().join("tags"));
        let range = 70_000..=70_001;
        // Keyring serials that exist: our own session keyring (alive), and
        // one that cannot (dead).
        let alive = sys::special_id(sys::Special::Session, true).unwrap();
        assert_eq!(registry.hand_out(&range, alive, 1).unwrap(), Some(70_000));
        assert_eq!(registry.hand_out(&range, KeySerial(1), 2).unwrap(), Some(70_001));
        assert_eq!(registry.lookup(70_001), Some(Registered { pag: 1, uid: 2 }));
        // Both taken; 70_001's PAG (serial 1) does not exist: it is reused.
        assert_eq!(registry.hand_out(&range, alive, 3).unwrap(), Some(70_001));
        assert_eq!(registry.lookup(70_001), Some(Registered { pag: alive.0, uid: 3 }));
        // Now both name a live keyring: none left.
        assert_eq!(registry.hand_out(&range, alive, 4).unwrap(), None);
        let mode = fs::metadata(dir.path().join("tags")).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o700);
    }
}
