//! `pag`: the administrator's command. One subcommand per job; `check`
//! validates the configuration, the PAM stacks and the system, like
//! `sshd -t` or `visudo -c`; `status` shows the caller's PAG; `peer`
//! identifies the PAG of a process at the other end of a Unix socket.
//! Exit status: each subcommand's own (see its module); 2 is always usage.

#![forbid(unsafe_code)]

mod check;
mod peer;
mod report;
mod status;
mod tags;

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
/// module.
#[derive(Debug, Subcommand)]
enum Command {
    /// Check the configuration file, the PAM stacks and the system; run it
    /// before you log out after changing the configuration.
    Check(check::Args),
    /// Show this process's PAG: id, owner, official or the user's own, tag,
    /// tokens. Exits 1 when not in a PAG.
    Status(status::Args),
    /// Identify the PAG of the process at the other end of a Unix socket
    /// (serve), or prove this process's PAG to such a daemon (prove).
    Peer(peer::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Peer(args) => peer::run(&args),
    }
}
