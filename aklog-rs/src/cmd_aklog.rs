//! `aklog`: get AFS tokens for cells from Kerberos tickets and store them in
//! the caller's PAG (or, with `-setpag`, in a new PAG for the calling shell).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use pag::config::{check_name, parse_key_type, Config, Section};
use pag::token::handover::{self, CcacheReport, HandedToken, Message};
use pag::token::{KeyType, KeyTypeChoice, Token};
use pag::ErrorKind;

use crate::cells::{self, CellSource};
use crate::exit::{Exit, Failure};
use crate::kcm_move;
use crate::krb5::Context;
use crate::place::{self, Place};
use crate::ticket::{Credentials, Fetched};
use crate::token_fd::{self, TokenFd};

/// Long options that OpenAFS spells with one dash.
const LONG_NAMES: &[&str] = &[
    "cell",
    "realm",
    "path",
    "debug",
    "force",
    "setpag",
    "noprdb",
    "key-type",
    "renew",
    "keytab",
    "principal",
    "help",
    "version",
];

/// Get AFS tokens from your Kerberos tickets and store them in your PAG.
#[derive(Debug, Parser)]
#[command(name = "aklog", version, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// A cell to get a token for (repeatable; also -cell, --cell).
    #[arg(short = 'c', long = "cell", value_name = "CELL")]
    pub cells: Vec<String>,

    /// The Kerberos realm of the cells (also -realm, --realm).
    #[arg(short = 'k', long = "realm", value_name = "REALM")]
    pub realm: Option<String>,

    /// Get a token for the cell a path under /afs is in (repeatable).
    #[arg(short = 'p', long = "path", value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Say what is being done, on standard error.
    #[arg(short = 'd', long = "debug")]
    pub debug: bool,

    /// Replace a token even when an identical, valid one is there.
    #[arg(long)]
    pub force: bool,

    /// Give the calling shell a new PAG first and put the tokens there.
    #[arg(long)]
    pub setpag: bool,

    /// Accepted for OpenAFS compatibility; there is no protection database
    /// lookup to skip.
    #[arg(long)]
    pub noprdb: bool,

    /// Store tokens as rxrpc keys (kAFS), user keys, or rxrpc falling back to
    /// user where the kernel has no rxrpc key type (default: auto).
    #[arg(long = "key-type", value_name = "TYPE", value_parser = ["auto", "rxrpc", "user"])]
    pub key_type: Option<String>,

    /// Keep the ticket and the tokens fresh, until stopped or the process
    /// that started aklog exits, or for the life of COMMAND (given after --).
    #[arg(long, conflicts_with = "setpag")]
    pub renew: bool,

    /// With --renew: get each ticket from this keytab instead of renewing
    /// the one in your cache.
    #[arg(long, value_name = "KEYTAB", requires = "renew")]
    pub keytab: Option<PathBuf>,

    /// With --keytab: the principal to get tickets for (default: the
    /// keytab's first).
    #[arg(long, value_name = "PRINCIPAL", requires = "keytab")]
    pub principal: Option<String>,

    /// The renewer's own: run one refresh asked for on stdin.
    #[arg(long, hide = true, exclusive = true)]
    pub renew_worker: bool,

    /// Cells (or, with a '/', paths), as older aklogs take them.
    #[arg(value_name = "CELL|PATH")]
    pub positional: Vec<String>,

    /// With --renew: a command to run with its own copy of your ticket,
    /// kept supplied while it runs.
    #[arg(last = true, value_name = "COMMAND", requires = "renew")]
    pub command: Vec<OsString>,
}

const AFTER_HELP: &str = "\
Cells: the arguments, else `cells` in the [aklog] section of
/etc/security/pam_pag.toml (or $PAG_CONFIG), else /etc/openafs/ThisCell,
else /proc/net/afs/rootcell.

Exit status (as OpenAFS aklog): 0 ok, 1 usage, 2 some cells failed,
3 no cell / configuration, 4 Kerberos, 5 token could not be stored,
6 bad path, 7 other. With --renew and a command: the command's status.

--renew refreshes a third of the ticket's lifetime before its end (at most
an hour before); SIGALRM refreshes now. With a command, SIGTERM and SIGHUP
are passed on to it. See aklog(1).";

/// Run aklog with `args` (program name first).
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli: Cli = match crate::args::parse(args, LONG_NAMES) {
        Ok(c) => c,
        Err(exit) => return exit.into(),
    };
    if cli.renew_worker {
        return crate::renew::worker::main();
    }
    if cli.renew {
        return crate::renew::main(&cli);
    }
    match run(&cli) {
        Ok(exit) => exit.into(),
        Err(f) => {
            eprintln!("aklog: {f}");
            f.exit.into()
        }
    }
}

