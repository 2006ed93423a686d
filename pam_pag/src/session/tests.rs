//! The hook logic against a scripted fake handle and a fake kernel.

use nix::errno::Errno;
use pag::config::pam::{KeyringOwner, OnClose, OnKeyringUnavailable};
use pag::sys::SysError;
use pag::token::handover::{CcacheReport, HandedToken, HandoverError, Message};
use pag::token::rxrpc::RxkadToken;
use pag::token::Token;

use super::*;
use crate::kernel::{Handback, PathInfo};
use crate::log::{Level, Lines};
use crate::program::Report;

struct FakeHandle {
    user: Result<String, Code>,
    env: Vec<(String, String)>,
    state: Option<SessionState>,
}

impl FakeHandle {
    fn new(user: &str) -> Self {
        FakeHandle { user: Ok(user.to_owned()), env: Vec::new(), state: None }
    }
}

impl PamHandle for FakeHandle {
    fn user(&self) -> Result<String, Code> {
        self.user.clone()
    }
    fn service(&self) -> Option<String> {
        Some("sshd".to_owned())
    }
    fn getenv(&self, name: &str) -> Option<String> {
        self.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }
    fn env_list(&self) -> Vec<(String, String)> {
        self.env.clone()
    }
    fn putenv(&mut self, name: &str, value: &str) -> Result<(), Code> {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_owned(), value.to_owned()));
        Ok(())
    }
    fn state(&self) -> Option<SessionState> {
        self.state.clone()
    }
    fn set_state(&mut self, state: SessionState) -> Result<(), Code> {
        self.state = Some(state);
        Ok(())
    }
}

fn alice() -> UserEntry {
    UserEntry::alice()
}

