//! Issue 8's findings, each as an attack through real logins (sshd with
//! the shipped stack, `su` on a pty) in a test container with a real KDC,
//! against the built pam_pag.so and aklog. Each failed on the module as it
//! was before the redesign. Containers that compare root's key count run
//! alone (`check_root_keys`). Needs root.

mod support;

use std::time::{Duration, Instant};

use pag_tests::container::{keys_owned_by, As, Container, ContainerBuilder, PamStack, User};
use pag_tests::kdc::Kdc;
use pag_tests::site::{self, Built, CELL};

type Result<T = ()> = pag_tests::container::Result<T>;

const KRB_PASSWORD: &str = "kerberos pw";

/// A container with Debian's pam.d, sshd with `sshd_stack`, pam_pag
/// configured through its file with our aklog as `program` (default: the
/// built aklog), a KDC that knows `users`.
struct Site {
    kdc: Option<Kdc>,
    ct: Container,
}

impl Site {
    fn start(
        users: &[&str],
        sshd_stack: PamStack,
        program: Option<&str>,
        more: impl FnOnce(ContainerBuilder) -> ContainerBuilder,
    ) -> Result<Self> {
        let built = Built::find()?;
        let program = program.map_or_else(|| built.aklog.display().to_string(), str::to_owned);
        let config = format!("[pam]\nprogram = \"{program}\"\ncells = [\"{CELL}\"]\n");
        let mut builder = Container::builder()
            .debian_pam()
            .pam("sshd", sshd_stack)
            .file("/etc/security/pam_pag.toml", &config, 0o644)
            .sshd();
        for user in users {
            builder = builder.user(User::new(user).password("unix pw"));
        }
        let ct = more(builder).start()?;
        let kdc = site::start_kdc(&ct)?;
        for user in users {
            site::add_user(&kdc, user, KRB_PASSWORD)?;
        }
        Ok(Self { kdc: Some(kdc), ct })
    }

    fn ssh(&self, user: &str, command: &str) -> Result<pag_tests::container::Output> {
        self.ct.ssh(user).with_password(KRB_PASSWORD).run(command)
    }

    fn teardown(mut self) -> Result {
        drop(self.kdc.take());
        self.ct.teardown()?;
        Ok(())
    }
}

/// conf/pam.d/<service> as shipped, with the built module.
fn shipped(service: &str, built: &Built) -> PamStack {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/pam.d").join(service);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    PamStack::from_text(&text).replace_module("pam_pag.so", &built.pam_pag.display().to_string())
}

/// The shipped sshd stack with pam_env reading `~/.pam_environment` in the
/// auth stack too (as many sites have it), so the user's variables are in
/// the PAM environment before pam_pag's setcred runs the token program.
fn sshd_stack_with_user_env(built: &Built) -> PamStack {
    PamStack::new().auth("required", "pam_env.so user_readenv=1").extend(shipped("sshd", built))
}

/// Compile a preload library that appends the name of every process it is
/// loaded into to `hits` (an absolute path inside the container).
fn preload_library(dir: &std::path::Path, hits: &str) -> std::path::PathBuf {
    let source = dir.join("preload.c");
    std::fs::write(
        &source,
        format!(
            "#include <fcntl.h>\n#include <unistd.h>\n\
             __attribute__((constructor)) static void hit(void) {{\n\
               char name[64]; int n, fd = open(\"/proc/self/comm\", O_RDONLY);\n\
               if (fd < 0) return; n = read(fd, name, sizeof name); close(fd); if (n <= 0) return;\n\
               fd = open(\"{hits}\", O_WRONLY | O_APPEND | O_CREAT, 0666);\n\
               if (fd >= 0) {{ write(fd, name, n); close(fd); }}\n}}\n"
        ),
    )
    .unwrap();
    let library = dir.join("preload.so");
    let out = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .output()
        .expect("gcc (build-essential)");
    assert!(out.status.success(), "gcc: {}", String::from_utf8_lossy(&out.stderr));
    library
}

