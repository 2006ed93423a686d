//! `tokens`: see aklog::cmd_tokens.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    aklog::cmd_tokens::main(std::env::args_os())
}
