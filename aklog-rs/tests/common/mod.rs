//! Shared set-up of the aklog tests: a real MIT KDC with the principals the
//! tests need, and running the built binaries in a fresh session keyring.

#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::process::Command;

use pag_tests::kdc::{Kdc, Options};

pub const REALM: &str = "AKLOG.TEST";
pub const USER: &str = "user";
pub const PASSWORD: &str = "user password 1";

/// A KDC for realm AKLOG.TEST where:
/// - `user` has a password;
/// - cell example.org maps to the realm through `[domain_realm]` and has
///   afs/example.org (AES-256 and AES-128 keys, so AES-256 session keys);
/// - cell aes128.example.org has afs/aes128.example.org with only an
///   AES-128 key, so its session keys are AES-128;
/// - cell aklog.test is named like the realm and has only afs@AKLOG.TEST;
/// - cell des3.example.org has afs/des3.example.org with only a
///   des3-cbc-sha1 key and session_enctypes des3-cbc-sha1 (else the KDC
///   assumes AES-256), so its session keys are triple DES (enctype 16).
///   Without `allow_des3 = true` in `[libdefaults]` (krb5.conf, read by the
///   KDC and the clients alike) krb5 refuses des3 ("KDC has no support for
///   encryption type"): 1.21 and later, and Debian 12's 1.20.1 as well.
pub struct Fx {
    pub kdc: Kdc,
    /// An empty pam_pag.toml (PAG_CONFIG), so the host's file is not read.
    pub config: PathBuf,
}

pub fn fixture() -> Fx {
    let mut options = Options::new(REALM);
    options.domain_realm.push(("example.org".into(), REALM.into()));
    options.extra_libdefaults.push_str("allow_des3 = true\n");
    let kdc = Kdc::start_with(options).expect("starting the test KDC");
    kdc.add_principal(USER, PASSWORD).unwrap();
    kdc.add_random_principal("afs/example.org").unwrap();
    kdc.add_random_principal_enctypes("afs/aes128.example.org", "aes128-cts-hmac-sha1-96:normal").unwrap();
    // MIT KDCs assume every service takes AES-256 session keys unless told.
    kdc.kadmin("setstr afs/aes128.example.org session_enctypes aes128-cts-hmac-sha1-96").unwrap();
    kdc.add_random_principal("afs").unwrap();
    kdc.add_random_principal_enctypes("afs/des3.example.org", "des3-cbc-sha1:normal").unwrap();
    kdc.kadmin("setstr afs/des3.example.org session_enctypes des3-cbc-sha1").unwrap();
    let config = kdc.dir().join("pam_pag.toml");
    std::fs::write(&config, "").unwrap();
    Fx { kdc, config }
}

/// Where cargo put aklog, tokens and unlog.
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_aklog")).parent().unwrap().to_owned()
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// How the script's session keyring is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// `keyctl session -`: a new anonymous session keyring (not a PAG).
    Fresh,
    /// Join the user-session keyring by name, so that @s == @us: a
    /// process "without a session keyring of its own".
    UserSession,
}

impl Fx {
    /// `FILE:<dir>/<name>`.
    pub fn file_ccache(&self, name: &str) -> String {
        format!("FILE:{}", self.kdc.dir().join(name).display())
    }

    /// A command with the KDC's environment, the binaries first on PATH,
    /// PAG_CONFIG, and KRB5CCNAME.
    pub fn command(&self, program: &str, ccache: &str) -> Command {
        let mut c = self.kdc.command(program);
        let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default());
        c.env("PATH", path).env("PAG_CONFIG", &self.config).env("KRB5CCNAME", ccache).env("PW", PASSWORD);
        c
    }

    /// Run `script` with sh in a fresh session keyring, after kinit into
    /// `ccache` (in that session, so KEYRING:session: caches work too).
    pub fn session(&self, ccache: &str, script: &str) -> Out {
        self.session_as(Session::Fresh, ccache, true, script)
    }

    /// [`Fx::session`] with the session kind and whether to kinit first.
    pub fn session_as(&self, session: Session, ccache: &str, kinit: bool, script: &str) -> Out {
        let login = if kinit {
            format!(
                "printf '%s\\n' \"$PW\" | kinit {USER} >/dev/null || {{ echo kinit failed >&2; exit 99; }}\n"
            )
        } else {
            String::new()
        };
        let name = match session {
            Session::Fresh => "-".to_owned(),
            Session::UserSession => format!("_uid_ses.{}", nix::unistd::getuid()),
        };
        let out = self
            .command("keyctl", ccache)
            .args(["session", &name, "sh", "-c", &format!("{login}{script}")])
            .output()
            .expect("running keyctl session (install keyutils)");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The `tokens --json` object in `stdout`: from its first `{` to the end.
pub fn json_tokens(stdout: &str) -> serde_json::Value {
    let start = stdout.find('{').unwrap_or_else(|| panic!("no JSON in {stdout}"));
    serde_json::from_str(&stdout[start..])
        .unwrap_or_else(|e| panic!("tokens --json printed bad JSON ({e}): {stdout}"))
}

/// The run ended with `code` and said `needle` on stderr.
pub fn assert_fails(out: &Out, code: i32, needle: &str) {
    assert_eq!(out.code, code, "{out:?}");
    assert!(out.stderr.contains(needle), "expected {needle:?} on stderr: {}", out.stderr);
}

/// The reference script, run with python3.
pub fn reference(args: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ccache_rxkad.py");
    let out =
        Command::new("python3").arg(script).args(args).output().expect("running python3 (install python3)");
    assert!(out.status.success(), "reference script failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Hex of the token payload of `cell` in the script's session, to be
/// printed by a script: `keyctl pipe` of the user key.
pub fn pipe_token(cell: &str) -> String {
    format!("keyctl pipe %user:afs@{cell} | od -An -v -tx1 | tr -d ' \\n'; echo")
}

pub fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}
