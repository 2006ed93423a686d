//! The configuration file's `[pam]`, parsed once per version of the file
//! per process rather than at every hook: reading and parsing the shipped
//! /etc/security/pam_pag.toml (142 lines, mostly comments) was two thirds
//! of an open_session+close_session in bench/pam-cycle.
//!
//! Each hook still stat(2)s the file, and parses it again whenever what
//! stat says has changed: an editor's rename gives a new inode, a write in
//! place a new size, modification or change time. File times are kept at
//! the kernel's clock tick, so two writes within one tick can leave the same
//! times: a file changed within the last [`SETTLE`] is always read afresh
//! (git's "racily clean" rule).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, TryLockError};
use std::time::{Duration, SystemTime};

use pag::config::{ConfigError, PamSettings, Presence};

/// How long after its last change a file is read at every hook.
const SETTLE: Duration = Duration::from_secs(2);

/// What stat(2) said about the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

struct Entry {
    path: PathBuf,
    presence: Presence,
    stamp: Stamp,
    settings: Result<PamSettings, ConfigError>,
}

/// The last file parsed (a process's stacks name one file, or a few).
static LAST: Mutex<Option<Entry>> = Mutex::new(None);

/// What `read` gives for the file at `path`, from the last parse when the
/// file has not changed since. Where stat fails (no file, say), `read`
/// decides what that means, as it did before.
pub fn settings(
    path: &Path,
    presence: Presence,
    read: impl FnOnce() -> Result<PamSettings, ConfigError>,
) -> Result<PamSettings, ConfigError> {
    let Ok(meta) = std::fs::metadata(path) else { return read() };
    let stamp = Stamp {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ctime: (meta.ctime(), meta.ctime_nsec()),
    };
    let settled = [meta.modified(), Ok(ctime(&meta))]
        .into_iter()
        .all(|t| t.ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age >= SETTLE));
    // Never wait for the lock: a fork() while another thread of the
    // application held it leaves it held for good in the child.
    let mut last = match LAST.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => return read(),
    };
    if settled {
        if let Some(e) =
            last.as_ref().filter(|e| e.path == path && e.presence == presence && e.stamp == stamp)
        {
            return e.settings.clone();
        }
    }
    // Stat before read: a change in between leaves a newer text under an
    // older stamp, which the next hook's stat no longer matches.
    let settings = read();
    *last = settled.then(|| Entry { path: path.to_owned(), presence, stamp, settings: settings.clone() });
    settings
}

fn ctime(meta: &std::fs::Metadata) -> SystemTime {
    let (secs, nanos) = (meta.ctime(), meta.ctime_nsec());
    match (u64::try_from(secs), u32::try_from(nanos)) {
        (Ok(s), Ok(n)) => SystemTime::UNIX_EPOCH + Duration::new(s, n),
        // Before 1970: long settled.
        _ => SystemTime::UNIX_EPOCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn parse(text: &str) -> Result<PamSettings, ConfigError> {
        pag::config::Document::parse(text, Path::new("t")).map(|d| d.pam().unwrap())
    }

    #[test]
    fn a_settled_file_is_parsed_once_and_again_after_every_change() {
        let dir = std::env::temp_dir().join(format!("pam_pag-cache-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pam_pag.toml");
        let reads = Cell::new(0);
        let get = || {
            settings(&path, Presence::MayBeAbsent, || {
                reads.set(reads.get() + 1);
                parse(&std::fs::read_to_string(&path).unwrap())
            })
        };
        std::fs::write(&path, "[pam]\ntimeout = 5\n").unwrap();
        // Fresh: read every time.
        assert_eq!(get().unwrap().timeout, Some(5));
        assert_eq!(get().unwrap().timeout, Some(5));
        assert_eq!(reads.get(), 2);
        std::thread::sleep(SETTLE + Duration::from_millis(100));
        // Settled: read once, then from memory.
        assert_eq!(get().unwrap().timeout, Some(5));
        assert_eq!(get().unwrap().timeout, Some(5));
        assert_eq!(get().unwrap().timeout, Some(5));
        assert_eq!(reads.get(), 3);
        // Any change (same size here) is read at once.
        std::fs::write(&path, "[pam]\ntimeout = 7\n").unwrap();
        assert_eq!(get().unwrap().timeout, Some(7));
        assert_eq!(reads.get(), 4);
        // Replaced by rename (a new inode), also at once.
        std::fs::write(dir.join("new"), "[pam]\ntimeout = 9\n").unwrap();
        std::fs::rename(dir.join("new"), &path).unwrap();
        assert_eq!(get().unwrap().timeout, Some(9));
        // Gone: whatever reading says about that.
        std::fs::remove_file(&path).unwrap();
        let absent = settings(&path, Presence::MayBeAbsent, || Ok(PamSettings::default()));
        assert_eq!(absent.unwrap(), PamSettings::default());
        std::fs::remove_dir(&dir).unwrap();
    }
}
