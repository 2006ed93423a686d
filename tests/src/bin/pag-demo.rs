//! pag-demo: the README's demo (see `pag_tests::demo`). Needs root.

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("pag-demo needs root: it creates namespaces, mounts and users (run: sudo scripts/demo)");
        return ExitCode::from(1);
    }
    match pag_tests::demo::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pag-demo: {e}");
            ExitCode::from(1)
        }
    }
}
