//! The supervisor `aklog --renew` hands over to: it waits, relays signals,
//! and runs each refresh as `aklog --renew-worker`. Not for direct use.

use std::process::ExitCode;

fn main() -> ExitCode {
    aklog::renew::supervise::main()
}
