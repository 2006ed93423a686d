//! End-to-end scenarios of issue 5 section 2: real logins (sshd, `su -l`,
//! `login` on a pty) through the built pam_pag.so, tokens from the built
//! aklog against a real MIT KDC, all in test containers. One test each.
//! Needs root (CI runs as root) and the workspace built (`cargo build
//! --workspace`: aklog and tokens are binaries of another crate).

mod support;

use std::time::{Duration, Instant};

use pag_tests::container::{shell_quote, As, Container, ContainerBuilder, PamStack, User};
use pag_tests::kdc::SilentPort;
use pag_tests::kerberos_site::{KerberosSite as Site, KRB_PASSWORD};
use pag_tests::site::{self, Built, CELL, REALM};
use pag_tests::syslog::Capture;

type Result<T = ()> = pag_tests::container::Result<T>;

const WITH_SECCOMP: &str = env!("CARGO_BIN_EXE_with-seccomp");
const TOKEN_KEY: &str = "afs@example.org";

/// What `keyctl show @s` says about a session's keyring.
#[derive(Debug)]
struct SessionKeyring {
    serial: String,
    owner: String,
    /// pam_pag's marker key is linked in it: the keyring is a PAG.
    marker: bool,
    /// Serial of the cell's token key, if it holds one.
    token: Option<String>,
}

impl SessionKeyring {
    #[track_caller]
    fn parse(keyctl_show: &str) -> Self {
        let (serial, owner, _) = support::session_keyring(keyctl_show);
        let child = |name: &str| {
            keyctl_show
                .lines()
                .find(|l| l.trim_end().ends_with(&format!("user: {name}")))
                .and_then(|l| l.split_whitespace().next())
                .map(str::to_owned)
        };
        Self { serial, owner, marker: child("pag:marker").is_some(), token: child(TOKEN_KEY) }
    }

    #[track_caller]
    fn assert_pag_with_token(&self, context: &str) {
        assert!(self.marker, "not a PAG: {self:?}\n{context}");
        assert!(self.token.is_some(), "no {TOKEN_KEY} token in the PAG: {self:?}\n{context}");
    }
}

/// `tokens` listed the cell's token of `user`.
#[track_caller]
fn assert_tokens_lists_cell(output: &str, user: &str) {
    assert!(
        output.contains(&format!("({user}@{REALM}) tokens for {TOKEN_KEY}")),
        "`tokens` does not list {user}'s token for {CELL}:\n{output}"
    );
}

fn keyctl_and_tokens(built: &Built) -> String {
    format!("keyctl show @s; echo ---; {}", built.tokens())
}

#[test]
fn ssh_password_through_pam_krb5_gives_a_fresh_pag_holding_the_cell_token() -> Result {
    let site = Site::kerberos(&["alice"], "")?;
    let out = site.ssh_kerberos("alice", &keyctl_and_tokens(&site.built))?;
    out.assert_success();
    let ring = SessionKeyring::parse(&out.stdout);
    ring.assert_pag_with_token(&out.stdout);
    assert_tokens_lists_cell(&out.stdout, "alice");
    let created = site.wait_for_log("created PAG")?;
    assert!(created.contains(&format!("created PAG {}", ring.serial)), "{created}");
    // Fresh: a second login gets another PAG.
    let again = SessionKeyring::parse(&site.ssh_kerberos("alice", "keyctl show @s")?.stdout);
    assert_ne!(again.serial, ring.serial);
    site.teardown()
}

#[test]
fn ssh_public_key_without_kerberos_gives_a_fresh_pag_and_no_token() -> Result {
    let built = Built::find()?;
    let stack = site::pag_stack(&built, "");
    let site = Site::start(&["bob"], stack, built, |b| b)?;
    let out = site.ct.ssh("bob").key().run(&keyctl_and_tokens(&site.built))?;
    out.assert_success();
    let ring = SessionKeyring::parse(&out.stdout);
    assert!(ring.marker && ring.token.is_none(), "{ring:?}\n{out:?}");
    assert!(out.stdout.contains(&format!("Tokens held in PAG {}", ring.serial)), "{out:?}");
    assert!(!out.stdout.contains("tokens for"), "{out:?}");
    site.teardown()
}

