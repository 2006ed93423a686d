//! Self-tests of the container harness with stock PAM modules only: the
//! container is isolated, starts fast, and real logins work in it.
//! Needs root (CI runs as root); as another user every test fails and says why.

use std::time::Duration;

mod support;

use pag_tests::container::{As, Container, PamStack, User};
use pag_tests::syslog::Capture;
use support::assert_keyinit_session_keyring;

type Result<T = ()> = pag_tests::container::Result<T>;

#[test]
fn starts_in_under_a_second_in_its_own_namespaces() -> Result {
    let ct = Container::builder().user(User::new("alice")).start()?;
    eprintln!("container start: {:?}", ct.startup_time());
    assert!(ct.startup_time() < Duration::from_secs(1), "start took {:?}", ct.startup_time());
    let out =
        ct.sh(&As::Root, "readlink /proc/1/exe; hostname; ip -o link | wc -l; ip -o -4 addr show lo")?;
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].ends_with("/pag-container-init"), "pid 1 is the harness's init: {out:?}");
    assert_eq!(lines[1], "pagct");
    assert_eq!(lines[2], "1", "only loopback in the network namespace: {out:?}");
    assert!(lines[3].contains("inet 127.0.0.1/8"), "loopback up: {out:?}");
    ct.teardown()?;
    Ok(())
}

#[test]
fn users_exist_inside_and_the_host_files_never_change() -> Result {
    let host_passwd = std::fs::read("/etc/passwd").unwrap();
    let host_shadow = std::fs::read("/etc/shadow").unwrap();
    let ct = Container::builder().user(User::new("alice").password("pw-alice")).start()?;
    let alice = ct.user("alice").clone();
    let out = ct.exec(&As::Root, &["getent", "passwd", "alice"])?;
    out.assert_success()
        .assert_stdout_contains(&format!("alice:x:{}:{}::/home/alice:/bin/bash", alice.uid, alice.gid));
    ct.exec(&As::Root, &["grep", "-q", "^alice:\\$6\\$", "/etc/shadow"])?.assert_success();
    let out = ct.sh(&As::User("alice".into()), "id -un; echo $HOME; touch ~/x /tmp/y && stat -c %U ~/x")?;
    out.assert_success();
    assert_eq!(out.stdout, "alice\n/home/alice\nalice\n");
    assert!(!std::path::Path::new("/tmp/y").exists(), "the container's /tmp is private");
    ct.sh(&As::Root, "echo 'evil:x:0:0::/:/bin/sh' >> /etc/passwd")?.assert_success();
    ct.teardown()?;
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), host_passwd, "host /etc/passwd changed");
    assert_eq!(std::fs::read("/etc/shadow").unwrap(), host_shadow, "host /etc/shadow changed");
    Ok(())
}

#[test]
fn teardown_kills_every_process_of_the_container() -> Result {
    let ct = Container::builder().user(User::new("alice")).start()?;
    let uid = ct.user("alice").uid;
    // A daemon that escapes its session, as a user: teardown must still end it.
    ct.sh(&As::User("alice".into()), "setsid -f sleep 1000 </dev/null >/dev/null 2>&1")?.assert_success();
    let before = ps_uid(uid);
    assert_eq!(before.len(), 1, "the daemon runs: {before:?}");
    ct.teardown()?;
    assert!(ps_uid(uid).is_empty(), "a process of alice survived");
    Ok(())
}

