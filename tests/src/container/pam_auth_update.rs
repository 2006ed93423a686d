//! Debian's PAM configuration built the way a Debian host gets it: the
//! stock service stacks of the unpacked packages (`crate::debs`) and the
//! `common-*` files written by the real `pam-auth-update` from the profiles
//! in `/usr/share/pam-configs` (the host's installed packages, the unpacked
//! ones, and any a test adds). It runs with `--root` on a staging directory
//! and over a throwaway debconf database, so neither the host's /etc/pam.d,
//! /var/lib/pam nor its debconf answers are read or changed.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use super::error::{io_context, Error, Result};
use super::pam::PamStack;

/// The stock service stacks shipped by the unpacked packages.
const STOCK_SERVICES: &[&str] =
    &["other", "login", "su", "su-l", "runuser", "runuser-l", "sshd", "sudo", "sudo-i"];

/// The profiles of the unpacked packages that containers get (pam_krb5's).
/// An allowlist, not everything in the tree: `.ci/unpacked.txt` also unpacks
/// sssd-kcm for pag-kcm's tests, whose closure ships `sss` (pam_sss) and
/// `pwquality` profiles that would otherwise enter every Debian container's
/// common-* files (and fail its account phase with no sssd running).
pub(crate) const UNPACKED_PROFILES: &[&str] = &["krb5"];

/// What pam-auth-update writes.
const COMMON_FILES: &[&str] =
    &["common-auth", "common-account", "common-password", "common-session", "common-session-noninteractive"];

/// The stacks of a Debian system: stock services plus `common-*` as
/// pam-auth-update makes them with every default profile enabled, plus the
/// profiles in `enable`. `profiles` are (name, text) added to
/// `/usr/share/pam-configs`; `staging` is an empty directory to work in.
/// `unpacked_profiles`: also the [`UNPACKED_PROFILES`] of the unpacked
/// packages (pam_krb5), whose modules exist only inside a container.
pub(crate) fn debian_stacks(
    staging: &Path,
    debs_root: &Path,
    profiles: &[(String, String)],
    enable: &[String],
    unpacked_profiles: bool,
) -> Result<BTreeMap<String, PamStack>> {
    let mut stacks = BTreeMap::new();
    for service in STOCK_SERVICES {
        let file = debs_root.join("etc/pam.d").join(service);
        let text = fs::read_to_string(&file).map_err(io_context(file.display()))?;
        stacks.insert((*service).to_owned(), PamStack::from_text(&text));
    }
    let inputs = staging.join("usr/share/pam-configs");
    for dir in ["etc/pam.d", "var/lib/pam", "usr/share/pam-configs"] {
        fs::create_dir_all(staging.join(dir)).map_err(io_context(staging.join(dir).display()))?;
    }
    let host = Path::new("/usr/share/pam-configs");
    for entry in fs::read_dir(host).map_err(io_context(host.display()))? {
        let entry = entry.map_err(io_context(host.display()))?;
        fs::copy(entry.path(), inputs.join(entry.file_name())).map_err(io_context(entry.path().display()))?;
    }
    if unpacked_profiles {
        let unpacked = debs_root.join("usr/share/pam-configs");
        for name in UNPACKED_PROFILES {
            let profile = unpacked.join(name);
            fs::copy(&profile, inputs.join(name)).map_err(io_context(profile.display()))?;
        }
    }
    for (name, text) in profiles {
        fs::write(inputs.join(name), text).map_err(io_context(inputs.join(name).display()))?;
    }
    run(staging, enable)?;
    for name in COMMON_FILES {
        let file = staging.join("etc/pam.d").join(name);
        let text = fs::read_to_string(&file).map_err(io_context(file.display()))?;
        stacks.insert((*name).to_owned(), PamStack::from_text(&text));
    }
    Ok(stacks)
}

/// `pam-auth-update --root staging --force [--enable ...]` in a private
/// mount namespace whose /var/cache/debconf is an empty tmpfs.
fn run(staging: &Path, enable: &[String]) -> Result<()> {
    let mut script =
        String::from("mount -t tmpfs tmpfs /var/cache/debconf && exec pam-auth-update --root \"$0\" --force");
    if !enable.is_empty() {
        script.push_str(" --enable \"$@\"");
    }
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .arg(staging)
        .args(enable)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(io_context("running pam-auth-update"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "pam-auth-update --root {}: {}: {}",
            staging.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