/// The whole run; per-cell failures are printed as they happen and the
/// result is the exit code. With `PAG_TOKEN_FD` set the tokens are handed
/// over on that descriptor instead of being stored.
pub fn run(cli: &Cli) -> Result<Exit, Failure> {
    let debug = |text: &str| {
        if cli.debug {
            eprintln!("aklog: {text}");
        }
    };
    let Some(value) = std::env::var_os(token_fd::ENV) else {
        crate::openafs::note("aklog");
        if cli.setpag {
            // Before any Kerberos work: a shell whose keyring cannot be
            // replaced would only learn so after the tickets were fetched.
            place::check_parent_replaceable()?;
        }
        return fetch_then(cli, &debug, None, &mut |batch, failures| {
            if batch.fetched.is_empty() {
                return Ok(());
            }
            let storer = Storer { choice: batch.key_type, force: cli.force, warned: false, debug: cli.debug };
            store_all(cli, storer, batch.fetched, batch.creds, batch.cell_count, failures, &debug)
        });
    };
    if cli.setpag {
        return Err(Failure::new(
            Exit::Usage,
            format!("-setpag cannot be used with {}: the tokens are handed over, not stored", token_fd::ENV),
        ));
    }
    let sink = TokenFd::open(&value)?;
    // Asked by pam_pag's `kcm`: the tickets first go into the login's KCM
    // cache, and the tokens come from there.
    let ccache = kcm_move::requested().then(|| kcm_move::move_to_kcm(&debug));
    let moved_to = match &ccache {
        Some(CcacheReport::Moved(name)) => Some(name.clone()),
        _ => None,
    };
    let mut handed = Vec::new();
    let outcome = fetch_then(cli, &debug, moved_to.as_deref(), &mut |batch, failures| {
        handed = to_hand_over(batch.fetched, failures, &debug);
        Ok(())
    });
    // A message goes out even when nothing was fetched, so the reader can
    // tell "aklog ran and got no token" from "this program does not speak
    // the format".
    let number = sink.number();
    let count = handed.len();
    // The report goes out whatever happened to the tokens: moved tickets
    // are no longer where the session's KRB5CCNAME says.
    match (outcome, sink.send_message(&Message { tokens: handed, ccache })) {
        (outcome, Ok(())) => {
            debug(&format!("{count} token(s) handed over on descriptor {number}"));
            outcome
        }
        (Ok(_), Err(failure)) => Err(failure),
        (Err(first), Err(failure)) => {
            eprintln!("aklog: {failure}");
            Err(first)
        }
    }
}

/// What fetching produced, for the step that delivers the tokens.
struct Batch<'a, 'k> {
    /// The tokens fetched, in the order of the cells.
    fetched: &'a [Fetched],
    /// The credentials they came from.
    creds: &'a Credentials<'k>,
    /// How many cells were asked for.
    cell_count: usize,
    /// The key type to store as (`--key-type`, else the file's).
    key_type: KeyTypeChoice,
}

/// What to do with the tokens once fetched: store them, or hand them over.
/// Adds its own failures to the failures so far; an error stops the run.
type Deliver<'a> = dyn FnMut(&Batch<'_, '_>, &mut Vec<Failure>) -> Result<(), Failure> + 'a;

/// Fetch a token for every cell, hand them to `deliver`, and say how it went
/// in OpenAFS's exit codes.
/// `ccache`: the cache to read, instead of the default.
fn fetch_then(
    cli: &Cli,
    debug: &dyn Fn(&str),
    ccache: Option<&str>,
    deliver: &mut Deliver<'_>,
) -> Result<Exit, Failure> {
    let (cells, realm, key_type) = cells_realm_and_key_type(cli, debug)?;
    let realm = realm.as_deref();

    let context = Context::new().map_err(|e| Failure::new(Exit::Kerberos, e.to_string()))?;
    let creds = match ccache {
        Some(name) => Credentials::open_named(&context, name)?,
        None => Credentials::open(&context)?,
    };
    debug(&format!("credentials of {} in {}", creds.client_name, creds.ccache_name));

    let mut failures: Vec<Failure> = Vec::new();
    let mut fetched: Vec<Fetched> = Vec::new();
    for cell in &cells {
        let cell_realm = cells::realm_for(&context, cell, realm);
        debug(&format!("cell {cell}: realm {cell_realm}"));
        match creds.token_for(cell, &cell_realm) {
            Ok(f) => {
                debug(&format!(
                    "cell {cell}: ticket for {} (session key enctype {}), ends at {}",
                    f.service, f.enctype, f.token.rxkad.expiry
                ));
                fetched.push(f);
            }
            Err(f) => {
                eprintln!("aklog: {f}");
                failures.push(f);
            }
        }
    }

    let batch = Batch { fetched: &fetched, creds: &creds, cell_count: cells.len(), key_type };
    deliver(&batch, &mut failures)?;

    let succeeded = cells.len().saturating_sub(failures.len());
    Ok(match failures.first() {
        None => Exit::Ok,
        Some(_) if succeeded > 0 => Exit::Partial,
        Some(first) => first.exit,
    })
}