/// Session A's view of session B: each probe prints `name=<exit status>`.
const PROBE_B: &str = r#"
B_RING=$(awk '/keyring: _ses/ {print $1; exit}' /tmp/b-show)
B_TOKEN=$(awk '/user: afs@example.org/ {print $1; exit}' /tmp/b-show)
A_TOKEN=$(keyctl show @s | awk '/user: afs@example.org/ {print $1; exit}')
keyctl print "$A_TOKEN" >/dev/null; echo "own-token-read=$?"
keyctl print "$B_TOKEN"; echo "token-read=$?"
keyctl pipe "$B_TOKEN" >/dev/null; echo "token-pipe=$?"
keyctl search "$B_RING" user afs@example.org; echo "ring-search=$?"
keyctl link "$B_RING" @s; echo "ring-link=$?"
keyctl rdescribe "$B_RING"; echo "ring-describe=$?"
for name in _ses pag pag:marker afs@example.org "$B_RING"; do
  joined=$(keyctl session "$name" keyctl show @s | awk '/keyring:/ {print $1; exit}')
  [ "$joined" = "$B_RING" ]; echo "join-$name=$?"
done
for serial in "$B_RING" "$B_TOKEN"; do
  grep -qi "^$(printf '%08x' "$serial") " /proc/keys; echo "proc-keys-$serial=$?"
done
"#;

#[test]
fn two_concurrent_ssh_sessions_are_isolated_from_each_other() -> Result {
    let site = Site::kerberos(&["carol"], "")?;
    let b = site.ct.ssh("carol").with_password(KRB_PASSWORD).spawn(
        "keyctl show @s > /tmp/b-show; touch /tmp/b-ready; while [ ! -e /tmp/a-done ]; do sleep 0.05; done",
    )?;
    let a = site.ssh_kerberos(
        "carol",
        &format!("while [ ! -e /tmp/b-ready ]; do sleep 0.05; done; {PROBE_B} touch /tmp/a-done"),
    )?;
    let b = b.wait(Duration::from_secs(30))?;
    b.assert_success();
    a.assert_success();
    let b_show = site.ct.exec(&As::Root, &["cat", "/tmp/b-show"])?;
    let b_ring = SessionKeyring::parse(&b_show.stdout);
    b_ring.assert_pag_with_token(&b_show.stdout);
    let results: Vec<(&str, &str)> = a.stdout.lines().filter_map(|l| l.split_once('=')).collect();
    let status = |probe: &str| results.iter().find(|(p, _)| *p == probe).map(|(_, s)| *s);
    assert_eq!(status("own-token-read"), Some("0"), "control: A reads its own token\n{a:?}");
    for probe in ["token-read", "token-pipe", "ring-search", "ring-link", "ring-describe"] {
        assert_eq!(status(probe), Some("1"), "{probe} of B's keys from A must fail\n{a:?}");
    }
    let joins: Vec<&&str> = results.iter().filter(|(p, _)| p.starts_with("join-")).map(|(_, s)| s).collect();
    assert_eq!(joins.len(), 5, "{a:?}");
    assert!(joins.iter().all(|s| **s == "1"), "joining by a name reached B's PAG\n{a:?}");
    let listed: Vec<&(&str, &str)> = results.iter().filter(|(p, _)| p.starts_with("proc-keys-")).collect();
    assert_eq!(listed.len(), 2, "{a:?}");
    assert!(listed.iter().all(|(_, s)| *s == "1"), "/proc/keys in A shows B's keys\n{a:?}");
    a.assert_stderr_contains("Permission denied");
    site.teardown()
}

#[test]
fn su_l_with_the_shipped_su_l_stack_gives_a_pag() -> Result {
    let built = Built::find()?;
    let su_stack = shipped_stack("su-l", &built);
    let ct = with_system_stacks(Container::builder(), &built)
        .user(User::new("dave"))
        .pam("su-l", su_stack)
        .start()?;
    let log = Capture::bind(&ct.dev_log_path()).map_err(|e| format!("syslog capture: {e}"))?;
    let out = ct.su_l("dave", &format!("id -un; {}", keyctl_and_tokens(&built)))?;
    out.assert_success();
    assert!(out.stdout.starts_with("dave\n"), "{out:?}");
    let ring = SessionKeyring::parse(&out.stdout);
    assert!(ring.marker, "{out:?}");
    assert!(out.stdout.contains(&format!("Tokens held in PAG {}", ring.serial)), "{out:?}");
    assert!(log
        .sync()
        .iter()
        .any(|l| l.message.contains("pam_pag(su-l:session)") && l.message.contains("created PAG")));
    ct.teardown()?;
    Ok(())
}

