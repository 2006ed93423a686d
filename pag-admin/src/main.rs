//! `pag`: the administrator's command. One subcommand per job; `check`
//! validates the configuration, the PAM stacks and the system, like
//! `sshd -t` or `visudo -c`. Exit status: 0 no error, 1 an error found,
//! 2 usage.

#![forbid(unsafe_code)]

mod check;
mod report;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// pag: Process Authentication Groups, the administrator's command.
#[derive(Debug, Parser)]
#[command(name = "pag", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands. Each is one variant with its own argument struct and
/// module, so later ones (`status`, `peer serve`, `peer prove`) slot in here.
#[derive(Debug, Subcommand)]
enum Command {
    /// Check the configuration file, the PAM stacks and the system; run it
    /// before you log out after changing the configuration.
    Check(check::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(&args),
    }
}
