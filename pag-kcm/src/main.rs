//! `pag-kcm`: serve KCM in the foreground until SIGTERM.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pag::config::{self, Document, Presence};
use pag::peer::registry::{Registry, DEFAULT_DIR};
use pag_kcm::activation;
use pag_kcm::identity::Identifier;
use pag_kcm::log::Log;
use pag_kcm::server::{Server, Settings};
use pag_kcm::store::persist;

/// MIT krb5's default `kcm_socket`.
const DEFAULT_SOCKET: &str = "/var/run/.heim_org.h5l.kcm-socket";

/// Kerberos caches private to each login: a KCM daemon for MIT krb5's
/// `KCM:` caches that keys every collection by (uid, PAG).
#[derive(Parser, Debug)]
#[command(name = "pag-kcm", version)]
struct Args {
    /// The socket to bind (ignored under socket activation).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Where collections are kept across restarts (root only, on tmpfs).
    #[arg(long, value_name = "DIR", default_value = "/run/pag-kcm")]
    state_dir: PathBuf,
    /// The configuration file: `tag_gids` from [pam], the bounds from [kcm].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The tag range, overriding [pam] tag_gids ("FIRST-LAST").
    #[arg(long, value_name = "FIRST-LAST")]
    tag_gids: Option<String>,
    /// The tag registry pam_pag writes.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DIR)]
    registry: PathBuf,
    /// Seconds between checks for ended logins.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    gc_interval: u64,
    /// One line per request on stderr (operation and result code; never names or tickets).
    #[arg(long)]
    trace: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("pag-kcm: {why}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let (path, presence) = match &args.config {
        Some(p) => (p.clone(), Presence::NamedBy("--config")),
        None => (PathBuf::from(config::DEFAULT_PATH), Presence::MayBeAbsent),
    };
    let document = Document::read(&path, presence).map_err(|e| e.to_string())?;
    let first = |errors| config::first_error(errors).map_or_else(String::new, |e| e.to_string());
    let mut limits: pag::config::KcmConfig = match &document {
        Some(d) => d.kcm().map_err(first)?,
        None => Default::default(),
    };
    let tag_text = match (&args.tag_gids, &document) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(d)) => d.pam().map_err(first)?.tag_gids.clone(),
        (None, None) => None,
    };
    let tag_gids = tag_text
        .map(|t| config::pam::parse_tag_gids(&t).map_err(|why| format!("tag_gids \"{t}\": {why}")))
        .transpose()?;
    let mut log = Log::new(args.trace);
    // Room for every connection plus the daemon's own descriptors; where the
    // hard limit is lower, the connection bound comes down to it (else
    // accept() would fail with EMFILE while the listener keeps polling ready).
    let open_files = raise_open_files(limits.max_connections as u64 + OWN_FILES);
    let room = open_files.saturating_sub(OWN_FILES) as usize;
    if room < limits.max_connections {
        log.say(&format!(
            "RLIMIT_NOFILE allows {open_files} open files: max_connections {} lowered to {room}",
            limits.max_connections
        ));
        limits.max_connections = room.max(1);
        limits.max_uid_connections = limits.max_uid_connections.min(limits.max_connections);
    }
    persist::prepare(&args.state_dir).map_err(|e| format!("{}: {e}", args.state_dir.display()))?;
    let (listener, shown) = match activation::from_systemd()? {
        Some(l) => (l, "the socket systemd passed".to_string()),
        None => (activation::bind(&args.socket)?, args.socket.display().to_string()),
    };
    let settings = Settings {
        limits,
        state_dir: args.state_dir,
        gc_interval: Duration::from_secs(args.gc_interval),
        identifier: Identifier { tag_gids: tag_gids.clone(), registry: Registry::at(args.registry) },
    };
    if tag_gids.is_none() {
        log.say("no tag_gids: every client gets its uid's caches (no per-login caches)");
    }
    let mut server = Server::new(listener, settings, log);
    eprintln!("pag-kcm: listening on {shown}");
    server.run()
}

/// Descriptors the daemon needs besides its connections (listener,
/// signalfd, state files, the registry, stdio).
const OWN_FILES: u64 = 64;

/// Let the soft limit on open files reach `want` (within the hard limit),
/// so max_connections, not RLIMIT_NOFILE's usual 1024, bounds the clients.
/// Returns the soft limit now in force.
fn raise_open_files(want: u64) -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return want };
    if soft >= want {
        return soft;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard) {
        Ok(()) => want.min(hard),
        Err(_) => soft,
    }
}
