//! OpenAFS command lines spell long options with one dash (`-cell`,
//! `-setpag`); clap wants two. Rewrite the known single-dash long names
//! before clap sees them, so both spellings work and clap's own
//! bundling of short flags (`-df`) is left alone. Parse errors exit 1, as
//! OpenAFS's usage errors do (clap's default is 2, which aklog uses for
//! partial success).

use std::ffi::OsString;

use clap::Parser;

use crate::exit::Exit;

/// `-name` and `-name=value` become `--name...` when `name` is one of
/// `long_names`; everything after `--` is left as it is.
pub fn normalise(args: impl IntoIterator<Item = OsString>, long_names: &[&str]) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut options_done = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || options_done {
            out.push(arg);
            continue;
        }
        if arg == "--" {
            options_done = true;
            out.push(arg);
            continue;
        }
        let rewritten = arg.to_str().and_then(|text| {
            let rest = text.strip_prefix('-').filter(|r| !r.starts_with('-'))?;
            let name = rest.split('=').next().unwrap_or(rest);
            long_names.contains(&name).then(|| OsString::from(format!("--{rest}")))
        });
        out.push(rewritten.unwrap_or(arg));
    }
    out
}

/// Parse `args` (argv, program name first) into `T`. Help and version go to
/// stdout and exit 0; errors go to stderr and exit 1.
pub fn parse<T: Parser>(args: impl IntoIterator<Item = OsString>, long_names: &[&str]) -> Result<T, Exit> {
    match T::try_parse_from(normalise(args, long_names)) {
        Ok(t) => Ok(t),
        Err(e) => {
            let exit = if e.use_stderr() { Exit::Usage } else { Exit::Ok };
            let _ = e.print();
            Err(exit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalise(args.iter().map(OsString::from), &["cell", "setpag", "key-type"])
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn single_dash_long_names_get_two_dashes() {
        assert_eq!(
            norm(&["aklog", "-cell", "x", "-setpag", "-key-type=user", "-c", "y", "-d", "--cell", "z"]),
            ["aklog", "--cell", "x", "--setpag", "--key-type=user", "-c", "y", "-d", "--cell", "z"]
        );
    }

    #[test]
    fn unknown_names_values_and_after_double_dash_are_kept() {
        assert_eq!(norm(&["aklog", "-bogus", "-", "--", "-cell"]), ["aklog", "-bogus", "-", "--", "-cell"]);
        // The program name is never rewritten.
        assert_eq!(norm(&["-cell"]), ["-cell"]);
    }
}
