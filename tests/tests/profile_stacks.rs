//! pam_pag's pam-auth-update profile (`conf/pam-configs/pag`), enabled by the
//! real pam-auth-update inside a container with Debian's stock stacks and
//! pam_krb5's profile (issue 13, items 4 and 10): where its lines land, an
//! ssh login through the result, and every way Debian switches users (su,
//! su -, sudo, sudo -i, runuser, cron) putting the target in a PAG of its
//! own, away from the caller's keys. Needs root (CI runs as root) and the
//! workspace built (`cargo build --workspace`).

use pag_tests::container::{shell_quote, As, Container, ContainerBuilder, Output, User};
use pag_tests::kdc::Kdc;
use pag_tests::site::{self, Built, CELL, REALM};

type Result<T = ()> = pag_tests::container::Result<T>;

const KRB_PASSWORD: &str = "kerberos pw";
const TOKEN_KEY: &str = "afs@example.org";

/// The shipped profile with the built module in place of `pam_pag.so`.
fn profile(built: &Built) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/pam-configs/pag");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.replace("pam_pag.so", &built.pam_pag.display().to_string())
}

/// A Debian container (stock stacks, pam_krb5's profile) with pam_pag's
/// profile enabled by pam-auth-update, configured through its file, with
/// bob and alice, sshd and a KDC knowing both.
struct Site {
    built: Built,
    kdc: Option<Kdc>,
    ct: Container,
}

impl Site {
    fn start(more: impl FnOnce(ContainerBuilder) -> ContainerBuilder) -> Result<Self> {
        let built = Built::find()?;
        let config = format!("[pam]\nprogram = \"{}\"\ncells = [\"{CELL}\"]\n", built.aklog.display());
        let builder = Container::builder()
            .debian_pam()
            .pam_profile("pag", &profile(&built))
            .enable_profile("pag")
            .file("/etc/security/pam_pag.toml", &config, 0o644)
            .user(User::new("bob").password("unix pw"))
            .user(User::new("alice").password("unix pw"))
            .sshd();
        let ct = more(builder).start()?;
        let kdc = site::start_kdc(&ct)?;
        for user in ["bob", "alice"] {
            site::add_user(&kdc, user, KRB_PASSWORD)?;
        }
        Ok(Self { built, kdc: Some(kdc), ct })
    }

    fn common(&self, name: &str) -> String {
        let path = self.ct.host_path(&format!("/etc/pam.d/{name}")).expect("pam.d is private");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// bob logs in over ssh with his Kerberos password (PAG + token), then
    /// runs `switch`, a shell command that switches to alice and runs
    /// [`report`] as her. Returns the whole output.
    fn switch_from_bobs_login(&self, switch: &str) -> Result<Output> {
        let script = format!("{bob}; echo '=== target'; {switch}", bob = report(true, &self.built.tokens()),);
        self.ct.ssh("bob").with_password(KRB_PASSWORD).run(&script)
    }

    fn teardown(mut self) -> Result {
        drop(self.kdc.take());
        self.ct.teardown()?;
        Ok(())
    }
}

/// Shell lines printing who runs, the session keyring, whether it is a PAG
/// (pam_pag's marker in it), the serial of the token in it, and `tokens`.
/// As the caller it also saves the token's serial in /tmp/caller-token; as
/// the target it tries to read that key.
fn report(caller: bool, tokens: &str) -> String {
    let mine = if caller {
        // The caller: remember the token (or, for root, a secret key) for the target to try.
        "keyctl search @s user afs@example.org > /tmp/caller-token 2>/dev/null || \
         keyctl add user caller-secret s3cret @s > /tmp/caller-token; chmod 644 /tmp/caller-token"
    } else {
        "if keyctl print \"$(cat /tmp/caller-token)\" >/dev/null 2>&1; then echo 'caller-key: READABLE'; \
         else echo 'caller-key: denied'; fi"
    };
    format!(
        "echo \"user: $(id -un)\"; echo \"ring: $(keyctl rdescribe @s | cut -d';' -f5) \
         $(keyctl show @s | sed -n 2p | awk '{{print $1}}')\"; \
         keyctl show @s | grep -q 'user: pag:marker' && echo 'pag: yes' || echo 'pag: no'; \
         {mine}; {tokens} 2>&1 | sed 's/^/tokens: /'"
    )
}

/// What [`report`] printed for the caller and for the target.
#[derive(Debug)]
struct Reports {
    caller_ring: String,
    target: String,
    target_ring: String,
}

#[track_caller]
fn parse(out: &Output) -> Reports {
    out.assert_success();
    let (caller, target) = out.stdout.split_once("=== target").unwrap_or_else(|| panic!("{out:?}"));
    let ring = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("ring: "))
            .map(|r| r.split_whitespace().last().unwrap_or("").to_owned())
            .unwrap_or_else(|| panic!("no session keyring line in {text}\n{out:?}"))
    };
    Reports { caller_ring: ring(caller), target_ring: ring(target), target: target.to_owned() }
}

