//! `aklog --renew`: keep a PAG supplied with tokens for as long as it is
//! needed, renewing the Kerberos ticket they come from (or fetching a new
//! one with a keytab) before either ends.
//!
//! - [`schedule`]: when to refresh and how to back off;
//! - [`refresh`]: one refresh (ticket, then tokens linked over the old ones);
//! - [`worker`]: a refresh in a child process with a deadline;
//! - [`supervise`]: the renewer's life, its command and its signals.
//!
//! Whose key quota: everything the renewer stores (the tokens, a private
//! `KEYRING:` cache) is the user's own keys, charged to the user's quota
//! (`kernel.keys.maxkeys`, `maxbytes`), never root's.

pub mod refresh;
pub mod schedule;
pub mod supervise;
pub mod worker;

use std::process::ExitCode;

use refresh::{Job, TicketSource};
use std::os::unix::process::CommandExt;

use supervise::Plan;

use crate::cmd_aklog::Cli;
use crate::exit::{Exit, Failure};
use crate::krb5::Context;

/// The private cache of a renewer's command: a `KEYRING:session:` cache
/// (so in the PAG, seen by nothing outside it), named by the renewer's pid
/// so that two renewers in one PAG keep apart.
fn private_cache_name() -> String {
    format!("KEYRING:session:aklog-renew-{}", std::process::id())
}

/// Destroy the cache called `name`.
pub fn destroy_cache(name: &str) -> Result<(), String> {
    let context = Context::new().map_err(|e| e.to_string())?;
    let cache = context.resolve_ccache(name).map_err(|e| e.to_string())?;
    cache.destroy().map_err(|e| e.to_string())
}

/// The renewer's plan from the command line and the configuration.
fn plan(cli: &Cli, debug: &dyn Fn(&str)) -> Result<Plan, Failure> {
    let (cells, realm, key_type) = crate::cmd_aklog::cells_realm_and_key_type(cli, debug)?;
    let command = cli.command.clone();
    let private_cache = !command.is_empty();
    let default_cache = || {
        Context::new().ok().and_then(|c| c.default_ccache_name()).ok_or_else(|| {
            Failure::new(Exit::Kerberos, "no default Kerberos cache: set KRB5CCNAME or run kinit")
        })
    };
    let cache = if private_cache { private_cache_name() } else { default_cache()? };
    let source = match &cli.keytab {
        Some(path) => {
            if let Err(e) = std::fs::File::open(path) {
                return Err(Failure::new(
                    Exit::Kerberos,
                    format!("cannot read the keytab {}: {}", path.display(), pag::error::describe_io(&e)),
                ));
            }
            TicketSource::Keytab { path: path.clone(), principal: cli.principal.clone() }
        }
        None if private_cache => TicketSource::CopyFrom(default_cache()?),
        None => TicketSource::InPlace,
    };
    let job = Job { cache, source, cells, realm, key_type };
    Ok(Plan { job, command, private_cache, debug: cli.debug })
}

/// Run `aklog --renew`.
pub fn main(cli: &Cli) -> ExitCode {
    let debug = |text: &str| {
        if cli.debug {
            eprintln!("aklog: {text}");
        }
    };
    if std::env::var_os(crate::token_fd::ENV).is_some() {
        eprintln!("aklog: --renew cannot be used with {}: a token program runs once", crate::token_fd::ENV);
        return Exit::Usage.into();
    }
    let plan = match plan(cli, &debug) {
        Ok(p) => p,
        Err(f) => {
            eprintln!("aklog: {f}");
            return f.exit.into();
        }
    };
    // The supervisor is a program of its own, without libkrb5, so that
    // what waits for hours is small; each refresh runs aklog again.
    let renewer = match std::env::current_exe() {
        Ok(path) => path.with_file_name("aklog-renewer"),
        Err(e) => {
            eprintln!("aklog: cannot find aklog's own directory: {e}");
            return Exit::Other.into();
        }
    };
    let text = match serde_json::to_string(&plan) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("aklog: {e}");
            return Exit::Other.into();
        }
    };
    let error = std::process::Command::new(&renewer).env(supervise::PLAN_ENV, text).exec();
    eprintln!("aklog: cannot run the renewer {}: {error}", renewer.display());
    Exit::Other.into()
}