/// The cells, the realm (`-k`, else the file's) and the key type, from
/// the command line and the `[aklog]` section of the configuration.
pub(crate) fn cells_realm_and_key_type(
    cli: &Cli,
    debug: &dyn Fn(&str),
) -> Result<(Vec<String>, Option<String>, KeyTypeChoice), Failure> {
    let config =
        Config::load_tool(Section::Aklog).map_err(|e| Failure::new(Exit::AfsConfig, e.to_string()))?;
    let cells = cells_to_use(cli, &config, debug)?;
    if let Some(problem) = cli.realm.as_deref().and_then(|r| check_name("realm", r)) {
        return Err(Failure::new(Exit::Usage, problem));
    }
    // Checked in both modes, so a bad --key-type is a usage error whether or
    // not tokens are stored.
    let key_type = key_type_choice(cli, &config)?;
    let realm = cli.realm.clone().or(config.aklog.realm.clone());
    Ok((cells, realm, key_type))
}

/// The key type to store as: `--key-type`, else the file's.
fn key_type_choice(cli: &Cli, config: &Config) -> Result<KeyTypeChoice, Failure> {
    match &cli.key_type {
        Some(name) => parse_key_type(name).ok_or_else(|| Failure::new(Exit::Usage, "bad --key-type")),
        None => Ok(config.aklog.key_type),
    }
}

/// The fetched tokens as they are handed over. A token the format cannot
/// carry (a cell name it refuses) is a failure of that cell (exit 5); a
/// second token for a cell (the cell named twice) is dropped; a principal
/// that is not printable ASCII is sent as unknown.
fn to_hand_over(fetched: &[Fetched], failures: &mut Vec<Failure>, debug: &dyn Fn(&str)) -> Vec<HandedToken> {
    let mut handed: Vec<HandedToken> = Vec::new();
    for f in fetched {
        let token = &f.token;
        if let Err(reason) = handover::check_cell(&token.cell) {
            let failure =
                Failure::new(Exit::Token, format!("cell {}: cannot be handed over: {reason}", token.cell));
            eprintln!("aklog: {failure}");
            failures.push(failure);
            continue;
        }
        if handed.iter().any(|h| h.cell == token.cell) {
            debug(&format!("cell {}: named twice; one token handed over", token.cell));
            continue;
        }
        let principal = token.principal.clone().filter(|p| {
            let ok = handover::check_principal(p).is_ok();
            if !ok {
                debug(&format!(
                    "cell {}: principal {p:?} is not printable ASCII; sent as unknown",
                    token.cell
                ));
            }
            ok
        });
        handed.push(HandedToken { cell: token.cell.clone(), principal, rxkad: token.rxkad.clone() });
    }
    handed
}

/// The cells from `-c`, bare arguments and `-path`, else the file, else
/// the local cell files.
fn cells_to_use(cli: &Cli, config: &Config, debug: &dyn Fn(&str)) -> Result<Vec<String>, Failure> {
    let mut given = Vec::new();
    let mut paths: Vec<&Path> = cli.paths.iter().map(PathBuf::as_path).collect();
    // Older aklogs take bare arguments: a path when it has a '/', else a cell.
    let (positional_paths, positional_cells): (Vec<&String>, Vec<&String>) =
        cli.positional.iter().partition(|a| a.contains('/'));
    paths.extend(positional_paths.into_iter().map(Path::new));
    for arg in cli.cells.iter().chain(positional_cells) {
        if let Some(problem) = check_name("cell", arg) {
            return Err(Failure::new(Exit::Usage, problem));
        }
        given.push(arg.clone());
    }
    for path in paths {
        given.push(cells::cell_of_path(path)?);
    }
    let this_cell = cells::this_cell_file();
    let local_files = [this_cell.as_path(), Path::new(cells::ROOT_CELL)];
    let (cells, source) = cells::choose(&given, &config.aklog.cells, &local_files)?;
    match &source {
        CellSource::CommandLine => {}
        CellSource::Config => debug(&format!("cells from {}", pag::config::tool_path().display())),
        CellSource::File(p) => debug(&format!("cell from {}", p.display())),
    }
    Ok(cells)
}