struct FakeKernel {
    calls: Vec<String>,
    lookups: std::cell::Cell<usize>,
    create: Result<i32, Errno>,
    outcome: Outcome,
    output: Vec<(Stream, &'static [u8])>,
    dropped: (u64, u64),
    containment: Containment,
    runs: Vec<Run>,
    handback: fn() -> Handback,
    store_fails: bool,
    root: bool,
    current_pag: Option<i32>,
    tag: Option<u32>,
    tag_conflicts: Vec<String>,
    /// A program asked to move the tickets leaves /tmp/krb5cc_1000 behind.
    source_left: bool,
    /// /tmp/krb5cc_1000 is gone (a program asked to move it ran).
    source_gone: bool,
}

/// What our aklog hands back for the site's cell.
fn one_token() -> Handback {
    let rxkad = RxkadToken { expiry: 2_000_000_000, kvno: 256, session_key: [7; 8], ticket: vec![9; 100] };
    let tokens =
        vec![HandedToken { cell: "example.org".into(), principal: Some("alice@EXAMPLE.ORG".into()), rxkad }];
    Ok(Message { tokens, ccache: None })
}

/// What our aklog hands back after moving the tickets into KCM:.
fn moved_to_kcm() -> Handback {
    one_token().map(|m| Message { ccache: Some(CcacheReport::Moved("KCM:".into())), ..m })
}

impl Default for FakeKernel {
    fn default() -> Self {
        FakeKernel {
            calls: Vec::new(),
            lookups: Default::default(),
            create: Ok(777),
            outcome: Outcome::Exited(0),
            output: Vec::new(),
            dropped: (0, 0),
            containment: Containment::PidNamespace,
            runs: Vec::new(),
            handback: one_token,
            store_fails: false,
            root: true,
            current_pag: None,
            tag: None,
            tag_conflicts: Vec::new(),
            source_left: false,
            source_gone: false,
        }
    }
}

impl Kernel for FakeKernel {
    fn lookup_user(&self, name: &str) -> Result<Option<UserEntry>, String> {
        self.lookups.set(self.lookups.get() + 1);
        Ok(match name {
            "alice" => Some(alice()),
            "root" => Some(UserEntry {
                name: "root".into(),
                uid: 0,
                gid: 0,
                home: "/root".into(),
                shell: "/bin/sh".into(),
            }),
            _ => None,
        })
    }
    fn create_pag(&mut self, login: &LoginPag) -> pag::Result<(i32, Option<u32>)> {
        self.calls.push(format!("create owner={:?} link={}", login.keyring_owner, login.link_user_keyring));
        let tag = login.tag_gids.as_ref().and(self.tag);
        self.create
            .map(|serial| (serial, tag))
            .map_err(|errno| pag::Error::keyring("creating the PAG keyring", SysError { op: "join", errno }))
    }
    fn tag_conflicts(&self, _range: &std::ops::RangeInclusive<u32>) -> Vec<String> {
        self.tag_conflicts.clone()
    }
    fn add_group(&mut self, gid: u32) -> Result<(), String> {
        self.calls.push(format!("group {gid}"));
        Ok(())
    }
    fn unlog(&mut self, keyring: Option<i32>) -> pag::Result<usize> {
        self.calls.push(format!("unlog {keyring:?}"));
        Ok(2)
    }
    fn revoke(&mut self, keyring: i32) -> pag::Result<()> {
        self.calls.push(format!("revoke {keyring}"));
        Ok(())
    }
    fn store_tokens(&mut self, keyring: Option<i32>, tokens: &[Token]) -> Vec<pag::Result<KeyType>> {
        let cells: Vec<&str> = tokens.iter().map(|t| t.cell.as_str()).collect();
        self.calls.push(format!("store {keyring:?} {}", cells.join(",")));
        let fails = self.store_fails;
        tokens
            .iter()
            .map(|_| {
                if fails {
                    Err(pag::Error::keyring("storing", SysError { op: "add_key", errno: Errno::EDQUOT }))
                } else {
                    Ok(KeyType::User)
                }
            })
            .collect()
    }
    fn is_root(&self) -> bool {
        self.root
    }
    fn current_pag(&self) -> Option<i32> {
        self.current_pag
    }
    fn lstat(&self, path: &std::path::Path) -> Result<PathInfo, String> {
        match path.to_str() {
            Some("/tmp/krb5cc_1000") if self.source_gone => {
                Err("No such file or directory (os error 2)".into())
            }
            Some("/tmp/krb5cc_1000" | "/tmp/krb5cc_1000_x") => Ok(PathInfo { uid: 1000, symlink: false }),
            Some("/tmp/krb5cc_0") => Ok(PathInfo { uid: 0, symlink: false }),
            _ => Err("No such file or directory (os error 2)".into()),
        }
    }
    fn run_program(
        &mut self,
        run: &Run,
        _limits: &Limits,
        relay: &mut dyn FnMut(Stream, &[u8]),
    ) -> (Report, Handback) {
        self.calls.push(format!("run {}", run.program));
        self.runs.push(run.clone());
        if run.env.iter().any(|(k, _)| k == "PAG_MOVE_TO_KCM") && !self.source_left {
            self.source_gone = true;
        }
        for (s, l) in &self.output {
            relay(*s, l);
        }
        let report = Report {
            outcome: self.outcome.clone(),
            containment: self.containment.clone(),
            dropped_lines: self.dropped.0,
            dropped_bytes: self.dropped.1,
        };
        (report, (self.handback)())
    }
}

/// One scripted PAM conversation: a handle, a kernel, options, the lines.
struct Script {
    handle: FakeHandle,
    kernel: FakeKernel,
    options: Options,
    /// A broken configuration file: the resolver fails with it.
    broken: Option<&'static str>,
    lines: Lines,
}

impl Script {
    fn new() -> Self {
        let options = Options { program: "/bin/tokens".into(), ..Options::default() };
        Script {
            handle: FakeHandle::new("alice"),
            kernel: FakeKernel::default(),
            options,
            broken: None,
            lines: Lines::default(),
        }
    }

    fn call(&mut self, hook: Hook, args: &[&str]) -> Code {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let options = self.options.clone();
        let broken = self.broken;
        let resolve = move |a: &Arguments, _: &str| {
            if let Some(text) = broken {
                let path = std::path::Path::new("/etc/pam_pag.toml");
                let error = pag::config::Document::parse(text, path)
                    .and_then(|d| d.pam().map_err(|mut e| e.remove(0)));
                return Err(OptionsError::Config(error.expect_err("the test's file is broken")));
            }
            let mut o = options.clone();
            if a.settings.debug == Some(true) {
                o.debug = true;
            }
            Ok(o)
        };
        run(hook, &mut self.handle, &mut self.kernel, &args, &mut self.lines, &resolve)
    }

