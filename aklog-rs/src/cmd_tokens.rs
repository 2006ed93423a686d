//! `tokens`: list the AFS tokens of the caller's PAG.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Parser;

use crate::exit::{keyring_failure, Exit, Failure};
use crate::listing;
use crate::place::Place;

const LONG_NAMES: &[&str] = &["json", "help", "version"];

/// List the AFS tokens of your PAG.
#[derive(Debug, Parser)]
#[command(name = "tokens", version, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// Print JSON for scripts instead of the OpenAFS layout.
    #[arg(long)]
    pub json: bool,
}

const AFTER_HELP: &str = "\
Outside a PAG, the tokens of your session keyring (or, without one, of your
user-session keyring) are listed, with a note that they are not in a PAG.
Exit status: 0 listed, 1 usage, 5 keyrings unusable.";

/// Run tokens with `args` (program name first).
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    status(args).into()
}

/// The whole command, returning its exit code (for an entry point that
/// returns to C, see src/bin/tokens.rs).
pub fn status(args: impl IntoIterator<Item = OsString>) -> Exit {
    let cli: Cli = match crate::args::parse(args, LONG_NAMES) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    crate::openafs::note("tokens");
    match run(&cli) {
        Ok(text) => {
            // A closed stdout (`tokens | head -0`) is not worth a panic.
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            Exit::Ok
        }
        Err(f) => {
            eprintln!("tokens: {f}");
            f.exit
        }
    }
}

/// The listing to print.
pub fn run(cli: &Cli) -> Result<String, Failure> {
    // Finding the PAG reads and describes its keys; the listing uses the
    // same descriptions rather than describing every key a second time.
    let (current, links) = pag::group::current_with_links().map_err(|e| keyring_failure(&e))?;
    let place = Place::from_current(current, false)?;
    let tokens = match (&place, links) {
        (Some(p), Some(links)) => p.store().list_described(&links),
        (Some(p), None) => p.store().list().map_err(|e| keyring_failure(&e))?,
        (None, _) => Vec::new(),
    };
    let now = SystemTime::now();
    Ok(if cli.json {
        let mut out = listing::json(place.as_ref(), &tokens, now);
        out.push('\n');
        out
    } else {
        listing::text(place.as_ref(), &tokens, now)
    })
}
