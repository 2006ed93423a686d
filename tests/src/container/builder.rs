//! [`ContainerBuilder`]: a container described the way a scenario reads —
//! users, PAM stacks, services — then started.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::error::{io_context, Error, Result};
use super::init;
use super::pam::{default_stacks, PamStack};
use super::pam_auth_update;
use super::rootfs::{self, RootSpec};
use super::sshd::key_material;
use super::uids;
use super::users::{User, UserRecord};
use super::{built_binary, Container};

/// Describes a container; [`ContainerBuilder::start`] makes it.
#[derive(Clone, Debug, Default)]
pub struct ContainerBuilder {
    users: Vec<User>,
    stacks: BTreeMap<String, PamStack>,
    debian_pam: bool,
    check_root_keys: bool,
    pam_profiles: Vec<(String, String)>,
    enabled_profiles: Vec<String>,
    krb5_conf: Option<String>,
    files: Vec<(String, String, u32)>,
    sshd: bool,
    sshd_wrapper: Vec<String>,
    shared_dirs: Vec<PathBuf>,
    hostname: Option<String>,
    init_binary: Option<PathBuf>,
    overlays: Vec<String>,
}

impl ContainerBuilder {
    /// Add a user.
    pub fn user(mut self, user: User) -> Self {
        self.users.push(user);
        self
    }

    /// Install `stack` as `/etc/pam.d/<service>`. Services not set get
    /// pam_unix stacks (sshd, login, su, su-l) and `other` denies.
    pub fn pam(mut self, service: &str, stack: PamStack) -> Self {
        self.stacks.insert(service.to_owned(), stack);
        self
    }

    /// Start `/etc/pam.d` as a Debian system has it instead of the
    /// harness's pam_unix defaults: the packages' stock service stacks
    /// (login, su, su-l, runuser, sshd, sudo, other) and `common-*` written
    /// by the real pam-auth-update from the installed and unpacked profiles
    /// (pam_unix, pam_krb5, ...). Never the host's own files. Stacks set with
    /// [`ContainerBuilder::pam`] still replace files of it. For testing
    /// shipped stacks that `@include` the system's.
    pub fn debian_pam(mut self) -> Self {
        self.debian_pam = true;
        self
    }

    /// At teardown, also check that root owns no more live keys than when
    /// the container started (revoked keys awaiting the collector aside):
    /// nothing a login made for root outlived it. The count is global, so
    /// such a container waits for every other container of the test process
    /// to end and runs alone.
    pub fn check_root_keys(mut self) -> Self {
        self.check_root_keys = true;
        self
    }

    /// Add a pam-auth-update profile `/usr/share/pam-configs/<name>` for
    /// [`ContainerBuilder::debian_pam`] (enabled if its `Default` is yes).
    pub fn pam_profile(mut self, name: &str, text: &str) -> Self {
        self.pam_profiles.push((name.to_owned(), text.to_owned()));
        self
    }

    /// Have pam-auth-update enable the profile `name` (`--enable`), as an
    /// administrator would for a profile whose `Default` is no.
    pub fn enable_profile(mut self, name: &str) -> Self {
        self.enabled_profiles.push(name.to_owned());
        self
    }

    /// Use this `/etc/krb5.conf` (default: a private copy of the host's).
    pub fn krb5_conf(mut self, text: &str) -> Self {
        self.krb5_conf = Some(text.to_owned());
        self
    }

    /// Write a file at `path` inside the container before it starts. Only
    /// the private trees can be written (`/etc/pam.d`, `/etc/ssh`, `/home`,
    /// `/run`, `/tmp`, `/var/log`, `/var/lib/pam` and the replaced `/etc`
    /// files), and anything below a [`ContainerBuilder::writable_overlay`].
    pub fn file(mut self, path: &str, text: &str, mode: u32) -> Self {
        self.files.push((path.to_owned(), text.to_owned(), mode));
        self
    }

    /// Give the container a writable overlay of the host directory `dir`
    /// (`/usr`, `/etc`, `/var`, ...): the host's files below, the
    /// container's changes kept apart and dropped with it. For installing a
    /// package with dpkg inside (`/usr`, `/etc`, `/var` for its database,
    /// debconf's and pam-auth-update's state). [`ContainerBuilder::file`]
    /// can then write below `dir` too.
    pub fn writable_overlay(mut self, dir: &str) -> Self {
        self.overlays.push(dir.to_owned());
        self
    }

    /// Start sshd on 127.0.0.1:22 once the container is up.
    pub fn sshd(mut self) -> Self {
        self.sshd = true;
        self
    }

