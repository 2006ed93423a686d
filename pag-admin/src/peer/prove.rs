//! `pag peer prove SOCKET`: the client side of the link challenge, for
//! shell scripts. Exit status: 0 proved (the keyring serial is printed),
//! 1 it could not take part (the reason on stderr), 2 usage.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `pag peer prove SOCKET [--timeout MS]`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The daemon's socket.
    #[arg(value_name = "SOCKET")]
    socket: PathBuf,
    /// How long to wait for the challenge, and to send the answer, in ms.
    #[arg(long, value_name = "MS", default_value = "2000", value_parser = super::parse_timeout)]
    timeout: Duration,
}

/// Run it.
pub fn run(args: &Args) -> ExitCode {
    let stream = match UnixStream::connect(&args.socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pag peer prove: cannot connect to {}: {e}", args.socket.display());
            return ExitCode::from(1);
        }
    };
    match pag::peer::prove(&stream, args.timeout) {
        Ok(proof) => {
            println!("{}", proof.keyring);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pag peer prove: {e}");
            ExitCode::from(1)
        }
    }
}
