//! KCM credential-cache daemons in a test container: sssd-kcm (Debian's,
//! unpacked, never installed on the host), the anchor pag-kcm is compared
//! with, and the built `pag-kcm`. Each listens on its own socket in the
//! container's private `/run`; a client picks one with `KRB5_CONFIG`
//! pointing at a krb5.conf whose `[libdefaults]` say `default_ccache_name =
//! KCM:` and `kcm_socket = <socket>` ([`write_client_conf`]).
//!
//! sssd-kcm keeps its state in `/var/lib/sss` and writes `/var/log/sssd`;
//! [`with_sssd_kcm`] gives the container writable overlays of `/etc` and
//! `/var/lib` (the host has neither `/etc/sssd` nor `/var/lib/sss`, and a
//! bind mount needs an existing target), so both stay the container's own.

#![forbid(unsafe_code)]

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::container::Result;
use crate::container::{
    built_binary, shell_quote, As, Background, Container, ContainerBuilder, Error, Output,
};

/// MIT's default `kcm_socket` (`/var/run` is `/run`), where pag-kcm listens
/// by default and an unconfigured client looks.
pub const MIT_KCM_SOCKET: &str = "/run/.heim_org.h5l.kcm-socket";
/// sssd-kcm's socket in the tests (the unit's default is MIT's path, which
/// pag-kcm's tests use).
pub const SSSD_KCM_SOCKET: &str = "/run/sssd-kcm.socket";
/// pag-kcm's socket in the side-by-side tests.
pub const PAG_KCM_SOCKET: &str = "/run/pag-kcm.socket";

/// How long a daemon may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// sssd.conf: no sssd services (nothing but the kcm responder is run), and
/// the kcm responder's socket. sssd refuses a file not 0600 root.
fn sssd_conf(socket: &str) -> String {
    format!("[sssd]\nservices =\n\n[kcm]\nsocket_path = {socket}\n")
}

/// What a container needs to run sssd-kcm on `socket` ([`start_sssd_kcm`]):
/// writable overlays of `/etc` (for `/etc/sssd/sssd.conf`) and `/var/lib`
/// (for `/var/lib/sss`), and the configuration file.
pub fn with_sssd_kcm(builder: ContainerBuilder, socket: &str) -> ContainerBuilder {
    builder.writable_overlay("/etc").writable_overlay("/var/lib").file(
        "/etc/sssd/sssd.conf",
        &sssd_conf(socket),
        0o600,
    )
}

/// A KCM daemon running in the background of a container, its stderr
/// appended to `/run/<name>.log` (readable while it runs, and across
/// restarts).
pub struct Daemon {
    name: &'static str,
    socket: String,
    pid_file: String,
    log_file: String,
    process: Option<Background>,
}

impl Daemon {
    /// The socket it listens on, inside the container.
    pub fn socket(&self) -> &str {
        &self.socket
    }

    /// Everything daemons of this name printed on stderr so far.
    pub fn log(&self, ct: &Container) -> String {
        ct.host_path(&self.log_file).and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default()
    }

    /// Stop it with SIGTERM and return what it printed (its exit status is
    /// the signal's or its own; stderr is [`Daemon::log`]).
    pub fn stop(mut self, ct: &Container) -> Result<Output> {
        let process = self.process.take().ok_or_else(|| Error::new("daemon already stopped"))?;
        ct.sh(&As::Root, &format!("kill -TERM \"$(cat {})\"", shell_quote(&self.pid_file)))?;
        let mut out = process.wait(Duration::from_secs(5))?;
        out.stderr = self.log(ct);
        Ok(out)
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(Background::is_running)
    }
}

/// Start `script` (which must `exec` the daemon) as root in the background,
/// recording its pid in `pid_file`, and wait until `socket` accepts.
fn start(ct: &Container, name: &'static str, socket: &str, script: &str) -> Result<Daemon> {
    let pid_file = format!("/run/{name}.pid");
    let log_file = format!("/run/{name}.log");
    let script =
        format!("echo $$ > {}; exec 2>>{}; {script}", shell_quote(&pid_file), shell_quote(&log_file));
    let process = ct.sh_background(&As::Root, &script)?;
    let mut daemon = Daemon { name, socket: socket.to_owned(), pid_file, log_file, process: Some(process) };
    let host_socket = ct
        .host_path(socket)
        .ok_or_else(|| Error::new(format!("{socket} is not in a private tree of the container")))?;
    wait_until_accepting(ct, &mut daemon, &host_socket)?;
    Ok(daemon)
}

