//! The real MIT client tools (kinit, klist, klist -A, kvno, kswitch,
//! kdestroy) against pag-kcm, with a real MIT KDC: what a user types
//! works, with the results they expect.

mod support;

use support::{ok, text, Site};

#[test]
fn kinit_klist_kvno_kdestroy_work() {
    let site = Site::start(&["--trace"]);
    let out = site.tool(&["klist"]);
    assert!(!out.status.success(), "klist before kinit: {}", text(&out));
    assert!(text(&out).contains("not found"), "{}", text(&out));

    ok(&site.kinit("alice", &[]));
    let listed = ok(&site.tool(&["klist"]));
    assert!(listed.contains("Ticket cache: KCM:0"), "{listed}");
    assert!(listed.contains("Default principal: alice@EXAMPLE.ORG"), "{listed}");
    assert!(listed.contains("krbtgt/EXAMPLE.ORG@EXAMPLE.ORG"), "{listed}");

    ok(&site.tool(&["kvno", "host/svc.example.org"]));
    let listed = ok(&site.tool(&["klist"]));
    assert!(listed.contains("host/svc.example.org@EXAMPLE.ORG"), "{listed}");
    // The second kvno is served from the cache: no new TGS request.
    let tgs_before = site.kdc.log().matches("TGS_REQ").count();
    ok(&site.tool(&["kvno", "host/svc.example.org"]));
    assert_eq!(site.kdc.log().matches("TGS_REQ").count(), tgs_before, "kvno asked the KDC again");

    ok(&site.tool(&["kdestroy"]));
    let out = site.tool(&["klist"]);
    assert!(!out.status.success() && text(&out).contains("not found"), "{}", text(&out));
    assert!(site.state_files().is_empty(), "state left: {:?}", site.state_files());

    // Every operation these tools sent was served, except RETRIEVE, which
    // MIT's client answers itself from GET_CRED_LIST when told "not supported".
    let log = site.log();
    let traced: Vec<&str> = log.lines().filter(|l| l.contains("trace uid=")).collect();
    assert!(traced.len() > 20, "{log}");
    for op in ["GetDefaultCache", "GetPrincipal", "Replace", "GetCredList", "Store", "Destroy"] {
        assert!(traced.iter().any(|l| l.contains(&format!("op={op} -> "))), "{op} never sent: {log}");
    }
    let unsupported: Vec<&&str> = traced.iter().filter(|l| l.ends_with("-> -1765328137")).collect();
    assert!(unsupported.iter().all(|l| l.contains("op=Retrieve ")), "{unsupported:?}");
}

#[test]
fn collections_switch_and_list_like_any_kcm() {
    let site = Site::start(&[]);
    ok(&site.kinit("alice", &[]));
    ok(&site.kinit("bob", &[]));
    // kinit of a second principal made a second cache and switched to it.
    let all = ok(&site.tool(&["klist", "-l"]));
    assert!(all.contains("alice@EXAMPLE.ORG") && all.contains("bob@EXAMPLE.ORG"), "{all}");
    assert!(ok(&site.tool(&["klist"])).contains("Default principal: bob@EXAMPLE.ORG"));
    let every = ok(&site.tool(&["klist", "-A"]));
    assert_eq!(every.matches("krbtgt/EXAMPLE.ORG@EXAMPLE.ORG").count(), 2, "{every}");

    ok(&site.tool(&["kswitch", "-p", "alice"]));
    assert!(ok(&site.tool(&["klist"])).contains("Default principal: alice@EXAMPLE.ORG"));
    ok(&site.tool(&["kdestroy"]));
    // alice's cache is gone, bob's is still there and now the default.
    let all = ok(&site.tool(&["klist", "-l"]));
    assert!(!all.contains("alice@") && all.contains("bob@EXAMPLE.ORG"), "{all}");
    ok(&site.tool(&["kdestroy", "-A"]));
    let out = site.tool(&["klist", "-A"]);
    assert!(!text(&out).contains("EXAMPLE.ORG"), "{}", text(&out));
    // A named cache is a cache of the same collection.
    ok(&site.kinit("alice", &["-c", "KCM:0:named"]));
    let out = ok(&site.tool_env(&["klist"], &[("KRB5CCNAME", "KCM:0:named")]));
    assert!(out.contains("alice@EXAMPLE.ORG"), "{out}");
}

