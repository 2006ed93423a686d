//! A Kerberos site in a test container for login scenarios: sshd with the
//! given stack, users with a Unix password and an ssh key, a real MIT KDC on
//! the container's loopback that knows them (Kerberos password
//! [`KRB_PASSWORD`]; their Unix password differs, so a login with the
//! Kerberos one proves pam_krb5 did it), and a syslog capture at its
//! /dev/log.

use std::time::{Duration, Instant};

use crate::container::{Container, ContainerBuilder, Output, PamStack, Result, User};
use crate::kdc::Kdc;
use crate::site::{self, Built};
use crate::syslog::Capture;

/// The users' Kerberos password.
pub const KRB_PASSWORD: &str = "kerberos pw";

/// The site; [`KerberosSite::teardown`] stops the KDC before the container.
pub struct KerberosSite {
    pub built: Built,
    pub log: Capture,
    pub kdc: Option<Kdc>,
    pub ct: Container,
}

impl KerberosSite {
    /// sshd with the Kerberos stack and pam_pag with `pag_args`.
    pub fn kerberos(users: &[&str], pag_args: &str) -> Result<Self> {
        let built = Built::find()?;
        Self::start(users, site::kerberos_stack(&built, pag_args), built, |b| b)
    }

    /// sshd with `sshd_stack`; `more` adds to the container (files, ...).
    pub fn start(
        users: &[&str],
        sshd_stack: PamStack,
        built: Built,
        more: impl FnOnce(ContainerBuilder) -> ContainerBuilder,
    ) -> Result<Self> {
        let mut builder = Container::builder().pam("sshd", sshd_stack).sshd();
        for user in users {
            builder = builder.user(User::new(user).password("unix pw").ssh_key());
        }
        let ct = more(builder).start()?;
        let log = Capture::bind(&ct.dev_log_path()).map_err(|e| format!("syslog capture: {e}"))?;
        let kdc = site::start_kdc(&ct)?;
        for user in users {
            site::add_user(&kdc, user, KRB_PASSWORD)?;
        }
        Ok(Self { built, log, kdc: Some(kdc), ct })
    }

    /// `command` in an ssh login of `user` with the Kerberos password.
    pub fn ssh_kerberos(&self, user: &str, command: &str) -> Result<Output> {
        self.ct.ssh(user).with_password(KRB_PASSWORD).run(command)
    }

    /// Lines of pam_pag for `service` logged so far.
    pub fn pam_pag_lines(&self, service: &str) -> Vec<String> {
        let tag = format!("pam_pag({service}:");
        self.log.sync().into_iter().filter(|l| l.message.contains(&tag)).map(|l| l.message).collect()
    }

    /// Wait until a line containing `needle` was logged; return it.
    pub fn wait_for_log(&self, needle: &str) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = self.log.sync().into_iter().find(|l| l.message.contains(needle)) {
                return Ok(line.message);
            }
            if Instant::now() >= deadline {
                let lines: Vec<String> = self.log.sync().into_iter().map(|l| l.message).collect();
                return Err(format!("no log line with {needle:?}; got {lines:#?}").into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn teardown(mut self) -> Result<()> {
        drop(self.kdc.take()); // it runs in the container's network namespace
        self.ct.teardown()?;
        Ok(())
    }
}
