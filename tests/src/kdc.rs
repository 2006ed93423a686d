//! A real MIT KDC (krb5kdc) on 127.0.0.1 for tests, in a temporary
//! directory with its own configuration: nothing in /etc is read or changed.
//!
//! ```no_run
//! use pag_tests::kdc::Kdc;
//! let kdc = Kdc::start("EXAMPLE.TEST").unwrap();
//! kdc.add_principal("alice", "secret").unwrap();
//! kdc.add_random_principal("afs/example.test").unwrap();
//! let ccache = format!("FILE:{}/alice.cc", kdc.dir().display());
//! kdc.kinit_password("alice", "secret", &ccache).unwrap();
//! // Run programs with kdc.env() (KRB5_CONFIG, KRB5_KDC_PROFILE) and
//! // KRB5CCNAME=ccache; the KDC is stopped and reaped when `kdc` drops.
//! ```
//!
//! What it does: picks a port free for both UDP and TCP, writes krb5.conf
//! (client) and kdc.conf (server), creates the database with `kdb5_util
//! create -s`, starts `krb5kdc -n` (foreground) and waits until it accepts
//! TCP connections. Principals are added with `kadmin.local`. On drop the
//! KDC gets SIGTERM (SIGKILL after 2 s) and is reaped; the directory goes
//! with the [`tempfile::TempDir`].
//!
//! Programs come from PATH, else /usr/sbin (krb5-kdc, krb5-admin-server)
//! and /usr/bin (krb5-user).

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The master key password of every test database (tests only).
const MASTER_PASSWORD: &str = "pag-tests-master";
/// How long the KDC may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A failure of the fixture, with the command's output where there is one.
#[derive(Debug)]
pub struct KdcError(pub String);

impl fmt::Display for KdcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KdcError {}

/// Result of a fixture call.
pub type KdcResult<T> = Result<T, KdcError>;

/// How to set up the KDC; [`Options::new`] gives sensible defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// The realm.
    pub realm: String,
    /// `[domain_realm]` entries of the client krb5.conf (domain, realm).
    pub domain_realm: Vec<(String, String)>,
    /// Extra lines for `[libdefaults]` of the client krb5.conf.
    pub extra_libdefaults: String,
    /// The enctypes of new keys (`supported_enctypes` of kdc.conf).
    pub supported_enctypes: String,
    /// `max_life` of tickets.
    pub max_life: String,
}

impl Options {
    /// Defaults: AES-256 and AES-128 keys, 10 h tickets, no domain mapping.
    pub fn new(realm: &str) -> Self {
        Options {
            realm: realm.to_owned(),
            domain_realm: Vec::new(),
            extra_libdefaults: String::new(),
            supported_enctypes: "aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal".to_owned(),
            max_life: "10h".to_owned(),
        }
    }
}

/// A running KDC; stopped and reaped on drop.
pub struct Kdc {
    options: Options,
    dir: TempDir,
    port: u16,
    child: Option<Child>,
    krb5_conf: PathBuf,
    kdc_conf: PathBuf,
}

impl fmt::Debug for Kdc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kdc").field("realm", &self.options.realm).field("port", &self.port).finish()
    }
}

impl Kdc {
    /// Start a KDC for `realm` with default [`Options`].
    pub fn start(realm: &str) -> KdcResult<Self> {
        Self::start_with(Options::new(realm))
    }

    /// Start a KDC as `options` say. Retries with another port if the one
    /// picked was taken in between.
    pub fn start_with(options: Options) -> KdcResult<Self> {
        let mut last = None;
        for _ in 0..5 {
            match Self::try_start(options.clone()) {
                Ok(kdc) => return Ok(kdc),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| KdcError("KDC did not start".into())))
    }

    fn try_start(options: Options) -> KdcResult<Self> {
        let dir = tempfile::Builder::new()
            .prefix("pag-kdc-")
            .tempdir()
            .map_err(|e| KdcError(format!("creating the KDC directory: {e}")))?;
        let port = free_port()?;
        let krb5_conf = dir.path().join("krb5.conf");
        let kdc_conf = dir.path().join("kdc.conf");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        write(&krb5_conf, &client_config(&options, addr, ""))?;
        write(&kdc_conf, &kdc_config(&options, dir.path(), port))?;
        write(&dir.path().join("kadm5.acl"), "")?;

        let mut kdc = Kdc { options, dir, port, child: None, krb5_conf, kdc_conf };
        kdc.run(kdc.command(tool("kdb5_util")).args([
            "create",
            "-s",
            "-r",
            &kdc.options.realm.clone(),
            "-P",
            MASTER_PASSWORD,
        ]))?;
        kdc.spawn()?;
        Ok(kdc)
    }