#[test]
fn a_restart_keeps_the_tickets() {
    let mut site = Site::start(&[]);
    ok(&site.kinit("alice", &[]));
    ok(&site.tool(&["kvno", "host/svc.example.org"]));
    // SIGHUP (a reload by habit) does not stop it.
    let pid = nix::unistd::Pid::from_raw(site.daemon.as_ref().unwrap().id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    support::wait_for("the SIGHUP line", || {
        site.log().contains("SIGHUP: the configuration is read at start only")
    });
    assert!(ok(&site.tool(&["klist"])).contains("alice@EXAMPLE.ORG"));
    site.stop_daemon();
    assert_eq!(site.state_files(), vec!["0.kcm".to_string()]);
    site.start_daemon(&[]);
    let listed = ok(&site.tool(&["klist"]));
    assert!(listed.contains("Default principal: alice@EXAMPLE.ORG"), "{listed}");
    assert!(listed.contains("host/svc.example.org@EXAMPLE.ORG"), "{listed}");
    let tgs_before = site.kdc.log().matches("TGS_REQ").count();
    ok(&site.tool(&["kvno", "host/svc.example.org"]));
    assert_eq!(site.kdc.log().matches("TGS_REQ").count(), tgs_before, "the cached ticket was not used");
}

/// Under socket activation (systemd's own `systemd-socket-activate` passes
/// the socket as systemd does), pag-kcm serves the socket it was given.
#[test]
fn serves_the_socket_systemd_passes() {
    let mut site = Site::start(&[]);
    site.stop_daemon();
    let socket = site.dir.path().join("activated.sock");
    let conf = site
        .kdc
        .write_client_config(
            "activated-krb5.conf",
            &format!("default_ccache_name = KCM:\nkcm_socket = {}\n", socket.display()),
            None,
        )
        .unwrap();
    let log = std::fs::File::create(site.dir.path().join("activated.log")).unwrap();
    let mut child = std::process::Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&socket)
        .arg(env!("CARGO_BIN_EXE_pag-kcm"))
        .arg("--state-dir")
        .arg(&site.state)
        .arg("--socket")
        .arg("/nonexistent/never-bound")
        .stderr(log)
        .spawn()
        .expect("systemd-socket-activate (package systemd)");
    support::wait_for("the activated socket", || socket.exists());
    let mut kinit = std::process::Command::new("kinit")
        .arg("alice")
        .env("KRB5_CONFIG", &conf)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(kinit.stdin.take().unwrap(), "{}", support::PASSWORD).unwrap();
    ok(&kinit.wait_with_output().unwrap());
    let listed = std::process::Command::new("klist").env("KRB5_CONFIG", &conf).output().unwrap();
    assert!(ok(&listed).contains("alice@EXAMPLE.ORG"));
    let text = std::fs::read_to_string(site.dir.path().join("activated.log")).unwrap();
    assert!(text.contains("listening on the socket systemd passed"), "{text}");
    let _ = child.kill();
    let _ = child.wait();
}

/// The shipped units are valid for systemd (systemd-analyze verify, with
/// ExecStart pointed at the built binary) and agree with the daemon's
/// defaults: the socket is MIT's default kcm_socket, the state directory
/// is the daemon's default and survives restarts.
#[test]
fn the_shipped_systemd_units_verify() {
    let conf = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/systemd");
    let dir = tempfile::tempdir().unwrap();
    let service = std::fs::read_to_string(conf.join("pag-kcm.service")).unwrap();
    let socket = std::fs::read_to_string(conf.join("pag-kcm.socket")).unwrap();
    assert!(service.contains("ExecStart=/usr/sbin/pag-kcm\n"), "{service}");
    assert!(
        service.contains("RuntimeDirectory=pag-kcm\n") && service.contains("RuntimeDirectoryPreserve=yes\n")
    );
    assert!(socket.contains("ListenStream=/run/.heim_org.h5l.kcm-socket\n"), "{socket}");
    std::fs::write(
        dir.path().join("pag-kcm.service"),
        service.replace("/usr/sbin/pag-kcm", env!("CARGO_BIN_EXE_pag-kcm")),
    )
    .unwrap();
    std::fs::write(dir.path().join("pag-kcm.socket"), socket).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.path().join("pag-kcm.socket"))
        .arg(dir.path().join("pag-kcm.service"))
        .output()
        .expect("systemd-analyze (package systemd)");
    assert!(out.status.success() && out.stderr.is_empty(), "{}", text(&out));
}

/// Past a bound nothing changes, the client says why in its own words
/// ("Disk quota exceeded") and the daemon's log names the bound.
#[test]
fn a_bound_refuses_with_a_clear_error_and_a_log_line() {
    let site = Site::start_with_config("[kcm]\nmax_caches = 2\n", &[]);
    ok(&site.kinit("alice", &[]));
    ok(&site.kinit("bob", &[]));
    let out = site.kinit("alice", &["-c", "KCM:0:third"]);
    assert!(!out.status.success(), "a third cache was made: {}", text(&out));
    assert!(text(&out).contains("Disk quota exceeded"), "{}", text(&out));
    assert!(
        site.log().contains("refused: over max_caches = 2 (raise it in [kcm] of pam_pag.toml)"),
        "{}",
        site.log()
    );
    // The two caches are untouched.
    let all = ok(&site.tool(&["klist", "-l"]));
    assert!(
        all.contains("alice@EXAMPLE.ORG") && all.contains("bob@EXAMPLE.ORG") && !all.contains("third"),
        "{all}"
    );
}
