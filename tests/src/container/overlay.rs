//! Writable overlays (pid 1's side of [`super::ContainerBuilder::writable_overlay`]):
//! a host directory as the lower layer, the container's changes in its own
//! upper directory, so a test can install a package with dpkg inside and the
//! host's `/usr`, `/etc` or `/var` never change. They go on after the
//! read-only `/usr` layer of the unpacked packages (an overlay over that
//! overlay for `/usr`) and before the private binds, which stay on top.

use std::path::Path;

use nix::mount::{mount, MsFlags};

use super::layout::{overlay_dirs, OVERLAYS_FILE};

/// Mount every overlay the container directory lists.
pub(crate) fn mount_writable(dir: &Path) -> Result<(), String> {
    let list = dir.join(OVERLAYS_FILE);
    let text = std::fs::read_to_string(&list).map_err(|e| format!("{}: {e}", list.display()))?;
    for (index, target) in text.lines().filter(|l| !l.is_empty()).enumerate() {
        let (upper, work) = overlay_dirs(index);
        let (upper, work) = (dir.join(upper), dir.join(work));
        let options = format!("lowerdir={target},upperdir={},workdir={}", upper.display(), work.display());
        // No nosuid: sudo (setuid root) lives in /usr.
        mount(Some("overlay"), target, Some("overlay"), MsFlags::empty(), Some(options.as_str()))
            .map_err(|e| format!("mount overlay ({options}) on {target}: {e}"))?;
    }
    Ok(())
}
