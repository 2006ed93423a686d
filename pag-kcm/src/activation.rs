//! The listening socket: the one systemd passes (socket activation), or
//! one bound at `--socket`.

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use nix::sys::socket::{getsockopt, sockopt};
use nix::sys::stat::{fstat, SFlag};

/// Where the socket came from (for the start message).
pub enum Source {
    Systemd,
    Bound,
}

/// The socket systemd passed, if it passed exactly one to this process.
pub fn from_systemd() -> Result<Option<UnixListener>, String> {
    let ours = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<i32>().ok())
        == Some(std::process::id() as i32);
    let count = std::env::var("LISTEN_FDS").ok();
    // Not for our children (there are none) nor for a later exec.
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    if !ours {
        return Ok(None);
    }
    if count.as_deref() != Some("1") {
        return Err(format!(
            "systemd passed {} sockets; pag-kcm takes exactly one",
            count.unwrap_or_default()
        ));
    }
    let stat = fstat(crate::sys::LISTEN_FDS_START).map_err(|e| format!("descriptor 3 from systemd: {e}"))?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFSOCK {
        return Err("descriptor 3 from systemd is not a socket".into());
    }
    let fd = crate::sys::adopt_listen_fd();
    if !getsockopt(&fd, sockopt::AcceptConn).unwrap_or(false) {
        return Err(
            "descriptor 3 from systemd is not a listening socket (ListenStream= in the .socket unit)".into(),
        );
    }
    let listener = UnixListener::from(fd);
    listener.set_nonblocking(true).map_err(|e| format!("descriptor 3 from systemd: {e}"))?;
    Ok(Some(listener))
}

/// Bind `path` for everyone to connect (0666: every user's Kerberos
/// library connects; who they are is the kernel's answer, not the path's).
/// A socket file nobody answers on is left over from a stopped daemon and
/// replaced; one that answers belongs to a running daemon and is not.
pub fn bind(path: &Path) -> Result<UnixListener, String> {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => {
                return Err(format!(
                    "{shown}: a KCM daemon already answers there (sssd-kcm? another pag-kcm?)"
                ))
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path).map_err(|e| format!("{shown}: removing the stale socket: {e}"))?
            }
            Err(e) => return Err(format!("{shown}: {e}")),
        },
        Ok(_) => return Err(format!("{shown}: exists and is not a socket; not replacing it")),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{shown}: {e}")),
    }
    let listener = UnixListener::bind(path).map_err(|e| format!("{shown}: binding: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| format!("{shown}: chmod 0666: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| format!("{shown}: {e}"))?;
    Ok(listener)
}
