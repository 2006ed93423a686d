//! One refresh, as the worker process runs it: a ticket-granting ticket in
//! the job's cache (renewed, copied from the caller's cache, or fetched
//! with a keytab), then a token for each cell linked over the old one in
//! the PAG. It prints nothing: the outcome goes back to the supervisor,
//! which decides what to say and when to try again.

use std::collections::BTreeMap;
use std::path::PathBuf;

use nix::errno::Errno;
use pag::sys::{self, KeySerial};
use pag::token::KeyTypeChoice;
use serde::{Deserialize, Serialize};

use super::schedule::TicketTimes;
use crate::krb5::{code, Ccache, Context, Krb5Error, Principal, Tgt};
use crate::place::Place;
use crate::ticket::Credentials;

/// Where the ticket-granting ticket comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum TicketSource {
    /// The job's cache itself: renew the TGT found there.
    InPlace,
    /// Copy the TGT of this cache into the job's cache first (a command's
    /// private cache), then renew it there.
    CopyFrom(String),
    /// A new TGT from a keytab each time: the principal named, else the
    /// keytab's first.
    Keytab {
        /// The keytab.
        path: PathBuf,
        /// The client principal.
        principal: Option<String>,
    },
}

/// What a renewer keeps supplied, fixed for its life.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// The cache the TGT is kept in.
    pub cache: String,
    /// Where the TGT comes from.
    pub source: TicketSource,
    /// The cells to keep tokens for (none: the ticket only).
    pub cells: Vec<String>,
    /// The realm of the cells (`-k`), else each cell's own.
    pub realm: Option<String>,
    /// The key type tokens are stored as.
    pub key_type: KeyTypeChoice,
}

/// Why a refresh could not renew the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProblemKind {
    /// No KDC answered: worth another try.
    Unreachable,
    /// The ticket is not renewable.
    NotRenewable,
    /// The ticket's renewable lifetime is used up.
    RenewLimit,
    /// Anything else the KDC or the cache said: trying again will not help.
    Fatal,
}

/// A problem and its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// What happened, in words.
    pub message: String,
}

/// A token stored by the refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// The cell.
    pub cell: String,
    /// The new key's serial.
    pub serial: i32,
    /// When it ends.
    pub expiry: u32,
}

/// What one refresh did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The ticket's times after the refresh, or why it could not be had.
    pub ticket: Result<TicketTimes, Problem>,
    /// Tokens stored.
    pub stored: Vec<Stored>,
    /// Cells whose token is gone from the PAG since the last refresh
    /// (unlog, logout): not stored again.
    pub removed: Vec<String>,
    /// Cells that got no token, with the reason.
    pub failed: Vec<(String, String)>,
    /// The PAG itself is gone (revoked at logout), with the reason.
    pub pag_gone: Option<String>,
}

impl Outcome {
    /// A refresh that got no ticket, for `kind` of reason.
    pub fn failed(kind: ProblemKind, message: String) -> Self {
        Self::ticket_only(Err(problem(kind, message)))
    }

    fn ticket_only(ticket: Result<TicketTimes, Problem>) -> Self {
        Outcome { ticket, stored: Vec::new(), removed: Vec::new(), failed: Vec::new(), pag_gone: None }
    }
}

/// Run one refresh. `first` is the renewer's first: the ticket is read or
/// copied, not renewed. `tracked` is the key each cell's token had after the
/// last refresh; a cell whose key is no longer in the PAG was removed on
/// purpose and gets no new token.
pub fn refresh(job: &Job, first: bool, tracked: &BTreeMap<String, i32>) -> Outcome {
    let context = match Context::new() {
        Ok(c) => c,
        Err(e) => return Outcome::failed(ProblemKind::Fatal, e.to_string()),
    };
    let times = match ticket_step(&context, job, first) {
        Ok(t) => t,
        Err(p) => return Outcome::ticket_only(Err(p)),
    };
    let mut outcome = Outcome::ticket_only(Ok(times));
    if !job.cells.is_empty() {
        token_step(&context, job, tracked, &mut outcome);
    }
    outcome
}

fn problem(kind: ProblemKind, message: impl Into<String>) -> Problem {
    Problem { kind, message: message.into() }
}

/// A libkrb5 failure while `doing`, classified.
fn krb5_problem(doing: &str, e: &Krb5Error) -> Problem {
    let kind = match e.code {
        code::KDC_UNREACH | code::REALM_CANT_RESOLVE => ProblemKind::Unreachable,
        _ => ProblemKind::Fatal,
    };
    problem(kind, format!("{doing}: {e}"))
}

fn times(tgt: &Tgt<'_>) -> TicketTimes {
    TicketTimes {
        start: tgt.start_time(),
        end: tgt.end_time(),
        renew_till: tgt.renew_till(),
        renewable: tgt.renewable(),
    }
}

