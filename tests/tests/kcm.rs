//! pag-kcm in a container with real sshd logins, tags on, a real MIT KDC
//! and the real MIT tools: each login has its own Kerberos caches, another
//! user sees none of them, a process outside any login gets the user's
//! own, caches go with their login, survive a restart of the daemon, and a
//! thousand logins leave nothing behind. Needs root.

use std::time::{Duration, Instant};

use pag_tests::container::{As, Container, User};
use pag_tests::kcm::{self, Daemon, MIT_KCM_SOCKET};
use pag_tests::kdc::Kdc;
use pag_tests::site::{self, Built};

type Result<T = ()> = pag_tests::container::Result<T>;

const RANGE: &str = "70000-70999";
const PW: &str = "kcm-pw";
const SVC: &str = "host/svc.example.org";
const STATE: &str = "/run/pag-kcm";

struct Kcm {
    ct: Container,
    kdc: Kdc,
    daemon: Option<Daemon>,
    flags: u32,
}

impl Kcm {
    fn start() -> Result<Kcm> {
        let built = Built::find()?;
        let ct = Container::builder()
            .debian_pam()
            .pam("sshd", site::shipped_stack(&built, "sshd"))
            .pam("kcm-login", site::pag_stack(&built, ""))
            .file(
                "/etc/security/pam_pag.toml",
                &format!("[pam]\nnotokens = true\ntag_gids = \"{RANGE}\"\n"),
                0o644,
            )
            .user(User::new("alice").ssh_key())
            .user(User::new("bob").ssh_key())
            .sshd()
            .start()?;
        let kdc = site::start_kdc(&ct)?;
        for user in ["alice", "bob"] {
            site::add_user(&kdc, user, PW)?;
        }
        kdc.add_random_principal(SVC).map_err(|e| format!("KDC: {e}"))?;
        // Every Kerberos program in the container uses KCM: by default.
        let conf = std::fs::read_to_string(kdc.krb5_conf()).unwrap();
        ct.write_file("/etc/krb5.conf", &kcm::client_conf(&conf, MIT_KCM_SOCKET), 0o644)?;
        let mut kcm = Kcm { ct, kdc, daemon: None, flags: 0 };
        kcm.start_daemon()?;
        Ok(kcm)
    }

    fn start_daemon(&mut self) -> Result {
        self.daemon = Some(kcm::start_pag_kcm(&self.ct, MIT_KCM_SOCKET, &["--trace"])?);
        Ok(())
    }

    fn stop_daemon(&mut self) -> Result {
        let out = self.daemon.take().unwrap().stop(&self.ct)?;
        assert!(out.status.success(), "pag-kcm on SIGTERM: {out:?}");
        Ok(())
    }

    /// Everything pag-kcm printed so far, over restarts.
    fn log(&self) -> String {
        self.daemon.as_ref().map(|d| d.log(&self.ct)).unwrap_or_default()
    }

    /// The daemon's state files (one per collection holding a cache).
    fn state(&self) -> Vec<String> {
        let dir = self.ct.host_path(STATE).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Stop the daemon and the KDC, then tear the container down.
    fn finish(mut self) -> Result {
        if self.daemon.is_some() {
            self.stop_daemon()?;
        }
        drop(self.kdc);
        self.ct.teardown()?;
        Ok(())
    }

    /// A fresh flag name for two sessions to meet at.
    fn flag(&mut self) -> String {
        self.flags += 1;
        format!("/tmp/flag-{}", self.flags)
    }

    fn raise(&self, flag: &str) {
        std::fs::write(self.ct.host_path(flag).unwrap(), "").unwrap();
    }
}

/// Shell: wait (up to 20 s) for `flag` to exist.
fn wait_for(flag: &str) -> String {
    format!("for i in $(seq 200); do [ -e {flag} ] && break; sleep 0.1; done; [ -e {flag} ] || exit 99")
}

fn kinit(user: &str) -> String {
    format!("echo {PW} | kinit {user} >/dev/null")
}

/// Sections of a script's output, split at `--- NAME` lines.
fn section<'a>(out: &'a str, name: &str) -> &'a str {
    let start = out.find(&format!("--- {name}\n")).map(|i| i + name.len() + 5).unwrap_or(out.len());
    let end = out[start..].find("--- ").map_or(out.len(), |i| start + i);
    &out[start..end]
}

