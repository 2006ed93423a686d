//! The system the PAGs live on: keyrings usable, key quotas, AF_RXRPC,
//! Yama, an OpenAFS client, and the token programs on disk. Everything is
//! read from /proc, /sys and the file system; nothing is loaded (no socket
//! is opened, so rxrpc.ko is never autoloaded).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::errno::Errno;
use pag::sys::{self, Special};

use super::config::FileSettings;
use super::services::Program;
use crate::report::Report;

/// What a root-owned login costs root's quota today (DESIGN.md).
const KEYS_PER_SESSION: u64 = 4;
const BYTES_PER_SESSION: u64 = 625;

pub fn check(root: &Path, report: &mut Report) {
    keyrings(report);
    quotas(root, report);
    rxrpc(root, report);
    yama(root, report);
    openafs(root, report);
}

fn read(root: &Path, path: &str) -> Option<String> {
    std::fs::read_to_string(root.join(path.trim_start_matches('/'))).ok()
}

fn number(root: &Path, path: &str) -> Option<u64> {
    read(root, path)?.trim().parse().ok()
}

/// A harmless keyctl call: EPERM or ENOSYS means a seccomp profile (Docker's
/// default, some sandboxes) blocks keyrings, and logins get no PAG.
fn keyrings(report: &mut Report) {
    match sys::special_id(Special::Session, false) {
        Ok(_) => report.ok("system", "kernel keyrings are usable"),
        Err(e) if e.errno == Errno::ENOKEY => report.ok("system", "kernel keyrings are usable"),
        Err(e) if matches!(e.errno, Errno::EPERM | Errno::ENOSYS) => report.error(
            "system",
            format!(
                "kernel keyrings are blocked here ({}; a seccomp profile such as a container's): no login can \
                 get a PAG (on_keyring_unavailable decides whether logins go on without one)",
                e.errno.desc()
            ),
        ),
        Err(e) => report.warn("system", format!("keyring probe: {e}")),
    }
}

/// One line of /proc/key-users: `uid: usage nkeys/nikeys qnkeys/maxkeys qnbytes/maxbytes`.
struct KeyUser {
    uid: u32,
    keys: u64,
    max_keys: u64,
    bytes: u64,
    max_bytes: u64,
}

fn key_users(text: &str) -> Vec<KeyUser> {
    text.lines()
        .filter_map(|line| {
            let (uid, rest) = line.split_once(':')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let pair = |s: &str| -> Option<(u64, u64)> {
                let (a, b) = s.split_once('/')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            };
            let (keys, max_keys) = pair(fields.get(2)?)?;
            let (bytes, max_bytes) = pair(fields.get(3)?)?;
            Some(KeyUser { uid: uid.trim().parse().ok()?, keys, max_keys, bytes, max_bytes })
        })
        .collect()
}

fn quotas(root: &Path, report: &mut Report) {
    let keys = "/proc/sys/kernel/keys";
    let limits = (
        number(root, &format!("{keys}/maxkeys")),
        number(root, &format!("{keys}/maxbytes")),
        number(root, &format!("{keys}/root_maxkeys")),
        number(root, &format!("{keys}/root_maxbytes")),
    );
    let (Some(maxkeys), Some(maxbytes), Some(root_maxkeys), Some(root_maxbytes)) = limits else {
        report.warn("system", format!("cannot read the key quotas in {keys}"));
        return;
    };
    let users = read(root, "/proc/key-users").map(|t| key_users(&t)).unwrap_or_default();
    let (root_keys, root_bytes) = users.iter().find(|u| u.uid == 0).map_or((0, 0), |u| (u.keys, u.bytes));
    let room = (root_maxkeys.saturating_sub(root_keys) / KEYS_PER_SESSION)
        .min(root_maxbytes.saturating_sub(root_bytes) / BYTES_PER_SESSION);
    let text = format!(
        "root's key quota (shared by every login whose PAG root owns, about {KEYS_PER_SESSION} keys and \
         {BYTES_PER_SESSION} bytes each): {root_keys} of {root_maxkeys} keys, {root_bytes} of {root_maxbytes} \
         bytes in use, room for about {room} more sessions"
    );
    if room < 1000 {
        report.warn("system", format!("{text}; raise kernel.keys.root_maxkeys and root_maxbytes"));
    } else {
        report.ok("system", text);
    }
    let mut tight = false;
    for u in users.iter().filter(|u| u.uid != 0) {
        if u.keys * 10 >= u.max_keys * 8 || u.bytes * 10 >= u.max_bytes * 8 {
            tight = true;
            report.warn(
                "system",
                format!(
                    "uid {} uses {} of {} keys and {} of {} bytes of its key quota: a login with \
                     keyring_owner = \"user\" or a ticket cache in the keyring may fail with EDQUOT",
                    u.uid, u.keys, u.max_keys, u.bytes, u.max_bytes
                ),
            );
        }
    }
    if !tight {
        report.ok(
            "system",
            format!("user key quotas ({maxkeys} keys, {maxbytes} bytes each): no user is near the limit"),
        );
    }
}

