//! The command line, OpenAFS compatible: `pagsh`, `pagsh -c CMD`, plus
//! running a program directly.

use std::ffi::OsString;

use clap::Parser;

/// Run a shell or a command in a new PAG (Process Authentication Group).
///
/// Without arguments, starts your shell ($SHELL, else the shell in the
/// password database, else /bin/sh). The new PAG starts without tokens, as
/// in OpenAFS, unless --keep-tokens is given.
#[derive(Debug, Parser)]
#[command(name = "pagsh", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// Run COMMAND through the shell (`$SHELL -c COMMAND [ARGS...]`).
    #[arg(short = 'c', value_name = "COMMAND", allow_hyphen_values = true)]
    pub command: Option<OsString>,

    /// Make the program the leader of a new session (setsid), forking first
    /// when pagsh already leads a process group.
    #[arg(long)]
    pub setsid: bool,

    /// Print the new PAG id to standard error.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Copy the caller's AFS tokens into the new PAG.
    #[arg(long)]
    pub keep_tokens: bool,

    /// Where keyrings are unavailable (seccomp, sandboxes), run the program
    /// anyway, without a PAG, after a warning.
    #[arg(long)]
    pub allow_no_pag: bool,

    /// Keep the program supplied: it gets its own copy of your Kerberos
    /// ticket (a KEYRING:session: cache in the new PAG), renewed while it
    /// can be, with fresh AFS tokens after each renewal, until the program
    /// exits. The renewer is `aklog --renew`; see aklog(1).
    #[arg(long)]
    pub renew: bool,

    /// With --renew: get tickets from this keytab (no ticket needed to
    /// start; a fresh one whenever needed), as k5start -f does.
    #[arg(long, value_name = "KEYTAB", requires = "renew")]
    pub keytab: Option<OsString>,

    /// With --keytab: the principal (default: the keytab's first, as
    /// k5start -U).
    #[arg(long, value_name = "PRINCIPAL", requires = "keytab")]
    pub principal: Option<OsString>,

    /// With --renew: a cell to keep a token for (repeatable; default: as
    /// aklog chooses).
    #[arg(long = "cell", value_name = "CELL", requires = "renew")]
    pub cells: Vec<OsString>,

    /// The program and its arguments (with -c: the shell's $0 and $1...).
    #[arg(trailing_var_arg = true, value_name = "PROGRAM [ARGS]")]
    pub program: Vec<OsString>,
}

const AFTER_HELP: &str = "\
Exit status: the program's own. pagsh itself exits 125 when it cannot create
the PAG (or read its configuration), 126 when the program cannot be
executed and 127 when it is not found.

Configuration: the [pagsh] section of /etc/security/pam_pag.toml (or the
file named by PAG_CONFIG).";