#[test]
fn login_on_a_pty_with_the_shipped_login_stack_gets_a_pag_with_the_token() -> Result {
    let built = Built::find()?;
    let stack = shipped_stack("login", &built);
    let config = built.clone();
    let site = Site::start(&["erin"], PamStack::unix(), built, |b| {
        with_system_stacks(b, &config).pam("login", stack)
    })?;
    let t = Duration::from_secs(30);
    let mut tty = site.ct.login()?;
    tty.expect("login: ", t)?;
    tty.send_line("erin")?;
    tty.expect("Password: ", t)?;
    tty.send_line(KRB_PASSWORD)?;
    tty.expect("$ ", t)?;
    let (text, status) = tty.run(&keyctl_and_tokens(&site.built), t)?;
    assert_eq!(status, 0, "{text}");
    SessionKeyring::parse(&text).assert_pag_with_token(&text);
    assert_tokens_lists_cell(&text, "erin");
    tty.send_line("exit")?;
    tty.wait(t)?;
    site.wait_for_log("pam_pag(login:session)")?;
    site.teardown()
}

/// Log in with `on_close=<mode>`, leave a process behind (`setsid -f`, or
/// `nohup ... &` when `nohup`), log out, and let the process report its
/// keyring and tokens after pam_pag closed the session.
fn survivor_after_logout(on_close: &str, nohup: bool) -> Result<(SessionKeyring, String, Site)> {
    let site = Site::kerberos(&["frank"], &format!("on_close={on_close}"))?;
    let report = format!(
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; {{ keyctl show @s; echo ---; {}; }} > /tmp/after.tmp 2>&1; mv /tmp/after.tmp /tmp/after",
        site.built.tokens()
    );
    let detach = if nohup {
        format!("nohup sh -c {} >/dev/null 2>&1 </dev/null &", shell_quote(&report))
    } else {
        format!("setsid -f sh -c {} >/dev/null 2>&1 </dev/null", shell_quote(&report))
    };
    let out = site.ssh_kerberos("frank", &format!("keyctl show @s; {detach}"))?;
    out.assert_success();
    let during = SessionKeyring::parse(&out.stdout);
    during.assert_pag_with_token(&out.stdout);
    site.wait_for_log("session closed")?;
    site.ct
        .sh(&As::Root, "touch /tmp/go; while [ ! -e /tmp/after ]; do sleep 0.05; done; cat /tmp/after")
        .map(|after| (during, after.stdout, site))
}

#[test]
fn setsid_process_keeps_pag_and_token_after_logout_with_on_close_retain() -> Result {
    let (during, after, site) = survivor_after_logout("retain", false)?;
    let now = SessionKeyring::parse(&after);
    assert_eq!(now.serial, during.serial, "the process left the PAG:\n{after}");
    assert_eq!(now.token, during.token, "the token went away:\n{after}");
    assert_tokens_lists_cell(&after, "frank");
    site.teardown()
}

#[test]
fn nohup_process_keeps_pag_but_loses_token_with_on_close_unlog() -> Result {
    let (during, after, site) = survivor_after_logout("unlog", true)?;
    let now = SessionKeyring::parse(&after);
    assert_eq!(now.serial, during.serial, "the process left the PAG:\n{after}");
    assert!(now.marker && now.token.is_none(), "token still there after unlog:\n{after}");
    assert!(!after.contains("tokens for"), "{after}");
    site.teardown()
}

#[test]
fn setsid_process_finds_pag_revoked_with_on_close_revoke() -> Result {
    let (_, after, site) = survivor_after_logout("revoke", false)?;
    assert!(after.contains("Key has been revoked"), "the PAG is not revoked:\n{after}");
    assert!(!after.contains("tokens for"), "{after}");
    site.teardown()
}

