//! `pag peer`: which PAG is the process at the other end of a Unix socket
//! in (`serve`, the daemon side, for trying it out and for scripts), and
//! the client side of the proof (`prove`). The model is in pag-peer(7) and
//! `pag::peer`.

mod prove;
mod serve;

use std::process::ExitCode;
use std::time::Duration;

/// `pag peer serve|prove`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Listen on a Unix socket and print who each connecting process is:
    /// uid, pid, the PAG it proves, its tag.
    Serve(serve::Args),
    /// Connect to a `pag peer serve` (or any daemon speaking the proof) and
    /// prove this process's PAG; prints the keyring serial proved.
    Prove(prove::Args),
}

/// Run it.
pub fn run(args: &Args) -> ExitCode {
    match &args.command {
        Command::Serve(a) => serve::run(a),
        Command::Prove(a) => prove::run(a),
    }
}

/// `--timeout MS`: a positive number of milliseconds.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("the timeout must be at least 1 ms".into()),
        Ok(ms) if ms <= 3_600_000 => Ok(Duration::from_millis(ms)),
        Ok(_) => Err("the timeout is at most 3600000 ms (an hour)".into()),
        Err(_) => Err(format!("`{text}` is not a number of milliseconds")),
    }
}
