//! `aklog`: see aklog::cmd_aklog.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    aklog::cmd_aklog::main(std::env::args_os())
}