/// The TGT step: the job's cache ends up holding a valid TGT, or the
/// problem says why not.
fn ticket_step(context: &Context, job: &Job, first: bool) -> Result<TicketTimes, Problem> {
    let cache = context
        .resolve_ccache(&job.cache)
        .map_err(|e| krb5_problem(&format!("opening the cache {}", job.cache), &e))?;
    let replace = |client, tgt: &Tgt<'_>| -> Result<(), Problem> {
        cache
            .initialize(client)
            .and_then(|()| cache.store(tgt))
            .map_err(|e| krb5_problem(&format!("writing the ticket to {}", job.cache), &e))
    };
    match (&job.source, first) {
        (TicketSource::Keytab { path, principal }, _) => {
            let shown = path.display();
            let keytab = context
                .keytab(&path.to_string_lossy())
                .map_err(|e| krb5_problem(&format!("opening the keytab {shown}"), &e))?;
            let client = match principal {
                Some(name) => context.parse_name(name),
                None => keytab.first_principal(),
            }
            .map_err(|e| krb5_problem(&format!("finding the principal in the keytab {shown}"), &e))?;
            let name = client.name().unwrap_or_default();
            let tgt = keytab.init_creds(&client).map_err(|e| {
                krb5_problem(&format!("getting a ticket for {name} with the keytab {shown}"), &e)
            })?;
            replace(&client, &tgt)?;
            Ok(times(&tgt))
        }
        (TicketSource::CopyFrom(source), true) => {
            let from = context
                .resolve_ccache(source)
                .map_err(|e| krb5_problem(&format!("opening your cache {source}"), &e))?;
            let (client, tgt) = tgt_in(&from, &format!("your cache {source}"))?;
            replace(&client, &tgt)?;
            Ok(times(&tgt))
        }
        (TicketSource::InPlace, true) => Ok(times(&tgt_in(&cache, &format!("the cache {}", job.cache))?.1)),
        (TicketSource::InPlace | TicketSource::CopyFrom(_), false) => {
            let (client, old) = tgt_in(&cache, &format!("the cache {}", job.cache))?;
            let old_times = times(&old);
            if !old_times.renewable {
                return Err(problem(ProblemKind::NotRenewable, "the ticket is not renewable"));
            }
            if !old_times.can_be_extended() {
                return Err(problem(
                    ProblemKind::RenewLimit,
                    "the ticket has reached its renewable lifetime",
                ));
            }
            let tgt = cache.renew(&client).map_err(|e| krb5_problem("renewing the ticket", &e))?;
            replace(&client, &tgt)?;
            Ok(times(&tgt))
        }
    }
}

/// The client principal of `cache` and its ticket-granting ticket;
/// `described` names the cache in messages ("the cache KEYRING:...").
fn tgt_in<'c>(cache: &Ccache<'c>, described: &str) -> Result<(Principal<'c>, Tgt<'c>), Problem> {
    let client = cache.principal().map_err(|e| krb5_problem(&format!("no ticket in {described}"), &e))?;
    let tgt = cache
        .tgt(&client)
        .map_err(|e| krb5_problem(&format!("no ticket-granting ticket in {described}"), &e))?;
    Ok((client, tgt))
}

/// Whether a keyring error means the PAG is gone (revoked, or collected).
fn pag_is_gone(errno: Option<Errno>) -> bool {
    matches!(errno, Some(Errno::EKEYREVOKED | Errno::ENOKEY | Errno::EKEYEXPIRED))
}

/// The token step: for each cell still wanted, a token from the cache's
/// ticket, linked over the old one.
fn token_step(context: &Context, job: &Job, tracked: &BTreeMap<String, i32>, outcome: &mut Outcome) {
    let place = match Place::current(false) {
        Ok(Some(place)) => place,
        Ok(None) => {
            outcome.pag_gone = Some("this process has no keyring to keep tokens in any more".to_owned());
            return;
        }
        Err(f) => {
            outcome.pag_gone = Some(f.message);
            return;
        }
    };
    let keyring = place.keyring();
    let linked = match sys::keyring_links(keyring) {
        Ok(links) => links,
        Err(e) if pag_is_gone(Some(e.errno)) => {
            outcome.pag_gone = Some(format!("{} is gone: {e}", place.describe()));
            return;
        }
        Err(e) => {
            outcome.pag_gone = Some(format!("cannot list {}: {e}", place.describe()));
            return;
        }
    };
    let creds = match Credentials::open_named(context, &job.cache) {
        Ok(c) => c,
        Err(f) => {
            outcome.failed.extend(job.cells.iter().map(|c| (c.clone(), f.message.clone())));
            return;
        }
    };
    let store = place.store();
    for cell in &job.cells {
        if let Some(&serial) = tracked.get(cell) {
            if !linked.contains(&KeySerial(serial)) {
                outcome.removed.push(cell.clone());
                continue;
            }
        }
        let realm = crate::cells::realm_for(context, cell, job.realm.as_deref());
        let fetched = match creds.token_for(cell, &realm) {
            Ok(f) => f,
            Err(f) => {
                outcome.failed.push((cell.clone(), f.message));
                continue;
            }
        };
        match store.add_as(&fetched.token, job.key_type) {
            Ok((serial, _)) => outcome.stored.push(Stored {
                cell: cell.clone(),
                serial: serial.0,
                expiry: fetched.token.rxkad.expiry,
            }),
            Err(e) if pag_is_gone(e.errno()) => {
                outcome.pag_gone = Some(format!("{} is gone: {e}", place.describe()));
                return;
            }
            Err(e) => outcome.failed.push((cell.clone(), format!("storing the token: {e}"))),
        }
    }
}
