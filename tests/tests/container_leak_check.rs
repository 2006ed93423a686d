//! The teardown check finds a key a container user left behind. Alone in
//! its file (its own test process) because the leaked key outlives the
//! container until this test removes it, and no other container may get
//! the uid meanwhile. Needs root.

use std::os::unix::process::CommandExt;
use std::process::Command;

use pag_tests::container::{As, Container, User};

#[test]
fn teardown_reports_a_key_left_in_the_user_keyring() {
    let ct = Container::builder().user(User::new("ivan")).start().unwrap();
    let ivan = ct.user("ivan").clone();
    // @u outlives every session: a key linked there is a leak.
    ct.exec(&As::User("ivan".into()), &["keyctl", "add", "user", "pag-test-leak", "x", "@u"])
        .unwrap()
        .assert_success();
    let error = ct.teardown().expect_err("teardown must report the leaked key").to_string();
    // Clean up before asserting, so a failure here leaves nothing behind either.
    let cleared = Command::new("keyctl").args(["clear", "@u"]).uid(ivan.uid).gid(ivan.gid).status().unwrap();
    assert!(cleared.success());
    assert!(
        error.contains("ivan still owns keys") && error.contains("pag-test-leak"),
        "unexpected teardown error: {error}"
    );
}
