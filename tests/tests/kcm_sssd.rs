//! sssd-kcm side by side with pag-kcm (issue 11, test plan item 13): the
//! same MIT client commands (kinit, klist, klist -A, klist -l, kvno twice,
//! kswitch -p, kdestroy, kdestroy -A) run by one user against each daemon,
//! through a krb5.conf of its own (`kcm_socket`), against one real KDC in a
//! container. sssd-kcm is Debian's, unpacked (`.ci/unpacked.txt`), never
//! installed on the host. Exit codes and the principals each command prints
//! must agree; cache names differ by design. Also: the sssd closure's PAM
//! profiles stay out of the containers' common-* files. Needs root (CI
//! runs as root) and the workspace built (`cargo build --workspace`).

use pag_tests::container::{As, Container, User};
use pag_tests::kcm::{self, Daemon, PAG_KCM_SOCKET, SSSD_KCM_SOCKET};
use pag_tests::kdc::Kdc;
use pag_tests::site::{self, REALM};

type Result<T = ()> = pag_tests::container::Result<T>;

const ALICE_PW: &str = "alice kerberos pw";
const BOB_PW: &str = "bob kerberos pw";
/// The service whose ticket kvno gets (and the second time finds cached).
const SERVICE: &str = "host/kcm.example.org";

/// One command of the client script and what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    name: String,
    status: i32,
    /// Its output (stdout and stderr) with cache names and times blanked.
    output: String,
}

impl Step {
    /// The principals of the realm the output names, in order.
    fn principals(&self) -> Vec<String> {
        self.output
            .split(|c: char| c.is_whitespace() || c == '\'' || c == ',')
            .map(|w| w.trim_end_matches(':'))
            .filter(|w| w.ends_with(&format!("@{REALM}")))
            .map(str::to_owned)
            .collect()
    }
}

/// The client script: (name, shell command) run in order by alice with
/// `KRB5_CONFIG` selecting the daemon. Designed for collections: a second
/// principal (bob) makes kinit create a second cache and switch to it, so
/// `klist -A`/`-l` list two, `kswitch -p` has a choice, `kdestroy` removes
/// only the default and `kdestroy -A` the rest.
fn client_steps() -> Vec<(&'static str, String)> {
    vec![
        ("klist-empty", "klist".into()),
        ("klist-A-empty", "klist -A".into()),
        ("kinit-alice", format!("echo '{ALICE_PW}' | kinit alice")),
        ("klist-alice", "klist".into()),
        ("kvno-1", format!("kvno {SERVICE}")),
        ("kvno-2", format!("kvno {SERVICE}")),
        ("klist-with-service", "klist".into()),
        ("kinit-bob", format!("echo '{BOB_PW}' | kinit bob")),
        ("klist-bob", "klist".into()),
        ("klist-l-two", "klist -l".into()),
        ("klist-A-two", "klist -A".into()),
        ("kswitch-p-alice", format!("kswitch -p alice@{REALM}")),
        ("klist-switched", "klist".into()),
        ("kdestroy", "kdestroy".into()),
        ("klist-after-kdestroy", "klist".into()),
        ("klist-l-after-kdestroy", "klist -l".into()),
        ("kswitch-p-alice-gone", format!("kswitch -p alice@{REALM}")),
        ("kswitch-p-bob", format!("kswitch -p bob@{REALM}")),
        ("klist-bob-again", "klist".into()),
        ("kdestroy-A", "kdestroy -A".into()),
        ("klist-A-after-kdestroy-A", "klist -A".into()),
        ("klist-after-kdestroy-A", "klist".into()),
        ("kdestroy-nothing", "kdestroy".into()),
        ("kvno-no-cache", format!("kvno {SERVICE}")),
        // A fresh collection again: renewal, reuse of a principal's cache, a cache named by the client,
        // a default naming no cache.
        ("kinit-alice-again", format!("echo '{ALICE_PW}' | kinit alice")),
        ("klist-s", "klist -s".into()),
        ("kinit-R", "kinit -R".into()),
        ("klist-renewed", "klist".into()),
        ("kinit-alice-reuse", format!("echo '{ALICE_PW}' | kinit alice")),
        ("klist-l-one", "klist -l".into()),
        // Explicitly: with no default ever set, sssd-kcm's default is the first cache of its database
        // listing (random UUID order), so after a second cache it may be either; pag-kcm keeps "<uid>".
        ("kswitch-p-alice-explicit", format!("kswitch -p alice@{REALM}")),
        ("kinit-c-named", format!("echo '{BOB_PW}' | kinit -c KCM:$(id -u):named bob")),
        ("klist-c-named", "klist -c KCM:$(id -u):named".into()),
        ("klist-after-named", "klist".into()),
        ("klist-l-named", "klist -l".into()),
        ("kswitch-c-unknown", "kswitch -c KCM:$(id -u):no-such-cache".into()),
        ("klist-unknown-default", "klist".into()),
        ("klist-l-unknown-default", "klist -l".into()),
        ("kdestroy-c-named", "kdestroy -c KCM:$(id -u):named".into()),
        ("kdestroy-A-end", "kdestroy -A".into()),
        ("klist-A-end", "klist -A".into()),
        // Names not starting with the uid: see EXPECTED_DIFFERENCES.
        ("kinit-c-foreign-name", format!("echo '{BOB_PW}' | kinit -c KCM:named bob")),
        ("kswitch-c-foreign-name", "kswitch -c KCM:no-such-cache".into()),
    ]
}

