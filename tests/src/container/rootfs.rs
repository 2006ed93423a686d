//! The container directory on the host: private account files, pam.d, ssh
//! and krb5.conf, homes, `/run`, `/tmp`, `/var/log` and the skeleton of
//! `/dev`. Pid 1 mounts these over the host's paths inside the container's
//! mount namespace (see `layout`), so nothing of the host changes.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{chown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::error::{io_context, Result};
use super::layout::{
    overlay_dirs, DEV_LINKS, DEV_NODES, FILE_BINDS, HARNESS_RUN_DIR, OVERLAYS_FILE, SHARES_FILE,
    USR_LAYER_FILE,
};
use super::pam::PamStack;
use super::ssh_client::askpass_script;
use super::sshd::{sshd_config, KeyMaterial};
use super::users::UserRecord;

/// What goes into a container directory.
pub(crate) struct RootSpec<'a> {
    pub(crate) users: &'a [UserRecord],
    pub(crate) stacks: &'a BTreeMap<String, PamStack>,
    pub(crate) krb5_conf: Option<&'a str>,
    pub(crate) files: &'a [(String, String, u32)],
    pub(crate) shared_dirs: &'a [PathBuf],
    pub(crate) keys: &'a KeyMaterial,
    /// The unpacked packages (`crate::debs`): their `usr/` is laid over
    /// `/usr`, their stock `/etc` files seed the container's.
    pub(crate) debs_root: &'a Path,
    /// Host directories that get a writable overlay (see `layout`).
    pub(crate) overlays: &'a [String],
    /// pam-auth-update's `/var/lib/pam` matching the `common-*` in `stacks`.
    pub(crate) var_lib_pam: Option<&'a Path>,
}

/// A fresh, empty container directory under the temp dir.
pub(crate) fn new_dir() -> Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    if NEXT.load(Ordering::Relaxed) == 0 {
        remove_stale_dirs();
    }
    let dir = std::env::temp_dir().join(format!(
        "pag-ct-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir(&dir).map_err(io_context(format!("creating {}", dir.display())))?;
    Ok(dir)
}

/// Remove the directories of containers whose test process was killed
/// before it could clean up (its pid is gone). Their namespaces died with
/// pid 1, so nothing is mounted on them any more.
fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let owner =
            name.to_str().and_then(|n| n.strip_prefix("pag-ct-")).and_then(|rest| rest.split('-').next());
        if let Some(pid) = owner.and_then(|p| p.parse::<u32>().ok()) {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                // Best effort: a directory that cannot be removed is only litter.
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_context(parent.display()))?;
    }
    fs::write(path, text).map_err(io_context(path.display()))?;
    set_mode(path, mode)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_context(path.display()))
}

fn mkdir(path: &Path, mode: u32) -> Result<()> {
    fs::create_dir_all(path).map_err(io_context(path.display()))?;
    set_mode(path, mode)
}

fn own(path: &Path, user: &UserRecord) -> Result<()> {
    chown(path, Some(user.uid), Some(user.gid)).map_err(io_context(format!("chown {}", path.display())))
}

/// Map a path inside the container to the container directory, for the
/// paths the container keeps private (`None` for shared host paths).
pub(crate) fn host_path(dir: &Path, inside: &str) -> Option<PathBuf> {
    let private_roots = [
        ("/etc/pam.d", "etc/pam.d"),
        ("/etc/ssh", "etc/ssh"),
        ("/etc/security", "etc/security"),
        ("/var/lib/pam", "var-lib-pam"),
        ("/home", "home"),
        ("/run", "run"),
        ("/var/log", "var-log"),
        ("/dev", "dev"),
        ("/tmp", "tmp"),
    ];
    for (root, local) in private_roots {
        if let Some(rest) = inside.strip_prefix(root) {
            if rest.is_empty() || rest.starts_with('/') {
                return Some(dir.join(local).join(rest.trim_start_matches('/')));
            }
        }
    }
    FILE_BINDS.iter().find(|(_, target)| *target == inside).map(|(local, _)| dir.join(local))
}

