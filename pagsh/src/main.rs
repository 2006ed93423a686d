//! pagsh: run a shell or a command in a new PAG.
//!
//! It makes the PAG, then replaces itself with the program (exec), so the
//! program's exit status and signals are its own.

#![deny(unsafe_code)]

mod cli;
mod launch;
#[allow(unsafe_code)]
mod sys;

use std::process::ExitCode;

use clap::Parser;
use pag::config::{Config, Section};
use pag::token::Token;
use pag::{CreateOptions, ErrorKind};

/// Exit status when pagsh itself fails before running anything (the
/// convention of env(1), nice(1) and chroot(1)).
const EXIT_PAGSH_FAILED: u8 = 125;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // Only [pagsh] is read; a file named by PAG_CONFIG must exist.
    let config = match Config::load_tool(Section::Pagsh) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pagsh: {e}");
            return ExitCode::from(EXIT_PAGSH_FAILED);
        }
    };
    let allow_no_pag = cli.allow_no_pag || config.pagsh.allow_no_pag;

    let renewer = if cli.renew {
        match renewer_for(&cli) {
            Ok(path) => Some(path),
            Err(message) => {
                eprintln!("pagsh: --renew: {message}");
                return ExitCode::from(EXIT_PAGSH_FAILED);
            }
        }
    } else {
        None
    };

    let carried = if cli.keep_tokens { tokens_to_carry() } else { Vec::new() };

    let options = CreateOptions { link_user_keyring: config.pagsh.link_user_keyring };
    match pag::create(&options) {
        Ok(pag) => {
            if cli.verbose {
                eprintln!("pagsh: new PAG {}", pag.id());
            }
            for token in &carried {
                if let Err(e) = pag.tokens().add(token) {
                    eprintln!("pagsh: warning: could not carry the token for {}: {e}", token.cell);
                }
            }
        }
        Err(e) if allow_no_pag && e.kind() == ErrorKind::KeyringsUnavailable => {
            eprintln!("pagsh: warning: running without a PAG: {e}");
        }
        Err(e) => {
            eprintln!("pagsh: cannot create a PAG: {e}");
            if e.kind() == ErrorKind::KeyringsUnavailable {
                eprintln!("pagsh: use --allow-no-pag to run the program without one");
            }
            return ExitCode::from(EXIT_PAGSH_FAILED);
        }
    }

    let mut command = launch::Command::from_cli(&cli);
    if let Some(aklog) = renewer {
        command = command.under_renewer(&aklog, &cli);
    }
    ExitCode::from(launch::run(&command, cli.setsid))
}

/// The renewer to hand the program to, checked before the PAG is made: it
/// must exist, and without a keytab the caller's ticket must be reachable
/// from the new PAG (a `KEYRING:session:` cache stays behind in the old
/// session keyring).
fn renewer_for(cli: &cli::Cli) -> Result<std::path::PathBuf, String> {
    let path = launch::renewer_path().map_err(|e| format!("cannot find pagsh's own directory: {e}"))?;
    if !path.is_file() {
        return Err(format!("the renewer {} is not installed", path.display()));
    }
    if cli.keytab.is_none() {
        let cache = std::env::var("KRB5CCNAME").unwrap_or_default();
        if cache.starts_with("KEYRING:session:") {
            return Err(format!(
                "your ticket cache {cache} is in your current session keyring, which the new PAG replaces; \
                 use a FILE:, DIR:, KCM: or KEYRING:persistent: cache, or --keytab"
            ));
        }
    }
    Ok(path)
}

/// The tokens of the caller's session keyring (PAG or not), read before we
/// leave it. A failure here loses nothing: warn and start empty.
fn tokens_to_carry() -> Vec<Token> {
    let current = match pag::current() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pagsh: warning: cannot read the current tokens: {e}");
            return Vec::new();
        }
    };
    let Some(keyring) = current.session_keyring() else { return Vec::new() };
    match pag::token::TokenStore::new(keyring).list() {
        Ok(tokens) => tokens,
        Err(e) => {
            eprintln!("pagsh: warning: cannot read the current tokens: {e}");
            Vec::new()
        }
    }
}
