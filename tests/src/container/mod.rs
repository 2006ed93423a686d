//! Test containers made of Linux namespaces, for end-to-end login tests.
//!
//! A container is pid 1 (`pag-container-init`) in new mount, pid, net, uts
//! and ipc namespaces, with loopback up and private copies of the account
//! files, `/etc/pam.d`, `/etc/ssh`, `/etc/krb5.conf`, `/home`, `/run`,
//! `/tmp`, `/var/log` and `/dev` bound over the host's, so the host never
//! changes. In it a test creates users, writes PAM stacks, starts a real
//! sshd on 127.0.0.1, and logs in through the OpenSSH client, `su -l`, or
//! `login` on a pty. Keyrings are the host kernel's (they are not
//! namespaced), which is what the tests are about.
//!
//! ```no_run
//! use pag_tests::container::{Container, PamStack, User};
//!
//! let ct = Container::builder()
//!     .user(User::new("alice").password("correct horse"))
//!     .pam("sshd", PamStack::unix_auth()
//!         .session("required", "pam_keyinit.so force revoke")
//!         .session("required", "pam_unix.so"))
//!     .sshd()
//!     .start()?;
//! ct.ssh("alice").password().run("id")?.assert_success().assert_stdout_contains("(alice)");
//! ct.teardown()?;
//! # Ok::<(), pag_tests::container::Error>(())
//! ```
//!
//! Dropping a container tears it down too: pid 1 is killed, which makes the
//! kernel kill every process of the pid namespace, and the mount namespace
//! dies with them. [`Container::teardown`] also proves that nothing is left
//! (no process, no mount, no key of the container's users) and reports it.

#![forbid(unsafe_code)]

mod builder;
mod error;
mod exec;
pub mod init;
mod layout;
mod overlay;
mod pam;
mod pam_auth_update;
mod pty;
mod rootfs;
mod ssh_client;
mod sshd;
mod teardown;
pub mod uids;
mod users;

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub use builder::ContainerBuilder;
pub use error::{Error, Result};
pub use exec::{shell_quote, As, Background, Output, DEFAULT_TIMEOUT};
pub use pam::PamStack;
pub use pty::PtySession;
pub use ssh_client::{Auth, SshLogin};
pub use teardown::TeardownReport;
pub use users::{User, UserRecord};

use uids::UidLease;

/// Containers of one test process share this lock: each holds it shared,
/// except one that checks root's key count (a global figure), which holds it
/// alone, so no other container's keys come and go meanwhile. (cargo runs
/// test binaries one after another, so one process is the whole scope.)
static ROOT_KEY_LOCK: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// This container's hold on [`ROOT_KEY_LOCK`].
enum RootKeyHold {
    Shared(#[allow(dead_code)] std::sync::RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] std::sync::RwLockWriteGuard<'static, ()>, teardown::RootKeys),
}

impl RootKeyHold {
    fn take(alone: bool) -> Result<Self> {
        // A poisoned lock only means another test panicked while holding it.
        if alone {
            let guard = ROOT_KEY_LOCK.write().unwrap_or_else(|e| e.into_inner());
            Ok(RootKeyHold::Alone(guard, teardown::root_keys()?))
        } else {
            Ok(RootKeyHold::Shared(ROOT_KEY_LOCK.read().unwrap_or_else(|e| e.into_inner())))
        }
    }
}

/// Debian's PAM stacks for use on the host (by libpam tests that run
/// `pam_start_confdir` on a directory of them): the packages' stock service
/// files and `common-*` from pam-auth-update over the host's installed
/// profiles only (the unpacked pam_krb5 exists only inside containers).
/// `staging` is an empty directory to work in. Never the host's /etc/pam.d.
pub fn debian_pam_d_for_host(staging: &Path) -> Result<std::collections::BTreeMap<String, PamStack>> {
    let debs_root = crate::debs::root().map_err(Error::new)?;
    pam_auth_update::debian_stacks(staging, &debs_root, &[], &[], false)
}

/// A uid no other test uses until the lease is dropped, for a host test that
/// runs programs as an unprivileged user and counts that user's keys.
pub fn lease_uid() -> Result<uids::UidLease> {
    Ok(uids::lease(1)?.remove(0))
}

/// How many keys `uid` owns, per /proc/key-users (what its key quota is charged).
pub fn keys_owned_by(uid: u32) -> Result<usize> {
    teardown::key_count(uid)
}

/// [`crate::built_binary`] with the harness's error type.
pub fn built_binary(name: &str) -> Result<PathBuf> {
    crate::built_binary(name).map_err(Error::new)
}

/// A running container. See the module documentation.
pub struct Container {
    dir: PathBuf,
    users: Vec<UserRecord>,
    _leases: Vec<UidLease>,
    root_keys: Option<RootKeyHold>,
    host_pid: u32,
    unshare: Option<Child>,
    init_stdin: Option<ChildStdin>,
    namespaces: Vec<(&'static str, String)>,
    started_in: Duration,
    sshd_wrapper: Vec<String>,
    torn_down: bool,
}

impl Container {
    /// Describe a new container.
    pub fn builder() -> ContainerBuilder {
        ContainerBuilder::default()
    }

