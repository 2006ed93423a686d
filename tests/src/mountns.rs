//! A private mount namespace for one test process, so that files the tests
//! need in system places (`/etc/passwd` with test users, a `/dev/log`
//! socket) are bind-mounted there without changing the host.
//!
//! Call [`enter_private`] while the process is still single-threaded (the
//! kernel refuses CLONE_NEWNS to a process that shares its filesystem
//! information with other threads). Needs root (CAP_SYS_ADMIN).

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, DirBuilderExt, FileTypeExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

fn io_error(what: &str, e: nix::errno::Errno) -> io::Error {
    io::Error::new(io::Error::from(e).kind(), format!("{what}: {}", e.desc()))
}

/// Move the calling process into a new mount namespace whose mounts do not
/// propagate back to the host.
pub fn enter_private() -> io::Result<()> {
    unshare(CloneFlags::CLONE_NEWNS)
        .map_err(|e| io_error("unshare(CLONE_NEWNS) (needs root, single thread)", e))?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(|e| io_error("making / private", e))
}

/// Bind-mount `source` onto `target` (both must exist, of the same kind).
pub fn bind(source: &Path, target: &Path) -> io::Result<()> {
    mount(Some(source), target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| io_error(&format!("bind {} on {}", source.display(), target.display()), e))
}

/// Make `/dev` writable in this namespace: a tmpfs over it that holds the
/// same entries (each bind-mounted from the original), so a test can add
/// `/dev/log`.
///
/// The original `/dev` is reached through a directory file descriptor
/// opened before the tmpfs hides it (`/proc/self/fd/N/<entry>`), never
/// through a second mount of it: a bind of the real `/dev` inside a scratch
/// directory would let a recursive delete of that directory unlink the
/// host's device nodes (devtmpfs is one instance kernel-wide).
pub fn writable_dev() -> io::Result<()> {
    let original = fs::File::open("/dev")?;
    let via = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&original)));
    mount(Some("tmpfs"), "/dev", Some("tmpfs"), MsFlags::MS_NOSUID, Some("mode=755"))
        .map_err(|e| io_error("tmpfs on /dev", e))?;
    for entry in fs::read_dir(&via)? {
        let entry = entry?;
        let from = via.join(entry.file_name());
        let to = Path::new("/dev").join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            symlink(fs::read_link(&from)?, &to)?;
            continue;
        }
        if kind.is_dir() {
            fs::DirBuilder::new().mode(0o755).create(&to)?;
        } else if kind.is_socket() {
            continue; // nothing the tests need; a socket is not a bind target
        } else {
            fs::File::create(&to)?;
        }
        bind(&from, &to)?;
    }
    Ok(())
}

/// A user for the test's `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: (name, gid), added to `/etc/group` with the user as member.
    pub groups: Vec<(String, u32)>,
}

/// Add `users` (and a primary group per user, named like the user) to copies
/// of `/etc/passwd` and `/etc/group` in `scratch`, and bind those over the
/// originals in this namespace.
pub fn add_users(scratch: &Path, users: &[TestUser]) -> io::Result<()> {
    let mut passwd = fs::read_to_string("/etc/passwd")?;
    let mut group = fs::read_to_string("/etc/group")?;
    for text in [&mut passwd, &mut group] {
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    for u in users {
        let _ = writeln!(passwd, "{}:x:{}:{}:test user:/:/bin/sh", u.name, u.uid, u.gid);
        let _ = writeln!(group, "{}:x:{}:", u.name, u.gid);
        for (name, gid) in &u.groups {
            let _ = writeln!(group, "{name}:x:{gid}:{}", u.name);
        }
    }
    for (name, text) in [("passwd", passwd), ("group", group)] {
        let copy: PathBuf = scratch.join(name);
        fs::write(&copy, text)?;
        fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
        bind(&copy, &Path::new("/etc").join(name))?;
    }
    Ok(())
}

/// Put `file` at the module's default configuration path,
/// `/etc/security/pam_pag.toml`, in this namespace only: a copy of
/// `/etc/security` with the file added is bound over the original, so a test
/// can run stacks whose pam_pag lines carry no arguments, as shipped.
pub fn pam_pag_toml_at_default(scratch: &Path, file: &Path) -> io::Result<()> {
    let copy = scratch.join("etc-security");
    let status = std::process::Command::new("cp").arg("-a").arg("/etc/security").arg(&copy).status()?;
    if !status.success() {
        return Err(io::Error::other(format!("cp -a /etc/security {}: {status}", copy.display())));
    }
    fs::copy(file, copy.join("pam_pag.toml"))?;
    bind(&copy, Path::new("/etc/security"))
}