fn key_login_shows_pag_with(stack: PamStack, built: Built) -> Result {
    let site = Site::start(&["grace"], stack, built, |b| b)?;
    let out = site.ct.ssh("grace").key().run("keyctl show @s")?;
    out.assert_success();
    let ring = SessionKeyring::parse(&out.stdout);
    assert!(ring.marker && ring.owner == "0", "the session keyring is not pam_pag's PAG: {ring:?}\n{out:?}");
    assert_eq!(site.pam_pag_lines("sshd").iter().filter(|l| l.contains("created PAG")).count(), 1);
    site.teardown()
}

#[test]
fn pam_keyinit_before_pam_pag_ends_in_the_pag() -> Result {
    let built = Built::find()?;
    let stack = PamStack::unix_auth()
        .session("optional", "pam_keyinit.so force revoke")
        .session("required", &built.pam_pag(""))
        .session("required", "pam_unix.so");
    key_login_shows_pag_with(stack, built)
}

#[test]
fn pam_pag_alone_in_pam_keyinit_place_gives_the_pag() -> Result {
    let built = Built::find()?;
    let stack = site::pag_stack(&built, "");
    key_login_shows_pag_with(stack, built)
}

/// sshd under a seccomp filter failing the key system calls with `mode`:
/// the login works (`session required pam_pag.so`) and pam_pag logs one line.
fn login_with_keyrings_blocked(mode: &str) -> Result {
    let built = Built::find()?;
    let stack = site::pag_stack(&built, "");
    let site = Site::start(&["heidi"], stack, built, |b| b.sshd_under(&[WITH_SECCOMP, mode, "--"]))?;
    let out = site.ct.ssh("heidi").key().run("id -un")?;
    out.assert_success();
    assert_eq!(out.stdout, "heidi\n");
    // pam_unix closes after pam_pag: once its line is in, pam_pag has said all it will.
    site.wait_for_log("session closed for user heidi")?;
    let lines = site.pam_pag_lines("sshd");
    assert_eq!(lines.len(), 1, "one log line for the login: {lines:?}");
    assert!(lines[0].contains("no PAG for this session"), "{lines:?}");
    site.teardown()
}

#[test]
fn login_works_when_keyctl_fails_with_eperm() -> Result {
    login_with_keyrings_blocked("eperm")
}

#[test]
fn login_works_when_keyctl_fails_with_enosys() -> Result {
    login_with_keyrings_blocked("enosys")
}

#[test]
fn a_kdc_that_never_answers_delays_the_login_only_by_the_time_limit() -> Result {
    let built = Built::find()?;
    let stack = site::pag_stack(&built, "always_aklog timeout=2");
    let site = Site::start(&["ivan"], stack, built, |b| b)?;
    // A TGT in ivan's default cache, from the real KDC ...
    site.ct
        .exec_with_input(&As::User("ivan".into()), &["kinit", "ivan"], &format!("{KRB_PASSWORD}\n"))?
        .assert_success();
    // ... which then stops answering: krb5.conf points at a port that accepts and never replies.
    let silent = site.ct.in_network_namespace(SilentPort::bind)?.map_err(|e| e.to_string())?;
    let kdc = site.kdc.as_ref().expect("KDC");
    let conf = kdc.write_client_config("silent", "", Some(silent.addr())).map_err(|e| e.to_string())?;
    site.ct.write_file("/etc/krb5.conf", &std::fs::read_to_string(conf).unwrap(), 0o644)?;
    let began = Instant::now();
    let out = site.ct.ssh("ivan").key().run("keyctl show @s")?;
    let took = began.elapsed();
    out.assert_success();
    assert!(SessionKeyring::parse(&out.stdout).marker, "{out:?}");
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(15), "login took {took:?}");
    site.wait_for_log("did not finish within 2 s and was killed")?;
    drop(silent);
    site.teardown()
}