    fn texts(&self) -> Vec<String> {
        self.lines.0.iter().map(|(_, l)| l.clone()).collect()
    }
}

const ESTABLISH: Hook = Hook::Setcred(Cred::Establish);

#[test]
fn auth_and_account_are_ignored() {
    let mut s = Script::new();
    assert_eq!(s.call(Hook::Authenticate, &[]), pam::IGNORE);
    assert_eq!(s.call(Hook::AcctMgmt, &[]), pam::IGNORE);
    assert!(s.kernel.calls.is_empty() && s.lines.0.is_empty());
}

#[test]
fn open_creates_one_pag_and_setcred_after_it_sees_it() {
    let mut s = Script::new();
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    assert_eq!(s.call(ESTABLISH, &["debug"]), pam::SUCCESS);
    assert_eq!(s.kernel.calls, ["create owner=Root link=true"]);
    assert_eq!(
        s.texts(),
        [
            "pam_pag(sshd:session): user alice: created PAG 777 (keyring owned by root)",
            "pam_pag(sshd:setcred): user alice: PAG 777 already set up by this handle",
            "pam_pag(sshd:setcred): user alice: no KRB5CCNAME; not running /bin/tokens",
        ]
    );
}

#[test]
fn gdm_order_setcred_first_then_open() {
    let mut s = Script::new();
    assert_eq!(s.call(ESTABLISH, &[]), pam::SUCCESS);
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    assert_eq!(s.kernel.calls, ["create owner=Root link=true"]);
    let alice = alice();
    assert_eq!(
        s.handle.state,
        Some(SessionState {
            pag: Some(777),
            established: true,
            tokens_pending: true,
            closed: false,
            keyrings_unavailable: false,
            user: Some(alice),
            reported: Vec::new(),
            tag: None,
        })
    );
}

#[test]
fn sudo_order_reinitialize_before_open_does_nothing() {
    let mut s = Script::new();
    s.options.always_aklog = true;
    assert_eq!(s.call(Hook::Setcred(Cred::Reinitialize), &[]), pam::IGNORE);
    assert!(s.kernel.calls.is_empty());
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    assert_eq!(s.call(Hook::Setcred(Cred::Refresh), &[]), pam::SUCCESS);
    assert_eq!(
        s.kernel.calls,
        [
            "create owner=Root link=true",
            "run /bin/tokens",
            "store Some(777) example.org",
            "run /bin/tokens",
            "store Some(777) example.org"
        ]
    );
}

#[test]
fn close_applies_on_close_once() {
    for (on_close, expected, line) in [
        (OnClose::Unlog, vec!["unlog Some(777)"], "removed 2 token(s) from PAG 777"),
        (OnClose::Revoke, vec!["revoke 777"], "revoked PAG 777"),
        (OnClose::Retain, vec![], "retained PAG 777"),
    ] {
        let mut s = Script::new();
        s.options.on_close = on_close;
        s.call(Hook::OpenSession, &[]);
        s.kernel.calls.clear();
        assert_eq!(s.call(Hook::CloseSession, &[]), pam::SUCCESS);
        assert_eq!(s.call(Hook::Setcred(Cred::Delete), &[]), pam::SUCCESS);
        assert_eq!(s.kernel.calls, expected);
        assert_eq!(s.texts()[1], format!("pam_pag(sshd:session): user alice: session closed, {line}"));
        assert_eq!(s.texts().len(), 2, "the second close logs nothing without debug");
    }
}

#[test]
fn close_without_open_is_ignored() {
    let mut s = Script::new();
    assert_eq!(s.call(Hook::CloseSession, &[]), pam::IGNORE);
    assert!(s.kernel.calls.is_empty());
}

#[test]
fn keyrings_blocked_ignore_or_fail() {
    for errno in [Errno::EPERM, Errno::ENOSYS] {
        let mut s = Script::new();
        s.kernel.create = Err(errno);
        assert_eq!(s.call(Hook::OpenSession, &[]), pam::IGNORE);
        assert_eq!(s.lines.0.len(), 1);
        assert_eq!(s.lines.0[0].0, Level::Warning);
        assert!(s.texts()[0].starts_with("pam_pag(sshd:session): user alice: no PAG for this session: creating the PAG keyring: keyctl join: "));
        assert_eq!(s.call(ESTABLISH, &[]), pam::SUCCESS, "the second hook sees the first decided");
        assert_eq!(s.call(Hook::CloseSession, &[]), pam::IGNORE, "nothing to close");
        assert_eq!(
            s.lines.0.iter().filter(|l| l.0 != Level::Debug).count(),
            1,
            "one line per session: {:?}",
            s.texts()
        );

        let mut s = Script::new();
        s.kernel.create = Err(errno);
        s.options.on_keyring_unavailable = OnKeyringUnavailable::Fail;
        assert_eq!(s.call(Hook::OpenSession, &[]), pam::SESSION_ERR);
        let mut s = Script::new();
        s.kernel.create = Err(errno);
        s.options.on_keyring_unavailable = OnKeyringUnavailable::Fail;
        assert_eq!(s.call(ESTABLISH, &[]), pam::CRED_ERR);
    }
}

#[test]
fn quota_failure_names_the_sysctl() {
    let mut s = Script::new();
    s.kernel.create = Err(Errno::EDQUOT);
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SESSION_ERR);
    assert!(s.texts()[0].contains("kernel.keys.maxkeys"), "{:?}", s.texts());
}

