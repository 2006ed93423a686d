//! The Debian package of `make deb` (issue 13): installed with dpkg in a
//! container whose /usr, /etc and /var are writable overlays (the host's
//! never change), used for an ssh login with a Kerberos password, and
//! purged; and installed next to OpenAFS's aklog, tokens, unlog and pagsh.
//! Needs root (CI runs as root), the workspace built (`cargo build
//! --workspace`: pam-drive, the container's pid 1) and the package built
//! (`make deb`; the test says so when it is missing, and fails).

use std::path::PathBuf;
use std::process::Command;

use pag_tests::container::{As, Container, Output, User};
use pag_tests::kdc::Kdc;
use pag_tests::site::{self, CELL, REALM};

type Result<T = ()> = pag_tests::container::Result<T>;

const KRB_PASSWORD: &str = "kerberos pw";

/// target/deb/pag_<version>_<arch>.deb, built by `make deb`.
fn package() -> Result<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/deb");
    let found = std::fs::read_dir(&dir).ok().and_then(|entries| {
        entries.flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "deb"))
    });
    let deb = found.ok_or_else(|| format!("no package in {}: run `make deb` first", dir.display()))?;
    Ok(deb.canonicalize().map_err(|e| format!("{}: {e}", deb.display()))?)
}

/// The package's files and links (not directories), as absolute paths.
fn package_files(deb: &std::path::Path) -> Result<Vec<String>> {
    let out = Command::new("dpkg-deb").arg("-c").arg(deb).output().map_err(|e| format!("dpkg-deb: {e}"))?;
    let listing = String::from_utf8_lossy(&out.stdout);
    let files: Vec<String> = listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.').to_owned())
        .collect();
    assert!(files.iter().any(|f| f.ends_with("/security/pam_pag.so")), "{listing}");
    Ok(files)
}

/// A Debian container with writable /usr, /etc and /var, sshd, alice, a
/// KDC that knows her, and the checkout (so the package and the Makefile)
/// visible at its host path, also where that is under the container's
/// private /tmp (CI's clone is).
fn start(deb: &std::path::Path) -> Result<(Container, Kdc)> {
    let top = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .map_err(|e| format!("{e}"))?;
    assert!(deb.starts_with(&top), "{} is not in the checkout {}", deb.display(), top.display());
    let ct = Container::builder()
        .debian_pam()
        .writable_overlay("/usr")
        .writable_overlay("/etc")
        .writable_overlay("/var")
        .share_dir(top)
        .user(User::new("alice").password("unix pw"))
        .sshd()
        .start()?;
    let kdc = site::start_kdc(&ct)?;
    site::add_user(&kdc, "alice", KRB_PASSWORD)?;
    Ok((ct, kdc))
}

/// `script` as root inside, with what a maintainer script expects around it.
/// man-db's dpkg trigger (rebuilding the whole man database, seconds) is
/// switched off in the container as `man-db/auto-update false` would: what
/// is tested here is our package, not man-db.
fn root_sh(ct: &Container, script: &str) -> Result<Output> {
    let began = std::time::Instant::now();
    let setup = "export DEBIAN_FRONTEND=noninteractive; rm -f /var/lib/man-db/auto-update";
    let out = ct.sh(&As::Root, &format!("{setup}; {script}"));
    eprintln!("{:.1} s: {script:.60}", began.elapsed().as_secs_f64());
    out
}