    /// Start sshd through this command prefix, for example
    /// `["/path/to/with-seccomp", "eperm", "--"]`: sshd and every login it
    /// runs then live under what the prefix sets up.
    pub fn sshd_under(mut self, prefix: &[&str]) -> Self {
        self.sshd_wrapper = prefix.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Make this host directory visible at the same path inside the
    /// container even where the container has a private tree (`/tmp`,
    /// `/run`, ...): for a fixture, such as a KDC's files in a temp dir.
    pub fn share_dir(mut self, host_dir: impl Into<PathBuf>) -> Self {
        self.shared_dirs.push(host_dir.into());
        self
    }

    /// Host name inside the container (default `pagct`).
    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = Some(name.to_owned());
        self
    }

    /// The `pag-container-init` binary (default: next to the running
    /// executable or its parent directory, where cargo puts it; or
    /// `$PAG_CONTAINER_INIT`).
    pub fn init_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.init_binary = Some(path.into());
        self
    }

    fn find_init_binary(&self) -> Result<PathBuf> {
        match (&self.init_binary, std::env::var_os("PAG_CONTAINER_INIT")) {
            (Some(path), _) => Ok(path.clone()),
            (None, Some(path)) => Ok(path.into()),
            (None, None) => built_binary("pag-container-init"),
        }
    }

    /// Create the container: lease uids, write its directory, start pid 1
    /// in new namespaces and wait until it is ready, then start services.
    /// Needs root (namespaces, mounts, chown); says so otherwise.
    pub fn start(self) -> Result<Container> {
        // Before anything of this container exists (and before the clock
        // starts: this may wait for other containers): root's key baseline.
        let root_keys = super::RootKeyHold::take(self.check_root_keys)?;
        let began = Instant::now();
        if !nix::unistd::geteuid().is_root() {
            return Err(Error::new(
                "the container harness needs root (namespaces, mounts, users); run the tests as root, as CI does",
            ));
        }
        let init_binary = self.find_init_binary()?;
        let leases = uids::lease(self.users.len())?;
        let users: Vec<UserRecord> =
            self.users.iter().zip(&leases).map(|(u, lease)| UserRecord::new(u, lease.uid)).collect();
        let debs_root = crate::debs::root().map_err(Error::new)?;
        // The binaries under test (pam_pag.so, aklog, tokens) sit in cargo's
        // target directory beside pid 1's binary. A checkout under a tree the
        // container makes private (/tmp, /home, /run) would hide them inside:
        // make that directory visible at the same path.
        let mut shared_dirs = self.shared_dirs.clone();
        if let Some(build_dir) = init_binary.parent().filter(|d| d.is_absolute()) {
            if !shared_dirs.iter().any(|d| build_dir.starts_with(d)) {
                shared_dirs.push(build_dir.to_owned());
            }
        }
        let dir = rootfs::new_dir()?;
        // From here on the Container owns the directory and cleans it up on error.
        let mut container = Container::new(dir.clone(), users, leases);
        container.root_keys = Some(root_keys);
        let staging = dir.join("pam-auth-update");
        let mut stacks: BTreeMap<String, PamStack> = if self.debian_pam {
            pam_auth_update::debian_stacks(
                &staging,
                &debs_root,
                &self.pam_profiles,
                &self.enabled_profiles,
                true,
            )?
        } else {
            default_stacks().into_iter().collect()
        };
        stacks.extend(self.stacks);
        rootfs::prepare(
            &dir,
            &RootSpec {
                users: &container.users,
                stacks: &stacks,
                krb5_conf: self.krb5_conf.as_deref(),
                files: &self.files,
                shared_dirs: &shared_dirs,
                keys: key_material()?,
                debs_root: &debs_root,
                overlays: &self.overlays,
                var_lib_pam: self.debian_pam.then(|| staging.join("var/lib/pam")).as_deref(),
            },
        )?;
        let hostname = self.hostname.as_deref().unwrap_or("pagct");
        let (program, args) = init::command_line(&init_binary, &dir, hostname);
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // unshare's own chatter (util-linux 2.38 prints a sigprocmask
            // complaint when --kill-child fires) would clutter test output;
            // pid 1 reports its errors on stdout instead.
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_context("starting unshare"))?;
        container.init_stdin = child.stdin.take();
        let stdout = child.stdout.take();
        container.unshare = Some(child);
        let stdout = stdout.ok_or_else(|| Error::new("unshare has no stdout pipe"))?;
        container.host_pid = init::read_ready_line(&mut BufReader::new(stdout))?;
        container.record_namespaces()?;
        container.sshd_wrapper = self.sshd_wrapper;
        if self.sshd {
            container.start_sshd()?;
        }
        container.started_in = began.elapsed();
        Ok(container)
    }
}
