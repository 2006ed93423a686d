//! Scenarios with the stock modules only (pam_unix, pam_keyinit): the
//! peer behaviour the pam_pag scenarios are compared with, and proof that
//! the harness's seccomp and concurrency set-ups work. Needs root.

mod support;

use std::time::Duration;

use pag_tests::container::{As, Container, PamStack, User};
use support::{assert_keyinit_session_keyring, session_keyring};

type Result<T = ()> = pag_tests::container::Result<T>;

const WITH_SECCOMP: &str = env!("CARGO_BIN_EXE_with-seccomp");

fn keyinit(control: &str) -> PamStack {
    PamStack::unix_auth().session(control, "pam_keyinit.so force revoke").session("required", "pam_unix.so")
}

#[test]
fn two_concurrent_ssh_sessions_get_different_session_keyrings() -> Result {
    let ct = Container::builder()
        .user(User::new("alice").ssh_key())
        .pam("sshd", keyinit("required"))
        .sshd()
        .start()?;
    let uid = ct.user("alice").uid;
    // Both sessions are open at once: each waits for the other's marker file.
    let a =
        ct.ssh("alice").spawn("keyctl show @s; touch /tmp/a; while [ ! -e /tmp/b ]; do sleep 0.05; done")?;
    let b =
        ct.ssh("alice").spawn("keyctl show @s; touch /tmp/b; while [ ! -e /tmp/a ]; do sleep 0.05; done")?;
    let (a, b) = (a.wait(Duration::from_secs(30))?, b.wait(Duration::from_secs(30))?);
    a.assert_success();
    b.assert_success();
    let ring_a = assert_keyinit_session_keyring(&a.stdout, uid);
    let ring_b = assert_keyinit_session_keyring(&b.stdout, uid);
    assert_ne!(ring_a, ring_b, "two sessions share a session keyring");
    ct.teardown()?;
    Ok(())
}

#[test]
fn keyctl_blocked_with_eperm_optional_pam_keyinit_still_logs_in() -> Result {
    blocked_keyrings("eperm", "Operation not permitted")
}

#[test]
fn keyctl_blocked_with_enosys_optional_pam_keyinit_still_logs_in() -> Result {
    blocked_keyrings("enosys", "Function not implemented")
}

/// sshd under a seccomp filter that makes the key system calls fail with
/// `mode`: with `optional` pam_keyinit the login works (and keyctl in the
/// session fails with `message`); with `required` pam_keyinit, the peer's
/// documented behaviour, the login is refused.
fn blocked_keyrings(mode: &str, message: &str) -> Result {
    let ct = Container::builder()
        .user(User::new("bob").ssh_key())
        .pam("sshd", keyinit("optional"))
        .sshd_under(&[WITH_SECCOMP, mode, "--"])
        .sshd()
        .start()?;
    let out = ct.ssh("bob").run("id -un; keyctl show @s")?;
    assert_eq!(out.stdout.lines().next(), Some("bob"), "{out:?}");
    out.assert_stderr_contains(message);
    ct.set_pam("sshd", &keyinit("required"))?;
    let refused = ct.ssh("bob").run("id -un")?;
    assert!(!refused.status.success() && !refused.stdout.contains("bob"), "{refused:?}");
    ct.teardown()?;
    Ok(())
}

#[test]
fn su_l_sessions_each_get_their_own_keyring() -> Result {
    let ct = Container::builder()
        .user(User::new("carol"))
        .pam(
            "su-l",
            PamStack::su().extend(PamStack::new().session("required", "pam_keyinit.so force revoke")),
        )
        .start()?;
    let first = ct.su_l("carol", "keyctl show @s")?;
    let second = ct.su_l("carol", "keyctl show @s")?;
    let (one, two) =
        (session_keyring(&first.assert_success().stdout), session_keyring(&second.assert_success().stdout));
    assert_ne!(one.0, two.0);
    ct.teardown()?;
    Ok(())
}

#[test]
fn login_as_types_name_and_password_and_reaches_the_shell() -> Result {
    let ct = Container::builder()
        .user(User::new("dave").password("dave pw"))
        .pam("login", keyinit("required"))
        .start()?;
    let t = Duration::from_secs(20);
    let mut first = ct.login_as("dave")?;
    let mut second = ct.login_as("dave")?;
    let (one, status_one) = first.run("keyctl show @s", t)?;
    let (two, status_two) = second.run("keyctl show @s", t)?;
    assert_eq!((status_one, status_two), (0, 0), "{one}\n{two}");
    let uid = ct.user("dave").uid;
    assert_ne!(assert_keyinit_session_keyring(&one, uid), assert_keyinit_session_keyring(&two, uid));
    for mut tty in [first, second] {
        tty.send_line("exit")?;
        tty.wait(t)?;
    }
    ct.teardown()?;
    Ok(())
}

#[test]
fn debians_own_su_l_stack_runs_with_pam_auth_update_common_files() -> Result {
    let ct = Container::builder().user(User::new("erin")).debian_pam().start()?;
    let common = ct.exec(&As::Root, &["cat", "/etc/pam.d/common-auth"])?;
    common.assert_stdout_contains("pam-auth-update").assert_stdout_contains("pam_unix.so");
    let stack = ct.exec(&As::Root, &["cat", "/etc/pam.d/su-l"])?;
    stack.assert_stdout_contains("include").assert_stdout_contains("su");
    let out = ct.su_l("erin", "id -un")?;
    out.assert_success();
    assert_eq!(out.stdout, "erin\n");
    ct.teardown()?;
    Ok(())
}
