//! The token program's environment: an allowlist, as sudo's env_reset.
//!
//! The PAM environment holds whatever `~/.pam_environment` says (Debian's
//! sshd stack has `pam_env.so user_readenv=1`), and the process environment
//! is the caller's under su or sudo. So the program gets exactly:
//! - `KRB5CCNAME` from the PAM environment only, in the forms `FILE:<path>`
//!   (or a bare absolute path), `DIR:<path>`, `KEYRING:persistent:...` and
//!   `KCM:...`, where a FILE:/DIR: path must be the user's (lstat: a
//!   symlink as the last component is refused);
//! - `HOME`, `USER`, `LOGNAME` and `SHELL` from the password database;
//! - `LANG`, `LC_*` and `TZ` from the PAM environment (no control
//!   characters, at most [`MAX_LOCALE`] bytes);
//! - `PATH` = [`PATH`];
//! - the names the administrator lists in `program_env`, from the PAM
//!   environment (dangerous names are refused when the options are read).

use std::path::Path;

use pag::config::pam::program_env_refusal;

use crate::kernel::{PathInfo, UserEntry};

/// The program's PATH.
pub const PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// Longest LANG, LC_* or TZ value passed.
pub const MAX_LOCALE: usize = 256;
/// Longest KRB5CCNAME or `program_env` value passed.
pub const MAX_VALUE: usize = 4096;

/// The environment, and why anything offered was left out (for the log).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Built {
    pub env: Vec<(String, String)>,
    /// The KRB5CCNAME passed, if any.
    pub ccache: Option<String>,
    /// One line per refused variable (the value is not repeated unless it is a ccache name).
    pub refused: Vec<String>,
}

fn clean(value: &str, max: usize) -> bool {
    value.len() <= max && !value.chars().any(char::is_control)
}

fn locale_name(name: &str) -> bool {
    name == "LANG"
        || name == "TZ"
        || name
            .strip_prefix("LC_")
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
}

/// Build the environment from the PAM environment `pam_env`.
pub fn build(
    user: &UserEntry,
    pam_env: &[(String, String)],
    program_env: &[String],
    lstat: &dyn Fn(&Path) -> Result<PathInfo, String>,
) -> Built {
    let mut built = Built::default();
    let get = |name: &str| pam_env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if let Some(value) = get("KRB5CCNAME") {
        match check_ccache(value, user.uid, lstat) {
            Ok(()) => {
                built.ccache = Some(value.to_owned());
                built.env.push(("KRB5CCNAME".into(), value.to_owned()));
            }
            Err(why) => built.refused.push(format!("KRB5CCNAME {value} refused: {why}")),
        }
    }
    built.env.push(("HOME".into(), user.home.clone()));
    built.env.push(("USER".into(), user.name.clone()));
    built.env.push(("LOGNAME".into(), user.name.clone()));
    built.env.push(("SHELL".into(), user.shell.clone()));
    built.env.push(("PATH".into(), PATH.into()));
    for (name, value) in pam_env {
        if locale_name(name) {
            if clean(value, MAX_LOCALE) {
                built.env.push((name.clone(), value.clone()));
            } else {
                built
                    .refused
                    .push(format!("{name} refused: control characters or longer than {MAX_LOCALE} bytes"));
            }
        }
    }
    for name in program_env {
        // Checked when the options were read; checked again, so that no
        // path around that check can pass such a name.
        if program_env_refusal(name).is_some() || locale_name(name) {
            continue;
        }
        if let Some(value) = get(name) {
            if built.env.iter().any(|(k, _)| k == name) {
                continue;
            }
            if clean(value, MAX_VALUE) {
                built.env.push((name.clone(), value.to_owned()));
            } else {
                built
                    .refused
                    .push(format!("{name} refused: control characters or longer than {MAX_VALUE} bytes"));
            }
        }
    }
    built
}

/// Is `value` a ccache name the program may be given?
pub fn check_ccache(
    value: &str,
    uid: u32,
    lstat: &dyn Fn(&Path) -> Result<PathInfo, String>,
) -> Result<(), String> {
    if !clean(value, MAX_VALUE) {
        return Err(format!("control characters or longer than {MAX_VALUE} bytes"));
    }
    let (kind, rest) = match value.split_once(':') {
        _ if value.starts_with('/') => ("FILE", value),
        Some((kind, rest)) => (kind, rest),
        None => return Err("not a ccache type the token program may be given".into()),
    };
    match kind {
        "FILE" => owned_by(rest, uid, lstat),
        // DIR:<dir> (the collection) or DIR::<file> (one cache in it).
        "DIR" => owned_by(rest.strip_prefix(':').unwrap_or(rest), uid, lstat),
        "KCM" => Ok(()),
        "KEYRING" => {
            let mut parts = rest.split(':');
            match parts.next() {
                Some("persistent") => match parts.next() {
                    None | Some("") => Ok(()),
                    Some(id) if id == uid.to_string() => Ok(()),
                    Some(id) => Err(format!("the persistent keyring of uid {id}, not of uid {uid}")),
                },
                Some(which @ ("session" | "user" | "process" | "thread")) => Err(format!(
                    "a KEYRING:{which}: cache is in the login's keyrings, and the token program runs in a \
                     keyring of its own: use KEYRING:persistent:, DIR: or FILE:"
                )),
                _ => {
                    Err("a legacy KEYRING: name lives in the session keyring; use KEYRING:persistent:".into())
                }
            }
        }
        _ => Err(format!("{kind}: is not a ccache type the token program may be given")),
    }
}