/// Fill `dir` for `spec`.
pub(crate) fn prepare(dir: &Path, spec: &RootSpec<'_>) -> Result<()> {
    write_account_files(dir, spec.users)?;
    write_pam_d(dir, spec.stacks)?;
    write_ssh(dir, spec.keys)?;
    let layer = spec.debs_root.to_str().filter(|p| !p.contains('\n'));
    let layer = layer.ok_or_else(|| format!("{}: not a usable path", spec.debs_root.display()))?;
    write(&dir.join(USR_LAYER_FILE), layer, 0o644)?;
    // Module configuration (limits.conf, ...): the stock files of
    // libpam-modules, never the host's (which might hold a pam_pag.toml).
    copy_tree(&spec.debs_root.join("etc/security"), &dir.join("etc/security"))?;
    // Not the host's krb5.conf: a test that needs a realm writes its own.
    let krb5_conf = spec.krb5_conf.unwrap_or(MINIMAL_KRB5_CONF);
    write(&dir.join("etc/krb5.conf"), krb5_conf, 0o644)?;
    write_homes(dir, spec.users, spec.keys)?;
    write_runtime_dirs(dir)?;
    write_dev(dir)?;
    write_shares(dir, spec.shared_dirs)?;
    write_overlays(dir, spec.overlays)?;
    // Always private: pam-auth-update inside (a package's postinst) must find
    // the record of the container's common-*, never change the host's.
    mkdir(&dir.join("var-lib-pam"), 0o755)?;
    if let Some(var_lib_pam) = spec.var_lib_pam {
        copy_tree(var_lib_pam, &dir.join("var-lib-pam"))?;
    }
    for (inside, text, mode) in spec.files {
        let path = host_path(dir, inside).or_else(|| overlay_path(dir, spec.overlays, inside));
        let Some(path) = path else {
            return Err(format!(
                "file {inside}: only paths under the container's private directories or writable \
                 overlays can be written"
            )
            .into());
        };
        write(&path, text, *mode)?;
    }
    Ok(())
}

/// The list of writable overlays for pid 1, and their upper and work
/// directories. Each must be an existing directory of the host.
fn write_overlays(dir: &Path, overlays: &[String]) -> Result<()> {
    let mut list = String::new();
    for (index, target) in overlays.iter().enumerate() {
        let usable = target.starts_with('/') && !target.contains(['\n', ':', ',', '\\']);
        if !usable || !Path::new(target).is_dir() {
            return Err(format!("writable overlay {target}: needs an existing absolute directory").into());
        }
        let (upper, work) = overlay_dirs(index);
        mkdir(&dir.join(upper), 0o755)?;
        mkdir(&dir.join(work), 0o755)?;
        list.push_str(target);
        list.push('\n');
    }
    write(&dir.join(OVERLAYS_FILE), &list, 0o644)
}

/// Where a file below a writable overlay goes before the container starts:
/// into that overlay's upper directory (the innermost overlay wins).
fn overlay_path(dir: &Path, overlays: &[String], inside: &str) -> Option<PathBuf> {
    let (index, rest) = overlays
        .iter()
        .enumerate()
        .filter_map(|(i, root)| Some((i, inside.strip_prefix(root.trim_end_matches('/'))?)))
        .filter(|(_, rest)| rest.starts_with('/'))
        .min_by_key(|(_, rest)| rest.len())?;
    Some(dir.join(overlay_dirs(index).0).join(rest.trim_start_matches('/')))
}

/// The list of shared host directories for pid 1, one a line, and an empty
/// directory in the private tree for each to be bound onto.
fn write_shares(dir: &Path, shared: &[PathBuf]) -> Result<()> {
    let mut list = String::new();
    for host_dir in shared {
        let text = host_dir.to_str().filter(|t| t.starts_with('/') && !t.contains('\n'));
        let Some(text) = text else {
            return Err(
                format!("shared directory {}: needs an absolute UTF-8 path", host_dir.display()).into()
            );
        };
        if let Some(placeholder) = host_path(dir, text) {
            mkdir(&placeholder, 0o755)?;
        }
        list.push_str(text);
        list.push('\n');
    }
    write(&dir.join(SHARES_FILE), &list, 0o644)
}

fn write_account_files(dir: &Path, users: &[UserRecord]) -> Result<()> {
    type Line = fn(&UserRecord) -> Result<String>;
    let files: [(&str, &str, u32, Line); 4] = [
        ("etc/passwd", "/etc/passwd", 0o644, |u| Ok(u.passwd_line())),
        ("etc/group", "/etc/group", 0o644, |u| Ok(u.group_line())),
        ("etc/shadow", "/etc/shadow", 0o640, UserRecord::shadow_line),
        ("etc/gshadow", "/etc/gshadow", 0o640, |u| Ok(u.gshadow_line())),
    ];
    let host_passwd = fs::read_to_string("/etc/passwd").map_err(io_context("/etc/passwd"))?;
    let sshd_uid =
        (!host_passwd.lines().any(|l| l.starts_with("sshd:"))).then(|| free_system_uid(&host_passwd));
    for (local, host, mode, line) in files {
        let mut text = fs::read_to_string(host).map_err(io_context(host))?;
        if !text.ends_with('\n') && !text.is_empty() {
            text.push('\n');
        }
        // sshd's privilege separation account, which openssh-server's
        // postinst would have made: the host has sshd only unpacked.
        match (sshd_uid, local) {
            (Some(uid), "etc/passwd") => {
                text.push_str(&format!("sshd:x:{uid}:65534::/run/sshd:/usr/sbin/nologin\n"))
            }
            (Some(_), "etc/shadow") => text.push_str("sshd:*:19000:0:99999:7:::\n"),
            _ => {}
        }
        for user in users {
            text.push_str(&line(user)?);
        }
        write(&dir.join(local), &text, mode)?;
    }
    Ok(())
}

