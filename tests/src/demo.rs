//! The README's demo: the whole product in one test container. A KDC, an
//! sshd whose PAM stack has pam_krb5 and pam_pag, a login by a demo user,
//! and that session's keyring and tokens, each step explained. Run by
//! `scripts/demo` (as root) through the `pag-demo` binary.

#![forbid(unsafe_code)]

use std::time::Instant;

use crate::container::{As, Container, Error, Result, User};
use crate::site::{self, Built, CELL, REALM};
use crate::syslog::Capture;

const USER: &str = "demo";
const PASSWORD: &str = "demo-kerberos-password";

fn step(text: &str) {
    println!("\n== {text}");
}

fn indent(text: &str) {
    for line in text.lines() {
        println!("   {line}");
    }
}

/// Run the demo, printing as it goes.
pub fn run() -> Result<()> {
    let built = Built::find()?;
    step("Start a test container: new mount, pid, network, UTS and IPC namespaces, with");
    println!("   private copies of /etc/passwd, shadow, group, pam.d, ssh and krb5.conf bound over the");
    println!("   host's, so nothing on this machine changes. sshd's PAM stack gets pam_krb5 and pam_pag.");
    let began = Instant::now();
    let ct = Container::builder()
        .user(User::new(USER).password("unused-unix-password"))
        .pam("sshd", site::kerberos_stack(&built, "debug"))
        .sshd()
        .start()?;
    let log = Capture::bind(&ct.dev_log_path()).map_err(|e| Error::new(format!("syslog capture: {e}")))?;
    println!(
        "   container up in {:?} (pid 1 is host pid {}), sshd on its 127.0.0.1:22",
        began.elapsed(),
        ct.host_pid()
    );
    println!("   /etc/pam.d/sshd inside:");
    indent(&ct.exec(&As::Root, &["cat", "/etc/pam.d/sshd"])?.stdout);

    step(&format!("Start a real MIT KDC for realm {REALM} on the container's loopback, with the"));
    println!("   principals {USER}@{REALM} and afs/{CELL}@{REALM} (the AFS cell {CELL})");
    let kdc = site::start_kdc(&ct)?;
    site::add_user(&kdc, USER, PASSWORD)?;
    println!("   krb5kdc listening on 127.0.0.1:{}", kdc.port());

    step(&format!("Log in: ssh {USER}@127.0.0.1 with the Kerberos password. pam_krb5 gets a ticket;"));
    println!("   pam_pag makes a fresh PAG (a new session keyring no other login can enter) and runs");
    println!("   aklog as the user, outside the PAG, to turn the ticket into an AFS token for {CELL};");
    println!("   aklog hands the token back on a pipe and pam_pag checks it and stores it in the PAG.");
    println!("   In the session: keyctl show @s; tokens");
    let out = ct
        .ssh(USER)
        .with_password(PASSWORD)
        .run(&format!("echo '$ keyctl show @s'; keyctl show @s; echo '$ tokens'; {}", built.tokens()))?;
    if !out.status.success() {
        return Err(Error::new(format!("the demo login failed: {out:?}\n{}", ct.sshd_log())));
    }
    indent(&out.stdout);
    println!("   The session keyring is the PAG: owned by root (so it costs the user no key quota),");
    println!("   marked by pag:marker, holding the token afs@{CELL} that `tokens` lists.");

    step("What pam_pag logged (syslog, captured at the container's /dev/log):");
    for line in log.sync().iter().filter(|l| l.message.starts_with("pam_pag(")) {
        println!("   {}", line.message);
    }

    step("Tear down: stop the KDC, kill the container's pid 1 (and with it every process in it),");
    println!("   and check that no process, mount or key of the demo user is left.");
    drop(kdc);
    ct.teardown()?;
    println!("   done; nothing left.");
    Ok(())
}