#[test]
fn user_checks() {
    let mut s = Script::new();
    s.handle = FakeHandle::new("mallory");
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::USER_UNKNOWN);
    assert_eq!(s.texts(), ["pam_pag(sshd:session): user mallory: unknown user"]);

    let mut s = Script::new();
    s.handle.user = Err(pam::SYSTEM_ERR);
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SYSTEM_ERR);

    let mut s = Script::new();
    s.handle = FakeHandle::new("root");
    s.options.ignore_root = true;
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::IGNORE);
    s.options.ignore_root = false;
    s.options.minimum_uid = 1;
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::IGNORE);
    assert!(s.kernel.calls.is_empty());
}

#[test]
fn arguments_unknown_logged_bad_fail_safe() {
    let mut s = Script::new();
    assert_eq!(s.call(Hook::OpenSession, &["frob"]), pam::SUCCESS);
    assert_eq!(s.texts()[0], "pam_pag(sshd:session): ignoring unknown module argument `frob`");
    // A bad value: a PAG all the same, the built-in defaults, no token
    // program (even though the file asks for one), said once per session.
    let mut s = Script::new();
    s.options.always_aklog = true;
    assert_eq!(s.call(ESTABLISH, &["timeout=x"]), pam::SUCCESS);
    assert_eq!(s.call(Hook::OpenSession, &["timeout=x"]), pam::SUCCESS);
    assert_eq!(s.call(Hook::CloseSession, &["timeout=x"]), pam::SUCCESS);
    assert_eq!(s.kernel.calls, ["create owner=Root link=true"]);
    assert_eq!(
        s.texts(),
        [
            "pam_pag(sshd:setcred): module argument `timeout=x`: `x` is not a non-negative integer; this session gets a PAG with the built-in defaults and no token program",
            "pam_pag(sshd:setcred): user alice: created PAG 777 (keyring owned by root)",
            "pam_pag(sshd:session): user alice: session closed, left PAG 777 (notokens, nothing to unlog)",
        ]
    );
    // A new session on the same handle says it again.
    assert_eq!(s.call(Hook::OpenSession, &["timeout=x"]), pam::SUCCESS);
    assert_eq!(s.texts().len(), 5);
    assert!(s.texts()[3].contains("`timeout=x`"));
}

#[test]
fn a_broken_file_still_makes_a_pag_without_tokens() {
    let mut s = Script::new();
    s.options.always_aklog = true;
    s.broken = Some("[pam]\ntimeout = \"soon\"\n");
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    assert_eq!(s.call(ESTABLISH, &[]), pam::SUCCESS);
    assert_eq!(s.kernel.calls, ["create owner=Root link=true"]);
    assert_eq!(
        s.texts(),
        [
            "pam_pag(sshd:session): /etc/pam_pag.toml:2:1: key `pam.timeout`: invalid type: string \"soon\", expected u32; this session gets a PAG with the built-in defaults and no token program",
            "pam_pag(sshd:session): user alice: created PAG 777 (keyring owned by root)",
        ]
    );
}