/// A system uid (100-999) that no account of `passwd` uses.
fn free_system_uid(passwd: &str) -> u32 {
    let used: Vec<u32> = passwd.lines().filter_map(|l| l.split(':').nth(2)?.parse().ok()).collect();
    (100..1000).find(|uid| !used.contains(uid)).unwrap_or(999)
}

/// Copy a small directory tree of regular files (permissions kept).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    mkdir(to, 0o755)?;
    for entry in fs::read_dir(from).map_err(io_context(from.display()))? {
        let entry = entry.map_err(io_context(from.display()))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(io_context(source.display()))?;
        if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else if kind.is_file() {
            fs::copy(&source, &target).map_err(io_context(format!("copying {}", source.display())))?;
        }
    }
    Ok(())
}

/// The container's `/etc/krb5.conf` when a test sets none: no realm, no DNS.
const MINIMAL_KRB5_CONF: &str = "[libdefaults]\n\tdns_lookup_realm = false\n\tdns_lookup_kdc = false\n";

/// The ssh client's configuration inside: the harness passes what a login
/// needs on the command line, so nothing of the host's `ssh_config` applies.
const SSH_CLIENT_CONFIG: &str = "# written by the pag test harness\n";

fn write_pam_d(dir: &Path, stacks: &BTreeMap<String, PamStack>) -> Result<()> {
    let pam_d = dir.join("etc/pam.d");
    mkdir(&pam_d, 0o755)?;
    for (service, stack) in stacks {
        write(&pam_d.join(service), &stack.render(), 0o644)?;
    }
    Ok(())
}

fn write_ssh(dir: &Path, keys: &KeyMaterial) -> Result<()> {
    let ssh = dir.join("etc/ssh");
    mkdir(&ssh, 0o755)?;
    write(&ssh.join("sshd_config"), &sshd_config(), 0o644)?;
    write(&ssh.join("ssh_host_ed25519_key"), &keys.host_key, 0o600)?;
    write(&ssh.join("ssh_host_ed25519_key.pub"), &keys.host_key_pub, 0o644)?;
    write(&ssh.join("ssh_config"), SSH_CLIENT_CONFIG, 0o644)
}

fn write_homes(dir: &Path, users: &[UserRecord], keys: &KeyMaterial) -> Result<()> {
    mkdir(&dir.join("home"), 0o755)?;
    for user in users {
        let home = dir.join("home").join(&user.name);
        mkdir(&home, 0o700)?;
        own(&home, user)?;
        if user.ssh_key {
            let dot_ssh = home.join(".ssh");
            mkdir(&dot_ssh, 0o700)?;
            own(&dot_ssh, user)?;
            let authorized = dot_ssh.join("authorized_keys");
            write(&authorized, &keys.client_key_pub, 0o600)?;
            own(&authorized, user)?;
            // The client runs as root inside the container and reads this copy.
            write(&dir.join(HARNESS_RUN_DIR).join("keys").join(&user.name), &keys.client_key, 0o600)?;
        }
    }
    Ok(())
}

fn write_runtime_dirs(dir: &Path) -> Result<()> {
    mkdir(&dir.join("run"), 0o755)?;
    // sshd's privilege separation directory must be root's and not writable by others.
    mkdir(&dir.join("run/sshd"), 0o755)?;
    mkdir(&dir.join(HARNESS_RUN_DIR), 0o755)?;
    write(&dir.join(HARNESS_RUN_DIR).join("askpass"), &askpass_script(), 0o755)?;
    mkdir(&dir.join("var-log"), 0o755)?;
    mkdir(&dir.join("tmp"), 0o1777)
}

fn write_dev(dir: &Path) -> Result<()> {
    let dev = dir.join("dev");
    mkdir(&dev, 0o755)?;
    for node in DEV_NODES {
        // An empty placeholder for pid 1 to bind the host's node onto.
        write(&dev.join(node), "", 0o644)?;
    }
    mkdir(&dev.join("pts"), 0o755)?;
    mkdir(&dev.join("shm"), 0o1777)?;
    for (name, target) in DEV_LINKS {
        symlink(target, dev.join(name)).map_err(io_context(format!("symlink /dev/{name}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::host_path;
    use std::path::Path;

    #[test]
    fn private_paths_map_into_the_container_dir() {
        let d = Path::new("/tmp/ct");
        assert_eq!(host_path(d, "/etc/pam.d/sshd").unwrap(), Path::new("/tmp/ct/etc/pam.d/sshd"));
        assert_eq!(host_path(d, "/home").unwrap(), Path::new("/tmp/ct/home/"));
        assert_eq!(host_path(d, "/etc/krb5.conf").unwrap(), Path::new("/tmp/ct/etc/krb5.conf"));
        assert_eq!(host_path(d, "/var/log/sshd.log").unwrap(), Path::new("/tmp/ct/var-log/sshd.log"));
        assert!(host_path(d, "/etc/hosts").is_none());
        assert!(host_path(d, "/homeless").is_none());
    }
}
