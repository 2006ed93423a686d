//! A real OpenSSH sshd on 127.0.0.1:22 of the container's network namespace,
//! with its own host key and configuration. The client side is `ssh_client`.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use super::error::{io_context, Error, Result};

/// The sshd log inside the container (`-E`).
pub(crate) const SSHD_LOG_INSIDE: &str = "/var/log/sshd.log";

/// Keys generated once per test process (ssh-keygen costs more than the
/// whole rest of a container start) and copied into each container.
pub(crate) struct KeyMaterial {
    pub(crate) host_key: String,
    pub(crate) host_key_pub: String,
    pub(crate) client_key: String,
    pub(crate) client_key_pub: String,
}

fn keygen(dir: &Path, name: &str) -> Result<(String, String)> {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .map_err(io_context("ssh-keygen"))?;
    if !out.status.success() {
        return Err(Error::new(format!("ssh-keygen: {}", String::from_utf8_lossy(&out.stderr))));
    }
    let read = |p: &Path| std::fs::read_to_string(p).map_err(io_context(p.display()));
    Ok((read(&path)?, read(&path.with_extension("pub"))?))
}

fn generate() -> Result<KeyMaterial> {
    let dir = std::env::temp_dir().join(format!("pag-test-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(io_context(dir.display()))?;
    let host = keygen(&dir, "host");
    let client = keygen(&dir, "client");
    // The keys now live in memory; the directory is not needed any more.
    let _ = std::fs::remove_dir_all(&dir);
    let ((host_key, host_key_pub), (client_key, client_key_pub)) = (host?, client?);
    Ok(KeyMaterial { host_key, host_key_pub, client_key, client_key_pub })
}

/// The process-wide keys.
pub(crate) fn key_material() -> Result<&'static KeyMaterial> {
    static KEYS: OnceLock<std::result::Result<KeyMaterial, String>> = OnceLock::new();
    KEYS.get_or_init(|| generate().map_err(|e| e.to_string())).as_ref().map_err(|e| Error::new(e.clone()))
}

/// sshd_config: loopback only, PAM for accounts and sessions, password,
/// public key and GSSAPI authentication, room for hundreds of concurrent
/// logins. GSSAPI (`ssh -K`, the usual login at AFS sites) works only where
/// a test gives sshd a keytab with `host/<hostname>`; sshd then stores the
/// delegated tickets in a cache of the user's, names it in the PAM
/// environment (KRB5CCNAME) and removes it at logout.
pub(crate) fn sshd_config() -> String {
    "# written by the pag test harness\n\
     ListenAddress 127.0.0.1\n\
     Port 22\n\
     HostKey /etc/ssh/ssh_host_ed25519_key\n\
     PidFile /run/sshd.pid\n\
     UsePAM yes\n\
     PasswordAuthentication yes\n\
     KbdInteractiveAuthentication no\n\
     PubkeyAuthentication yes\n\
     GSSAPIAuthentication yes\n\
     GSSAPICleanupCredentials yes\n\
     AuthorizedKeysFile .ssh/authorized_keys\n\
     PermitRootLogin no\n\
     UseDNS no\n\
     PrintMotd no\n\
     PrintLastLog no\n\
     LogLevel VERBOSE\n\
     MaxStartups 1000\n\
     MaxSessions 1000\n\
     LoginGraceTime 60\n"
        .to_owned()
}