#[test]
fn three_hundred_concurrent_su_sessions_each_have_their_pag_and_token() -> Result {
    const SESSIONS: usize = 300;
    let built = Built::find()?;
    let su_stack = PamStack::su().extend(PamStack::new().session("required", &built.pam_pag("always_aklog")));
    let site = Site::start(&["judy"], PamStack::unix(), built, |b| b.pam("su-l", su_stack))?;
    // Every session's aklog finds this TGT in judy's default cache.
    site.ct
        .exec_with_input(&As::User("judy".into()), &["kinit", "judy"], &format!("{KRB_PASSWORD}\n"))?
        .assert_success();
    site.ct.sh(&As::Root, "mkdir -m 1777 /tmp/s && mkfifo -m 666 /tmp/go")?.assert_success();
    // Each session reports, then blocks on the fifo: all stay open until released.
    let session = format!(
        "{{ keyctl show @s; echo ---; {}; }} > /tmp/s/$$.tmp 2>&1; mv /tmp/s/$$.tmp /tmp/s/$$; cat /tmp/go >/dev/null",
        site.built.tokens()
    );
    let su = format!("su -l judy -c {}", shell_quote(&session));
    let began = Instant::now();
    let running: Vec<_> =
        (0..SESSIONS).map(|_| site.ct.sh_background(&As::Root, &su)).collect::<Result<_>>()?;
    let reports_dir = site.ct.host_path("/tmp/s").expect("private /tmp");
    let deadline = Instant::now() + Duration::from_secs(240);
    while std::fs::read_dir(&reports_dir)
        .map(|d| d.flatten().filter(|e| !e.file_name().to_string_lossy().ends_with(".tmp")).count())
        .unwrap_or(0)
        < SESSIONS
    {
        assert!(Instant::now() < deadline, "not all {SESSIONS} sessions reported in time");
        std::thread::sleep(Duration::from_millis(100));
    }
    // All 300 are open now; one more adds a 600-byte key in its own PAG.
    let extra = site
        .ct
        .su_l("judy", "head -c 600 /dev/zero | keyctl padd user big @s >/dev/null && keyctl show @s")?;
    extra.assert_success();
    eprintln!("{SESSIONS} concurrent sessions opened in {:?}", began.elapsed());
    release_readers(&site.ct.host_path("/tmp/go").unwrap(), running)?;
    let mut serials = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&reports_dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let ring = SessionKeyring::parse(&text);
        ring.assert_pag_with_token(&text);
        assert_tokens_lists_cell(&text, "judy");
        serials.insert(ring.serial);
    }
    assert_eq!(serials.len(), SESSIONS, "sessions shared PAGs");
    let extra_ring = SessionKeyring::parse(&extra.stdout);
    assert!(extra_ring.marker && !serials.contains(&extra_ring.serial), "{extra:?}");
    site.teardown()
}

/// Open and close the fifo's write end until every session has ended: each
/// open releases the readers blocked at that moment, including late ones.
fn release_readers(fifo: &std::path::Path, mut running: Vec<pag_tests::container::Background>) -> Result {
    use std::os::unix::fs::OpenOptionsExt;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !running.is_empty() {
        // ENXIO (no reader at this instant) is expected between releases.
        let _ = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(fifo);
        std::thread::sleep(Duration::from_millis(50));
        let mut i = 0;
        while i < running.len() {
            if running[i].is_running() {
                i += 1;
            } else {
                running.swap_remove(i).wait(Duration::from_secs(5))?.assert_success();
            }
        }
        assert!(Instant::now() < deadline, "{} sessions did not end", running.len());
    }
    Ok(())
}

/// The example stack `conf/pam.d/<service>` as shipped, with the built
/// module in place of the bare `pam_pag.so`.
fn shipped_stack(service: &str, built: &Built) -> PamStack {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/pam.d").join(service);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    PamStack::from_text(&text).replace_module("pam_pag.so", &built.pam_pag.display().to_string())
}

/// A container with Debian's pam.d (stock stacks, `common-*` from
/// pam-auth-update with pam_krb5's profile) that configures pam_pag through
/// its TOML file, as a site would.
fn with_system_stacks(builder: ContainerBuilder, built: &Built) -> ContainerBuilder {
    let config = format!("[pam]\nprogram = \"{}\"\ncells = [\"{CELL}\"]\n", built.aklog.display());
    builder.debian_pam().file("/etc/security/pam_pag.toml", &config, 0o644)
}

#[test]
fn the_shipped_sshd_stack_with_debians_common_stacks_gives_a_pag_with_the_token() -> Result {
    let built = Built::find()?;
    let stack = shipped_stack("sshd", &built);
    let config = built.clone();
    let site = Site::start(&["kim"], stack, built, |b| with_system_stacks(b, &config))?;
    let out = site.ssh_kerberos("kim", &keyctl_and_tokens(&site.built))?;
    out.assert_success();
    SessionKeyring::parse(&out.stdout).assert_pag_with_token(&out.stdout);
    assert_tokens_lists_cell(&out.stdout, "kim");
    site.teardown()
}

