//! kcm-proof-client: a minimal KCM client for the pag-kcm tests that can
//! prove its PAG first (the "PAGH" hello), which libkrb5 never does.
//!
//! ```text
//! kcm-proof-client [--hello] SOCKET list            principals of every cache, one a line
//! kcm-proof-client [--hello] SOCKET init NAME USER@REALM
//! ```
//! Exit 0 on success, 1 on a KCM error (printed), 2 on usage.

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

fn principal(text: &str) -> Vec<u8> {
    let (name, realm) = text.split_once('@').unwrap_or((text, ""));
    let comps: Vec<&str> = name.split('/').collect();
    let mut out = Vec::new();
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&(comps.len() as u32).to_be_bytes());
    for part in std::iter::once(realm).chain(comps.iter().copied()) {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

fn show_principal(bytes: &[u8]) -> String {
    let mut at = 4;
    let u32_at = |at: &mut usize| {
        let v = u32::from_be_bytes(bytes[*at..*at + 4].try_into().unwrap());
        *at += 4;
        v as usize
    };
    let n = u32_at(&mut at);
    let data = |at: &mut usize| {
        let len = u32_at(at);
        let s = String::from_utf8_lossy(&bytes[*at..*at + len]).into_owned();
        *at += len;
        s
    };
    let realm = data(&mut at);
    let comps: Vec<String> = (0..n).map(|_| data(&mut at)).collect();
    format!("{}@{realm}", comps.join("/"))
}

/// One request; the reply's code and payload.
fn call(s: &mut UnixStream, op: u16, params: &[u8]) -> std::io::Result<(i32, Vec<u8>)> {
    let mut body = vec![2, 0];
    body.extend_from_slice(&op.to_be_bytes());
    body.extend_from_slice(params);
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    s.write_all(&frame)?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    let len = u32::from_be_bytes(head[..4].try_into().unwrap()) as usize;
    let code = i32::from_be_bytes(head[8..12].try_into().unwrap());
    let mut payload = vec![0u8; len - 4];
    s.read_exact(&mut payload)?;
    Ok((code, payload))
}

fn named(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let hello = args.first().is_some_and(|a| a == "--hello");
    if hello {
        args.remove(0);
    }
    let usage = || {
        eprintln!("usage: kcm-proof-client [--hello] SOCKET list | init NAME USER@REALM");
        ExitCode::from(2)
    };
    let (Some(socket), Some(command)) = (args.first(), args.get(1)) else { return usage() };
    let mut s = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kcm-proof-client: {socket}: {e}");
            return ExitCode::from(1);
        }
    };
    if hello {
        match pag::peer::prove_with_hello(&s, Duration::from_secs(5)) {
            Ok(proof) => eprintln!("proved keyring {}", proof.keyring),
            Err(e) => {
                eprintln!("kcm-proof-client: proof: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let result = match (command.as_str(), args.get(2), args.get(3)) {
        ("list", None, None) => list(&mut s),
        ("init", Some(name), Some(who)) => {
            let mut params = named(name);
            params.extend(principal(who));
            call(&mut s, 4, &params).map(|(code, _)| code)
        }
        _ => return usage(),
    };
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("kcm-proof-client: KCM error {code}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("kcm-proof-client: {e}");
            ExitCode::from(1)
        }
    }
}

fn list(s: &mut UnixStream) -> std::io::Result<i32> {
    let (code, uuids) = call(s, 18, &[])?;
    if code != 0 {
        return Ok(code);
    }
    for uuid in uuids.chunks(16) {
        let (code, name) = call(s, 19, uuid)?;
        if code != 0 {
            continue;
        }
        let (code, princ) = call(s, 8, &name)?;
        if code == 0 {
            println!("{}", show_principal(&princ));
        }
    }
    Ok(0)
}