fn common_files(ct: &Container) -> String {
    ["common-auth", "common-session", "common-session-noninteractive"]
        .iter()
        .map(|f| {
            let path = ct.host_path(&format!("/etc/pam.d/{f}")).expect("pam.d is private");
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

#[test]
fn the_package_installs_enables_pam_pag_gives_a_login_its_token_and_purges_clean() -> Result {
    let deb = package()?;
    let files = package_files(&deb)?;
    for shipped in
        ["/usr/sbin/pag-kcm", "/lib/systemd/system/pag-kcm.socket", "/lib/systemd/system/pag-kcm.service"]
    {
        assert!(files.iter().any(|f| f == shipped), "{shipped} not in the package: {files:?}");
    }
    let (ct, kdc) = start(&deb)?;
    // A host without OpenAFS: hide the unpacked OpenAFS commands (whiteouts
    // in the /usr overlay), so the plain names are free.
    root_sh(&ct, "rm -f /usr/bin/aklog /usr/bin/tokens /usr/bin/unlog")?.assert_success();
    root_sh(&ct, &format!("dpkg -i {}", deb.display()))?.assert_success();
    assert!(common_files(&ct).contains("pam_pag.so"), "postinst did not enable the profile");
    let links = root_sh(&ct, "for c in aklog tokens unlog; do readlink -f /usr/bin/$c; done")?;
    assert_eq!(
        links.assert_success().stdout,
        "/usr/lib/pag/bin/aklog\n/usr/lib/pag/bin/tokens\n/usr/lib/pag/bin/unlog\n",
        "plain names do not lead to pag's programs"
    );
    // The administrator names the cell; the token program is the module's
    // default, compiled in by `make deb`: /usr/lib/pag/bin/aklog.
    ct.write_file("/etc/security/pam_pag.toml", &format!("[pam]\ncells = [\"{CELL}\"]\n"), 0o644)?;
    let out = ct.ssh("alice").with_password(KRB_PASSWORD).run("keyctl show @s; tokens")?;
    out.assert_success().assert_stdout_contains("user: pag:marker");
    out.assert_stdout_contains(&format!("(alice@{REALM}) tokens for afs@{CELL}"));

    root_sh(&ct, "dpkg --purge pag")?.assert_success();
    let check =
        files.iter().map(|f| format!("[ -e {f} ] || [ -L {f} ] && echo left: {f};")).collect::<String>();
    let left = root_sh(
        &ct,
        &format!("{check} ls /etc/alternatives | grep -x -e aklog -e tokens -e unlog -e pagsh; true"),
    )?;
    assert_eq!(left.assert_success().stdout, "", "the purge left files of the package");
    assert!(!common_files(&ct).contains("pam_pag"), "common-* still name pam_pag:\n{}", common_files(&ct));
    drop(kdc);
    ct.teardown()?;
    Ok(())
}

const OPENAFS: &str = "/usr/bin/aklog /usr/bin/tokens /usr/bin/unlog /usr/bin/pagsh.openafs \
                       /usr/share/man/man1/aklog.1.gz /usr/share/man/man1/tokens.1.gz";

#[test]
fn next_to_openafs_the_package_overwrites_nothing_and_both_command_sets_are_reachable() -> Result {
    let deb = package()?;
    let (ct, kdc) = start(&deb)?;
    // What openafs-client's postinst does for pagsh (its files are unpacked into /usr).
    root_sh(
        &ct,
        "update-alternatives --install /usr/bin/pagsh pagsh /usr/bin/pagsh.openafs 100 \
         --slave /usr/share/man/man1/pagsh.1.gz pagsh.1.gz /usr/share/man/man1/pagsh.openafs.1.gz",
    )?
    .assert_success();
    let before = root_sh(&ct, &format!("sha256sum {OPENAFS}"))?;
    before.assert_success();
    let install = root_sh(&ct, &format!("dpkg -i {}", deb.display()))?;
    install.assert_success();
    let after = root_sh(&ct, &format!("sha256sum {OPENAFS}; stat -c '%N' /usr/bin/aklog /usr/bin/tokens /usr/bin/unlog; readlink -f /usr/bin/pagsh"))?;
    after.assert_success();
    assert!(after.stdout.starts_with(&before.stdout), "OpenAFS's files changed:\n{before:?}\n{after:?}");
    // Still OpenAFS's real files, not links to ours; pagsh stays OpenAFS's
    // (priority 100 over our 50) until the administrator chooses.
    assert!(after.stdout.contains("'/usr/bin/aklog'\n"), "{after:?}");
    assert!(after.stdout.contains("'/usr/bin/tokens'\n"), "{after:?}");
    assert!(after.stdout.ends_with("/usr/bin/pagsh.openafs\n"), "{after:?}");
    // Ours, always by the pag-* names.
    let ours = root_sh(
        &ct,
        "pag-tokens --help | head -1; pag-aklog --help | head -1; pag-pagsh -c 'keyctl rdescribe @s'",
    )?;
    ours.assert_success();
    assert!(
        ours.stdout.contains("List the AFS tokens of your PAG")
            && ours.stdout.contains("Get AFS tokens from your Kerberos tickets"),
        "{ours:?}"
    );
    let chosen =
        root_sh(&ct, "update-alternatives --set pagsh /usr/lib/pag/bin/pagsh && readlink -f /usr/bin/pagsh")?;
    assert_eq!(chosen.assert_success().stdout_trimmed().lines().last(), Some("/usr/lib/pag/bin/pagsh"));
    // Removing pag leaves OpenAFS's files as they were and pagsh back on OpenAFS's.
    root_sh(&ct, "dpkg --purge pag")?.assert_success();
    let end = root_sh(&ct, &format!("sha256sum {OPENAFS}; readlink -f /usr/bin/pagsh"))?;
    assert_eq!(end.assert_success().stdout, format!("{}/usr/bin/pagsh.openafs\n", before.stdout));
    drop(kdc);
    ct.teardown()?;
    Ok(())
}

/// `make install` after `make deb` (built for PREFIX=/usr): it copies into
/// DESTDIR with no cargo on PATH (as under sudo), strips, puts the programs
/// in /usr/lib/pag/bin with pag-* links, refuses another PREFIX than the
/// build's, and `make uninstall` takes away all it put. Runs on the host,
/// only below a temp dir.
#[test]
fn make_install_only_copies_refuses_another_prefix_and_uninstall_removes_it_all() -> Result {
    package()?; // the build `make deb` made
    let top = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dest = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let make = |args: &[&str]| -> Result<std::process::Output> {
        Command::new("make")
            .arg("-s")
            .args(args)
            .arg(format!("DESTDIR={}", dest.path().display()))
            .current_dir(&top)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin") // no ~/.cargo/bin: no cargo
            .output()
            .map_err(|e| format!("make: {e}").into())
    };
    let text = |o: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    let refused = make(&["install", "PREFIX=/usr/local"])?;
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("run `make PREFIX=/usr/local` first"), "{}", text(&refused));

    let installed = make(&["install", "PREFIX=/usr"])?;
    assert!(installed.status.success(), "{}", text(&installed));
    let file = |p: &str| dest.path().join(p.trim_start_matches('/'));
    for program in ["aklog", "tokens", "unlog", "pagsh"] {
        let real = file(&format!("/usr/lib/pag/bin/{program}"));
        let link =
            std::fs::read_link(file(&format!("/usr/bin/pag-{program}"))).map_err(|e| format!("{e}"))?;
        assert_eq!(link, std::path::Path::new("/usr/lib/pag/bin").join(program));
        let symbols = Command::new("nm").arg(&real).output().map_err(|e| format!("nm: {e}"))?;
        assert!(
            String::from_utf8_lossy(&symbols.stderr).contains("no symbols"),
            "{} not stripped",
            real.display()
        );
    }
    // The renewer's supervisor, internal: no pag-* name.
    assert!(file("/usr/lib/pag/bin/aklog-renewer").is_file(), "{}", text(&installed));
    assert!(!file("/usr/bin/pag-aklog-renewer").exists());
    assert!(file("/usr/share/pam-configs/pag").is_file(), "{}", text(&installed));
    assert!(file("/etc/security/pam_pag.toml").is_file());
    // The KCM daemon and its units, which name where it was installed.
    assert!(file("/usr/sbin/pag-kcm").is_file(), "{}", text(&installed));
    assert!(file("/usr/share/man/man8/pag-kcm.8").is_file());
    let units = ["/lib/systemd/system", "/usr/lib/systemd/system"]
        .into_iter()
        .find(|d| file(&format!("{d}/pag-kcm.service")).is_file())
        .unwrap_or_else(|| panic!("no pag-kcm.service: {}", text(&installed)));
    let service = std::fs::read_to_string(file(&format!("{units}/pag-kcm.service"))).unwrap();
    assert!(service.contains("ExecStart=/usr/sbin/pag-kcm\n"), "{service}");
    assert!(file(&format!("{units}/pag-kcm.socket")).is_file());
    // An administrator's edit of the configuration survives uninstall.
    std::fs::write(file("/etc/security/pam_pag.toml"), "[pam]\ndebug = true\n")
        .map_err(|e| format!("{e}"))?;
    let removed = make(&["uninstall", "PREFIX=/usr"])?;
    assert!(removed.status.success(), "{}", text(&removed));
    let left = Command::new("find")
        .arg(dest.path())
        .args(["-not", "-type", "d"])
        .output()
        .map_err(|e| format!("{e}"))?;
    let left = String::from_utf8_lossy(&left.stdout);
    assert_eq!(left.trim(), file("/etc/security/pam_pag.toml").display().to_string(), "left behind");
    Ok(())
}

/// README's way without a package, for real in a container with writable
/// /usr, /etc and /var: `make install` (of the PREFIX=/usr build `make deb`
/// made; no cargo on the container's PATH), `pam-auth-update --enable pag`,
/// `pag check` without errors, an ssh login with a Kerberos password gets a PAG and the token from the
/// compiled-in /usr/lib/pag/bin/aklog; `make uninstall` takes pam_pag out of
/// the common files and removes the module.
#[test]
fn make_install_and_pam_auth_update_enable_give_a_login_its_token_and_uninstall_undoes_it() -> Result {
    let deb = package()?;
    let top = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .map_err(|e| format!("{e}"))?;
    let (ct, kdc) = start(&deb)?;
    let make = |target: &str| root_sh(&ct, &format!("make -s -C {} {target} PREFIX=/usr", top.display()));
    make("install")?.assert_success();
    root_sh(&ct, "test \"$(command -v cargo)\" = '' && pam-auth-update --enable pag")?.assert_success();
    ct.write_file("/etc/security/pam_pag.toml", &format!("[pam]\ncells = [\"{CELL}\"]\n"), 0o644)?;
    // The README's next step: check before logging out. No error here
    // (warnings, such as no Yama in this kernel, are the system's).
    let check = root_sh(&ct, "pag check")?;
    check.assert_success();
    assert!(check.stdout.contains("0 error(s)"), "{check:?}");
    assert!(check.stdout.contains("OK    program: /usr/lib/pag/bin/aklog"), "{check:?}");
    let out = ct.ssh("alice").with_password(KRB_PASSWORD).run("keyctl show @s; pag-tokens")?;
    out.assert_success().assert_stdout_contains("user: pag:marker");
    out.assert_stdout_contains(&format!("(alice@{REALM}) tokens for afs@{CELL}"));
    make("uninstall")?.assert_success();
    assert!(!common_files(&ct).contains("pam_pag"), "common-* still name pam_pag:\n{}", common_files(&ct));
    let gone = root_sh(
        &ct,
        "ls /lib/*/security/pam_pag.so /usr/lib/pag /usr/bin/pag-aklog /usr/bin/pag 2>&1; true",
    )?;
    assert_eq!(gone.stdout.matches("No such file").count(), 4, "{gone:?}");
    drop(kdc);
    ct.teardown()?;
    Ok(())
}