/// Store the fetched tokens: in a new PAG for the shell with `-setpag`,
/// else where the caller's tokens live. Per-token failures are printed and
/// added to `failures`; the error is for what stops the whole run.
fn store_all(
    cli: &Cli,
    mut storer: Storer,
    fetched: &[Fetched],
    creds: &Credentials<'_>,
    cell_count: usize,
    failures: &mut Vec<Failure>,
    debug: &dyn Fn(&str),
) -> Result<(), Failure> {
    let mut stored = |place: &Place| -> Result<(), Failure> {
        let mut first_failure = None;
        for f in fetched {
            if let Err(failure) = storer.store(place, &f.token) {
                eprintln!("aklog: {failure}");
                first_failure.get_or_insert(failure.exit);
                failures.push(failure);
            }
        }
        // With -setpag, a PAG without a single token is not worth giving
        // to the shell: it would lose its current keyring for nothing.
        match first_failure {
            Some(exit) if cli.setpag && failures.len() == cell_count => Err(Failure::new(
                exit,
                "-setpag: no token could be stored, so the shell keeps its session keyring",
            )),
            _ => Ok(()),
        }
    };
    if cli.setpag {
        let carry = place::session_ccache_keyring(&creds.ccache_name);
        let pag = place::new_pag_for_parent(carry, &mut stored)?;
        debug(&format!("new PAG {} for the parent process", pag.id()));
        return Ok(());
    }
    let place =
        Place::current(true)?.ok_or_else(|| Failure::new(Exit::Token, "no keyring to store tokens in"))?;
    if let Place::UserSession(_) = place {
        eprintln!(
            "aklog: no PAG and no session keyring of your own; storing tokens in your {}",
            place.describe()
        );
    } else {
        debug(&format!("storing tokens in {}", place.describe()));
    }
    stored(&place)
}

/// Stores tokens one by one, remembering whether the kAFS warning was given.
struct Storer {
    choice: KeyTypeChoice,
    force: bool,
    warned: bool,
    debug: bool,
}

impl Storer {
    fn store(&mut self, place: &Place, token: &Token) -> Result<(), Failure> {
        let store = place.store();
        if !self.force {
            let existing = store.list().map_err(|e| crate::exit::keyring_failure(&e))?;
            if existing.iter().any(|t| self.same(t, token)) {
                if self.debug {
                    eprintln!(
                        "aklog: cell {}: an identical valid token is there; kept (use -force to replace)",
                        token.cell
                    );
                }
                return Ok(());
            }
        }
        let (serial, key_type) = store.add_as(token, self.choice).map_err(|e| {
            let mut message = format!("cell {}: {e}", token.cell);
            if e.kind() == ErrorKind::UnknownKeyType {
                message.push_str("; use --key-type user (or auto) to store it as a user key");
            }
            Failure::new(Exit::Token, message)
        })?;
        if key_type == KeyType::User && self.choice == KeyTypeChoice::Auto {
            if !self.warned {
                eprintln!(
                    "aklog: warning: this kernel has no rxrpc key type (no AF_RXRPC); tokens are stored as \
                     user keys, which kAFS will not see"
                );
                self.warned = true;
            }
            // Later cells go straight to the type that worked.
            self.choice = KeyTypeChoice::User;
        }
        if self.debug {
            eprintln!(
                "aklog: cell {}: token stored as {key_type} key {serial} in {}",
                token.cell,
                place.describe()
            );
        }
        Ok(())
    }

    /// The same token, still valid, of a type this run would store.
    fn same(&self, old: &Token, new: &Token) -> bool {
        let type_ok = match self.choice {
            KeyTypeChoice::Auto => true,
            KeyTypeChoice::Rxrpc => old.key_type == KeyType::Rxrpc,
            KeyTypeChoice::User => old.key_type == KeyType::User,
        };
        type_ok
            && old.cell == new.cell
            && old.rxkad == new.rxkad
            && old.principal == new.principal
            && !old.is_expired()
    }
}
