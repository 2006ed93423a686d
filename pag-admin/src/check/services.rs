//! Per PAM service: which pam_pag lines its auth and session stacks load,
//! and what a login through each will do, resolved with the module's own
//! option code (defaults, `[pam]`, `[pam.service.<name>]`, the line's
//! arguments).

use std::collections::BTreeSet;
use std::path::Path;

use pag::config::pam::{KeyringOwner, OnClose};
use pag::config::{Document, PamSettings, Presence};
use pam_pag::options::{self, Options};
use serde_json::json;

use super::config::FileSettings;
use super::pamd::{self, ModuleLine};
use crate::report::Report;

/// Services where a login usually happens: a missing pam_pag there is
/// worth a warning when pam_pag is in use at all.
const LOGIN_SERVICES: &[&str] = &["sshd", "login", "su", "su-l", "sudo", "sudo-i", "runuser", "runuser-l"];

/// A token program some login will run, and the places that run it.
pub struct Program {
    pub path: String,
    pub used_by: Vec<String>,
}

/// Check every service in `dir`; return the token programs in use.
pub fn check(dir: &Path, file: &FileSettings, report: &mut Report) -> Vec<Program> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.path().is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(e) => {
            report.error("pam", format!("{}: cannot read the PAM directory: {e}", dir.display()));
            return Vec::new();
        }
    };
    names.sort();
    let mut programs: Vec<Program> = Vec::new();
    let mut with_pag = Vec::new();
    let mut problems_seen = BTreeSet::new();
    for name in &names {
        let (auth, p1) = pamd::stack(dir, name, "auth");
        let (session, p2) = pamd::stack(dir, name, "session");
        for p in p1.into_iter().chain(p2) {
            if problems_seen.insert(p.clone()) {
                report.warn("pam", format!("{name}: {p}"));
            }
        }
        let is_pag = |l: &&ModuleLine| l.module_name() == "pam_pag.so";
        let auth_pag: Vec<&ModuleLine> = auth.iter().filter(is_pag).collect();
        let session_pag: Vec<&ModuleLine> = session.iter().filter(is_pag).collect();
        if auth_pag.is_empty() && session_pag.is_empty() {
            continue;
        }
        with_pag.push(name.clone());
        let mut detail = Vec::new();
        for line in auth_pag.iter().chain(session_pag.iter()) {
            let hook = if line.kind == "auth" { "setcred" } else { "session" };
            let what = format!("{name} ({hook}, {})", line.place());
            if let Some(options) = resolve(name, line, file, &what, report) {
                report.ok("pam", format!("{what}: {}", describe(&options)));
                if let Some(why) = kcm_problem(&options) {
                    report.warn(
                        "pam",
                        format!(
                            "{what}: kcm = true, but {why}: the login's tickets stay where pam_krb5 put them"
                        ),
                    );
                }
                if !options.notokens {
                    match programs.iter_mut().find(|p| p.path == options.program) {
                        Some(p) => p.used_by.push(what.clone()),
                        None => programs
                            .push(Program { path: options.program.clone(), used_by: vec![what.clone()] }),
                    }
                }
                detail.push(json!({
                    "hook": hook,
                    "place": line.place(),
                    "arguments": line.args,
                    "options": summary(&options),
                }));
            } else {
                detail.push(
                    json!({ "hook": hook, "place": line.place(), "arguments": line.args, "options": null }),
                );
            }
        }
        flag_stack(name, &auth_pag, &session_pag, &session, report);
        report.services.push(json!({ "service": name, "lines": detail }));
    }
    if with_pag.is_empty() {
        report.warn("pam", format!("no stack in {} loads pam_pag.so: no login gets a PAG", dir.display()));
    } else {
        for name in LOGIN_SERVICES {
            if names.iter().any(|n| n == name) && !with_pag.iter().any(|n| n == name) {
                report.warn(
                    "pam",
                    format!("{name}: no pam_pag line: its logins get no PAG of their own (they stay in the caller's)"),
                );
            }
        }
    }
    programs
}

/// The options one pam_pag line gets, as the module resolves them; `None`
/// and an ERROR when the line's arguments are bad (the module then fails
/// safe).
fn resolve(
    service: &str,
    line: &ModuleLine,
    file: &FileSettings,
    what: &str,
    report: &mut Report,
) -> Option<Options> {
    let arguments = match options::parse_arguments(&line.args) {
        Ok(a) => a,
        Err(e) => {
            report.error(
                "pam",
                format!(
                    "{what}: module argument `{}`: {}; a login gets a PAG with the built-in defaults and no \
                     token program",
                    e.argument, e.message
                ),
            );
            return Some(Options::fail_safe());
        }
    };
    for unknown in &arguments.unknown {
        report.warn(
            "pam",
            format!("{what}: unknown module argument `{unknown}` (logged and ignored by the module)"),
        );
    }
    let pam: Option<PamSettings> = match &arguments.config {
        Some(path) if *path != file.path => {
            let fail_safe = "a login gets a PAG with the built-in defaults and no token program";
            match Document::read(path, Presence::NamedBy("config=")) {
                Ok(Some(d)) => match d.pam() {
                    Ok(pam) => Some(pam),
                    Err(errors) => {
                        for e in errors {
                            report.error("pam", format!("{what}: {e}; {fail_safe}"));
                        }
                        None
                    }
                },
                Ok(None) => Some(PamSettings::default()),
                Err(e) => {
                    report.error("pam", format!("{what}: {e}; {fail_safe}"));
                    None
                }
            }
        }
        _ => file.pam.clone(),
    };
    Some(match pam {
        Some(pam) => options::merge(&pam, service, &arguments.settings),
        None => Options::fail_safe(),
    })
}

