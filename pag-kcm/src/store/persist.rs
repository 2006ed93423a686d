//! Collections saved in the state directory, one file each, so a restart
//! of the daemon keeps live logins' tickets.
//!
//! The directory is root's alone (0700; systemd's RuntimeDirectory under
//! /run, a tmpfs: nothing survives a reboot, as no PAG does). Files hold
//! credentials in the clear, readable only by root, as a FILE: cache holds
//! them for its user. Nothing is kept in kernel keys: root-owned keys
//! would spend root's key quota, which every login shares.
//!
//! A file is written whole to a temporary name and renamed over the old
//! one, so a crash leaves the old state or the new one. At start every
//! file is parsed with the wire's own parser and loaded under the same
//! bounds as requests; a file that does not parse or is over a bound is
//! skipped with a message and removed.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{Cache, Collection, Cred, Generation, Key, Scope};
use crate::proto::marshal::{put_data, put_u32, Malformed, Reader};

const MAGIC: &[u8] = b"pag-kcm 1\n";
const SUFFIX: &str = ".kcm";

/// Make the directory (0700) if it is missing; refuse one others may use.
pub fn prepare(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    match fs::DirBuilder::new().mode(0o700).recursive(true).create(dir) {
        Ok(()) => {}
        Err(e) => return Err(e),
    }
    let meta = fs::metadata(dir)?;
    if meta.uid() != nix::unistd::geteuid().as_raw() || meta.mode() & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "{} must be owned by this daemon's user and closed to others (mode 0700), is mode {:o} uid {}",
            dir.display(),
            meta.mode() & 0o7777,
            meta.uid()
        )));
    }
    Ok(())
}

/// The file of `key`.
pub fn path_of(dir: &Path, key: &Key) -> PathBuf {
    let name = match key.scope {
        Scope::Uid => format!("{}{SUFFIX}", key.uid),
        Scope::Login { pag, generation: Generation::Marker(m) } => {
            format!("{}-pag{pag}-m{m}{SUFFIX}", key.uid)
        }
        Scope::Login { pag, generation: Generation::Registered(t) } => {
            format!("{}-pag{pag}-r{t}{SUFFIX}", key.uid)
        }
    };
    dir.join(name)
}

/// Save `collection` as `key`'s file (or remove the file when `None`).
pub fn save(dir: &Path, key: &Key, collection: Option<&Collection>) -> std::io::Result<()> {
    let path = path_of(dir, key);
    let Some(collection) = collection else {
        return match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    };
    let bytes = encode(key, collection);
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.write_all(&bytes)?;
    drop(file);
    fs::rename(&tmp, &path)
}

fn encode(key: &Key, c: &Collection) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    put_u32(&mut out, key.uid);
    match key.scope {
        Scope::Uid => out.push(0),
        Scope::Login { pag, generation: Generation::Marker(m) } => {
            out.push(1);
            put_u32(&mut out, pag as u32);
            put_u32(&mut out, m as u32);
        }
        Scope::Login { pag, generation: Generation::Registered(t) } => {
            out.push(2);
            put_u32(&mut out, pag as u32);
            out.extend_from_slice(&t.to_be_bytes());
        }
    }
    match &c.default {
        Some(name) => {
            out.push(1);
            put_data(&mut out, name);
        }
        None => out.push(0),
    }
    put_u32(&mut out, c.next_new);
    put_u32(&mut out, c.caches.len() as u32);
    for cache in &c.caches {
        put_data(&mut out, &cache.name);
        out.extend_from_slice(&cache.uuid);
        put_data(&mut out, &cache.principal);
        put_u32(&mut out, cache.kdc_offset as u32);
        put_u32(&mut out, cache.creds.len() as u32);
        for cred in &cache.creds {
            out.extend_from_slice(&cred.uuid);
            put_data(&mut out, &cred.raw);
        }
    }
    out
}