/// AF_RXRPC, read from what the kernel shows, never by opening a socket
/// (which would autoload rxrpc.ko).
fn rxrpc(root: &Path, report: &mut Report) {
    let key_type = read(root, "/proc/key-types").is_some_and(|t| {
        t.lines().any(|l| l.contains(": rxrpc") || l.split_whitespace().any(|w| w == "rxrpc"))
    });
    let protocol =
        read(root, "/proc/net/protocols").is_some_and(|t| t.lines().any(|l| l.starts_with("RXRPC")));
    let module = root.join("sys/module/rxrpc").exists();
    if key_type || protocol || module {
        report.ok("system", "AF_RXRPC is present: tokens are stored as rxrpc keys, which kAFS uses");
    } else {
        report.warn(
            "system",
            "AF_RXRPC is not present (no rxrpc key type; rxrpc.ko not loaded, and this check does not load it): \
             aklog stores tokens as user keys that kAFS does not see",
        );
    }
}

fn yama(root: &Path, report: &mut Report) {
    match number(root, "/proc/sys/kernel/yama/ptrace_scope") {
        Some(scope) if scope >= 1 => {
            report.ok("system", format!("kernel.yama.ptrace_scope = {scope}: other processes of the same user cannot ptrace into a PAG"))
        }
        scope => report.warn(
            "system",
            format!(
                "kernel.yama.ptrace_scope is {}: a process of the same user can ptrace one in a PAG, so \
                 isolation from other processes of the same user holds only through the keyring API",
                scope.map_or("absent (no Yama)".to_owned(), |s| s.to_string())
            ),
        ),
    }
}

fn openafs(root: &Path, report: &mut Report) {
    let mut seen = Vec::new();
    if root.join("proc/fs/openafs").exists() {
        seen.push("/proc/fs/openafs");
    }
    if read(root, "/proc/modules").is_some_and(|t| t.lines().any(|l| l.starts_with("openafs "))) {
        seen.push("the openafs kernel module");
    }
    if root.join("usr/sbin/afsd").exists() {
        seen.push("/usr/sbin/afsd");
    }
    if seen.is_empty() {
        report.ok("system", "no OpenAFS client");
    } else {
        report.warn(
            "system",
            format!(
                "an OpenAFS client is present ({}): its cache manager ignores pag's kAFS tokens and PAGs; \
                 use OpenAFS's own aklog and pagsh for /afs through it",
                seen.join(", ")
            ),
        );
    }
}

/// Each token program a login will run: there, executable, root's, not
/// writable by group or others (it is started by root with the user's
/// ticket).
/// `tag_gids` against this system's groups and subordinate gid ranges
/// (`/etc/group`, `/etc/subgid` under `root`): a range a real group or a
/// subgid range overlaps would let processes pass as logins, so the module
/// refuses it at each login.
pub fn check_tags(root: &Path, file: &FileSettings, report: &mut Report) {
    let Some(pam) = &file.pam else { return };
    let mut ranges: Vec<(String, &str)> = Vec::new();
    if let Some(range) = pam.tag_gids.as_deref() {
        ranges.push(("[pam]".to_owned(), range));
    }
    for (service, section) in &pam.service {
        if let Some(range) = section.tag_gids.as_deref() {
            ranges.push((format!("[pam.service.{service}]"), range));
        }
    }
    let group = read(root, "/etc/group").unwrap_or_default();
    let subgid = read(root, "/etc/subgid").unwrap_or_default();
    for (section, text) in ranges {
        // A malformed range is the config check's error already.
        let Ok(range) = pag::config::pam::parse_tag_gids(text) else { continue };
        let conflicts = pag::peer::registry::conflicts(&range, &group, &subgid);
        if conflicts.is_empty() {
            report.ok(
                "tags",
                format!("{section} tag_gids {text}: no group or subordinate gid range inside it"),
            );
        } else {
            report.error(
                "tags",
                format!("{section} tag_gids {text}: {}; logins get no tag", conflicts.join("; ")),
            );
        }
    }
}

pub fn check_programs(programs: &[Program], report: &mut Report) {
    for p in programs {
        let users = p.used_by.len();
        let meta = match std::fs::metadata(&p.path) {
            Ok(m) => m,
            Err(e) => {
                report.error(
                    "program",
                    format!(
                        "{}: {} (run by {users} pam_pag line(s), first {}); those logins get no tokens",
                        p.path,
                        e.raw_os_error().map_or(e.to_string(), |n| Errno::from_raw(n).desc().to_owned()),
                        p.used_by[0]
                    ),
                );
                continue;
            }
        };
        let mode = meta.permissions().mode();
        let mut wrong = Vec::new();
        if !meta.is_file() {
            wrong.push("not a regular file".to_owned());
        }
        if mode & 0o111 == 0 {
            wrong.push("not executable".to_owned());
        }
        if meta.uid() != 0 {
            wrong.push(format!("owned by uid {}, not root", meta.uid()));
        }
        if mode & 0o022 != 0 {
            wrong.push(format!("writable by group or others (mode {:04o})", mode & 0o7777));
        }
        if wrong.is_empty() {
            report.ok("program", format!("{}: executable, root's, not writable by others", p.path));
        } else {
            report.error("program", format!("{}: {} (run by {})", p.path, wrong.join(", "), p.used_by[0]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_users_lines() {
        let u =
            key_users("    0:   120 119/119 97/1000000 2087/25000000\n 1000:     5 5/5 5/200 120/20000\n");
        assert_eq!((u[0].uid, u[0].keys, u[0].max_keys, u[0].bytes), (0, 97, 1_000_000, 2087));
        assert_eq!((u[1].uid, u[1].max_keys, u[1].max_bytes), (1000, 200, 20000));
    }
}