/// One line: what a login through this line will do.
fn describe(o: &Options) -> String {
    let mut parts = Vec::new();
    if o.nopag {
        parts.push("PAG no (nopag)".to_owned());
    } else {
        parts.push(format!("PAG yes, keyring owner {}", owner(o.keyring_owner)));
    }
    if o.notokens {
        parts.push("no token program".to_owned());
    } else {
        let cells =
            if o.cells.is_empty() { "the program's default cell".to_owned() } else { o.cells.join(", ") };
        parts.push(format!("token program {} for {cells}, timeout {} s", o.program, o.timeout));
        if o.tokens_required {
            parts.push("tokens required".to_owned());
        }
    }
    parts.push(format!("on_close {}", on_close(o.on_close)));
    if o.kcm {
        parts.push("tickets moved into the login's KCM cache (kcm)".to_owned());
    }
    if o.ignore_root {
        parts.push("root ignored".to_owned());
    }
    if o.minimum_uid > 0 {
        parts.push(format!("uids below {} ignored", o.minimum_uid));
    }
    parts.join("; ")
}

/// Why `kcm` cannot move a login's tickets with these options, if it cannot.
fn kcm_problem(o: &Options) -> Option<&'static str> {
    if !o.kcm {
        None
    } else if o.notokens {
        Some("no token program runs (notokens), and it is the program that moves them")
    } else if o.tag_gids.is_none() {
        Some("no tag_gids: without a tag there is no login for pag-kcm to file them under")
    } else {
        None
    }
}

fn summary(o: &Options) -> serde_json::Value {
    json!({
        "pag": !o.nopag,
        "keyring_owner": owner(o.keyring_owner),
        "program": if o.notokens { None } else { Some(&o.program) },
        "cells": o.cells,
        "timeout": o.timeout,
        "on_close": on_close(o.on_close),
        "tokens_required": o.tokens_required,
        "ignore_root": o.ignore_root,
        "minimum_uid": o.minimum_uid,
        "kcm": o.kcm,
    })
}

fn owner(o: KeyringOwner) -> &'static str {
    match o {
        KeyringOwner::Root => "root",
        KeyringOwner::User => "user",
    }
}

fn on_close(o: OnClose) -> &'static str {
    match o {
        OnClose::Unlog => "unlog",
        OnClose::Revoke => "revoke",
        OnClose::Retain => "retain",
    }
}

/// The shape of the stack: both lines present, the same arguments on both,
/// pam_pag's session line after pam_krb5's.
fn flag_stack(
    name: &str,
    auth_pag: &[&ModuleLine],
    session_pag: &[&ModuleLine],
    session: &[ModuleLine],
    report: &mut Report,
) {
    let Some(first_session) = session_pag.first() else {
        report.warn(
            "pam",
            format!(
                "{name}: pam_pag is in the auth stack but not in the session stack: only applications that call \
                 setcred make a PAG, and nothing applies on_close when the session ends"
            ),
        );
        return;
    };
    if let Some(auth) = auth_pag.first() {
        if auth.args != first_session.args {
            report.warn(
                "pam",
                format!(
                    "{name}: the auth line ({}: {:?}) and the session line ({}: {:?}) carry different arguments; \
                     each hook sees only its own line's, and whichever runs first (sshd: setcred, from the auth \
                     line) sets the session up; put the options in the configuration file instead",
                    auth.place(),
                    auth.args.join(" "),
                    first_session.place(),
                    first_session.args.join(" ")
                ),
            );
        }
    }
    let position = |l: &ModuleLine| session.iter().position(|s| s == l);
    let krb5 = session.iter().position(|l| l.module_name() == "pam_krb5.so");
    if let (Some(pag), Some(krb5)) = (position(first_session), krb5) {
        if pag < krb5 {
            report.warn(
                "pam",
                format!(
                    "{name}: pam_pag's session line ({}) comes before pam_krb5's ({}): where the session is \
                     opened before setcred (login), the token program finds no ticket at open_session and waits \
                     for setcred",
                    first_session.place(),
                    session[krb5].place()
                ),
            );
        }
    }
}