    fn new(dir: PathBuf, users: Vec<UserRecord>, leases: Vec<UidLease>) -> Self {
        Self {
            dir,
            users,
            _leases: leases,
            root_keys: None,
            host_pid: 0,
            unshare: None,
            init_stdin: None,
            namespaces: Vec::new(),
            started_in: Duration::ZERO,
            sshd_wrapper: Vec::new(),
            torn_down: false,
        }
    }

    fn record_namespaces(&mut self) -> Result<()> {
        for kind in ["pid", "mnt", "net"] {
            let ns = teardown::namespace_of(self.host_pid, kind)?;
            if ns == teardown::namespace_of(std::process::id(), kind)? {
                return Err(Error::new(format!("pid 1 of the container is in the host's {kind} namespace")));
            }
            self.namespaces.push((kind, ns));
        }
        Ok(())
    }

    /// How long [`ContainerBuilder::start`] took, services included.
    pub fn startup_time(&self) -> Duration {
        self.started_in
    }

    /// Pid 1 of the container as the host sees it.
    pub fn host_pid(&self) -> u32 {
        self.host_pid
    }

    /// The container directory on the host (removed at teardown).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The user named `name`.
    ///
    /// # Panics
    /// If the container has no such user (a mistake in the test).
    #[track_caller]
    pub fn user(&self, name: &str) -> &UserRecord {
        self.users
            .iter()
            .find(|u| u.name == name)
            .unwrap_or_else(|| panic!("the container has no user {name:?}"))
    }

    /// The users of the container.
    pub fn users(&self) -> &[UserRecord] {
        &self.users
    }

    /// Where the host sees a path inside one of the container's private
    /// trees (`None` for paths shared with the host).
    pub fn host_path(&self, inside: &str) -> Option<PathBuf> {
        rootfs::host_path(&self.dir, inside)
    }

    /// Where a syslog capture must bind its datagram socket on the host so
    /// that it is `/dev/log` inside the container.
    pub fn dev_log_path(&self) -> PathBuf {
        self.dir.join("dev/log")
    }

    /// Write a file inside the running container's private trees (see
    /// [`ContainerBuilder::file`]).
    pub fn write_file(&self, inside: &str, text: &str, mode: u32) -> Result<()> {
        let path = self
            .host_path(inside)
            .ok_or_else(|| Error::new(format!("{inside} is not in a private tree of the container")))?;
        std::fs::write(&path, text).map_err(error::io_context(path.display()))?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .map_err(error::io_context(path.display()))
    }

    /// Run `f` on a new thread that has joined the container's network
    /// namespace, and return its result. Sockets it opens and programs it
    /// starts live there, on the container's 127.0.0.1: the way to start a
    /// fixture such as a KDC that logins inside must reach.
    pub fn in_network_namespace<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let path = format!("/proc/{}/ns/net", self.host_pid);
        let netns = std::fs::File::open(&path).map_err(error::io_context(&path))?;
        std::thread::spawn(move || {
            // Network namespaces are per thread; this thread only.
            nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::new(format!("setns {path}: {e}")))?;
            Ok(f())
        })
        .join()
        .map_err(|_| Error::new("the function run in the container's network namespace panicked"))?
    }

    /// Replace `/etc/pam.d/<service>` of the running container.
    pub fn set_pam(&self, service: &str, stack: &PamStack) -> Result<()> {
        let path = self.dir.join("etc/pam.d").join(service);
        std::fs::write(&path, stack.render()).map_err(error::io_context(path.display()))
    }

    /// A `Command` that runs `argv` inside the container as `who`.
    pub fn command(&self, who: &As, argv: &[&str]) -> std::process::Command {
        exec::command(self.host_pid, who, argv)
    }

    /// Run `argv` inside the container as `who`, to its end.
    pub fn exec(&self, who: &As, argv: &[&str]) -> Result<Output> {
        exec::run(self.command(who, argv), argv.join(" "), None, DEFAULT_TIMEOUT)
    }

    /// Run `argv` inside the container as `who` with `stdin` as its input.
    pub fn exec_with_input(&self, who: &As, argv: &[&str], stdin: &str) -> Result<Output> {
        exec::run(self.command(who, argv), argv.join(" "), Some(stdin.as_bytes().to_vec()), DEFAULT_TIMEOUT)
    }

    /// Run a shell script inside the container as `who`, to its end.
    pub fn sh(&self, who: &As, script: &str) -> Result<Output> {
        exec::run(self.command(who, &["sh", "-c", script]), script.to_owned(), None, DEFAULT_TIMEOUT)
    }