#[test]
fn token_program_gets_only_the_allowlist() {
    let mut s = Script::new();
    s.options.cells = vec!["example.org".into()];
    s.options.program_args = vec!["-d".into()];
    s.options.program_env = vec!["AKLOG_DEBUG".into()];
    s.handle.env = [
        ("KRB5CCNAME", "FILE:/tmp/krb5cc_1000"),
        ("LANG", "C"),
        ("LD_PRELOAD", "/tmp/evil.so"),
        ("KRB5_CONFIG", "/tmp/krb5.conf"),
        ("PAG_CONFIG", "/tmp/pag.toml"),
        ("HOME", "/tmp/fake"),
        ("AKLOG_DEBUG", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    let run = &s.kernel.runs[0];
    assert_eq!(run.args, ["-d", "-cell", "example.org"]);
    let names: Vec<(&str, &str)> = run.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        names,
        [
            ("KRB5CCNAME", "FILE:/tmp/krb5cc_1000"),
            ("HOME", "/home/alice"),
            ("USER", "alice"),
            ("LOGNAME", "alice"),
            ("SHELL", "/bin/bash"),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("LANG", "C"),
            ("AKLOG_DEBUG", "1"),
        ]
    );
    assert_eq!((run.uid, run.gid, run.user.as_str()), (1000, 100, "alice"));
    assert_eq!(run.timeout, Duration::from_secs(10));
    assert!(run.extra_fds.is_empty());
}

#[test]
fn a_refused_ccache_is_logged_and_not_used() {
    for (ccache, why) in [
        ("FILE:/tmp/krb5cc_0", "/tmp/krb5cc_0 is owned by uid 0, not by the user (uid 1000)"),
        ("KEYRING:session:x", "a KEYRING:session: cache is in the login's keyrings"),
    ] {
        let mut s = Script::new();
        s.handle.env = vec![("KRB5CCNAME".into(), ccache.into())];
        assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
        assert_eq!(s.kernel.calls, ["create owner=Root link=true"], "not run without a usable ccache");
        assert_eq!(s.lines.0[1].0, Level::Warning);
        let expected = format!(
            "pam_pag(sshd:session): user alice: not passed to /bin/tokens: KRB5CCNAME {ccache} refused: {why}"
        );
        assert!(s.texts()[1].starts_with(&expected), "{:?}", s.texts());
    }
}

#[test]
fn output_is_escaped_and_the_cap_is_one_line() {
    let mut s = Script::new();
    s.options.always_aklog = true;
    s.options.debug = true;
    s.kernel.output = vec![(Stream::Stdout, b"red \x1b[31m\r\x00 \xe2\x80\xae \xff")];
    s.kernel.dropped = (5, 10);
    s.kernel.containment = Containment::ProcessGroup("no PID namespace: Operation not permitted".into());
    s.call(Hook::OpenSession, &[]);
    let texts = s.texts();
    assert!(texts.contains(
        &"pam_pag(sshd:session): user alice: /bin/tokens: red \\x1b[31m\\x0d\\x00 \\u{202e} \\xff".to_owned()
    ));
    assert!(texts.contains(&"pam_pag(sshd:session): user alice: /bin/tokens: output over the limit of 100 lines and 16384 bytes per run: 5 more line(s), 10 byte(s) not logged".to_owned()), "{texts:#?}");
    assert!(
        texts
            .iter()
            .any(|t| t
                .contains("ran in its own process group only (no PID namespace: Operation not permitted)"))
    );
}

#[test]
fn no_ccache_no_program_unless_always_aklog() {
    let mut s = Script::new();
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    assert_eq!(s.kernel.calls, ["create owner=Root link=true"]);
    let mut s = Script::new();
    s.options.always_aklog = true;
    s.call(Hook::OpenSession, &[]);
    assert_eq!(s.kernel.calls[1], "run /bin/tokens");
}

#[test]
fn token_failures_fail_only_when_required() {
    for (outcome, line) in [
        (Outcome::Exited(4), "user alice: /bin/tokens failed with exit status 4"),
        (Outcome::TimedOut, "user alice: /bin/tokens did not finish within 10 s and was killed"),
        (
            Outcome::NotStarted("No such file or directory (os error 2)".into()),
            "user alice: cannot run /bin/tokens: No such file or directory (os error 2)",
        ),
        (Outcome::Signalled(9), "user alice: /bin/tokens was killed by signal 9"),
    ] {
        for required in [false, true] {
            let mut s = Script::new();
            s.options.always_aklog = true;
            s.options.tokens_required = required;
            s.kernel.outcome = outcome.clone();
            s.kernel.output = vec![(Stream::Stderr, b"aklog: no ticket")];
            // A failed aklog hands back an empty message.
            s.kernel.handback = || Ok(Message::default());
            let code = s.call(Hook::OpenSession, &[]);
            assert_eq!(code, if required { pam::SESSION_ERR } else { pam::SUCCESS });
            let texts = s.texts();
            assert!(texts.contains(&format!("pam_pag(sshd:session): {line}")), "{texts:#?}");
            assert!(!s.kernel.calls.iter().any(|c| c.starts_with("store")), "{:?}", s.kernel.calls);
            if !matches!(outcome, Outcome::NotStarted(_)) {
                assert_eq!(texts[1], "pam_pag(sshd:session): user alice: /bin/tokens: aklog: no ticket");
                assert_eq!(s.lines.0[1].0, Level::Notice);
            }
        }
    }
}

#[test]
fn a_user_owned_pag_still_gets_the_tokens_stored_by_the_module() {
    let mut s = Script::new();
    s.options.keyring_owner = KeyringOwner::User;
    s.options.always_aklog = true;
    s.options.link_user_keyring = false;
    s.call(Hook::OpenSession, &[]);
    assert_eq!(
        s.kernel.calls,
        ["create owner=User link=false", "run /bin/tokens", "store Some(777) example.org"]
    );
}

#[test]
fn a_program_that_does_not_speak_the_hand_over_leaves_the_login_without_tokens() {
    for required in [false, true] {
        let mut s = Script::new();
        s.options.always_aklog = true;
        s.options.tokens_required = required;
        s.kernel.handback = || Err(HandoverError::Empty);
        let code = s.call(Hook::OpenSession, &[]);
        assert_eq!(code, if required { pam::SESSION_ERR } else { pam::SUCCESS });
        let texts = s.texts();
        let last = texts.last().unwrap();
        assert!(last.contains("handed no tokens back: it does not speak pag's token hand-over"), "{last}");
        assert!(last.contains("pam_pag(8)"), "{last}");
        assert!(!s.kernel.calls.iter().any(|c| c.starts_with("store")));
    }
}

#[test]
fn a_malformed_hand_over_is_refused_whole() {
    let mut s = Script::new();
    s.options.always_aklog = true;
    s.kernel.handback = || Err(HandoverError::TrailingBytes(3));
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    let texts = s.texts();
    assert!(texts.last().unwrap().contains("refused the tokens /bin/tokens handed back"), "{texts:#?}");
    assert!(!s.kernel.calls.iter().any(|c| c.starts_with("store")));
}

#[test]
fn only_tokens_for_the_cells_asked_for_are_stored() {
    let mut s = Script::new();
    s.options.always_aklog = true;
    s.options.cells = vec!["other.org".into()];
    s.call(Hook::OpenSession, &[]);
    let texts = s.texts();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("ignoring the token for example.org") && t.contains("not among the cells")),
        "{texts:#?}"
    );
    assert!(!s.kernel.calls.iter().any(|c| c.starts_with("store")), "{:?}", s.kernel.calls);
}

