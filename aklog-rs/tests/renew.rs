//! `aklog --renew` and `pagsh --renew` against a real MIT KDC with short
//! tickets (15 s, renewable for minutes), so that several lifetimes pass
//! within a test. Each job runs in its own fresh session keyring.

mod common;

use common::*;

/// A shell loop that checks the token for example.org once a second for
/// `seconds` and prints one line per check: `ok <expiry>`, `MISSING` or
/// `EXPIRED`, then `done`.
fn checker(seconds: u32) -> String {
    format!(
        "i=0; while [ $i -lt {seconds} ]; do i=$((i+1)); \
         e=$(tokens --json | sed -n 's/.*\"expires\": *\\([0-9]*\\).*/\\1/p' | head -n 1); \
         if [ -z \"$e\" ]; then echo MISSING; elif [ \"$e\" -le \"$(date +%s)\" ]; then echo EXPIRED; \
         else echo \"ok $e\"; fi; sleep 1; done; echo done"
    )
}

#[test]
fn smoke() {
    let fx = fixture();
    let cc = fx.file_ccache("cc");
    fx.kdc.kinit_password_args(USER, PASSWORD, &cc, &["-l", "15s", "-r", "3m"]).unwrap();
    let out = fx.session_as(
        Session::Fresh,
        &cc,
        false,
        &format!("aklog -d --renew -c example.org -- sh -c '{}'", checker(40).replace('\'', "'\\''")),
    );
    println!("{}\n{}", out.stdout, out.stderr);
    panic!();
}