/// Where pag-kcm differs from sssd-kcm by design (step, sssd-kcm's exit
/// status, pag-kcm's): sssd-kcm accepts only cache names that begin with the
/// client's uid (any other gets KRB5_FCC_INTERNAL, "Internal credentials
/// cache error"); pag-kcm's names are local to the caller's collection, so
/// it takes any name (kcm-design.md, section 3).
const EXPECTED_DIFFERENCES: &[(&str, i32, i32)] =
    &[("kinit-c-foreign-name", 1, 0), ("kswitch-c-foreign-name", 1, 0)];

/// Steps after `kinit -c KCM:<uid>:named bob` while alice's cache is the
/// default: sssd-kcm makes a newly initialised cache the default when a
/// default is set (kcmsrv_ops.c, kcm_op_initialize_got_default); pag-kcm,
/// like MIT's own DIR: and KEYRING: collections and Heimdal's kcm, leaves
/// the default alone when a cache is named explicitly. So `klist` shows
/// another cache (the same exit code is required) and `klist -l`, which
/// lists the default first, another order (the same set is required).
const DEFAULT_DIFFERENCES: &[(&str, Compare)] = &[
    ("klist-after-named", Compare::Status),
    ("klist-l-named", Compare::Set),
    ("klist-l-unknown-default", Compare::Set),
];

/// How a step in [`DEFAULT_DIFFERENCES`] is compared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Compare {
    Status,
    Set,
}