#[test]
fn two_logins_of_one_user_have_their_own_caches_and_nobody_else_sees_them() -> Result {
    let mut k = Kcm::start()?;
    let (a_ready, b_ready, a_kvno, b_checked, a_destroyed, b_done, restarted) =
        (k.flag(), k.flag(), k.flag(), k.flag(), k.flag(), k.flag(), k.flag());
    let pagsh = pag_tests::container::built_binary("pagsh")?.display().to_string();
    // Login A: kinit, then kvno, then kdestroy and a new kinit; pagsh inside it.
    let a = k.ct.ssh("alice").key().spawn(&format!(
        "{kinit}; echo '--- a1'; klist; touch {a_ready}; {wait_b}; \
         kvno {SVC} >/dev/null; echo '--- a2'; klist; touch {a_kvno}; {wait_b2}; \
         kdestroy; echo '--- a3'; klist 2>&1; echo \"exit $?\"; {kinit}; \
         echo '--- a4'; {pagsh} -c klist; touch {a_destroyed}; {wait_done}; echo '--- end'",
        kinit = kinit("alice"),
        wait_b = wait_for(&b_ready),
        wait_b2 = wait_for(&b_checked),
        wait_done = wait_for(&b_done),
    ))?;
    // Login B of the same user, at the same time.
    let b = k.ct.ssh("alice").key().spawn(&format!(
        "{wait_a}; echo '--- b0'; klist 2>&1; echo \"exit $?\"; {kinit}; echo '--- b1'; klist; touch {b_ready}; \
         {wait_a2}; echo '--- b2'; klist; touch {b_checked}; {wait_a3}; echo '--- b3'; klist; \
         echo '--- b4'; klist -A; {wait_restart}; echo '--- b5'; klist; echo '--- end'",
        wait_a = wait_for(&a_ready),
        kinit = kinit("alice"),
        wait_a2 = wait_for(&a_kvno),
        wait_a3 = wait_for(&a_destroyed),
        wait_restart = wait_for(&restarted),
    ))?;
    let until = Instant::now() + Duration::from_secs(30);
    let b_out_path = k.ct.host_path(&a_destroyed).unwrap();
    while !b_out_path.exists() {
        assert!(Instant::now() < until, "login A did not get through: {}", k.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Both logins hold a collection now; bob, in a login, sees nothing.
    let alice_uid = k.ct.user("alice").uid;
    let bob =
        k.ct.ssh("bob")
            .key()
            .run(&format!("klist -A; echo \"exit $?\"; klist 2>&1; KRB5CCNAME=KCM:{alice_uid} klist 2>&1"))?;
    assert!(!bob.stdout.contains("alice@"), "bob sees alice's tickets: {bob:?}");
    // Nor does root, through the socket: root has its own collections.
    let root = k.ct.sh(&As::Root, &format!("klist -A; KRB5CCNAME=KCM:{alice_uid} klist 2>&1"))?;
    assert!(!root.stdout.contains("alice@"), "root's klist shows alice's tickets: {root:?}");
    // A process of alice outside any login (no PAG, no tag): the per-uid caches.
    let outside = k.ct.sh(&As::User("alice".into()), &format!("klist 2>&1; {}; klist", kinit("alice")))?;
    assert!(
        outside.stdout.contains("not found"),
        "outside a login, alice saw a login's tickets: {outside:?}"
    );
    outside.assert_success();
    k.raise(&b_done);
    let a_out = a.wait(Duration::from_secs(30))?;
    let a_text = &a_out.stdout;
    assert!(a_text.contains("--- end"), "{a_out:?}\n{}", k.log());

    // A sees its own ticket; B sees none before its own kinit.
    assert!(section(a_text, "a1").contains("Default principal: alice@EXAMPLE.ORG"), "{a_text}");
    // (B's output is read once it ends, below.)
    // A's service ticket is cached in A only.
    assert!(section(a_text, "a2").contains(&format!("{SVC}@EXAMPLE.ORG")), "{a_text}");
    // kdestroy in A emptied A...
    assert!(
        section(a_text, "a3").contains("not found") && section(a_text, "a3").contains("exit 1"),
        "{a_text}"
    );
    // ...and pagsh inside A keeps A's tag, so A's caches.
    assert!(section(a_text, "a4").contains("Default principal: alice@EXAMPLE.ORG"), "{a_text}");

    // A has logged out: its collection goes within the sweep interval.
    let until = Instant::now() + Duration::from_secs(10);
    while !k.log().contains("the login has ended") {
        assert!(Instant::now() < until, "A's caches were not dropped: {:?}\n{}", k.state(), k.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let logins: Vec<String> = k.state().into_iter().filter(|n| n.contains("-pag")).collect();
    assert_eq!(logins.len(), 1, "one login (B) should be left: {:?}", k.state());

    // The daemon restarted in the middle of B's session: B still has its tickets.
    k.stop_daemon()?;
    k.start_daemon()?;
    k.raise(&restarted);
    let b_out = b.wait(Duration::from_secs(60))?;
    let b_text = &b_out.stdout;
    assert!(
        section(b_text, "b0").contains("not found") && section(b_text, "b0").contains("exit 1"),
        "B saw A's: {b_text}"
    );
    assert!(section(b_text, "b1").contains("Default principal: alice@EXAMPLE.ORG"), "{b_text}");
    assert!(!section(b_text, "b2").contains(SVC), "A's service ticket is in B: {b_text}");
    assert!(
        section(b_text, "b3").contains("Default principal: alice@EXAMPLE.ORG"),
        "A's kdestroy took B's: {b_text}"
    );
    assert_eq!(
        section(b_text, "b4").matches("krbtgt/").count(),
        1,
        "B lists more than its one cache: {b_text}"
    );
    assert!(
        section(b_text, "b5").contains("Default principal: alice@EXAMPLE.ORG"),
        "lost in the restart: {b_text}"
    );
    k.finish()
}

/// A thousand logins one after another, each filing a ticket under its own
/// login: nothing is left once they have ended, in the daemon's state or
/// its memory beyond a bound.
#[test]
fn a_thousand_sequential_logins_leave_no_cache_behind() -> Result {
    let k = Kcm::start()?;
    let uid = k.ct.user("alice").uid;
    let keytab = k.ct.host_path("/tmp/alice.keytab").unwrap();
    k.kdc.write_keytab("alice", &keytab).map_err(|e| format!("KDC: {e}"))?;
    std::fs::set_permissions(&keytab, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let drive = pag_tests::container::built_binary("pam-drive")?.display().to_string();
    let rss = |k: &Kcm| -> u64 {
        let out = k.ct.sh(&As::Root, "cat /proc/$(pgrep -x pag-kcm)/status").unwrap();
        pag_tests::stats::proc_field(&out.stdout, "VmRSS").unwrap_or(0)
    };
    // Warm up (first allocations), then the baseline.
    let one_login = format!(
        "{drive} kcm-login alice open_session 'root-sh:tag=$(id -G | tr \" \" \"\\n\" | awk \"\\$1>=70000 && \\$1<=70999\"); \
         setpriv --reuid alice --regid alice --groups $tag env KRB5CCNAME=KCM: kinit -k -t /tmp/alice.keytab alice' \
         close_session end >/dev/null"
    );
    let n = 1000;
    k.ct.sh(&As::Root, &format!("for i in $(seq 10); do {one_login}; done"))?.assert_success();
    let until = Instant::now() + Duration::from_secs(10);
    while k.state().iter().any(|f| f.contains("-pag")) {
        assert!(Instant::now() < until, "warm-up logins left {:?}", k.state());
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = rss(&k);
    let start = Instant::now();
    let out =
        k.ct.sh_background(
            &As::Root,
            &format!("for i in $(seq {n}); do {one_login} || echo \"login $i failed\"; done"),
        )?
        .wait(Duration::from_secs(300))?;
    out.assert_success();
    assert!(!out.stdout.contains("failed"), "{out:?}");
    eprintln!("{n} logins with a kinit each: {:?}", start.elapsed());
    // Every login filed its ticket under a login of its own...
    let log = k.log();
    let logins: std::collections::BTreeSet<&str> = log
        .lines()
        .filter(|l| l.contains("op=Replace -> 0") && l.contains(&format!("uid={uid} scope=pag")))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("scope=pag")))
        .collect();
    assert!(logins.len() >= n - 5, "only {} logins filed a cache under their PAG", logins.len());
    // ...and none is left once they have ended (the sweep runs every second).
    let until = Instant::now() + Duration::from_secs(10);
    while !k.state().is_empty() {
        assert!(Instant::now() < until, "left behind: {:?}", k.state());
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = rss(&k);
    assert!(after < before + 2048, "pag-kcm's RSS grew from {before} kB to {after} kB over {n} logins");
    k.finish()
}

/// A client that proves its PAG (the hello; libkrb5 never sends it) gets
/// its login's collection even where logins have no tags: what one login
/// files that way, another login of the user does not see, nor does any
/// client that proves nothing.
#[test]
fn a_client_proving_its_login_gets_that_logins_collection_without_tags() -> Result {
    let mut k = Kcm::start()?;
    // No tags: only a proof tells the two logins apart.
    k.ct.write_file("/etc/security/pam_pag.toml", "[pam]\nnotokens = true\n", 0o644)?;
    k.stop_daemon()?;
    k.start_daemon()?;
    let client = pag_tests::container::built_binary("kcm-proof-client")?.display().to_string();
    let sock = MIT_KCM_SOCKET;
    let a = k.ct.ssh("alice").key().run(&format!(
        "{client} --hello {sock} init proved alice@EXAMPLE.ORG && echo '--- a'; {client} --hello {sock} list; \
         echo '--- plain'; {client} {sock} list"
    ))?;
    a.assert_success();
    assert!(a.stderr.contains("proved keyring"), "{a:?}");
    assert_eq!(section(&a.stdout, "a").trim(), "alice@EXAMPLE.ORG", "{a:?}");
    assert_eq!(section(&a.stdout, "plain").trim(), "", "an unproved client saw the login's cache: {a:?}");
    let b = k.ct.ssh("alice").key().run(&format!("{client} --hello {sock} list; echo '--- end'"))?;
    b.assert_success();
    assert_eq!(b.stdout.trim(), "--- end", "another login saw it: {b:?}");
    assert!(k.log().contains("proved uid"), "{}", k.log());
    k.finish()
}

/// With `keyring_owner = "user"` root may not look inside a login's PAG;
/// the tag registry's record still tells the logins apart, and the end of
/// the login still drops its caches.
#[test]
fn logins_whose_pag_the_user_owns_are_kept_apart_too() -> Result {
    let mut k = Kcm::start()?;
    k.ct.write_file(
        "/etc/security/pam_pag.toml",
        &format!("[pam]\nnotokens = true\ntag_gids = \"{RANGE}\"\nkeyring_owner = \"user\"\n"),
        0o644,
    )?;
    let ready = k.flag();
    let a = k.ct.ssh("alice").key().spawn(&format!("{}; klist; touch {ready}; sleep 2", kinit("alice")))?;
    let until = Instant::now() + Duration::from_secs(20);
    while !k.ct.host_path(&ready).unwrap().exists() {
        assert!(Instant::now() < until, "login A did not get through: {}", k.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let b = k.ct.ssh("alice").key().run("klist 2>&1; echo \"exit $?\"")?;
    assert!(b.stdout.contains("not found") && b.stdout.contains("exit 1"), "B saw A's tickets: {b:?}");
    // A's collection, while A is logged in, is filed by the registry's record.
    let logins: Vec<String> = k.state().into_iter().filter(|f| f.contains("-pag")).collect();
    assert!(logins.len() == 1 && logins[0].contains("-r"), "{logins:?}");
    let a = a.wait(Duration::from_secs(20))?;
    assert!(a.stdout.contains("Default principal: alice@EXAMPLE.ORG"), "{a:?}");
    let until = Instant::now() + Duration::from_secs(10);
    while k.state().iter().any(|f| f.contains("-pag")) {
        assert!(Instant::now() < until, "A's caches outlived it: {:?}", k.state());
        std::thread::sleep(Duration::from_millis(100));
    }
    k.finish()
}