#[test]
fn a_token_that_cannot_be_stored_is_logged_and_fails_only_when_required() {
    for required in [false, true] {
        let mut s = Script::new();
        s.options.always_aklog = true;
        s.options.tokens_required = required;
        s.kernel.store_fails = true;
        let code = s.call(Hook::OpenSession, &[]);
        assert_eq!(code, if required { pam::SESSION_ERR } else { pam::SUCCESS });
        let last = s.texts().last().unwrap().clone();
        assert!(last.contains("cannot store the token for example.org in PAG 777"), "{last}");
    }
}

#[test]
fn nopag_runs_tokens_in_the_session_keyring_and_unlogs_it() {
    let mut s = Script::new();
    s.options.nopag = true;
    s.options.always_aklog = true;
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    assert_eq!(s.call(Hook::CloseSession, &[]), pam::SUCCESS);
    assert_eq!(s.kernel.calls, ["run /bin/tokens", "store None example.org", "unlog None"]);
}

#[test]
fn later_hooks_reuse_the_user_entry_only_for_the_same_user() {
    let mut s = Script::new();
    s.call(Hook::OpenSession, &[]);
    s.call(Hook::CloseSession, &[]);
    assert_eq!(s.kernel.lookups.get(), 1);
    s.handle.user = Ok("root".into());
    s.call(Hook::CloseSession, &["debug"]);
    assert_eq!(s.kernel.lookups.get(), 2, "another PAM_USER is looked up afresh");
}

#[test]
fn a_new_session_after_close_on_the_same_handle_gets_a_new_pag() {
    let mut s = Script::new();
    s.call(Hook::OpenSession, &[]);
    s.call(Hook::CloseSession, &[]);
    s.kernel.create = Ok(778);
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    assert_eq!(
        s.kernel.calls,
        ["create owner=Root link=true", "unlog Some(777)", "create owner=Root link=true"]
    );
    assert_eq!(s.handle.state.as_ref().unwrap().pag, Some(778));
}

#[test]
fn login_order_tokens_wait_for_the_ticket_from_a_later_setcred() {
    let mut s = Script::new();
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    assert_eq!(s.kernel.calls, ["create owner=Root link=true"], "no KRB5CCNAME yet");
    s.handle.env.push(("KRB5CCNAME".into(), "FILE:/tmp/krb5cc_1000_x".into()));
    assert_eq!(s.call(ESTABLISH, &[]), pam::SUCCESS);
    assert_eq!(s.call(ESTABLISH, &[]), pam::SUCCESS);
    assert_eq!(
        s.kernel.calls,
        ["create owner=Root link=true", "run /bin/tokens", "store Some(777) example.org"],
        "runs once"
    );
}

