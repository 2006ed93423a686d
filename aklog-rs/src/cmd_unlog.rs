//! `unlog`: remove the AFS tokens of the caller's PAG, all or some cells'.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use pag::config::check_name;

use crate::exit::{keyring_failure, Exit, Failure};
use crate::place::Place;

const LONG_NAMES: &[&str] = &["cell", "help", "version"];

/// Remove the AFS tokens of your PAG.
#[derive(Debug, Parser)]
#[command(name = "unlog", version, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// Remove only these cells' tokens (also -cell, --cell; several may
    /// follow one -cell, as in OpenAFS).
    #[arg(short = 'c', long = "cell", value_name = "CELL", num_args = 1..)]
    pub cells: Vec<String>,
}

const AFTER_HELP: &str = "\
Outside a PAG, the tokens of your session keyring (or, without one, of your
user-session keyring) are removed, with a note that they are not in a PAG.
Exit status: 0 done (a cell without a token gets a warning), 1 usage,
5 keyrings unusable.";

/// Run unlog with `args` (program name first).
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli: Cli = match crate::args::parse(args, LONG_NAMES) {
        Ok(c) => c,
        Err(exit) => return exit.into(),
    };
    match run(&cli) {
        Ok(()) => Exit::Ok.into(),
        Err(f) => {
            eprintln!("unlog: {f}");
            f.exit.into()
        }
    }
}

/// Remove the tokens; notes and warnings go to stderr.
pub fn run(cli: &Cli) -> Result<(), Failure> {
    for cell in &cli.cells {
        if let Some(problem) = check_name("cell", cell) {
            return Err(Failure::new(Exit::Usage, problem));
        }
    }
    let Some(place) = Place::current(false)? else {
        eprintln!("unlog: you are not in a PAG and have no session keyring; there are no tokens to remove");
        return Ok(());
    };
    if place.pag().is_none() {
        eprintln!("unlog: you are not in a PAG; removing tokens from the {}", place.describe());
    }
    let store = place.store();
    if cli.cells.is_empty() {
        store.remove_all().map_err(|e| keyring_failure(&e))?;
        return Ok(());
    }
    for cell in &cli.cells {
        let removed = store.remove(cell).map_err(|e| keyring_failure(&e))?;
        if removed == 0 {
            eprintln!("unlog: warning: no token held for cell {cell}");
        }
    }
    Ok(())
}
