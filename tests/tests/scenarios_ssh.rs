//! ssh logins as AFS sites see them most: an interactive session on a pty
//! that sshd allocates in the container's own devpts, and a login with
//! Kerberos tickets delegated by GSSAPI (`ssh -K`), whose delegated cache is
//! what pam_pag's token step uses. Real sshd, real MIT KDC, the built
//! pam_pag.so and aklog, in test containers. Needs root (CI runs as root)
//! and the workspace built (`cargo build --workspace`).

mod support;

use std::time::{Duration, Instant};

use pag_tests::container::{As, Container, Output, PamStack, User};
use pag_tests::kdc::Kdc;
use pag_tests::site::{self, Built, REALM};

type Result<T = ()> = pag_tests::container::Result<T>;

const KRB_PASSWORD: &str = "kerberos pw";
const TOKEN_KEY: &str = "afs@example.org";
/// The container's host name: sshd's GSSAPI acceptor is `host/<it>`.
const HOSTNAME: &str = "login1.example.org";

/// A container running sshd with `stack`, the user `user` (Unix password
/// differs from the Kerberos one), and a KDC on its loopback knowing
/// `user` and `afs/<cell>`; krb5.conf inside names the KDC and, as
/// `default_keytab_name`, a keytab in the container's private /etc/ssh
/// (the host's /etc has no krb5.keytab the container could cover).
struct Site {
    built: Built,
    kdc: Option<Kdc>,
    ct: Container,
}

const KEYTAB_INSIDE: &str = "/etc/ssh/krb5.keytab";

impl Site {
    fn start(user: &str, stack: impl FnOnce(&Built) -> PamStack) -> Result<Self> {
        let built = Built::find()?;
        let ct = Container::builder()
            .hostname(HOSTNAME)
            .pam("sshd", stack(&built))
            .user(User::new(user).password("unix pw"))
            .sshd()
            .start()?;
        let kdc = site::start_kdc(&ct)?;
        site::add_user(&kdc, user, KRB_PASSWORD)?;
        let conf = kdc
            .write_client_config(
                "container-krb5.conf",
                &format!("default_keytab_name = FILE:{KEYTAB_INSIDE}"),
                None,
            )
            .map_err(|e| format!("KDC: {e}"))?;
        let conf = std::fs::read_to_string(&conf).map_err(|e| format!("{}: {e}", conf.display()))?;
        ct.write_file("/etc/krb5.conf", &conf, 0o644)?;
        Ok(Self { built, kdc: Some(kdc), ct })
    }

    fn kdc(&self) -> &Kdc {
        self.kdc.as_ref().expect("the KDC runs until teardown")
    }

    fn teardown(mut self) -> Result {
        drop(self.kdc.take()); // it runs in the container's network namespace
        self.ct.teardown()?;
        Ok(())
    }
}

/// What the session said about its keyring: (serial, is a PAG, holds the
/// cell's token).
#[track_caller]
fn session_pag(out: &Output) -> (String, bool, bool) {
    let (serial, _, _) = support::session_keyring(&out.stdout);
    let has = |name: &str| out.stdout.lines().any(|l| l.trim_end().ends_with(&format!("user: {name}")));
    (serial, has("pag:marker"), has(TOKEN_KEY))
}

/// The shell commands a session runs to show where it is.
fn report(built: &Built) -> String {
    format!("tty; echo \"ccache=$KRB5CCNAME\"; keyctl show @s; echo ---; {}", built.tokens.display())
}

#[test]
fn ssh_with_a_pty_gets_a_terminal_of_the_containers_devpts_and_a_fresh_pag_with_the_token() -> Result {
    let site = Site::start("alice", |b| site::kerberos_stack(b, ""))?;
    let login = || site.ct.ssh("alice").with_password(KRB_PASSWORD).tty().run(&report(&site.built));
    let out = login()?;
    out.assert_success();
    // The container's devpts is a new instance: sshd's pty, the first of
    // this container, is number 0 whatever the host has open.
    let tty = out.stdout.lines().next().unwrap_or_default().trim_end();
    assert_eq!(tty, "/dev/pts/0", "sshd gave no pty of the container's devpts:\n{out:?}");
    let (serial, pag, token) = session_pag(&out);
    assert!(pag && token, "not a PAG holding {TOKEN_KEY}:\n{out:?}");
    assert!(out.stdout.contains(&format!("(alice@{REALM}) tokens for {TOKEN_KEY}")), "{out:?}");
    // Fresh: the next login gets its own PAG (and its own terminal).
    let again = login()?;
    again.assert_success();
    let (other, pag, _) = session_pag(&again);
    assert!(pag && other != serial, "second login: {other} after {serial}:\n{again:?}");
    assert!(again.stdout.starts_with("/dev/pts/"), "{again:?}");
    site.teardown()
}

#[test]
fn ssh_gssapi_delegation_puts_the_delegated_tickets_token_in_the_pag() -> Result {
    // No pam_krb5 and no password: the only tickets the session can have
    // are the ones the client delegated.
    let site = Site::start("carol", |b| site::pag_stack(b, ""))?;
    let principal = format!("host/{HOSTNAME}");
    site.kdc().add_random_principal(&principal).map_err(|e| format!("KDC: {e}"))?;
    let keytab =
        site.ct.host_path(KEYTAB_INSIDE).ok_or_else(|| "no private path for the keytab".to_owned())?;
    site.kdc().write_keytab(&principal, &keytab).map_err(|e| format!("KDC: {e}"))?;
    // The client (root in the container) holds carol's forwardable TGT.
    let client_cc = "FILE:/tmp/client-cc";
    let kinit = format!("printf '%s\\n' '{KRB_PASSWORD}' | KRB5CCNAME={client_cc} kinit -f carol >/dev/null");
    site.ct.sh(&As::Root, &kinit)?.assert_success();

    let out = site
        .ct
        .ssh("carol")
        .gssapi(client_cc, HOSTNAME)
        .tty()
        .run(&format!("{}; echo ---; klist", report(&site.built)))?;
    out.assert_success();
    let log = site.ct.sshd_log();
    assert!(log.contains("Accepted gssapi-with-mic for carol"), "not a GSSAPI login:\n{log}");
    // sshd stored the delegated tickets in a cache of carol's and named it
    // in the session (through the PAM environment, before setcred).
    let ccache = out
        .stdout
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("ccache="))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| panic!("no KRB5CCNAME in the session:\n{out:?}"));
    assert!(out.stdout.contains(&format!("Default principal: carol@{REALM}")), "{out:?}");
    assert!(out.stdout.contains(&format!("krbtgt/{REALM}@{REALM}")), "the TGT was delegated:\n{out:?}");
    // pam_pag's token step used that cache: the session's PAG holds carol's token.
    let (_, pag, token) = session_pag(&out);
    assert!(pag && token, "not a PAG holding {TOKEN_KEY} (cache {ccache}):\n{out:?}");
    assert!(out.stdout.contains(&format!("(carol@{REALM}) tokens for {TOKEN_KEY}")), "{out:?}");
    // GSSAPICleanupCredentials: sshd removes the delegated cache at logout.
    let file = ccache.strip_prefix("FILE:").and_then(|p| site.ct.host_path(p));
    let file = file.unwrap_or_else(|| panic!("{ccache}: not a FILE: cache in the container's /tmp"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!file.exists(), "{ccache} outlived the session");
    site.teardown()
}
