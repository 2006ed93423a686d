//! Pid 1 of a test container.
//!
//! The harness starts `unshare --mount --pid --net --uts --ipc --fork
//! --kill-child --propagation private -- pag-container-init DIR HOSTNAME`,
//! so this code runs as pid 1 of fresh namespaces with a private copy of the
//! host's mount table. It bind-mounts the container directory's private
//! files over the host's (see `layout`), mounts a `/proc` of the new pid
//! namespace, brings up loopback, sets the host name, prints
//! `ready <pid as seen on the host>`, and then reaps orphans until its
//! standard input reaches end of file. The test process holds the only
//! writer of that pipe, so when the test process ends, however it ends,
//! pid 1 exits and the kernel kills every process of the namespace.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::{sethostname, Pid};

use super::layout::{
    DEVPTS_OPTIONS, DEV_NODES, DIR_BINDS, FILE_BINDS, READY_PREFIX, SHARES_FILE, USR_LAYER_FILE,
};
use super::rootfs;

/// Set up the container and serve as its pid 1. Returns only on a setup
/// error; afterwards the process exits when its standard input closes.
pub fn run(dir: &Path, hostname: &str) -> Result<std::convert::Infallible, String> {
    // Before /proc is replaced, /proc/self still names us by our pid in the
    // host's pid namespace: the harness needs it to enter the namespaces.
    let host_pid = host_pid()?;
    // First, while the tree's path (which may lie under /tmp) is still visible.
    mount_usr_layer(dir)?;
    super::overlay::mount_writable(dir)?;
    mount_private_files(dir)?;
    mount_proc()?;
    loopback_up()?;
    sethostname(hostname).map_err(|e| format!("sethostname {hostname}: {e}"))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{READY_PREFIX}{host_pid}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot report readiness: {e}"))?;
    drop(stdout);
    std::thread::spawn(exit_when_stdin_closes);
    reap_forever()
}

fn host_pid() -> Result<u32, String> {
    let link = std::fs::read_link("/proc/self").map_err(|e| format!("readlink /proc/self: {e}"))?;
    link.to_string_lossy().parse().map_err(|e| format!("/proc/self -> {link:?}: {e}"))
}

fn bind(source: &Path, target: &Path, flags: MsFlags) -> Result<(), String> {
    mount(Some(source), target, None::<&str>, MsFlags::MS_BIND | flags, None::<&str>)
        .map_err(|e| format!("bind mount {} on {}: {e}", source.display(), target.display()))
}

/// Lay the unpacked packages' `usr/` over the host's `/usr`: a read-only
/// overlay (lower layers only), so sshd, pam_krb5.so and sudo are there
/// inside although the host never installed them. No `nosuid`: sudo is
/// setuid root.
fn mount_usr_layer(dir: &Path) -> Result<(), String> {
    let file = dir.join(USR_LAYER_FILE);
    let tree = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let upper = Path::new(tree.trim_end()).join("usr");
    let upper = upper.to_str().filter(|p| !p.contains([':', ',', '\\']));
    let upper =
        upper.ok_or_else(|| format!("{}: the tree's path cannot be an overlay layer", file.display()))?;
    let options = format!("lowerdir={upper}:/usr");
    mount(Some("overlay"), "/usr", Some("overlay"), MsFlags::MS_RDONLY, Some(options.as_str()))
        .map_err(|e| format!("mount overlay ({options}) on /usr: {e}"))
}

fn mount_private_files(dir: &Path) -> Result<(), String> {
    let dev = dir.join("dev");
    for node in DEV_NODES {
        bind(&Path::new("/dev").join(node), &dev.join(node), MsFlags::empty())?;
    }
    mount(
        Some("devpts"),
        &dev.join("pts"),
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(DEVPTS_OPTIONS),
    )
    .map_err(|e| format!("mount devpts ({DEVPTS_OPTIONS}) on {}/pts: {e}", dev.display()))?;
    mount(
        Some("tmpfs"),
        &dev.join("shm"),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )
    .map_err(|e| format!("mount tmpfs on {}/shm: {e}", dev.display()))?;
    // Shared host directories go onto placeholders in the private trees
    // before those cover the host's paths (after that the source is hidden).
    let list = dir.join(SHARES_FILE);
    let shared = std::fs::read_to_string(&list).map_err(|e| format!("{}: {e}", list.display()))?;
    for host_dir in shared.lines().filter(|l| !l.is_empty()) {
        if let Some(placeholder) = rootfs::host_path(dir, host_dir) {
            bind(Path::new(host_dir), &placeholder, MsFlags::MS_REC)?;
        }
    }
    for (inside_dir, target) in FILE_BINDS {
        bind(&dir.join(inside_dir), Path::new(target), MsFlags::empty())?;
    }
    for (inside_dir, target) in DIR_BINDS {
        // MS_REC carries the device binds and devpts made above along with /dev.
        bind(&dir.join(inside_dir), Path::new(target), MsFlags::MS_REC)?;
    }
    Ok(())
}

fn mount_proc() -> Result<(), String> {
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| format!("mount /proc: {e}"))
}

fn loopback_up() -> Result<(), String> {
    let status = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .map_err(|e| format!("ip link set lo up: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("ip link set lo up: {status}"))
    }
}

fn exit_when_stdin_closes() {
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin().lock();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    std::process::exit(0);
}

/// Orphans of the namespace (daemonised sshd, `setsid -f` jobs) are
/// re-parented to pid 1; without this they would stay zombies and look alive.
fn reap_forever() -> ! {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::__WALL)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Parse the ready line printed by [`run`]; `None` if it is something else
/// (pid 1 then printed an error instead).
pub(crate) fn parse_ready_line(line: &str) -> Option<u32> {
    line.trim_end().strip_prefix(READY_PREFIX)?.parse().ok()
}

/// Read pid 1's ready line from `reader`.
pub(crate) fn read_ready_line(reader: &mut impl BufRead) -> Result<u32, String> {
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| format!("reading the container's ready line: {e}"))?;
    parse_ready_line(&line).ok_or_else(|| format!("container did not become ready (pid 1 said {line:?})"))
}

/// The `unshare` options that make a container's namespaces: new mount,
/// pid, net, uts and ipc namespaces, the program as pid 1 of the new pid
/// namespace (killed when unshare dies), and a private mount propagation so
/// no mount leaks to the host.
pub const UNSHARE_OPTIONS: &[&str] =
    &["--mount", "--pid", "--net", "--uts", "--ipc", "--fork", "--kill-child", "--propagation", "private"];

/// The command line of pid 1, as `(program, arguments)`.
pub(crate) fn command_line(init_binary: &Path, dir: &Path, hostname: &str) -> (PathBuf, Vec<String>) {
    let args = UNSHARE_OPTIONS
        .iter()
        .chain(&["--"])
        .map(|s| (*s).to_owned())
        .chain([init_binary.display().to_string(), dir.display().to_string(), hostname.to_owned()])
        .collect();
    (PathBuf::from("unshare"), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_line_round_trip() {
        assert_eq!(parse_ready_line("ready 4242\n"), Some(4242));
        assert_eq!(parse_ready_line("bind mount failed"), None);
        assert_eq!(parse_ready_line("ready x"), None);
    }
}
