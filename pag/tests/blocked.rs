//! Keyrings blocked by a seccomp filter, as container runtimes block them:
//! every entry point fails with an error that says so and keeps the errno.
//!
//! The filter is installed on the test's own thread only (seccomp filters
//! and no_new_privs are per thread), so other tests are unaffected.

use nix::errno::Errno;
use pag::{CreateOptions, ErrorKind};

fn in_blocked_thread(errno: i32, check: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        pag_tests::seccomp::block_keyrings(errno).expect("installing the seccomp filter");
        check();
    })
    .join()
    .expect("the blocked-keyrings check failed");
}

fn assert_blocked(e: &pag::Error, errno: Errno) {
    assert_eq!(e.kind(), ErrorKind::KeyringsUnavailable, "{e}");
    assert_eq!(e.errno(), Some(errno));
    let text = e.to_string();
    assert!(text.contains("seccomp") && text.contains("keyctl"), "{text}");
}

#[test]
fn create_and_current_report_eperm_as_blocked() {
    in_blocked_thread(libc::EPERM, || {
        assert_blocked(&pag::create(&CreateOptions::default()).unwrap_err(), Errno::EPERM);
        assert_blocked(&pag::current().unwrap_err(), Errno::EPERM);
        assert_blocked(&pag::group::probe().unwrap_err(), Errno::EPERM);
    });
}

#[test]
fn create_and_current_report_enosys_as_blocked() {
    in_blocked_thread(libc::ENOSYS, || {
        assert_blocked(&pag::create(&CreateOptions::default()).unwrap_err(), Errno::ENOSYS);
        assert_blocked(&pag::current().unwrap_err(), Errno::ENOSYS);
    });
}

#[test]
fn the_token_store_reports_blocked_keyrings_too() {
    in_blocked_thread(libc::EPERM, || {
        let store = pag::token::TokenStore::new(pag::sys::Special::Session.serial());
        assert_blocked(&store.list().unwrap_err(), Errno::EPERM);
    });
}