/// The target runs as `user`, in a PAG that is not the caller's, and cannot
/// read the caller's token (or key).
#[track_caller]
fn assert_own_pag(r: &Reports, user: &str, out: &Output) {
    assert!(r.target.contains(&format!("user: {user}\n")), "target is not {user}: {out:?}");
    assert!(r.target.contains("pag: yes"), "target is not in a PAG: {out:?}");
    assert_ne!(r.caller_ring, r.target_ring, "target stayed in the caller's session keyring: {out:?}");
    assert!(r.target.contains("caller-key: denied"), "target can read the caller's key: {out:?}");
    assert!(!r.target.contains("(bob@"), "target lists bob's token: {out:?}");
}

#[test]
fn pam_auth_update_puts_pam_pag_after_pam_krb5_in_both_session_files() -> Result {
    let site = Site::start(|b| b)?;
    for file in ["common-session", "common-session-noninteractive"] {
        let text = site.common(file);
        let line = |module: &str| {
            text.lines()
                .position(|l| !l.starts_with('#') && l.contains(module))
                .unwrap_or_else(|| panic!("{file} has no {module} line:\n{text}"))
        };
        assert!(line("pam_krb5.so") < line("libpam_pag.so"), "{file}: pam_pag before pam_krb5:\n{text}");
        assert!(line("libpam_pag.so") < line("pam_unix.so"), "{file}: pam_pag after pam_unix:\n{text}");
    }
    // No auth line: a PAG made at setcred would be replaced by the
    // `pam_keyinit.so force` that Debian's service stacks run before common-session.
    let auth = site.common("common-auth");
    assert!(!auth.contains("libpam_pag.so"), "{auth}");
    site.teardown()
}

#[test]
fn ssh_login_through_the_enabled_profile_gives_a_pag_with_the_token() -> Result {
    let site = Site::start(|b| b)?;
    let out = site.ct.ssh("bob").with_password(KRB_PASSWORD).run(&report(true, &site.built.tokens()))?;
    out.assert_success().assert_stdout_contains("pag: yes");
    out.assert_stdout_contains(&format!("(bob@{REALM}) tokens for {TOKEN_KEY}"));
    site.teardown()
}

/// `su` from bob's login; alice's Kerberos password on su's standard input.
fn su(login: &str) -> Result {
    let site = Site::start(|b| b)?;
    let target = report(false, &site.built.tokens());
    let out = site.switch_from_bobs_login(&format!(
        "echo {pw} | su {login} alice -c {cmd}",
        pw = shell_quote(KRB_PASSWORD),
        cmd = shell_quote(&target)
    ))?;
    let r = parse(&out);
    assert_own_pag(&r, "alice", &out);
    // pam_krb5 in su's stack turned alice's password into her own token.
    assert!(r.target.contains(&format!("(alice@{REALM}) tokens for {TOKEN_KEY}")), "{out:?}");
    site.teardown()
}

#[test]
fn su_from_bobs_login_puts_alice_in_a_pag_of_her_own() -> Result {
    su("")
}

#[test]
fn su_dash_from_bobs_login_puts_alice_in_a_pag_of_her_own() -> Result {
    su("-")
}

const SUDOERS: &str = "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\nbob ALL=(ALL:ALL) NOPASSWD: ALL\n";

