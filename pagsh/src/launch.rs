//! Replacing pagsh with the program: shell choice, setsid, exec, and the
//! shell's exit codes when exec fails.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{self, ForkResult};

use crate::cli::Cli;
use crate::sys;
use crate::EXIT_PAGSH_FAILED;

/// What to execute: argv[0] is looked up in PATH when it has no slash.
pub struct Command {
    argv: Vec<OsString>,
}

impl Command {
    /// `PROGRAM ARGS...`, `SHELL -c CMD ARGS...`, or the interactive shell.
    pub fn from_cli(cli: &Cli) -> Self {
        if let Some(cmd) = &cli.command {
            let mut argv = vec![user_shell(), OsString::from("-c"), cmd.clone()];
            argv.extend(cli.program.iter().cloned());
            Command { argv }
        } else if cli.program.is_empty() {
            Command { argv: vec![user_shell()] }
        } else {
            Command { argv: cli.program.clone() }
        }
    }
}

/// The renewer pagsh hands the program to with `--renew`: `aklog` beside
/// pagsh's own executable (both are installed in one directory).
pub fn renewer_path() -> std::io::Result<std::path::PathBuf> {
    Ok(std::env::current_exe()?.with_file_name("aklog"))
}

impl Command {
    /// `aklog --renew [OPTIONS] -- COMMAND`: the renewer runs the command as
    /// its child and keeps it supplied (pagsh itself stays free of libkrb5).
    pub fn under_renewer(self, aklog: &std::path::Path, cli: &Cli) -> Self {
        let mut argv = vec![aklog.as_os_str().to_owned(), OsString::from("--renew")];
        if let Some(keytab) = &cli.keytab {
            argv.extend([OsString::from("--keytab"), keytab.clone()]);
        }
        if let Some(principal) = &cli.principal {
            argv.extend([OsString::from("--principal"), principal.clone()]);
        }
        for cell in &cli.cells {
            argv.extend([OsString::from("--cell"), cell.clone()]);
        }
        argv.push(OsString::from("--"));
        argv.extend(self.argv);
        Command { argv }
    }
}

/// $SHELL, else the caller's shell in the password database, else /bin/sh.
fn user_shell() -> OsString {
    if let Some(shell) = std::env::var_os("SHELL").filter(|s| !s.is_empty()) {
        return shell;
    }
    unistd::User::from_uid(unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.shell.into_os_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| OsString::from("/bin/sh"))
}

/// Run the command and return the exit status to use if we are still here.
pub fn run(command: &Command, new_session: bool) -> u8 {
    if new_session && unistd::setsid().is_err() {
        // setsid fails (EPERM) for a process group leader: the program runs
        // in a child that can lead a new session, and we relay its status.
        return fork_and_relay(command);
    }
    exec(command)
}

fn exec(command: &Command) -> u8 {
    let name = command.argv[0].to_string_lossy().into_owned();
    let argv: Result<Vec<CString>, _> = command.argv.iter().map(|a| CString::new(a.as_bytes())).collect();
    let Ok(argv) = argv else {
        eprintln!("pagsh: {name}: argument contains a NUL byte");
        return EXIT_PAGSH_FAILED;
    };
    let error = unistd::execvp(&argv[0], &argv).unwrap_err();
    match error {
        Errno::ENOENT | Errno::ENOTDIR => {
            eprintln!("pagsh: {name}: command not found");
            127
        }
        e => {
            eprintln!("pagsh: {name}: cannot execute: {}", e.desc());
            126
        }
    }
}

fn fork_and_relay(command: &Command) -> u8 {
    // The child leads a new session; the parent waits for it and passes on
    // its exit status, or dies of the same signal.
    match sys::fork() {
        Ok(ForkResult::Child) => {
            let _ = unistd::setsid();
            std::process::exit(i32::from(exec(command)));
        }
        Ok(ForkResult::Parent { child }) => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => return u8::try_from(code).unwrap_or(1),
                Ok(WaitStatus::Signaled(_, sig, _)) => pag::sys::signal::die_of(sig),
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(e) => {
                    eprintln!("pagsh: waiting for the program: {}", e.desc());
                    return EXIT_PAGSH_FAILED;
                }
            }
        },
        Err(e) => {
            eprintln!("pagsh: cannot fork: {}", e.desc());
            EXIT_PAGSH_FAILED
        }
    }
}
