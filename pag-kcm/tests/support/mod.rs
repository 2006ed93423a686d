//! A real MIT KDC and a pag-kcm on a private socket, for tests that run
//! the real MIT client tools against the daemon.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pag_tests::kdc::Kdc;

pub const PASSWORD: &str = "alice-pw";

pub struct Site {
    pub kdc: Kdc,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub state: PathBuf,
    pub conf: PathBuf,
    pub daemon: Option<Child>,
    pub daemon_log: PathBuf,
}

impl Site {
    /// A KDC with alice, bob and a service `host/svc.example.org`, and a
    /// pag-kcm started with `args`.
    pub fn start(args: &[&str]) -> Site {
        Self::start_with_config("", args)
    }

    /// [`Site::start`] with `config` as the daemon's pam_pag.toml.
    pub fn start_with_config(config: &str, args: &[&str]) -> Site {
        let kdc = Kdc::start("EXAMPLE.ORG").expect("start the KDC");
        kdc.add_principal("alice", PASSWORD).unwrap();
        kdc.add_principal("bob", PASSWORD).unwrap();
        kdc.add_random_principal("host/svc.example.org").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("kcm.sock");
        let state = dir.path().join("state");
        let conf = kdc
            .write_client_config(
                "kcm-krb5.conf",
                &format!("default_ccache_name = KCM:\nkcm_socket = {}\n", socket.display()),
                None,
            )
            .unwrap();
        let daemon_log = dir.path().join("daemon.log");
        std::fs::write(dir.path().join("pam_pag.toml"), config).unwrap();
        let mut site = Site { kdc, dir, socket, state, conf, daemon: None, daemon_log };
        site.start_daemon(args);
        site
    }

    pub fn start_daemon(&mut self, args: &[&str]) {
        self.start_daemon_under(&[], args)
    }

    /// [`Site::start_daemon`] through `wrapper` (e.g. `prlimit ... --`).
    pub fn start_daemon_under(&mut self, wrapper: &[&str], args: &[&str]) {
        let started_before = self.log().matches("listening on").count();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.daemon_log).unwrap();
        let pag_kcm = env!("CARGO_BIN_EXE_pag-kcm");
        let (program, before) = match wrapper.split_first() {
            Some((first, rest)) => (*first, [rest, &[pag_kcm]].concat()),
            None => (pag_kcm, Vec::new()),
        };
        let child = Command::new(program)
            .args(before)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--state-dir")
            .arg(&self.state)
            .arg("--config")
            .arg(self.dir.path().join("pam_pag.toml"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start pag-kcm");
        self.daemon = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while self.log().matches("listening on").count() == started_before {
            assert!(Instant::now() < until, "pag-kcm did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The daemon's resident memory, in kB.
    pub fn daemon_rss_kb(&self) -> u64 {
        let pid = self.daemon.as_ref().unwrap().id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        pag_tests::stats::proc_field(&status, "VmRSS").unwrap()
    }

    pub fn daemon_alive(&mut self) -> bool {
        matches!(self.daemon.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    pub fn stop_daemon(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let status = child.wait().unwrap();
            assert!(status.success(), "pag-kcm exited with {status} on SIGTERM: {}", self.log());
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.daemon_log).unwrap_or_default()
    }

    /// Run an MIT client tool with this site's KCM configuration.
    pub fn tool(&self, argv: &[&str]) -> Output {
        self.tool_env(argv, &[])
    }

    pub fn tool_env(&self, argv: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(argv[0])
            .args(&argv[1..])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("KRB5_CONFIG", &self.conf)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `kinit PRINCIPAL` with the password on stdin.
    pub fn kinit(&self, principal: &str, extra: &[&str]) -> Output {
        let mut child = Command::new("kinit")
            .args(extra)
            .arg(principal)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("KRB5_CONFIG", &self.conf)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn state_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.state)
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed ({}): stdout {} stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Wait for `path` to exist or not.
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn lines(path: &Path) -> Vec<String> {
    BufReader::new(std::fs::File::open(path).unwrap()).lines().map_while(Result::ok).collect()
}