/// Finding 1 (and 9, 11): the user's `~/.pam_environment` (LD_PRELOAD,
/// KRB5_CONFIG, PAG_CONFIG) never reaches the token program, which still
/// gets the token; from inside the PAG nothing root-owned can be linked into
/// the persistent keyring, `@u` or a keyring of the user's, nor a token
/// grown; after 20 logins and logouts root owns no more keys than before
/// and the user's `@u` holds no root-owned key.
#[test]
fn the_users_environment_never_reaches_the_token_program_and_root_keeps_nothing() -> Result {
    let built = Built::find()?;
    let stack = sshd_stack_with_user_env(&built);
    let site = Site::start(&["kim"], stack, None, |b| b.check_root_keys())?;
    let home = site.ct.host_path("/home/kim").unwrap();
    let library = preload_library(&home, "/home/kim/preload-hits");
    let kim = site.ct.user("kim").clone();
    std::os::unix::fs::chown(&library, Some(kim.uid), Some(kim.gid)).unwrap();
    site.ct.write_file(
        "/home/kim/.pam_environment",
        "LD_PRELOAD DEFAULT=/home/kim/preload.so\nKRB5_CONFIG DEFAULT=/home/kim/no-such-krb5.conf\n\
         PAG_CONFIG DEFAULT=/home/kim/evil.toml\n",
        0o644,
    )?;
    let tokens = built.tokens();
    let attack = "pag=$(keyctl show @s | sed -n 2p | awk '{print $1}')\n\
        m=$(keyctl search @s user pag:marker); t=$(keyctl search @s user afs@example.org)\n\
        n=$(keyctl newring hoard @u); p=$(keyctl get_persistent $n)\n\
        for k in $pag $m $t; do for d in $p @u $n; do keyctl link $k $d 2>/dev/null && echo LINKED $k $d; done; done\n\
        head -c 30000 /dev/zero | keyctl pupdate $t 2>/dev/null && echo UPDATED\n\
        keyctl invalidate $p; keyctl unlink $n @u >/dev/null\n\
        echo attack-done";
    for login in 0..20 {
        let script =
            if login == 0 { format!("{tokens}; echo LD=$LD_PRELOAD; {attack}") } else { tokens.clone() };
        let out = site.ssh("kim", &script)?;
        out.assert_success();
        assert!(out.stdout.contains("tokens for afs@example.org"), "login {login}: {}", out.stdout);
        if login == 0 {
            // pam_env did deliver the variable to the session itself...
            assert!(out.stdout.contains("LD=/home/kim/preload.so"), "{}", out.stdout);
            assert!(out.stdout.contains("attack-done"), "{}", out.stdout);
            assert!(!out.stdout.contains("LINKED") && !out.stdout.contains("UPDATED"), "{}", out.stdout);
        }
    }
    // ...and the preload ran in the user's own processes, never in aklog.
    let hits = std::fs::read_to_string(home.join("preload-hits")).unwrap_or_default();
    assert!(!hits.is_empty(), "the preload never ran at all: the test proves nothing");
    assert!(!hits.lines().any(|l| l.trim() == "aklog"), "the preload ran in aklog:\n{hits}");
    let owners = site.ct.sh(
        &As::User("kim".into()),
        "for k in $(keyctl rlist @u); do keyctl rdescribe $k | cut -d';' -f2; done; echo listed",
    )?;
    assert!(owners.stdout.contains("listed"), "{owners:?}");
    assert!(!owners.stdout.lines().any(|l| l == "0"), "a root-owned key in kim's @u: {owners:?}");
    site.teardown()
}

