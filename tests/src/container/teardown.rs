//! Ending a container and proving nothing of it is left: no process in its
//! pid namespace or of its users, no mount namespace, no mount of its
//! directory on the host, and no key of its users beyond what the kernel
//! itself keeps per uid.

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use super::error::{Error, Result};
use super::users::UserRecord;

/// How long the kernel may take to collect unreferenced keys after the
/// container's processes are gone (its key gc runs from a work queue).
const KEY_GC_WAIT: Duration = Duration::from_secs(5);

/// What remained after a container was torn down, for the report.
#[derive(Debug, Default)]
pub struct TeardownReport {
    /// Revoked keys of the container's users that the kernel collects only
    /// after `/proc/sys/kernel/keys/gc_delay` (pam_keyinit `revoke` leaves them).
    pub revoked_keys_awaiting_gc: Vec<String>,
}

/// The namespace link of a process, such as `pid:[4026532281]`.
pub(crate) fn namespace_of(pid: u32, kind: &str) -> Result<String> {
    let path = format!("/proc/{pid}/ns/{kind}");
    fs::read_link(&path)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| Error::new(format!("{path}: {e}")))
}

fn all_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .map(|d| d.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

fn real_uid_of(pid: u32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.parse().ok()
}

/// Processes (host pids) that are in one of the given namespaces or run as
/// one of the given uids.
fn remaining_processes(namespaces: &[(&str, &str)], uids: &[u32]) -> Vec<String> {
    let mut found = Vec::new();
    for pid in all_pids() {
        for (kind, ns) in namespaces {
            if namespace_of(pid, kind).ok().as_deref() == Some(*ns) {
                found.push(format!("pid {pid} in {ns}"));
            }
        }
        if let Some(uid) = real_uid_of(pid).filter(|u| uids.contains(u)) {
            found.push(format!("pid {pid} of uid {uid}"));
        }
    }
    found
}

/// Wait until no process of the container is left.
pub(crate) fn check_processes(namespaces: &[(&str, &str)], uids: &[u32]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = remaining_processes(namespaces, uids);
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::new(format!(
                "processes left after teardown: {left:?} (a fixture started with \
                 in_network_namespace must be stopped before the container is torn down)"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// No host mount refers to the container directory.
pub(crate) fn check_mounts(dir_name: &str) -> Result<()> {
    let mountinfo =
        fs::read_to_string("/proc/self/mountinfo").map_err(|e| Error::new(format!("mountinfo: {e}")))?;
    let left: Vec<&str> = mountinfo.lines().filter(|l| l.contains(dir_name)).collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(Error::new(format!("mounts left on the host: {left:?}")))
    }
}

/// `nkeys` of `uid` in /proc/key-users (0 if the kernel has no record).
pub(crate) fn key_count(uid: u32) -> Result<usize> {
    let text =
        fs::read_to_string("/proc/key-users").map_err(|e| Error::new(format!("/proc/key-users: {e}")))?;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        if fields.next() == Some(&format!("{uid}:")) {
            let nkeys = fields.nth(1).and_then(|f| f.split('/').next()?.parse().ok());
            return nkeys.ok_or_else(|| Error::new(format!("cannot parse /proc/key-users line {line:?}")));
        }
    }
    Ok(0)
}

/// The keys owned by `user` that the user may view, as lines of /proc/keys
/// read by a process running as that user (root cannot see them: key
/// permissions have no capability override).
fn visible_keys(user: &UserRecord) -> Result<Vec<String>> {
    let out = Command::new("cat")
        .arg("/proc/keys")
        .uid(user.uid)
        .gid(user.gid)
        .output()
        .map_err(|e| Error::new(format!("reading /proc/keys as {}: {e}", user.name)))?;
    let uid = user.uid.to_string();
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split_whitespace().nth(5) == Some(uid.as_str()))
        .map(str::to_owned)
        .collect())
}

/// The kernel's per-uid keyrings, which it keeps for the host's lifetime
/// once a uid has used keys (since Linux 5.3 they belong to the user
/// namespace, here the host's).
fn is_kernel_user_keyring(line: &str, uid: u32) -> bool {
    let description = line.split_whitespace().skip(8).collect::<Vec<_>>().join(" ");
    description.starts_with(&format!("_uid.{uid}:")) || description.starts_with(&format!("_uid_ses.{uid}:"))
}