#[test]
fn a_screen_locker_refreshes_the_pag_it_runs_in_with_the_users_rights() {
    // Not root, a handle that opened nothing, inside a PAG: refresh there.
    let mut s = Script::new();
    s.kernel.root = false;
    s.kernel.current_pag = Some(4242);
    s.handle.env = vec![("KRB5CCNAME".into(), "KCM:".into())];
    assert_eq!(s.call(Hook::Setcred(Cred::Refresh), &[]), pam::SUCCESS);
    assert_eq!(s.kernel.calls, ["run /bin/tokens", "store Some(4242) example.org"]);
    // Root with no session of this handle (sudo's REINITIALIZE before
    // open_session), or a user outside any PAG: nothing to refresh.
    for (root, current) in [(true, Some(4242)), (false, None)] {
        let mut s = Script::new();
        s.kernel.root = root;
        s.kernel.current_pag = current;
        s.handle.env = vec![("KRB5CCNAME".into(), "KCM:".into())];
        assert_eq!(s.call(Hook::Setcred(Cred::Refresh), &[]), pam::IGNORE);
        assert!(s.kernel.calls.is_empty(), "{:?}", s.kernel.calls);
    }
}

#[test]
fn a_tag_is_given_at_creation_and_again_after_initgroups() {
    // sshd: setcred (creates), open_session, then setcred in the child
    // after initgroups: the tag is added each time.
    let mut s = Script::new();
    s.options.tag_gids = Some(70_000..=70_099);
    s.kernel.tag = Some(70_007);
    s.call(Hook::Setcred(Cred::Establish), &[]);
    s.call(Hook::OpenSession, &[]);
    s.call(Hook::Setcred(Cred::Establish), &[]);
    assert_eq!(
        s.kernel.calls,
        ["create owner=Root link=true", "group 70007", "group 70007", "group 70007"],
        "{:#?}",
        s.texts()
    );
    assert!(s.texts().iter().any(|t| t.ends_with("PAG 777 has tag gid 70007")), "{:#?}", s.texts());
}

#[test]
fn an_unsafe_tag_range_gives_no_tag_and_says_why() {
    let mut s = Script::new();
    s.options.tag_gids = Some(70_000..=70_099);
    s.kernel.tag = Some(70_007);
    s.kernel.tag_conflicts = vec!["group proj has gid 70050, inside tag_gids".into()];
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    assert_eq!(s.kernel.calls, ["create owner=Root link=true"]);
    let texts = s.texts();
    assert!(
        texts.iter().any(|t| t.ends_with("no tag for this login: group proj has gid 70050, inside tag_gids")),
        "{texts:#?}"
    );
    assert!(!texts.iter().any(|t| t.contains("no free tag gid")), "{texts:#?}");
}

/// A login with `kcm` on, a tag, and pam_krb5's FILE: cache in the PAM environment.
fn kcm_login() -> Script {
    let mut s = Script::new();
    s.options.kcm = true;
    s.options.tag_gids = Some(70_000..=70_099);
    s.kernel.tag = Some(70_007);
    s.kernel.handback = moved_to_kcm;
    s.handle.env = vec![("KRB5CCNAME".into(), "FILE:/tmp/krb5cc_1000".into())];
    s
}

fn krb5ccname(s: &Script) -> Option<String> {
    s.handle.getenv("KRB5CCNAME")
}

fn asked_to_move(run: &Run) -> bool {
    run.env.iter().any(|(k, v)| k == "PAG_MOVE_TO_KCM" && v == "1")
}

#[test]
fn kcm_runs_the_program_with_the_tag_and_follows_its_reported_move() {
    let mut s = kcm_login();
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    let run = &s.kernel.runs[0];
    assert!(asked_to_move(run), "{:?}", run.env);
    assert_eq!(run.extra_groups, [70_007]);
    assert_eq!(run.env[0], ("KRB5CCNAME".into(), "FILE:/tmp/krb5cc_1000".into()));
    assert_eq!(krb5ccname(&s).as_deref(), Some("KCM:"));
    assert_eq!(
        s.kernel.calls,
        ["create owner=Root link=true", "group 70007", "run /bin/tokens", "store Some(777) example.org"]
    );
    assert!(
        s.texts().contains(
            &"pam_pag(sshd:session): user alice: kcm: moved the tickets from FILE:/tmp/krb5cc_1000 into KCM:; \
              KRB5CCNAME=KCM:"
                .to_owned()
        ),
        "{:#?}",
        s.texts()
    );
    // A later refresh finds the tickets in KCM: and asks for nothing.
    assert_eq!(s.call(Hook::Setcred(Cred::Refresh), &[]), pam::SUCCESS);
    let again = &s.kernel.runs[1];
    assert!(!asked_to_move(again) && again.extra_groups.is_empty());
    assert_eq!(again.env[0], ("KRB5CCNAME".into(), "KCM:".into()));
}