/// Findings 1, 2 and 4: a token program the admin configured that hoards
/// keys in `@u`, forges a PAG marker in a keyring of its own and builds a
/// deep keyring DAG: nothing of it is adopted (its keys stay the user's and
/// count against the user's quota), the forgery is no PAG, and the login
/// costs no more time for it.
#[test]
fn nothing_a_token_program_leaves_behind_is_adopted_or_taken_for_a_pag() -> Result {
    let built = Built::find()?;
    let hoarder = format!(
        "#!/bin/sh\n\
         for i in $(seq 30); do echo x | keyctl padd user h$i @u >/dev/null; done\n\
         f=$(keyctl newring _ses @s); keyctl setperm $f 0x3f3f0000\n\
         printf 'pag-marker 1\\nkeyring %s\\n' $f | keyctl padd user pag:marker $f >/dev/null\n\
         keyctl link $f @u\n\
         prev=$(keyctl newring l0 @s)\n\
         for level in 1 2 3 4; do\n\
           cur=''; for j in 1 2 3 4; do k=$(keyctl newring l$level.$j @s); cur=\"$cur $k\"; \
             for p in $prev; do keyctl link $p $k; done; done; prev=$cur\n\
         done\n\
         exec {} \"$@\"\n",
        built.aklog.display()
    );
    let stack = shipped("sshd", &built);
    // The admin's program, in a root-owned place: the harness's private
    // /run is the one such tree it can write.
    let site = Site::start(&["lee"], stack, Some("/run/hoarder"), |b| b.check_root_keys())?;
    site.ct.write_file("/run/hoarder", &hoarder, 0o755)?;
    let lee = site.ct.user("lee").uid;
    let before = keys_owned_by(lee)?;
    let started = Instant::now();
    let tokens = built.tokens();
    let out = site
        .ssh("lee", &format!("{tokens}; keyctl session _ses sh -c 'keyctl rdescribe @s; {tokens} --json'"))?;
    let took = started.elapsed();
    out.assert_success();
    assert!(out.stdout.contains("tokens for afs@example.org"), "{}", out.stdout);
    // Joined by name, the forged keyring (the user's own, as made) is a
    // session keyring, not a PAG.
    assert!(out.stdout.contains(&format!("keyring;{lee};{lee};3f3f0000;_ses")), "{}", out.stdout);
    let json = out.stdout.split_once("{").map(|(_, j)| format!("{{{j}")).unwrap_or_default();
    assert!(
        json.contains("\"pag\": null") || json.contains("\"pag\":null"),
        "forged marker taken for a PAG: {json}"
    );
    // The hoard is the user's, in the user's quota.
    let listing =
        site.ct.sh(&As::User("lee".into()), "for k in $(keyctl rlist @u); do keyctl rdescribe $k; done")?;
    assert!(listing.stdout.contains(&format!("user;{lee};{lee};3f010000;h30")), "{listing:?}");
    assert!(!listing.stdout.lines().any(|l| l.split(';').nth(1) == Some("0")), "{listing:?}");
    assert!(
        keys_owned_by(lee)? >= before + 30,
        "the hoard is not on lee's quota: {before} -> {}",
        keys_owned_by(lee)?
    );
    // The DAG lived in the program's throwaway keyring: the module never walks it.
    assert!(took < Duration::from_secs(8), "the login took {took:?}");
    // Leave nothing of lee's for the teardown check.
    site.ct.sh(&As::User("lee".into()), "keyctl clear @u")?.assert_success();
    site.teardown()
}

/// Finding 10: `su - alice` typed by bob, whose key quota is full: alice
/// still gets a root-owned PAG (not bob's, not charged to bob), and bob,
/// from outside, sees nothing of it.
#[test]
fn su_by_a_user_with_a_full_quota_gives_the_target_a_root_owned_pag() -> Result {
    let built = Built::find()?;
    // The shape of the shipped su-l stack (pam_rootok, pam_unix, pam_pag in
    // place of pam_keyinit), without Debian's common-* modules that have
    // nothing to do with this (pam_krb5 and pam_systemd leave keys of their
    // own behind for the teardown check).
    let su =
        PamStack::su_auth_only().session("required", &built.pam_pag("")).session("required", "pam_unix.so");
    let ct = Container::builder()
        .pam("su", su.clone())
        .pam("su-l", su)
        .file("/etc/security/pam_pag.toml", "[pam]\nnotokens = true\n", 0o644)
        .user(User::new("alice").password("alice pw"))
        .user(User::new("bob").password("bob pw"))
        .start()?;
    let bob = As::User("bob".into());
    let fill = ct.sh(
        &bob,
        "i=0; while echo x | keyctl padd user f$i @u >/dev/null 2>&1; do i=$((i+1)); done; \
         echo x | keyctl padd user one-more @u",
    )?;
    assert!(fill.stderr.contains("Disk quota exceeded"), "bob's quota is not full: {fill:?}");
    let show = "keyctl rdescribe @s; keyctl show @s | awk 'NR==2 {print \"SERIAL=\" $1}'; echo END";
    let mut tty = ct.pty(&bob, &["su", "-", "alice", "-c", show])?;
    tty.expect("Password: ", Duration::from_secs(10))?;
    tty.send_line("alice pw")?;
    let text = tty.expect("END", Duration::from_secs(10))?;
    tty.wait(Duration::from_secs(10))?;
    assert!(
        text.contains("keyring;0;0;0f030000;_ses"),
        "alice's session keyring is not a root-owned PAG: {text}"
    );
    let serial = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("SERIAL="))
        .unwrap_or_else(|| panic!("no serial in {text}"))
        .to_owned();
    let peek = ct.sh(&bob, &format!("keyctl rdescribe {serial} 2>&1; keyctl rlist {serial} 2>&1"))?;
    assert!(
        peek.stdout.matches("Permission denied").count() == 2,
        "bob can see alice's PAG {serial}: {peek:?}"
    );
    ct.sh(&bob, "keyctl clear @u")?.assert_success();
    ct.teardown()?;
    Ok(())
}
