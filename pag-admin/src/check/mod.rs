//! `pag check`: the configuration file, every PAM stack that loads
//! pam_pag, and the system the PAGs live on.

mod config;
mod pamd;
mod services;
mod system;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::report::{Level, Report};

/// `pag check [--config FILE] [--pam-dir DIR] [--json]`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file (default /etc/security/pam_pag.toml, which may
    /// be absent; a file named here must exist).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The PAM stacks.
    #[arg(long, value_name = "DIR", default_value = "/etc/pam.d")]
    pub pam_dir: PathBuf,
    /// Print the findings as JSON, for scripts.
    #[arg(long)]
    pub json: bool,
    /// Read /proc, /sys and /usr/sbin under this directory instead of /
    /// (for tests; the keyring probe is always the real one).
    #[arg(long, value_name = "DIR", default_value = "/", hide = true)]
    pub system_root: PathBuf,
}

/// Run every check; exit 0 without an ERROR, 1 with one.
pub fn run(args: &Args) -> ExitCode {
    let mut report = Report::default();
    let file = config::check(args.config.as_deref(), &mut report);
    let programs = services::check(&args.pam_dir, &file, &mut report);
    system::check(&args.system_root, &mut report);
    system::check_tags(&args.system_root, &file, &mut report);
    system::check_programs(&programs, &mut report);
    if args.json {
        print!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    if report.count(Level::Error) > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
