//! vm-token: a test-only token maker for the kAFS VM tier (vm/scenarios),
//! never installed. It builds the rxrpc payload aklog would build from the
//! cached AFS service ticket, but lets a scenario change what aklog never
//! may:
//!
//! - `--expiry-after-end N`: the payload's expiry header (which is also the
//!   kernel key's expiry) N seconds after the ticket's real end, so the
//!   kernel keeps using the key past that end and the fileserver's own rule
//!   for an ended ticket can be seen;
//! - `--key raw`: the rxkad session key derived the way pag did before the
//!   des3 fix (rxkad-kdf over the session key's bytes as they are, 24 for
//!   des3, without dropping the parity bits), so a scenario can show that
//!   the fileserver refuses it. `--key aklog` (the default) is aklog's own
//!   derivation, from the same library code aklog ships.
//!
//! Writes the payload to `--out` (for `keyctl padd rxrpc afs@CELL @s`) and
//! prints one line: `service S enctype N end E expiry X key K`.
//! Exit: 0 ok, 1 usage or output file, 4 Kerberos, 5 token.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use aklog::kdf;
use aklog::krb5::Context;
use clap::{Parser, ValueEnum};
use pag::token::rxrpc::{RxkadToken, KVNO_KERBEROS5};

/// Which rxkad session key to put in the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KeyChoice {
    /// aklog's derivation (des3 keys lose their parity bits first).
    Aklog,
    /// pag's old derivation: rxkad-kdf over the raw session key bytes.
    Raw,
}

/// Make a test token from the cached AFS service ticket (test-only).
#[derive(Debug, Parser)]
#[command(name = "vm-token")]
struct Cli {
    /// The cell; the service is afs/CELL@REALM.
    #[arg(long)]
    cell: String,
    /// The realm (default: the cell in upper case).
    #[arg(long)]
    realm: Option<String>,
    /// Which rxkad session key to use.
    #[arg(long, value_enum, default_value = "aklog")]
    key: KeyChoice,
    /// The payload's expiry, in seconds after the ticket's real end.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    expiry_after_end: i64,
    /// Where to write the payload.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    match run(&cli) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("vm-token: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: &Cli) -> Result<String, (u8, String)> {
    let krb = |e: aklog::krb5::Krb5Error| (4, e.to_string());
    let realm = cli.realm.clone().unwrap_or_else(|| cli.cell.to_ascii_uppercase());
    let service = format!("afs/{}@{realm}", cli.cell.to_ascii_lowercase());
    let context = Context::new().map_err(krb)?;
    let ccache = context.default_ccache().map_err(krb)?;
    let client = ccache.principal().map_err(krb)?;
    let server = context.parse_name(&service).map_err(krb)?;
    let creds = ccache.get_credentials(&client, &server).map_err(|e| (4, format!("{service}: {e}")))?;
    let enctype = creds.session_enctype();
    let session_key = match cli.key {
        KeyChoice::Aklog => kdf::rxkad_session_key(enctype, creds.session_key()),
        KeyChoice::Raw => kdf::rxkad_kdf(creds.session_key()),
    }
    .map_err(|e| (5, e.to_string()))?;
    let end = creds.end_time();
    let expiry = u32::try_from(i64::from(end) + cli.expiry_after_end).map_err(|_| {
        (1, format!("--expiry-after-end {} puts the expiry out of range", cli.expiry_after_end))
    })?;
    let token = RxkadToken { expiry, kvno: KVNO_KERBEROS5, session_key, ticket: creds.ticket().to_vec() };
    let payload = token.encode().map_err(|e| (5, e.to_string()))?;
    std::fs::write(&cli.out, payload).map_err(|e| (1, format!("{}: {e}", cli.out.display())))?;
    let key = match cli.key {
        KeyChoice::Aklog => "aklog",
        KeyChoice::Raw => "raw",
    };
    Ok(format!("service {service} enctype {enctype} end {end} expiry {expiry} key {key}"))
}