#[test]
fn without_kcm_nothing_is_asked_and_a_report_is_ignored() {
    let mut s = kcm_login();
    s.options.kcm = false;
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    let run = &s.kernel.runs[0];
    assert!(!asked_to_move(run) && run.extra_groups.is_empty(), "{run:?}");
    assert_eq!(krb5ccname(&s).as_deref(), Some("FILE:/tmp/krb5cc_1000"));
    assert!(
        s.texts().iter().any(|t| t.ends_with("reported on the ticket cache without being asked to; ignored")),
        "{:#?}",
        s.texts()
    );
}

#[test]
fn kcm_without_a_tag_moves_nothing_and_says_so() {
    for no_tag in ["tag_gids unset", "none free"] {
        let mut s = kcm_login();
        if no_tag == "tag_gids unset" {
            s.options.tag_gids = None;
        } else {
            s.kernel.tag = None;
        }
        assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
        let run = &s.kernel.runs[0];
        assert!(!asked_to_move(run) && run.extra_groups.is_empty(), "{no_tag}: {run:?}");
        assert_eq!(krb5ccname(&s).as_deref(), Some("FILE:/tmp/krb5cc_1000"), "{no_tag}");
        let line =
            "pam_pag(sshd:session): user alice: kcm: this login has no tag (tag_gids unset or none free), \
                    so there is no login cache to move its tickets to; they stay in FILE:/tmp/krb5cc_1000";
        assert!(s.texts().contains(&line.to_owned()), "{no_tag}: {:#?}", s.texts());
    }
}

#[test]
fn kcm_move_not_reported_or_failed_leaves_krb5ccname_with_one_line() {
    type Case = (fn() -> Handback, &'static str);
    let cases: [Case; 3] = [
        (
            one_token,
            "kcm: /bin/tokens did not report moving the tickets into KCM: (a token program must understand \
             PAG_MOVE_TO_KCM; see pam_pag(8)); they stay in FILE:/tmp/krb5cc_1000 and KRB5CCNAME is unchanged",
        ),
        (
            || Ok(Message { tokens: vec![], ccache: Some(CcacheReport::NotMoved("No KCM server found".into())) }),
            "kcm: /bin/tokens could not move the tickets into KCM: (No KCM server found); they stay in \
             FILE:/tmp/krb5cc_1000 and KRB5CCNAME is unchanged",
        ),
        (
            || Err(HandoverError::TrailingBytes(3)),
            "kcm: /bin/tokens did not report moving the tickets into KCM: (a token program must understand \
             PAG_MOVE_TO_KCM; see pam_pag(8)); they stay in FILE:/tmp/krb5cc_1000 and KRB5CCNAME is unchanged",
        ),
    ];
    for (handback, line) in cases {
        let mut s = kcm_login();
        s.kernel.handback = handback;
        s.kernel.source_left = true;
        assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
        assert!(asked_to_move(&s.kernel.runs[0]));
        assert_eq!(krb5ccname(&s).as_deref(), Some("FILE:/tmp/krb5cc_1000"));
        let kcm_lines: Vec<String> = s.texts().into_iter().filter(|t| t.contains("kcm: ")).collect();
        assert_eq!(kcm_lines, [format!("pam_pag(sshd:session): user alice: {line}")]);
    }
}

#[test]
fn a_reported_move_that_left_the_file_cache_behind_is_followed_and_flagged() {
    let mut s = kcm_login();
    s.kernel.source_left = true;
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    assert_eq!(krb5ccname(&s).as_deref(), Some("KCM:"));
    assert!(
        s.texts().iter().any(|t| t.ends_with(
            "kcm: moved the tickets into KCM: and set KRB5CCNAME=KCM:, but /tmp/krb5cc_1000 is still there"
        )),
        "{:#?}",
        s.texts()
    );
}

#[test]
fn kcm_with_the_tickets_in_kcm_already_asks_for_nothing() {
    let mut s = kcm_login();
    s.handle.env = vec![("KRB5CCNAME".into(), "KCM:".into())];
    s.kernel.handback = one_token;
    assert_eq!(s.call(Hook::OpenSession, &[]), pam::SUCCESS);
    assert!(!asked_to_move(&s.kernel.runs[0]));
    assert!(!s.texts().iter().any(|t| t.contains("kcm:")), "{:#?}", s.texts());
}