/// `sudo` from bob's login (no password: sudo then runs no pam_authenticate,
/// so the target has a PAG and no token; the point is whose keys it sees).
fn sudo(options: &str, user: &str) -> Result {
    let site = Site::start(|b| b.writable_overlay("/etc").file("/etc/sudoers", SUDOERS, 0o440))?;
    let target = report(false, &site.built.tokens());
    let out = site.switch_from_bobs_login(&format!("sudo {options} sh -c {}", shell_quote(&target)))?;
    let r = parse(&out);
    assert_own_pag(&r, user, &out);
    site.teardown()
}

#[test]
fn sudo_from_bobs_login_puts_alice_in_a_pag_of_her_own() -> Result {
    sudo("-u alice", "alice")
}

#[test]
fn sudo_i_from_bobs_login_puts_alice_in_a_pag_of_her_own() -> Result {
    sudo("-i -u alice", "alice")
}

#[test]
fn sudo_to_root_from_bobs_login_puts_root_in_a_pag_of_its_own() -> Result {
    sudo("", "root")
}

/// `runuser <form> '<script>'` from root's `su -l` login (a PAG with a
/// secret key of root's); `form` ends where the script goes.
fn runuser(ct: &Container, built: &Built, form: &str) -> Result<Output> {
    let script = format!(
        "{root}; echo '=== target'; runuser {form} {target}",
        root = report(true, &built.tokens()),
        target = shell_quote(&report(false, &built.tokens())),
    );
    ct.exec(&As::Root, &["su", "-l", "root", "-c", &script])
}

/// Debian's runuser stacks include no common-* file, so no profile reaches
/// them: stock `runuser -u alice` from root's PAG leaves alice in it, able
/// to read root's keys. This is why pam_pag(8) tells admins to add the line
/// of `conf/pam.d/runuser`.
#[test]
fn stock_runuser_leaves_alice_in_roots_pag_which_the_shipped_runuser_stack_fixes() -> Result {
    let site = Site::start(|b| b)?;
    let out = runuser(&site.ct, &site.built, "-u alice -- sh -c")?;
    let r = parse(&out);
    assert_eq!(r.caller_ring, r.target_ring, "stock runuser changed the keyring now: {out:?}");
    assert!(r.target.contains("caller-key: READABLE"), "{out:?}");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/pam.d/runuser");
    let shipped = std::fs::read_to_string(shipped).map_err(|e| format!("conf/pam.d/runuser: {e}"))?;
    site.ct.write_file(
        "/etc/pam.d/runuser",
        &shipped.replace("pam_pag.so", &site.built.pam_pag.display().to_string()),
        0o644,
    )?;
    // runuser-l includes runuser.
    for form in ["-u alice -- sh -c", "alice -c", "-l alice -c"] {
        let out = runuser(&site.ct, &site.built, form)?;
        let r = parse(&out);
        assert_own_pag(&r, "alice", &out);
    }
    site.teardown()
}

/// cron: Debian's /etc/pam.d/cron (common-session-noninteractive) driven
/// through real libpam by pam-drive in cron's order (acct_mgmt,
/// open_session, setcred), from a daemon's session keyring holding a secret
/// key; the job's shell runs as alice. Real cron starts jobs only at minute
/// boundaries, too slow for the suite.
#[test]
fn a_cron_job_of_alice_runs_in_a_pag_of_its_own() -> Result {
    let site = Site::start(|b| b)?;
    let drive = pag_tests::container::built_binary("pam-drive")?;
    let job = report(false, &site.built.tokens());
    let daemon = format!(
        "{daemon}; echo '=== target'; {drive} cron alice acct_mgmt open_session setcred:establish \
         user-sh:{job} close_session end",
        daemon = report(true, &site.built.tokens()),
        drive = drive.display(),
        job = shell_quote(&job),
    );
    let out = site.ct.exec(&As::Root, &["keyctl", "session", "-", "sh", "-c", &daemon])?;
    assert!(
        out.stdout.contains("open_session: 0") || out.stdout.contains("open_session: Success"),
        "{out:?}"
    );
    let r = parse(&out);
    assert_own_pag(&r, "alice", &out);
    site.teardown()
}