/// Parse a saved file; every principal and credential is checked again.
pub fn decode(bytes: &[u8], max_name: usize) -> Result<(Key, Collection), Malformed> {
    let body = bytes.strip_prefix(MAGIC).ok_or(Malformed("not a pag-kcm state file"))?;
    let mut r = Reader::new(body);
    let uid = r.u32("uid")?;
    let scope = match r.u8("scope")? {
        0 => Scope::Uid,
        1 => Scope::Login { pag: r.i32("pag")?, generation: Generation::Marker(r.i32("marker")?) },
        2 => {
            let pag = r.i32("pag")?;
            let mut t = [0u8; 16];
            t.copy_from_slice(r.take(16, "registered")?);
            Scope::Login { pag, generation: Generation::Registered(u128::from_be_bytes(t)) }
        }
        _ => return Err(Malformed("scope")),
    };
    let mut c = Collection::default();
    if r.u8("default")? == 1 {
        c.default = Some(checked_name(r.data("default name")?, max_name)?);
    }
    c.next_new = r.u32("counter")?;
    let caches = r.u32("cache count")?;
    for _ in 0..caches {
        let name = checked_name(r.data("cache name")?, max_name)?;
        let uuid = r.uuid()?;
        let principal = r.data("principal")?;
        Reader::new(principal).principal()?;
        let mut cache = Cache::new(&name, uuid, principal);
        cache.kdc_offset = r.i32("kdc offset")?;
        let creds = r.u32("cred count")?;
        for _ in 0..creds {
            let uuid = r.uuid()?;
            let raw = r.data("cred")?;
            let mut cr = Reader::new(raw);
            cr.cred()?;
            cr.end()?;
            cache.creds.push(Cred { uuid, raw: raw.to_vec() });
        }
        c.caches.push(cache);
    }
    r.end()?;
    Ok((Key { uid, scope }, c))
}

fn checked_name(name: &[u8], max: usize) -> Result<Vec<u8>, Malformed> {
    if name.is_empty() || name.len() > max || name.contains(&0) {
        return Err(Malformed("cache name"));
    }
    Ok(name.to_vec())
}

/// Every state file in `dir`: each parsed one with its path, and a message
/// for each that is not.
pub fn load_all(
    dir: &Path,
    max_file: u64,
    max_name: usize,
) -> (Vec<(PathBuf, Key, Collection)>, Vec<String>) {
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else { return (loaded, problems) };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".tmp") {
            let _ = fs::remove_file(&path);
            continue;
        }
        if !name.ends_with(SUFFIX) {
            continue;
        }
        let too_big = entry.metadata().map(|m| m.len() > max_file).unwrap_or(true);
        let parsed = if too_big {
            Err("larger than max_collection_bytes allows".to_string())
        } else {
            fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| decode(&b, max_name).map_err(|Malformed(what)| format!("bad {what}")))
        };
        let why = match parsed {
            Ok((key, collection)) if path_of(dir, &key) == path => {
                loaded.push((path, key, collection));
                continue;
            }
            Ok(_) => "its content names another collection".to_string(),
            Err(why) => why,
        };
        problems.push(format!("{}: {why}; removed", path.display()));
        let _ = fs::remove_file(&path);
    }
    (loaded, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::marshal::tests::{cred, principal};

    #[test]
    fn a_collection_survives_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let alice = principal(&["alice"], "R");
        let mut cache = Cache::new(b"1000", [1; 16], &alice);
        cache.kdc_offset = -3;
        cache.creds.push(Cred { uuid: [2; 16], raw: cred(&alice, &alice, b"t") });
        let c = Collection { caches: vec![cache], default: Some(b"1000".to_vec()), next_new: 4 };
        let keys = [
            Key { uid: 1000, scope: Scope::Uid },
            Key { uid: 1000, scope: Scope::Login { pag: 77, generation: Generation::Marker(78) } },
            Key { uid: 1000, scope: Scope::Login { pag: 77, generation: Generation::Registered(1 << 100) } },
        ];
        for key in &keys {
            save(dir.path(), key, Some(&c)).unwrap();
        }
        let (mut loaded, problems) = load_all(dir.path(), 1 << 20, 255);
        assert!(problems.is_empty(), "{problems:?}");
        loaded.sort_by_key(|(_, k, _)| *k);
        let mut want = keys.to_vec();
        want.sort();
        assert_eq!(loaded.iter().map(|(_, k, _)| *k).collect::<Vec<_>>(), want);
        assert!(loaded.iter().all(|(_, _, got)| got == &c));
        save(dir.path(), &keys[0], None).unwrap();
        assert!(!path_of(dir.path(), &keys[0]).exists());
    }

    #[test]
    fn damaged_files_are_skipped_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let key = Key { uid: 5, scope: Scope::Uid };
        let c = Collection { default: Some(b"x".to_vec()), ..Collection::default() };
        save(dir.path(), &key, Some(&c)).unwrap();
        let path = path_of(dir.path(), &key);
        let mut bytes = fs::read(&path).unwrap();
        bytes.push(0);
        fs::write(&path, &bytes).unwrap();
        let (loaded, problems) = load_all(dir.path(), 1 << 20, 255);
        assert!(loaded.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(!path.exists());
    }
}