/// Connect to the socket (from the host, through its path in the container
/// directory) until it accepts; fail with the daemon's output if it ends.
fn wait_until_accepting(ct: &Container, daemon: &mut Daemon, host_socket: &PathBuf) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if UnixStream::connect(host_socket).is_ok() {
            return Ok(());
        }
        if !daemon.is_running() {
            let out = daemon.process.take().map(|p| p.wait(Duration::from_secs(1))).transpose()?;
            return Err(Error::new(format!(
                "{} ended before it accepted on {}: {out:?}\n{}",
                daemon.name,
                daemon.socket,
                daemon.log(ct)
            )));
        }
        if Instant::now() >= deadline {
            let out = daemon.process.take().map(|p| p.wait(Duration::ZERO)).transpose()?;
            return Err(Error::new(format!(
                "{} did not accept on {} within {START_TIMEOUT:?}: {out:?}\n{}",
                daemon.name,
                daemon.socket,
                daemon.log(ct)
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Start sssd-kcm in a container made with [`with_sssd_kcm`]: its state
/// directories as the package makes them (root's, 0700 for the databases),
/// the configuration database from sssd.conf (`sssd --genconf-section=kcm`,
/// as the unit's ExecStartPre), then the responder in the foreground as the
/// unit runs it, logging to stderr. No systemd: it binds `socket_path`
/// itself. Returns once the socket accepts.
pub fn start_sssd_kcm(ct: &Container, socket: &str) -> Result<Daemon> {
    let setup = "install -d -m 0755 /var/lib/sss /var/lib/sss/pubconf /var/log/sssd && \
                 install -d -m 0700 /var/lib/sss/db /var/lib/sss/secrets && \
                 /usr/sbin/sssd --genconf-section=kcm --logger=stderr";
    let out = ct.sh(&As::Root, setup)?;
    if !out.status.success() {
        return Err(Error::new(format!("preparing sssd-kcm: {out:?}")));
    }
    start(ct, "sssd-kcm", socket, "exec /usr/libexec/sssd/sssd_kcm --uid 0 --gid 0 --logger=stderr")
}

/// Start the built `pag-kcm` (`cargo build --workspace`) as root on
/// `socket`, with a state directory of its own and a 1 s liveness sweep,
/// plus `extra_args`. Returns once the socket accepts.
pub fn start_pag_kcm(ct: &Container, socket: &str, extra_args: &[&str]) -> Result<Daemon> {
    let binary = built_binary("pag-kcm")?;
    let mut argv = vec![
        binary.display().to_string(),
        "--socket".into(),
        socket.into(),
        "--state-dir".into(),
        "/run/pag-kcm".into(),
        "--gc-interval".into(),
        "1".into(),
    ];
    argv.extend(extra_args.iter().map(|a| (*a).to_owned()));
    let words: Vec<String> = argv.iter().map(|w| shell_quote(w)).collect();
    start(ct, "pag-kcm", socket, &format!("exec {}", words.join(" ")))
}

/// `base` (a krb5.conf) with `default_ccache_name = KCM:` and `kcm_socket =
/// socket` added to its `[libdefaults]` (a section of that name is added
/// first if it has none).
pub fn client_conf(base: &str, socket: &str) -> String {
    let lines = format!("    default_ccache_name = KCM:\n    kcm_socket = {socket}\n");
    match base.find("[libdefaults]") {
        Some(at) => {
            let end = base[at..].find('\n').map_or(base.len(), |n| at + n + 1);
            let mut text = base[..end].to_owned();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&lines);
            text.push_str(&base[end..]);
            text
        }
        None => format!("[libdefaults]\n{lines}{base}"),
    }
}

/// Write `/run/krb5-<name>.conf` inside the container: the container's
/// `/etc/krb5.conf` (the site's realm, see `site::start_kdc`) selecting the
/// KCM daemon on `socket`. Returns its path inside, for `KRB5_CONFIG`.
pub fn write_client_conf(ct: &Container, name: &str, socket: &str) -> Result<String> {
    let etc = ct.host_path("/etc/krb5.conf").ok_or_else(|| Error::new("/etc/krb5.conf is not private"))?;
    let base = std::fs::read_to_string(&etc).map_err(|e| Error::new(format!("{}: {e}", etc.display())))?;
    let inside = format!("/run/krb5-{name}.conf");
    ct.write_file(&inside, &client_conf(&base, socket), 0o644)?;
    Ok(inside)
}

#[cfg(test)]
mod tests {
    use super::client_conf;

    #[test]
    fn the_kcm_lines_go_into_libdefaults() {
        let base = "[libdefaults]\n    default_realm = X\n\n[realms]\n";
        assert_eq!(
            client_conf(base, "/run/s"),
            "[libdefaults]\n    default_ccache_name = KCM:\n    kcm_socket = /run/s\n    default_realm = X\n\n[realms]\n"
        );
        assert_eq!(
            client_conf("[realms]\n", "/run/s"),
            "[libdefaults]\n    default_ccache_name = KCM:\n    kcm_socket = /run/s\n[realms]\n"
        );
    }
}
