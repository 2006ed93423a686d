//! OpenAFS command lines spell long options with one dash (`-cell`,
//! `-setpag`); clap wants two. Rewrite the known single-dash long names
//! before clap sees them, so both spellings work and clap's own
//! bundling of short flags (`-df`) is left alone. Parse errors exit 1, as
//! OpenAFS's usage errors do (clap's default is 2, which aklog uses for
//! partial success).
//!
//! A single-dash word that is neither a known long name nor a valid
//! cluster of short options (`-bogus`) is reported whole: clap would read
//! it as a cluster and complain about `-b`, which the user never typed.

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::{Command, Parser};

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

/// The short options of a command: each letter and whether it takes a value.
fn short_options(command: &Command) -> Vec<(char, bool)> {
    command.get_arguments().filter_map(|a| Some((a.get_short()?, a.get_action().takes_values()))).collect()
}

/// Whether `word` (after its dash) is a cluster clap would read as short
/// options: known flags, possibly ending in one that takes the rest as its
/// value (`-df`, `-cexample.org`).
fn is_short_cluster(word: &str, shorts: &[(char, bool)]) -> bool {
    for c in word.chars() {
        match shorts.iter().find(|(s, _)| *s == c) {
            None => return false,
            Some((_, true)) => return true,
            Some((_, false)) => {}
        }
    }
    true
}

/// The first argument that is a single-dash word of two or more letters
/// and no valid cluster; options end at `--`.
fn unknown_single_dash<'a>(args: &'a [OsString], shorts: &[(char, bool)]) -> Option<&'a str> {
    let mut skip_value = false;
    for arg in args.iter().skip(1) {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            return None;
        }
        let Some(word) = text.strip_prefix('-').filter(|w| !w.starts_with('-') && !w.is_empty()) else {
            continue;
        };
        if word.chars().count() >= 2 && !is_short_cluster(word, shorts) {
            return Some(text);
        }
        // A lone value-taking short option (`-c CELL`) takes the next word,
        // which may itself start with a dash.
        let mut letters = word.chars();
        if let (Some(c), None) = (letters.next(), letters.next()) {
            skip_value = shorts.iter().any(|&(s, takes)| s == c && takes);
        }
    }
    None
}

/// Parse `args` (argv, program name first) into `T`. Help and version go to
/// stdout and exit 0; errors go to stderr and exit 1.
pub fn parse<T: Parser>(args: impl IntoIterator<Item = OsString>, long_names: &[&str]) -> Result<T, Exit> {
    let args = normalise(args, long_names);
    let mut command = T::command();
    command.build();
    let result = match unknown_single_dash(&args, &short_options(&command)) {
        Some(word) => Err(command.error(ErrorKind::UnknownArgument, format!("unknown option '{word}'"))),
        None => T::try_parse_from(args),
    };
    match result {
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

    fn unknown(args: &[&str]) -> Option<String> {
        let shorts = [('c', true), ('d', false), ('f', false), ('h', false)];
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        unknown_single_dash(&args, &shorts).map(str::to_owned)
    }

    #[test]
    fn unknown_single_dash_words_are_found_whole() {
        assert_eq!(unknown(&["aklog", "-bogus"]).as_deref(), Some("-bogus"));
        assert_eq!(unknown(&["aklog", "-d", "-dx"]).as_deref(), Some("-dx"));
        // Clusters, values glued or separate, and anything after `--` are fine.
        for ok in [
            &["aklog", "-df"][..],
            &["aklog", "-cexample.org"],
            &["aklog", "-dcexample.org"],
            &["aklog", "-c", "-weird"],
            &["aklog", "--", "-bogus"],
            &["aklog", "-", "-x", "--cell", "x"],
        ] {
            assert_eq!(unknown(ok), None, "{ok:?}");
        }
    }
}
