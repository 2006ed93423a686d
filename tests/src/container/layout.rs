//! Where the container's private files live on the host and where pid 1
//! mounts them inside: one table shared by the host-side preparation
//! (`rootfs`) and the container's pid 1 (`init`), so the two never disagree.

/// Files of the host's `/etc` replaced by private copies (path inside the
/// container directory, mount target). The targets must exist on the host;
/// a bind mount needs something to cover.
pub(crate) const FILE_BINDS: &[(&str, &str)] = &[
    ("etc/passwd", "/etc/passwd"),
    ("etc/group", "/etc/group"),
    ("etc/shadow", "/etc/shadow"),
    ("etc/gshadow", "/etc/gshadow"),
    ("etc/krb5.conf", "/etc/krb5.conf"),
];

/// Directories replaced by private ones. `/tmp` must stay last: the
/// container directory itself lives under the host's `/tmp`, so binding
/// anything after it would no longer find its source.
pub(crate) const DIR_BINDS: &[(&str, &str)] = &[
    ("etc/pam.d", "/etc/pam.d"),
    ("etc/ssh", "/etc/ssh"),
    ("etc/security", "/etc/security"),
    // pam-auth-update's record of what it wrote into common-*: the one that
    // matches the container's own common-* files (see `rootfs`).
    ("var-lib-pam", "/var/lib/pam"),
    ("home", "/home"),
    ("run", "/run"),
    ("var-log", "/var/log"),
    ("dev", "/dev"),
    ("tmp", "/tmp"),
];

/// Device nodes of the host made visible in the private `/dev` (each is
/// bound onto an empty placeholder file). Not `ptmx`: the kernel finds the
/// devpts instance of a `ptmx` device node at `pts` next to it, which a
/// bind-mounted node has not (its parent lies outside the bind), so
/// openpty(3) inside failed with ENOENT. `/dev/pts` is a devpts instance of
/// the container's own ([`DEVPTS_OPTIONS`]) and `/dev/ptmx` links to its
/// `ptmx`, as in any container runtime.
pub(crate) const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Mount options of the container's devpts: a new instance, so its ptys are
/// the container's alone (numbered from 0, invisible on the host); `ptmx`
/// usable by everyone (sshd opens it as root, but `script` or `tmux` run by
/// a user as well); terminals of group tty (5), mode 620, as Debian mounts
/// them, so `write`/`mesg` and login's chown behave as on a real host.
pub(crate) const DEVPTS_OPTIONS: &str = "newinstance,ptmxmode=0666,mode=620,gid=5";

/// Symbolic links every Linux `/dev` has (bash process substitution uses
/// `/dev/fd`), and `/dev/ptmx` to the private devpts's multiplexer.
pub(crate) const DEV_LINKS: &[(&str, &str)] = &[
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// Directory (inside the container directory, below `run/`) for harness
/// files: the askpass helper and client keys. Inside it is `/run/pag-test`.
pub(crate) const HARNESS_RUN_DIR: &str = "run/pag-test";
/// The same directory as seen inside the container.
pub(crate) const HARNESS_RUN_DIR_INSIDE: &str = "/run/pag-test";

/// The line pid 1 prints when the container is ready: `ready <host pid>`.
pub(crate) const READY_PREFIX: &str = "ready ";

/// File in the container directory listing host directories to make
/// visible inside at the same path (one absolute path a line).
pub(crate) const SHARES_FILE: &str = "shared-dirs";

/// File in the container directory naming the unpacked package tree
/// (`crate::debs`) whose `usr/` pid 1 lays over the host's `/usr`.
pub(crate) const USR_LAYER_FILE: &str = "usr-layer";

/// File in the container directory listing the host directories that get a
/// writable overlay (one absolute path a line): the host's tree below, the
/// container's changes in `overlay/<n>/upper`. For installing packages.
pub(crate) const OVERLAYS_FILE: &str = "writable-overlays";

/// The upper and work directories (inside the container directory) of the
/// `index`th writable overlay.
pub(crate) fn overlay_dirs(index: usize) -> (String, String) {
    (format!("overlay/{index}/upper"), format!("overlay/{index}/work"))
}