/// Blank what differs by design between daemons and runs: cache names
/// (`KCM:...`) and dates and times.
fn normalize(text: &str) -> String {
    text.lines()
        .map(|line| {
            line.split(' ')
                .map(|word| {
                    let bare = word.trim_matches(|c| c == '\'' || c == ',' || c == ')' || c == '(');
                    if bare.starts_with("KCM:") {
                        word.replace(bare, "KCM:<name>")
                    } else if looks_like_date_or_time(bare) {
                        word.replace(bare, "<t>")
                    } else {
                        word.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn looks_like_date_or_time(word: &str) -> bool {
    let digits_and = |sep: char| {
        word.len() >= 5 && word.chars().all(|c| c.is_ascii_digit() || c == sep) && word.contains(sep)
    };
    digits_and('/') || digits_and(':')
}

/// Run the client script as alice against the daemon `krb5_conf` selects.
fn run_client(ct: &Container, krb5_conf: &str) -> Result<Vec<Step>> {
    let mut script = format!("export KRB5_CONFIG={krb5_conf}\n");
    for (name, command) in client_steps() {
        script.push_str(&format!(
            "out=$( {{ {command} ; }} 2>&1 ); rc=$?; printf '@@ %s %s\\n%s\\n' {name} $rc \"$out\"\n"
        ));
    }
    let out = ct.sh(&As::User("alice".into()), &script)?;
    out.assert_success();
    let mut steps = Vec::new();
    for chunk in out.stdout.split("@@ ").skip(1) {
        let (head, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        let (name, status) = head.split_once(' ').unwrap_or((head, ""));
        let status = status.trim().parse().map_err(|e| format!("status of {name}: {e}: {out:?}"))?;
        steps.push(Step { name: name.to_owned(), status, output: normalize(body.trim_end()) });
    }
    assert_eq!(steps.len(), client_steps().len(), "the script did not run every step: {out:?}");
    Ok(steps)
}

/// How many TGS requests for [`SERVICE`] the KDC has logged.
fn service_tgs_requests(kdc: &Kdc) -> usize {
    kdc.log().lines().filter(|l| l.contains("TGS_REQ") && l.contains(&format!("for {SERVICE}@"))).count()
}

/// A container with alice, a KDC knowing alice, bob and [`SERVICE`], the
/// sssd-kcm setup, and the given daemons started.
struct Bench {
    kdc: Option<Kdc>,
    ct: Container,
}

impl Bench {
    fn start() -> Result<Self> {
        let builder = Container::builder().user(User::new("alice"));
        let ct = kcm::with_sssd_kcm(builder, SSSD_KCM_SOCKET).start()?;
        let kdc = site::start_kdc(&ct)?;
        site::add_user(&kdc, "alice", ALICE_PW)?;
        site::add_user(&kdc, "bob", BOB_PW)?;
        kdc.add_random_principal(SERVICE).map_err(|e| format!("KDC: {e}"))?;
        Ok(Self { kdc: Some(kdc), ct })
    }

    fn kdc(&self) -> &Kdc {
        self.kdc.as_ref().expect("the KDC runs until teardown")
    }

    /// Run the client script against `daemon` (started on `socket`); also
    /// returns how many TGS requests for the service it caused.
    fn leg(&self, name: &str, daemon: &Daemon) -> Result<(Vec<Step>, usize)> {
        let conf = kcm::write_client_conf(&self.ct, name, daemon.socket())?;
        let before = service_tgs_requests(self.kdc());
        let steps = run_client(&self.ct, &conf)?;
        Ok((steps, service_tgs_requests(self.kdc()) - before))
    }

    fn teardown(mut self) -> Result {
        drop(self.kdc.take()); // it runs in the container's network namespace
        self.ct.teardown()?;
        Ok(())
    }
}

fn step<'a>(steps: &'a [Step], name: &str) -> &'a Step {
    steps.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no step {name}"))
}

fn show(steps: &[Step]) -> String {
    steps.iter().map(|s| format!("== {} -> {}\n{}\n", s.name, s.status, s.output)).collect()
}

/// The anchor itself: sssd-kcm runs in the container without systemd and
/// the script means what it says (so the comparison below can fail).
#[test]
fn sssd_kcm_serves_the_mit_client_commands_in_a_container() -> Result {
    let bench = Bench::start()?;
    let sssd = kcm::start_sssd_kcm(&bench.ct, SSSD_KCM_SOCKET)?;
    let (steps, tgs) = bench.leg("sssd", &sssd)?;
    let all = show(&steps);
    let alice = format!("alice@{REALM}");
    let bob = format!("bob@{REALM}");
    let tgt = format!("krbtgt/{REALM}@{REALM}");
    let service = format!("{SERVICE}@{REALM}");
    let check = |name: &str, status: i32, principals: &[&str]| {
        let s = step(&steps, name);
        assert_eq!(
            (s.status, s.principals()),
            (status, principals.iter().map(|p| p.to_string()).collect()),
            "{name}:\n{all}"
        );
    };
    check("klist-empty", 1, &[]);
    check("kinit-alice", 0, &[&alice]); // its prompt
    check("klist-alice", 0, &[&alice, &tgt]);
    check("kvno-1", 0, &[&service]);
    check("kvno-2", 0, &[&service]);
    check("klist-with-service", 0, &[&alice, &tgt, &service]);
    assert_eq!(tgs, 1, "the second kvno did not use the cached ticket:\n{all}");
    check("kinit-bob", 0, &[&bob]);
    check("klist-bob", 0, &[&bob, &tgt]);
    let listed = step(&steps, "klist-l-two").principals();
    assert!(listed.contains(&alice) && listed.contains(&bob) && listed.len() == 2, "klist -l:\n{all}");
    let listed_all = step(&steps, "klist-A-two").principals();
    assert_eq!(listed_all.iter().filter(|p| **p == alice || **p == bob).count(), 2, "klist -A:\n{all}");
    check("kswitch-p-alice", 0, &[]);
    check("klist-switched", 0, &[&alice, &tgt, &service]);
    check("kdestroy", 0, &[]);
    assert_eq!(step(&steps, "klist-l-after-kdestroy").principals(), std::slice::from_ref(&bob), "{all}");
    assert_ne!(step(&steps, "kswitch-p-alice-gone").status, 0, "{all}");
    check("kswitch-p-bob", 0, &[]);
    check("klist-bob-again", 0, &[&bob, &tgt]);
    check("kdestroy-A", 0, &[]);
    check("klist-after-kdestroy-A", 1, &[]);
    assert_ne!(step(&steps, "kvno-no-cache").status, 0, "{all}");
    // It ran in the foreground on its own socket (no systemd) and ends cleanly on SIGTERM.
    let log = sssd.stop(&bench.ct)?;
    assert!(log.status.success() && log.stderr.contains("Shutting down (status = 0)"), "{log:?}");
    bench.teardown()
}

/// Item 13: the same script against sssd-kcm and pag-kcm; the same exit
/// codes and principals per command, and the same single TGS request for
/// the twice-asked service ticket.
#[test]
fn pag_kcm_answers_the_mit_client_commands_as_sssd_kcm_does() -> Result {
    let bench = Bench::start()?;
    let sssd = kcm::start_sssd_kcm(&bench.ct, SSSD_KCM_SOCKET)?;
    let (anchor, anchor_tgs) = bench.leg("sssd", &sssd)?;
    let pag = kcm::start_pag_kcm(&bench.ct, PAG_KCM_SOCKET, &["--trace"])?;
    let (ours, our_tgs) = bench.leg("pag", &pag)?;
    if std::env::var_os("KCM_SHOW").is_some() {
        eprintln!("=== sssd-kcm\n{}\n=== pag-kcm\n{}", show(&anchor), show(&ours));
    }
    let trace = pag.stop(&bench.ct)?;
    let mut differences = String::new();
    for (a, o) in anchor.iter().zip(&ours) {
        if let Some(&(_, sssd_status, pag_status)) = EXPECTED_DIFFERENCES.iter().find(|d| d.0 == a.name) {
            if (a.status, o.status) != (sssd_status, pag_status) {
                differences.push_str(&format!(
                    "{}: expected sssd-kcm {sssd_status}, pag-kcm {pag_status}; got {} and {}\n--- sssd-kcm:\n{}\n--- pag-kcm:\n{}\n",
                    a.name, a.status, o.status, a.output, o.output
                ));
            }
        } else if let Some(&(_, how)) = DEFAULT_DIFFERENCES.iter().find(|d| d.0 == a.name) {
            let sorted = |r: &Step| {
                let mut p = if how == Compare::Set { r.principals() } else { Vec::new() };
                p.sort();
                p
            };
            if (a.status, sorted(a)) != (o.status, sorted(o)) {
                differences.push_str(&format!(
                    "{}: sssd-kcm {} {:?}, pag-kcm {} {:?} (as sets)\n",
                    a.name,
                    a.status,
                    sorted(a),
                    o.status,
                    sorted(o)
                ));
            }
        } else if (a.status, a.principals()) != (o.status, o.principals()) {
            differences.push_str(&format!(
                "{}: sssd-kcm {} {:?}, pag-kcm {} {:?}\n--- sssd-kcm:\n{}\n--- pag-kcm:\n{}\n",
                a.name,
                a.status,
                a.principals(),
                o.status,
                o.principals(),
                a.output,
                o.output
            ));
        } else if a.output != o.output {
            // Same codes and principals; other wording is reported, not failed.
            eprintln!("{}: outputs differ\n--- sssd-kcm:\n{}\n--- pag-kcm:\n{}", a.name, a.output, o.output);
        }
    }
    assert!(
        differences.is_empty(),
        "pag-kcm differs from sssd-kcm:\n{differences}\npag-kcm's trace:\n{}",
        trace.stderr
    );
    assert_eq!((anchor_tgs, our_tgs), (1, 1), "TGS requests for {SERVICE} (sssd-kcm, pag-kcm)");
    sssd.stop(&bench.ct)?;
    bench.teardown()
}

/// The sssd closure is unpacked (pam_sss.so is in the containers' /usr),
/// yet `.debian_pam()` containers' common-* files name neither pam_sss nor
/// pam_pwquality, and their /usr/share/pam-configs offers neither profile
/// to a pam-auth-update run inside.
#[test]
fn debian_pam_common_files_stay_free_of_the_sssd_closures_profiles() -> Result {
    let debs = pag_tests::debs::root().map_err(pag_tests::container::Error::new)?;
    assert!(
        debs.join("usr/lib/x86_64-linux-gnu/security/pam_sss.so").is_file(),
        "the sssd closure is not unpacked in {}: run scripts/unpack-debs",
        debs.display()
    );
    let ct = Container::builder().user(User::new("alice")).debian_pam().start()?;
    for file in ["common-auth", "common-account", "common-password", "common-session"] {
        let path = ct.host_path(&format!("/etc/pam.d/{file}")).expect("pam.d is private");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        assert!(text.contains("pam_unix.so"), "{file} is not pam-auth-update's:\n{text}");
        for module in ["pam_sss", "pam_pwquality"] {
            assert!(!text.contains(module), "{file} names {module}:\n{text}");
        }
    }
    let profiles = ct.exec(&As::Root, &["ls", "/usr/share/pam-configs"])?;
    profiles.assert_success().assert_stdout_contains("krb5");
    for profile in ["sss", "pwquality"] {
        assert!(!profiles.stdout.lines().any(|l| l == profile), "{profile} offered inside:\n{profiles:?}");
    }
    // Nor any other stack (sssd-common's /etc/pam.d/sssd-shadowutils is not a stock service here).
    let ok = ct.sh(&As::Root, "grep -l -e pam_sss -e pam_pwquality /etc/pam.d/* ; true")?;
    assert_eq!(ok.stdout, "", "{ok:?}");
    ct.teardown()?;
    Ok(())
}
