//! The packages the test containers use but the host never installs
//! (`.ci/unpacked.txt`: sshd, pam_krb5, sudo, and stock copies of Debian's
//! PAM files), unpacked by `scripts/unpack-debs` into one tree. A container
//! sees the tree's `/usr` over the host's (see `container::init`) and takes
//! its stock `/etc` files from the tree, so what a test logs in through is
//! what the packages ship, whatever this host's `/etc` holds.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// The root of the unpacked tree: `$PAG_DEBS_ROOT`, else `target/debs/root`
/// of this workspace (where scripts/unpack-debs puts it).
pub fn root() -> Result<PathBuf, String> {
    let root = match std::env::var_os("PAG_DEBS_ROOT") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debs/root"),
    };
    let root = root.canonicalize().map_err(|e| {
        format!(
            "{}: {e}; run scripts/unpack-debs (scripts/setup does) to unpack the packages of \
             .ci/unpacked.txt for the test containers",
            root.display()
        )
    })?;
    if root.join("usr").is_dir() {
        Ok(root)
    } else {
        Err(format!("{}: no usr/ in it; run scripts/unpack-debs again", root.display()))
    }
}

/// A stock file of the unpacked packages, by its path on a Debian system
/// (for example `/etc/pam.d/sshd`).
pub fn stock_file(path: &str) -> Result<String, String> {
    let file = root()?.join(path.trim_start_matches('/'));
    std::fs::read_to_string(&file)
        .map_err(|e| format!("{}: {e} (is its package in .ci/unpacked.txt?)", file.display()))
}
