//! with-seccomp: run a command with the key management system calls blocked,
//! as a container runtime's seccomp profile blocks them.
//!
//! `with-seccomp eperm -- CMD ARGS...` makes keyctl, add_key and request_key
//! fail with EPERM (Docker's default profile); `enosys` with ENOSYS (some
//! sandboxes). The filter is inherited by everything CMD starts.

#![forbid(unsafe_code)]

use std::os::unix::process::CommandExt;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: with-seccomp eperm|enosys -- COMMAND [ARGS...]";
    let (Some(mode), Some("--")) = (args.first(), args.get(1).map(String::as_str)) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let errno = match mode.as_str() {
        "eperm" => libc::EPERM,
        "enosys" => libc::ENOSYS,
        other => {
            eprintln!("with-seccomp: unknown mode {other:?}\n{usage}");
            return ExitCode::from(2);
        }
    };
    let Some(program) = args.get(2) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    if let Err(e) = pag_tests::seccomp::block_keyrings(errno) {
        eprintln!("with-seccomp: cannot install the filter: {e}");
        return ExitCode::from(125);
    }
    let error = std::process::Command::new(program).args(&args[3..]).exec();
    eprintln!("with-seccomp: {program}: {error}");
    ExitCode::from(if error.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 })
}