    /// Start krb5kdc on the database and port made before, and wait until
    /// it listens.
    fn spawn(&mut self) -> KdcResult<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("krb5kdc.out"))
            .map_err(|e| KdcError(format!("opening the KDC output file: {e}")))?;
        let log2 = log.try_clone().map_err(|e| KdcError(e.to_string()))?;
        let child = self
            .command(tool("krb5kdc"))
            .args(["-n", "-r", &self.options.realm.clone()])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| KdcError(format!("starting krb5kdc (install krb5-kdc): {e}")))?;
        self.child = Some(child);
        self.wait_until_listening()
    }

    /// Start the KDC again after [`Kdc::stop`], on the same port with the
    /// same principals (a KDC that was down for a while).
    pub fn start_again(&mut self) -> KdcResult<()> {
        if self.child.is_some() {
            return Ok(());
        }
        self.spawn()
    }

    fn wait_until_listening(&mut self) -> KdcResult<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(KdcError(format!("krb5kdc exited with {status}: {}", self.log())));
                }
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(KdcError(format!("krb5kdc did not listen on {addr}: {}", self.log())));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The KDC's output and log so far, for error messages.
    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("krb5kdc.out"), read("kdc.log"))
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.options.realm
    }

    /// The port the KDC listens on (UDP and TCP, 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The KDC's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The temporary directory (configuration, database, logs); tests may
    /// put their own files (caches, keytabs) there too.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The client configuration (for `KRB5_CONFIG`).
    pub fn krb5_conf(&self) -> &Path {
        &self.krb5_conf
    }

    /// The KDC configuration (for `KRB5_KDC_PROFILE`).
    pub fn kdc_conf(&self) -> &Path {
        &self.kdc_conf
    }

    /// The environment a Kerberos program needs to use this KDC.
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        vec![
            ("KRB5_CONFIG".into(), self.krb5_conf.clone().into()),
            ("KRB5_KDC_PROFILE".into(), self.kdc_conf.clone().into()),
        ]
    }

    /// A command for `program` with [`Kdc::env`] set.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.envs(self.env());
        c
    }

    /// Write another client krb5.conf, `name` in [`Kdc::dir`], with `extra`
    /// lines in `[libdefaults]` and the realm's KDC at `kdc` (this KDC when
    /// None; a silent port to test timeouts). Returns its path.
    pub fn write_client_config(
        &self,
        name: &str,
        extra: &str,
        kdc: Option<SocketAddr>,
    ) -> KdcResult<PathBuf> {
        let path = self.dir.path().join(name);
        write(&path, &client_config(&self.options, kdc.unwrap_or_else(|| self.addr()), extra))?;
        Ok(path)
    }

    /// Run `kadmin.local -q QUERY`; returns its output. kadmin.local exits
    /// 0 even when the query fails, so its stderr is checked as well.
    pub fn kadmin(&self, query: &str) -> KdcResult<String> {
        let out = self.run(self.command(tool("kadmin.local")).args(["-r", self.realm(), "-q", query]))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Failures print "usage:" or "... while ...", successes only notes.
        if stderr.lines().any(|l| l.starts_with("usage:") || l.contains(" while ")) {
            return Err(KdcError(format!("kadmin.local -q {query:?}: {stderr}")));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Add `name` (without realm) with a password (no `"` in it: kadmin's
    /// query parser has no escape for it).
    pub fn add_principal(&self, name: &str, password: &str) -> KdcResult<()> {
        if password.contains('"') {
            return Err(KdcError("a test password may not contain '\"'".into()));
        }
        self.kadmin(&format!("addprinc -pw \"{password}\" {name}")).map(|_| ())
    }

    /// Add `name` (without realm) with random keys, as services are.
    pub fn add_random_principal(&self, name: &str) -> KdcResult<()> {
        self.kadmin(&format!("addprinc -randkey {name}")).map(|_| ())
    }

    /// Add `name` with random keys of only `enctypes` (for example
    /// `aes128-cts-hmac-sha1-96:normal`), which fixes the session key type
    /// of its tickets.
    pub fn add_random_principal_enctypes(&self, name: &str, enctypes: &str) -> KdcResult<()> {
        self.kadmin(&format!("addprinc -randkey -e {enctypes} {name}")).map(|_| ())
    }

    /// Export `principal`'s keys to a keytab at `path` (keys unchanged).
    pub fn write_keytab(&self, principal: &str, path: &Path) -> KdcResult<()> {
        self.kadmin(&format!("ktadd -norandkey -k {} {principal}", path.display())).map(|_| ())
    }

    /// `kinit PRINCIPAL` with the password on stdin, into `ccache`
    /// (any `TYPE:residual`), with `extra_args` (for example `-l 10s`).
    pub fn kinit_password(&self, principal: &str, password: &str, ccache: &str) -> KdcResult<()> {
        self.kinit_password_args(principal, password, ccache, &[])
    }

    /// [`Kdc::kinit_password`] with extra kinit arguments.
    pub fn kinit_password_args(
        &self,
        principal: &str,
        password: &str,
        ccache: &str,
        extra_args: &[&str],
    ) -> KdcResult<()> {
        let mut child = self
            .command(tool("kinit"))
            .env("KRB5CCNAME", ccache)
            .args(extra_args)
            .arg(principal)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| KdcError(format!("running kinit (install krb5-user): {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = writeln!(stdin, "{password}");
        }
        let out = child.wait_with_output().map_err(|e| KdcError(format!("waiting for kinit: {e}")))?;
        check("kinit", &out)
    }

    /// `kinit -k -t KEYTAB PRINCIPAL` into `ccache`.
    pub fn kinit_keytab(&self, principal: &str, keytab: &Path, ccache: &str) -> KdcResult<()> {
        let mut c = self.command(tool("kinit"));
        c.env("KRB5CCNAME", ccache).arg("-k").arg("-t").arg(keytab).arg(principal);
        self.run(&mut c).map(|_| ())
    }

    /// Run a command to completion; an exit status other than 0 is an error
    /// carrying its output.
    pub fn run(&self, command: &mut Command) -> KdcResult<Output> {
        let out = command
            .stdin(Stdio::null())
            .output()
            .map_err(|e| KdcError(format!("running {:?}: {e}", command.get_program())))?;
        check(&format!("{:?}", command.get_program()), &out)?;
        Ok(out)
    }

    /// Stop the KDC now (drop does the same).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A UDP and a TCP socket on one 127.0.0.1 port that never answer: a KDC
/// that is down but whose port is not refused, so clients wait for their
/// own timeouts. The TCP listener never accepts; the kernel completes
/// connections into its backlog and nothing ever replies.
#[derive(Debug)]
pub struct SilentPort {
    _udp: UdpSocket,
    _tcp: TcpListener,
    port: u16,
}

impl SilentPort {
    /// Bind both sockets on a free port.
    pub fn bind() -> KdcResult<Self> {
        for _ in 0..20 {
            let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| KdcError(e.to_string()))?;
            let port = udp.local_addr().map_err(|e| KdcError(e.to_string()))?.port();
            if let Ok(tcp) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
                return Ok(SilentPort { _udp: udp, _tcp: tcp, port });
            }
        }
        Err(KdcError("no port free for both UDP and TCP".into()))
    }

    /// The address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }
}

fn free_port() -> KdcResult<u16> {
    let silent = SilentPort::bind()?;
    Ok(silent.port)
}

fn write(path: &Path, text: &str) -> KdcResult<()> {
    std::fs::write(path, text).map_err(|e| KdcError(format!("writing {}: {e}", path.display())))
}

fn check(what: &str, out: &Output) -> KdcResult<()> {
    if out.status.success() {
        return Ok(());
    }
    Err(KdcError(format!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )))
}

/// The program from PATH, else from the Debian locations.
fn tool(name: &str) -> PathBuf {
    let in_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|c| c.is_file()))
        .unwrap_or_default();
    in_path.unwrap_or_else(|| {
        ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|c| c.is_file())
            .unwrap_or_else(|| PathBuf::from(name))
    })
}

