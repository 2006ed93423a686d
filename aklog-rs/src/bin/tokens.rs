//! `tokens`: see aklog::cmd_tokens.
//!
//! `tokens` is run often and does little, so its start-up is most of its
//! cost. Rust's runtime start-up (`lang_start`) finds the main thread's
//! stack guard by parsing /proc/self/maps and installs SIGSEGV/SIGBUS
//! handlers; that alone made `tokens` 1.13x `keyctl show @s` (bench/aklog).
//! So this binary has a plain C `main` and skips it. std still works: on
//! glibc it takes argv from the loader (.init_array), not from lang_start.
//! What is given up: the "stack overflow" message (a plain SIGSEGV instead)
//! and SIGPIPE being ignored (a closed pipe ends `tokens` as it ends
//! keyctl(1)).

#![no_main]
#![deny(unsafe_code)]

use std::ffi::{c_char, c_int};

// `#[no_mangle]` counts as unsafe code to the compiler; nothing unsafe
// happens here: the C runtime calls this `main` exactly as it would the one
// Rust generates, and the arguments are read through std::env.
#[allow(unsafe_code)]
#[no_mangle]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    aklog::cmd_tokens::status(std::env::args_os()) as c_int
}
