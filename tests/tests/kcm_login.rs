//! pam_pag's `kcm` through a real sshd with pam_krb5 password logins, a real
//! MIT KDC and the real pag-kcm on MIT's default socket, in a test container
//! with tags on: the login's tickets leave the FILE: cache pam_krb5 made for
//! the login's own KCM cache, the session gets `KRB5CCNAME=KCM:`, aklog
//! works from there, and two concurrent logins of one user have their own
//! tickets. Without a daemon, the login keeps its FILE: cache and says why.
//! Needs root (CI runs as root) and the workspace built.

use std::time::{Duration, Instant};

use pag_tests::container::PamStack;
use pag_tests::kerberos_site::{KerberosSite as Site, KRB_PASSWORD};
use pag_tests::site::{self, Built, REALM};

type Result<T = ()> = pag_tests::container::Result<T>;

const RANGE: &str = "70000-70099";

/// sshd with pam_krb5 and pam_pag (`kcm`, tags on) for alice.
fn start() -> Result<Site> {
    let built = Built::find()?;
    // tag_gids and kcm from the file's [pam] (the daemon reads the same
    // tag_gids); debug for the module's own lines. pam_pag in auth too,
    // first (pam_krb5 is `sufficient`), so that sshd's setcred in the
    // session child puts the tag back after initgroups, as the shipped
    // conf/pam.d/sshd does.
    let stack = PamStack::new()
        .auth("optional", &built.pam_pag("debug"))
        .extend(site::kerberos_stack(&built, "debug"));
    Site::start(&["alice"], stack, built, |b| {
        b.file("/etc/security/pam_pag.toml", &format!("[pam]\ntag_gids = \"{RANGE}\"\nkcm = true\n"), 0o644)
    })
}

/// The FILE: caches in the container's /tmp.
fn file_caches(site: &Site) -> Result<Vec<String>> {
    let tmp = site.ct.host_path("/tmp").ok_or_else(|| "no private /tmp".to_owned())?;
    let mut names: Vec<String> = std::fs::read_dir(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("krb5cc"))
        .collect();
    names.sort();
    Ok(names)
}

/// The value after `key=` on a line of `out`.
fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(key)).unwrap_or_else(|| panic!("no {key} in:\n{out}"))
}

#[test]
fn kcm_moves_each_logins_tickets_into_its_own_kcm_cache_and_keeps_them_without_a_daemon() -> Result {
    let site = start()?;
    let tgt = format!("krbtgt/{REALM}@{REALM}");

    // No daemon yet: the login keeps pam_krb5's FILE: cache, says why once.
    let out = site.ct.ssh("alice").with_password(KRB_PASSWORD).run("echo ccache=$KRB5CCNAME; klist")?;
    out.assert_success();
    let ccache = field(&out.stdout, "ccache=");
    assert!(ccache.starts_with("FILE:/tmp/krb5cc_"), "{out:?}");
    assert!(out.stdout.contains(&tgt), "{out:?}");
    let line = site.wait_for_log("kcm: ")?;
    assert!(
        line.contains("could not move the tickets into KCM:")
            && line.contains("No KCM server found")
            && line.contains("KRB5CCNAME is unchanged"),
        "{line}"
    );

    // On MIT's default socket, where the login's libkrb5 looks.
    let daemon = pag_tests::kcm::start_pag_kcm(&site.ct, pag_tests::kcm::MIT_KCM_SOCKET, &[])?;
    let aklog = site.built.aklog.display().to_string();
    let tokens = site.built.tokens();
    let unlog = site.built.unlog.display().to_string();
    // Login A: where its tickets are, then aklog from KCM: with the PAG's
    // token removed first; it waits for login B to have destroyed B's
    // tickets, then lists its own again.
    let a = site.ct.ssh("alice").with_password(KRB_PASSWORD).spawn(&format!(
        "echo ccache=$KRB5CCNAME; echo files=$(ls /tmp | grep -c '^krb5cc'); klist; echo ---; \
         {unlog}; {aklog} -d -c {cell}; {tokens}; echo ---; \
         touch /tmp/a-ready; i=0; while [ ! -e /tmp/b-done ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done; \
         klist; echo klist-after-b=$?",
        cell = site::CELL
    ))?;
    let ready = site.ct.host_path("/tmp/a-ready").ok_or_else(|| "no private /tmp".to_owned())?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ready.exists(), "login A never got ready");
    // Login B, while A is open: its own KCM cache, which kdestroy empties.
    let b = site.ct.ssh("alice").with_password(KRB_PASSWORD).run(
        "echo ccache=$KRB5CCNAME; klist; kdestroy; klist; echo klist-after-kdestroy=$?; touch /tmp/b-done",
    )?;
    let a = a.wait(Duration::from_secs(20))?;
    daemon.stop(&site.ct)?;
    a.assert_success();
    b.assert_success();
    let (a_login, rest) = a.stdout.split_once("---\n").unwrap_or_else(|| panic!("{a:?}"));
    let (a_aklog, a_after) = rest.split_once("---\n").unwrap_or_else(|| panic!("{a:?}"));

    // A: KRB5CCNAME=KCM:, the TGT there, no FILE: cache left.
    assert_eq!(field(a_login, "ccache="), "KCM:", "{a:?}");
    assert_eq!(field(a_login, "files="), "0", "pam_krb5's FILE: cache is still there: {a:?}");
    assert!(a_login.contains("Ticket cache: KCM:"), "{a:?}");
    assert!(a_login.contains(&format!("Default principal: alice@{REALM}")), "{a:?}");
    assert!(a_login.contains(&tgt), "{a:?}");
    // aklog read KCM: and stored a token the PAG lists.
    assert!(a.stderr.contains(&format!("credentials of alice@{REALM} in KCM:")), "{a:?}");
    assert!(a_aklog.contains(&format!("(alice@{REALM}) tokens for afs@{}", site::CELL)), "{a:?}");
    // B: its own cache, emptied by its kdestroy; A's is untouched.
    assert_eq!(field(&b.stdout, "ccache="), "KCM:", "{b:?}");
    assert!(b.stdout.contains(&tgt), "B had no TGT before kdestroy: {b:?}");
    assert_eq!(field(&b.stdout, "klist-after-kdestroy="), "1", "{b:?}");
    assert!(a_after.contains(&tgt), "B's kdestroy reached A's tickets: {a:?}");
    assert_eq!(field(a_after, "klist-after-b="), "0", "{a:?}");

    let moved = site.wait_for_log("kcm: moved the tickets from FILE:/tmp/krb5cc_")?;
    assert!(moved.ends_with("into KCM:; KRB5CCNAME=KCM:"), "{moved}");
    // The first login's cache went at its logout (pam_krb5); the two KCM
    // logins left no FILE: cache at all.
    assert_eq!(file_caches(&site)?, Vec::<String>::new());
    site.teardown()
}