fn is_revoked(line: &str) -> bool {
    line.split_whitespace().nth(1).is_some_and(|flags| flags.contains('R'))
}

/// Wait until each user owns only the kernel's per-uid keyrings (and
/// revoked keys awaiting gc), and no key the user cannot see.
pub(crate) fn check_keys(users: &[UserRecord], report: &mut TeardownReport) -> Result<()> {
    let deadline = Instant::now() + KEY_GC_WAIT;
    loop {
        let mut problems = Vec::new();
        let mut revoked = Vec::new();
        for user in users {
            let visible = visible_keys(user)?;
            let count = key_count(user.uid)?;
            let live: Vec<&String> =
                visible.iter().filter(|l| !is_kernel_user_keyring(l, user.uid) && !is_revoked(l)).collect();
            revoked.extend(visible.iter().filter(|l| is_revoked(l)).cloned());
            if !live.is_empty() {
                problems.push(format!("{} still owns keys: {live:?}", user.name));
            }
            if count > visible.len() {
                problems.push(format!(
                    "{} owns {count} keys per /proc/key-users but can see only {}",
                    user.name,
                    visible.len()
                ));
            }
        }
        if problems.is_empty() {
            report.revoked_keys_awaiting_gc = revoked;
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::new(format!("keys left after teardown: {problems:?}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Root's keys as the kernel counts them (/proc/key-users), less those
/// revoked and waiting for the collector (revoked keys stay until
/// `gc_delay`, 300 s by default), with the lines of root's keys that root may
/// view in /proc/keys, for the report.
pub(crate) struct RootKeys {
    live: usize,
    lines: Vec<String>,
}

/// Read [`RootKeys`] now.
pub(crate) fn root_keys() -> Result<RootKeys> {
    let count = key_count(0)?;
    let text = fs::read_to_string("/proc/keys").map_err(|e| Error::new(format!("/proc/keys: {e}")))?;
    let lines: Vec<String> =
        text.lines().filter(|l| l.split_whitespace().nth(5) == Some("0")).map(str::to_owned).collect();
    let revoked = lines.iter().filter(|l| is_revoked(l)).count();
    Ok(RootKeys { live: count.saturating_sub(revoked), lines })
}

/// Wait until root owns no more live keys than at `baseline`: nothing a
/// login made for root (PAG keyrings, markers, tokens) outlived it. Only
/// meaningful while no other container runs (the count is global): the
/// harness runs such containers alone.
pub(crate) fn check_root_keys(baseline: &RootKeys) -> Result<()> {
    let deadline = Instant::now() + KEY_GC_WAIT;
    loop {
        let now = root_keys()?;
        if now.live <= baseline.live {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let new: Vec<&String> = now
                .lines
                .iter()
                .filter(|l| !is_revoked(l))
                .filter(|l| {
                    !baseline.lines.iter().any(|b| b.split_whitespace().next() == l.split_whitespace().next())
                })
                .collect();
            return Err(Error::new(format!(
                "root owns {} live keys after teardown, {} before the container started; new ones root may view: {new:?}",
                now.live, baseline.live
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_kernel_user_keyrings_and_revoked_keys() {
        let uid_ring = "1a2b3c4d I------     1 perm 1f3f0000 61100 61100 keyring   _uid.61100: empty";
        let ses = "1a2b3c4e I------     1 perm 1f3f0000 61100 61100 keyring   _uid_ses.61100: 1";
        let other = "1a2b3c4f I------     1 perm 3f010000 61100 61100 keyring   _ses: 1";
        let revoked = "1a2b3c50 IR-----     1 perm 3f010000 61100 61100 keyring   _ses: 1";
        assert!(is_kernel_user_keyring(uid_ring, 61100));
        assert!(is_kernel_user_keyring(ses, 61100));
        assert!(!is_kernel_user_keyring(ses, 61101));
        assert!(!is_kernel_user_keyring(other, 61100));
        assert!(is_revoked(revoked) && !is_revoked(other));
    }
}