/// Log in with `on_close=<mode>`, get a renewable 12 s ticket and a token,
/// and leave a job behind under `aklog --renew` (`setsid -f`); log out. The
/// job reports its token once a second for 36 s (`ok <expiry>`, `MISSING`,
/// `EXPIRED`), with a `logout` line when the session has closed. The
/// session waits for the job to start: the renewer copies the login's
/// ticket first, and logout destroys the login's cache. Returns
/// the job's report and what the renewer said.
fn renewing_job_after_logout(on_close: &str) -> Result<(String, String, Site)> {
    let site = Site::kerberos(&["henry"], &format!("on_close={on_close}"))?;
    let (aklog, tokens) = (site.built.aklog.display().to_string(), site.built.tokens());
    let job = format!(
        "touch /tmp/started; i=0; while [ $i -lt 36 ]; do i=$((i+1)); \
         [ -e /tmp/loggedout ] && [ ! -e /tmp/said ] && touch /tmp/said && echo logout; \
         e=$({tokens} --json | sed -n 's/.*\"expires\": *\\([0-9]*\\).*/\\1/p' | head -n 1); \
         if [ -z \"$e\" ]; then echo MISSING; elif [ \"$e\" -le \"$(date +%s)\" ]; then echo EXPIRED; \
         else echo \"ok $e\"; fi; sleep 1; done > /tmp/job.tmp; mv /tmp/job.tmp /tmp/job"
    );
    let session = format!(
        "echo {pw} | kinit -l 12s -r 5m henry >/dev/null && {aklog} -c {CELL} && \
         setsid -f {aklog} --renew -c {CELL} -- sh -c {job} >/tmp/renewer 2>&1 </dev/null && \
         while [ ! -e /tmp/started ]; do sleep 0.1; done",
        pw = shell_quote(KRB_PASSWORD),
        job = shell_quote(&job)
    );
    site.ssh_kerberos("henry", &session)?.assert_success();
    site.wait_for_log("session closed")?;
    let report = site.ct.sh(
        &As::Root,
        "touch /tmp/loggedout; n=0; while [ ! -e /tmp/job ] && [ $n -lt 300 ]; do sleep 0.2; n=$((n+1)); done; \
         cat /tmp/job; echo ---; cat /tmp/renewer",
    )?;
    let (job_report, renewer) =
        report.stdout.split_once("---\n").ok_or_else(|| format!("no report: {report:?}"))?;
    Ok((job_report.to_owned(), renewer.to_owned(), site))
}

/// The lines of a job's report after the logout, and the distinct expiries
/// of its `ok` lines there.
fn after_logout(report: &str) -> (Vec<&str>, std::collections::BTreeSet<&str>) {
    let after: Vec<&str> = report.lines().skip_while(|l| *l != "logout").skip(1).collect();
    let expiries = after.iter().filter_map(|l| l.strip_prefix("ok ")).collect();
    (after, expiries)
}

#[test]
fn a_renewed_job_left_behind_keeps_fresh_tokens_after_logout_with_on_close_retain() -> Result {
    let (report, renewer, site) = renewing_job_after_logout("retain")?;
    let (after, expiries) = after_logout(&report);
    assert!(after.len() >= 20, "the job ran on after the logout:\n{report}\n{renewer}");
    assert!(after.iter().all(|l| l.starts_with("ok ")), "the token lapsed:\n{report}\n{renewer}");
    assert!(expiries.len() >= 2, "renewed after the logout (12 s tickets):\n{report}\n{renewer}");
    site.teardown()
}

#[test]
fn a_renewer_does_not_add_back_what_logout_removed_with_on_close_unlog() -> Result {
    let (report, renewer, site) = renewing_job_after_logout("unlog")?;
    let (after, _) = after_logout(&report);
    assert!(after.len() >= 20, "the job ran on after the logout:\n{report}\n{renewer}");
    assert!(after.iter().all(|l| *l == "MISSING"), "a token came back after logout:\n{report}\n{renewer}");
    assert!(renewer.contains("was removed (unlog or logout): it is not renewed any more"), "{renewer}");
    site.teardown()
}
