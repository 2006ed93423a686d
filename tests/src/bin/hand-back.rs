//! A stand-in token program for the PAM module's tests: hands back, on
//! `$PAG_TOKEN_FD` (format `pag::token::handover`), a made-up token for each
//! cell named on the command line, as our aklog hands back real ones.
//!
//! `hand-back [--raw HEX] [CELL...]`: `--raw` writes those bytes instead of
//! a message (for malformed hand-overs).

#![forbid(unsafe_code)]

use std::io::Write;

use pag::token::handover::{self, HandedToken};
use pag::token::rxrpc::{RxkadToken, KVNO_KERBEROS5};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bytes = match args.first().map(String::as_str) {
        Some("--raw") => decode_hex(args.get(1).map_or("", String::as_str)),
        _ => {
            let tokens: Vec<HandedToken> = args
                .iter()
                .map(|cell| HandedToken {
                    cell: cell.clone(),
                    principal: Some("tester@EXAMPLE.ORG".into()),
                    rxkad: RxkadToken {
                        expiry: 2_000_000_000,
                        kvno: KVNO_KERBEROS5,
                        session_key: [0x5a; 8],
                        ticket: vec![0xc3; 600],
                    },
                })
                .collect();
            handover::encode(&tokens).unwrap_or_else(|e| fail(&format!("encoding: {e}")))
        }
    };
    let fd = std::env::var("PAG_TOKEN_FD").unwrap_or_else(|_| fail("PAG_TOKEN_FD is not set"));
    let fd: i32 = fd.parse().unwrap_or_else(|_| fail("PAG_TOKEN_FD is not a number"));
    let owned = pag::sys::adopt_inherited_fd(fd).unwrap_or_else(|e| fail(&format!("descriptor {fd}: {e}")));
    let mut out = std::fs::File::from(owned);
    out.write_all(&bytes).unwrap_or_else(|e| fail(&format!("writing the message: {e}")));
}

fn decode_hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap_or(0)).collect()
}

fn fail(why: &str) -> ! {
    eprintln!("hand-back: {why}");
    std::process::exit(1)
}