fn client_config(options: &Options, kdc: SocketAddr, extra: &str) -> String {
    let realm = &options.realm;
    let mut domains = String::new();
    for (domain, r) in &options.domain_realm {
        domains.push_str(&format!("    {domain} = {r}\n    .{domain} = {r}\n"));
    }
    format!(
        "[libdefaults]\n    default_realm = {realm}\n    dns_lookup_kdc = false\n    dns_lookup_realm = false\n    \
         dns_canonicalize_hostname = false\n    rdns = false\n    {}\n{extra}\n\n\
         [realms]\n    {realm} = {{\n        kdc = {kdc}\n    }}\n\n[domain_realm]\n{domains}",
        options.extra_libdefaults
    )
}

fn kdc_config(options: &Options, dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "[kdcdefaults]\n    kdc_listen = 127.0.0.1:{port}\n    kdc_tcp_listen = 127.0.0.1:{port}\n\n\
         [realms]\n    {realm} = {{\n        database_name = {d}/principal\n        key_stash_file = {d}/stash\n        \
         acl_file = {d}/kadm5.acl\n        max_life = {life}\n        max_renewable_life = 7d\n        \
         master_key_type = aes256-cts-hmac-sha1-96\n        supported_enctypes = {enc}\n    }}\n\n\
         [logging]\n    kdc = FILE:{d}/kdc.log\n",
        realm = options.realm,
        life = options.max_life,
        enc = options.supported_enctypes
    )
}
