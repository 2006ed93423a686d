//! `unlog`: see aklog::cmd_unlog.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    aklog::cmd_unlog::main(std::env::args_os())
}