fn ps_uid(uid: u32) -> Vec<String> {
    let out =
        std::process::Command::new("ps").args(["-o", "pid=,args=", "-U", &uid.to_string()]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

/// sshd, su and login stacks with pam_keyinit, as Debian ships them.
fn keyinit_stack() -> PamStack {
    PamStack::unix_auth()
        .session("optional", "pam_keyinit.so force revoke")
        .session("required", "pam_unix.so")
}

#[test]
fn ssh_with_a_password_runs_id_in_a_pam_keyinit_session() -> Result {
    let ct = Container::builder()
        .user(User::new("alice").password("alice pw"))
        .pam("sshd", keyinit_stack())
        .sshd()
        .start()?;
    eprintln!("container start with sshd: {:?}", ct.startup_time());
    let alice = ct.user("alice").clone();
    let out = ct.ssh("alice").password().run("id; keyctl show @s")?;
    out.assert_success().assert_stdout_contains(&format!("uid={}(alice)", alice.uid));
    assert_keyinit_session_keyring(&out.stdout, alice.uid);
    let wrong = ct.ssh("alice").with_password("not it").run("id")?;
    wrong.assert_failure().assert_stderr_contains("Permission denied");
    ct.teardown()?;
    Ok(())
}

#[test]
fn ssh_with_a_public_key_logs_in() -> Result {
    let ct =
        Container::builder().user(User::new("bob").ssh_key()).pam("sshd", keyinit_stack()).sshd().start()?;
    let out = ct.ssh("bob").key().run("id -un; keyctl show @s")?;
    out.assert_success();
    assert!(out.stdout.starts_with("bob\n"), "{out:?}");
    assert_keyinit_session_keyring(&out.stdout, ct.user("bob").uid);
    // Another user's key is not authorised for bob.
    ct.teardown()?;
    Ok(())
}

#[test]
fn su_l_runs_id_in_a_pam_keyinit_session() -> Result {
    let ct = Container::builder()
        .user(User::new("carol"))
        .pam("su-l", PamStack::new().auth("sufficient", "pam_rootok.so").extend(keyinit_stack()))
        .start()?;
    let carol = ct.user("carol").clone();
    let out = ct.su_l("carol", "id; pwd; keyctl show @s")?;
    out.assert_success()
        .assert_stdout_contains(&format!("uid={}(carol)", carol.uid))
        .assert_stdout_contains("/home/carol");
    assert_keyinit_session_keyring(&out.stdout, carol.uid);
    ct.teardown()?;
    Ok(())
}

#[test]
fn login_on_a_pty_prompts_and_logs_in() -> Result {
    let ct = Container::builder()
        .user(User::new("dave").password("dave pw"))
        .pam("login", keyinit_stack())
        .start()?;
    let dave = ct.user("dave").clone();
    let t = Duration::from_secs(20);
    let mut tty = ct.login()?;
    tty.expect("pagct login: ", t)?;
    tty.send_line("dave")?;
    tty.expect("Password: ", t)?;
    tty.send_line("dave pw")?;
    // login flushes type-ahead when it sets up the session: wait for the shell.
    tty.expect("$ ", t)?;
    let (text, status) = tty.run("id; tty; keyctl show @s", t)?;
    assert_eq!(status, 0, "{text}");
    assert!(text.contains(&format!("uid={}(dave)", dave.uid)), "{text}");
    assert!(text.contains("/dev/pts/"), "the shell is on the pty: {text}");
    assert_keyinit_session_keyring(&text, dave.uid);
    tty.send_line("exit")?;
    tty.wait(t)?;
    ct.teardown()?;
    Ok(())
}

#[test]
fn syslog_inside_the_container_reaches_the_capture() -> Result {
    let ct = Container::builder()
        .user(User::new("erin").password("erin pw"))
        .pam(
            "sshd",
            PamStack::new()
                .auth("optional", "pam_warn.so")
                .extend(keyinit_stack())
                .session("optional", "pam_warn.so"),
        )
        .sshd()
        .start()?;
    let log = Capture::bind(&ct.dev_log_path()).expect("bind the container's /dev/log");
    ct.ssh("erin")
        .password()
        .run("logger -p authpriv.notice -t erin-shell hello from the session")?
        .assert_success();
    // Both lines were sent before the client returned, and sync() waits
    // until everything sent so far has been read.
    let lines = log.sync();
    assert!(
        lines.iter().any(|l| l.tag == "erin-shell" && l.message == "hello from the session"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.message.starts_with("pam_warn(sshd:session)") && l.message.contains("user=[erin]")),
        "{lines:?}"
    );
    ct.teardown()?;
    Ok(())
}

#[test]
fn su_by_a_user_asks_for_the_password_on_a_pty() -> Result {
    let ct = Container::builder()
        .user(User::new("frank").password("frank pw"))
        .user(User::new("grace"))
        .pam(
            "su-l",
            PamStack::su().extend(PamStack::new().session("optional", "pam_keyinit.so force revoke")),
        )
        .start()?;
    let t = Duration::from_secs(20);
    let mut tty = ct.pty(
        &As::User("grace".into()),
        &["setsid", "--ctty", "su", "-l", "frank", "-c", "id -un; keyctl show @s"],
    )?;
    tty.expect("Password: ", t)?;
    tty.send_line("frank pw")?;
    tty.expect("frank\r\n", t)?;
    let rest = tty.expect("_ses", t)?;
    assert!(rest.contains("Keyring"), "{rest}");
    let status = tty.wait(t)?;
    assert!(status.success(), "su ended with {status}");
    ct.teardown()?;
    Ok(())
}

#[test]
fn a_panicking_test_still_tears_its_container_down() {
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        let ct = Container::builder().user(User::new("heidi")).start().unwrap();
        ct.sh(&As::User("heidi".into()), "setsid -f sleep 1000 </dev/null >/dev/null 2>&1")
            .unwrap()
            .assert_success();
        tx.send((ct.user("heidi").uid, ct.dir().to_owned(), ct.host_pid())).unwrap();
        panic!("a scenario failed");
    })
    .join();
    assert!(failed.is_err(), "the thread panicked");
    let (uid, dir, pid1) = rx.recv().unwrap();
    assert!(ps_uid(uid).is_empty(), "a process of the container user survived");
    assert!(!std::path::Path::new(&format!("/proc/{pid1}")).exists(), "pid 1 survived");
    assert!(!dir.exists(), "{} survived", dir.display());
}

#[test]
fn fixtures_can_listen_on_the_containers_loopback() -> Result {
    use std::io::Read;
    let ct = Container::builder().start()?;
    let listener = ct.in_network_namespace(|| std::net::TcpListener::bind("127.0.0.1:0"))?.expect("bind");
    let port = listener.local_addr().unwrap().port();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the host's loopback is another one");
    ct.exec(&As::Root, &["bash", "-c", &format!("echo hello >/dev/tcp/127.0.0.1/{port}")])?.assert_success();
    let mut text = String::new();
    listener.accept().unwrap().0.read_to_string(&mut text).unwrap();
    assert_eq!(text, "hello\n");
    ct.teardown()?;
    Ok(())
}
