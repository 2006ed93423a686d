//! The bench's container: a real MIT KDC on its loopback (alice and a
//! service), sssd-kcm and pag-kcm on sockets of their own, each selected by
//! a krb5.conf of its own, and a FILE: cache; alice logged in to each (kinit)
//! with the service ticket already cached (kvno once).

use pag_tests::container::{As, Container, User};
use pag_tests::kcm::{self, Daemon, PAG_KCM_SOCKET, SSSD_KCM_SOCKET};
use pag_tests::kdc::Kdc;
use pag_tests::site;

use crate::timing::Backend;

pub const USER: &str = "alice";
pub const PASSWORD: &str = "alice kerberos pw";
/// The service whose ticket kvno finds cached.
pub const SERVICE: &str = "host/kcm.example.org";
/// alice's FILE: cache inside the container.
const FILE_CACHE: &str = "FILE:/tmp/kcm-bench-alice.cc";
/// pag-kcm's state directory, as `kcm::start_pag_kcm` passes it.
pub const PAG_STATE_DIR: &str = "/run/pag-kcm";
/// sssd-kcm's database directory (`kcm::start_sssd_kcm`).
pub const SSSD_STATE_DIR: &str = "/var/lib/sss/secrets";

/// Backend names, as printed.
pub const PAG: &str = "pag-kcm";
pub const SSSD: &str = "sssd-kcm";
pub const FILE: &str = "FILE:";

pub struct Site {
    pub ct: Container,
    kdc: Option<Kdc>,
    daemons: Vec<Daemon>,
    pub backends: Vec<Backend>,
}

/// sssd.conf as `kcm::with_sssd_kcm` writes it, with sssd-kcm's bound on
/// caches (all users together, default 1000) raised above the memory
/// fill's `logins`.
fn sssd_conf(logins: usize) -> String {
    format!("[sssd]\nservices =\n\n[kcm]\nsocket_path = {SSSD_KCM_SOCKET}\nmax_ccaches = {}\n", logins + 100)
}

/// The pid a daemon started by `pag_tests::kcm` recorded (its pid file is
/// `/run/<name>.pid`, written by the shell that then execs the daemon).
fn daemon_pid(ct: &Container, name: &str) -> Result<u32, String> {
    let out = ct.exec(&As::Root, &["cat", &format!("/run/{name}.pid")]).map_err(|e| e.to_string())?;
    out.stdout_trimmed().parse().map_err(|e| format!("pid of {name}: {e}: {out:?}"))
}

impl Site {
    pub fn start(logins: usize) -> Result<Site, String> {
        let builder = Container::builder().user(User::new(USER));
        let ct = kcm::with_sssd_kcm(builder, SSSD_KCM_SOCKET).start().map_err(|e| e.to_string())?;
        let mut site = Site { ct, kdc: None, daemons: Vec::new(), backends: Vec::new() };
        site.set_up(logins)?;
        Ok(site)
    }

    fn set_up(&mut self, logins: usize) -> Result<(), String> {
        let kdc = site::start_kdc(&self.ct).map_err(|e| e.to_string())?;
        site::add_user(&kdc, USER, PASSWORD).map_err(|e| e.to_string())?;
        kdc.add_random_principal(SERVICE).map_err(|e| format!("KDC: {e}"))?;
        self.kdc = Some(kdc);

        let out = self
            .ct
            .exec_with_input(&As::Root, &["sh", "-c", "cat > /etc/sssd/sssd.conf"], &sssd_conf(logins))
            .map_err(|e| e.to_string())?;
        out.assert_success();
        // pag-kcm's state directory on a tmpfs, as systemd's RuntimeDirectory is (the container's
        // /run is a directory on the host's disk).
        let out = self
            .ct
            .sh(
                &As::Root,
                &format!(
                    "install -d -m 0700 {PAG_STATE_DIR} && mount -t tmpfs -o mode=0700 tmpfs {PAG_STATE_DIR}"
                ),
            )
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("tmpfs for {PAG_STATE_DIR}: {out:?}"));
        }
        self.daemons.push(kcm::start_sssd_kcm(&self.ct, SSSD_KCM_SOCKET).map_err(|e| e.to_string())?);
        self.daemons.push(kcm::start_pag_kcm(&self.ct, PAG_KCM_SOCKET, &[]).map_err(|e| e.to_string())?);

        let conf = |name: &str, socket: &str| kcm::write_client_conf(&self.ct, name, socket);
        let pag_conf = conf("pag", PAG_KCM_SOCKET).map_err(|e| e.to_string())?;
        let sssd_conf = conf("sssd", SSSD_KCM_SOCKET).map_err(|e| e.to_string())?;
        self.backends = vec![
            Backend {
                name: PAG.into(),
                krb5_config: pag_conf,
                ccname: None,
                daemon_pid: Some(daemon_pid(&self.ct, "pag-kcm")?),
            },
            Backend {
                name: SSSD.into(),
                krb5_config: sssd_conf,
                ccname: None,
                daemon_pid: Some(daemon_pid(&self.ct, "sssd-kcm")?),
            },
            Backend {
                name: FILE.into(),
                krb5_config: "/etc/krb5.conf".into(),
                ccname: Some(FILE_CACHE.into()),
                daemon_pid: None,
            },
        ];
        for backend in &self.backends {
            self.log_in(backend)?;
        }
        Ok(())
    }

    /// kinit alice and kvno the service once, against `backend`; klist
    /// must then show the service ticket.
    fn log_in(&self, backend: &Backend) -> Result<(), String> {
        let mut script = format!("export KRB5_CONFIG={}\n", backend.krb5_config);
        if let Some(cc) = &backend.ccname {
            script.push_str(&format!("export KRB5CCNAME={cc}\n"));
        }
        script.push_str(&format!("echo '{PASSWORD}' | kinit {USER} >/dev/null && kvno {SERVICE} && klist\n"));
        let out = self.ct.sh(&As::User(USER.into()), &script).map_err(|e| e.to_string())?;
        if !out.status.success() || !out.stdout.contains(&format!("{SERVICE}@")) {
            return Err(format!("logging in to {} (kinit, kvno, klist): {out:?}", backend.name));
        }
        Ok(())
    }

    pub fn backend(&self, name: &str) -> &Backend {
        self.backends.iter().find(|b| b.name == name).expect("a backend of the site")
    }

    /// TGS requests for [`SERVICE`] the KDC has logged so far.
    pub fn service_tgs_requests(&self) -> usize {
        let log = self.kdc.as_ref().map(Kdc::log).unwrap_or_default();
        log.lines().filter(|l| l.contains("TGS_REQ") && l.contains(&format!("for {SERVICE}@"))).count()
    }

    pub fn teardown(mut self) -> Result<(), String> {
        for daemon in self.daemons.drain(..) {
            daemon.stop(&self.ct).map_err(|e| e.to_string())?;
        }
        drop(self.kdc.take()); // it runs in the container's network namespace
        self.ct.teardown().map_err(|e| e.to_string())?;
        Ok(())
    }
}