fn owned_by(path: &str, uid: u32, lstat: &dyn Fn(&Path) -> Result<PathInfo, String>) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("not an absolute path".into());
    }
    let info = lstat(Path::new(path)).map_err(|e| format!("cannot check {path}: {e}"))?;
    if info.symlink {
        return Err(format!("{path} is a symbolic link"));
    }
    if info.uid != uid {
        return Err(format!("{path} is owned by uid {}, not by the user (uid {uid})", info.uid));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserEntry {
        UserEntry::alice()
    }

    fn fs(path: &Path) -> Result<PathInfo, String> {
        match path.to_str().unwrap() {
            "/tmp/krb5cc_1000" | "/run/user/1000/krb5cc" => Ok(PathInfo { uid: 1000, symlink: false }),
            "/tmp/krb5cc_0" => Ok(PathInfo { uid: 0, symlink: false }),
            "/tmp/link" => Ok(PathInfo { uid: 1000, symlink: true }),
            _ => Err("No such file or directory".into()),
        }
    }

    fn env(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn only_the_allowlist_passes() {
        let pam = env(&[
            ("LD_PRELOAD", "/tmp/evil.so"),
            ("KRB5_CONFIG", "/tmp/krb5.conf"),
            ("PAG_CONFIG", "/tmp/x"),
            ("HOME", "/tmp/fake"),
            ("PATH", "/tmp/bin"),
            ("LANG", "C.UTF-8"),
            ("LC_TIME", "de_DE.UTF-8"),
            ("LC_evil", "x"),
            ("TZ", "Europe/Berlin"),
            ("AKLOG_DEBUG", "1"),
            ("OTHER", "x"),
            ("KRB5CCNAME", "FILE:/tmp/krb5cc_1000"),
        ]);
        let names = vec!["AKLOG_DEBUG".to_owned(), "LD_PRELOAD".to_owned(), "MISSING".to_owned()];
        let built = build(&alice(), &pam, &names, &fs);
        assert_eq!(
            built.env,
            env(&[
                ("KRB5CCNAME", "FILE:/tmp/krb5cc_1000"),
                ("HOME", "/home/alice"),
                ("USER", "alice"),
                ("LOGNAME", "alice"),
                ("SHELL", "/bin/bash"),
                ("PATH", PATH),
                ("LANG", "C.UTF-8"),
                ("LC_TIME", "de_DE.UTF-8"),
                ("TZ", "Europe/Berlin"),
                ("AKLOG_DEBUG", "1"),
            ])
        );
        assert!(built.refused.is_empty());
    }

    #[test]
    fn locale_values_with_controls_or_too_long_are_refused() {
        let long = "x".repeat(MAX_LOCALE + 1);
        let pam = env(&[("LANG", "C\n"), ("TZ", &long)]);
        let built = build(&alice(), &pam, &[], &fs);
        assert!(!built.env.iter().any(|(k, _)| k == "LANG" || k == "TZ"));
        assert_eq!(built.refused.len(), 2);
    }

    #[test]
    fn ccache_forms() {
        let ok = [
            "FILE:/tmp/krb5cc_1000",
            "/tmp/krb5cc_1000",
            "DIR:/run/user/1000/krb5cc",
            "DIR::/run/user/1000/krb5cc",
            "KEYRING:persistent:1000",
            "KEYRING:persistent:1000:krb_ccache_x",
            "KEYRING:persistent",
            "KCM:",
            "KCM:1000",
        ];
        for c in ok {
            assert_eq!(check_ccache(c, 1000, &fs), Ok(()), "{c}");
        }
        for (c, why) in [
            ("FILE:/tmp/krb5cc_0", "/tmp/krb5cc_0 is owned by uid 0, not by the user (uid 1000)"),
            ("/tmp/link", "/tmp/link is a symbolic link"),
            ("FILE:/tmp/none", "cannot check /tmp/none: No such file or directory"),
            ("FILE:tmp/rel", "not an absolute path"),
            ("KEYRING:persistent:0", "the persistent keyring of uid 0, not of uid 1000"),
            ("MEMORY:x", "MEMORY: is not a ccache type the token program may be given"),
            ("FILE:/tmp/krb5cc_1000\n", "control characters or longer than 4096 bytes"),
        ] {
            assert_eq!(check_ccache(c, 1000, &fs), Err(why.to_owned()), "{c}");
        }
        for c in ["KEYRING:session:x", "KEYRING:user:x"] {
            assert!(check_ccache(c, 1000, &fs).unwrap_err().contains("keyring of its own"), "{c}");
        }
        let built = build(&alice(), &env(&[("KRB5CCNAME", "KEYRING:session:x")]), &[], &fs);
        assert_eq!(built.ccache, None);
        assert!(built.refused[0].starts_with("KRB5CCNAME KEYRING:session:x refused: "));
    }
}