    /// Start a shell script inside the container as `who`, in the background.
    pub fn sh_background(&self, who: &As, script: &str) -> Result<Background> {
        exec::spawn(self.command(who, &["sh", "-c", script]), script.to_owned(), None)
    }

    /// An ssh login of `user` (to 127.0.0.1:22 from inside the container).
    pub fn ssh<'a>(&'a self, user: &str) -> SshLogin<'a> {
        SshLogin::new(self, self.user(user).clone())
    }

    /// `su -l <user> -c <command>`, run by root (pam_rootok lets root in
    /// without a password in the default su stacks).
    pub fn su_l(&self, user: &str, command: &str) -> Result<Output> {
        let user = self.user(user);
        self.exec(&As::Root, &["su", "-l", &user.name, "-c", command])
    }

    /// `login` on a new pty, at its `login:` prompt.
    pub fn login(&self) -> Result<PtySession> {
        self.pty(&As::Root, &["setsid", "--ctty", "login"])
    }

    /// `login` on a new pty, with `user`'s name and password typed at its
    /// prompts; returns once the login shell's `$ ` prompt shows.
    pub fn login_as(&self, user: &str) -> Result<PtySession> {
        let user = self.user(user).clone();
        let password = user
            .password
            .as_deref()
            .ok_or_else(|| Error::new(format!("{} has no password to type at login", user.name)))?;
        let mut tty = self.login()?;
        tty.expect("login: ", DEFAULT_TIMEOUT)?;
        tty.send_line(&user.name)?;
        tty.expect("Password: ", DEFAULT_TIMEOUT)?;
        tty.send_line(password)?;
        // login discards type-ahead when it sets up the session: wait for the shell.
        tty.expect("$ ", DEFAULT_TIMEOUT)?;
        Ok(tty)
    }

    /// Any program on a new pty (for example `su -l alice` typed by bob,
    /// which asks for a password).
    pub fn pty(&self, who: &As, argv: &[&str]) -> Result<PtySession> {
        PtySession::start(self.command(who, argv), argv.join(" "), self.host_pid)
    }

    fn start_sshd(&self) -> Result<()> {
        // Without -D sshd forks into the background only once it listens,
        // so its exit is the ready signal; pid 1 adopts it.
        let mut argv: Vec<&str> = self.sshd_wrapper.iter().map(String::as_str).collect();
        argv.extend(["/usr/sbin/sshd", "-f", "/etc/ssh/sshd_config", "-E", sshd::SSHD_LOG_INSIDE]);
        let out = self.exec(&As::Root, &argv)?;
        exec::require_success(out)
            .map(drop)
            .map_err(|e| Error::new(format!("sshd did not start: {e}\n{}", self.sshd_log())))
    }

    /// sshd's log so far.
    pub fn sshd_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("var-log/sshd.log")).unwrap_or_default()
    }

    /// Kill pid 1 (and with it the namespaces) and check that nothing of the
    /// container is left; then remove its directory.
    pub fn teardown(mut self) -> Result<TeardownReport> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<TeardownReport> {
        self.torn_down = true;
        let mut report = TeardownReport::default();
        drop(self.init_stdin.take());
        if self.host_pid != 0 {
            // Already gone (it exits on its own when stdin closes) is fine.
            let _ = kill(Pid::from_raw(self.host_pid as i32), Signal::SIGKILL);
        }
        if let Some(mut unshare) = self.unshare.take() {
            // --kill-child makes unshare's end and pid 1's one; wait for the reaping.
            let _ = unshare.wait();
        }
        let namespaces: Vec<(&str, &str)> = self.namespaces.iter().map(|(k, n)| (*k, n.as_str())).collect();
        let uids: Vec<u32> = self.users.iter().map(|u| u.uid).collect();
        let processes = teardown::check_processes(&namespaces, &uids);
        let dir_name = self.dir.to_string_lossy().into_owned();
        let mounts = teardown::check_mounts(&dir_name);
        let keys = teardown::check_keys(&self.users, &mut report);
        let root_keys = match self.root_keys.take() {
            Some(RootKeyHold::Alone(guard, baseline)) => {
                let checked = teardown::check_root_keys(&baseline);
                drop(guard);
                checked
            }
            Some(RootKeyHold::Shared(_)) | None => Ok(()),
        };
        let removed =
            std::fs::remove_dir_all(&self.dir).map_err(error::io_context(format!("removing {dir_name}")));
        processes?;
        mounts?;
        keys?;
        root_keys?;
        removed?;
        Ok(report)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.torn_down {
            return;
        }
        let result = self.shut_down();
        if let Err(e) = result {
            if std::thread::panicking() {
                eprintln!("container teardown after a failed test: {e}");
            } else {
                panic!("container teardown: {e}");
            }
        }
    }
}
