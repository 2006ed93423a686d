//! pag-container-init: pid 1 of a pag test container (see
//! `pag_tests::container::init`). Started by the harness through `unshare`;
//! not meant to be run by hand.

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, hostname] = args.as_slice() else {
        eprintln!("usage: pag-container-init CONTAINER_DIR HOSTNAME (started by the test harness)");
        return ExitCode::from(2);
    };
    match pag_tests::container::init::run(std::path::Path::new(dir), hostname) {
        Ok(never) => match never {},
        Err(e) => {
            // stdout carries the ready line; an error there tells the harness why.
            println!("pag-container-init: {e}");
            ExitCode::from(1)
        }
    }
}
