//! Reading PAM stacks as Linux-PAM does: `type control module args`, a
//! bracketed control (`[success=ok default=bad]`), `-type` (a module that
//! may be missing), `\` continuations, `@include file` (every type) and
//! `type include|substack file` (that type only), bounded in depth.

use std::path::{Path, PathBuf};

/// One module line of an expanded stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleLine {
    /// The file and 1-based line it was written on.
    pub file: PathBuf,
    pub line: usize,
    /// `auth`, `account`, `session` or `password`.
    pub kind: String,
    pub control: String,
    pub module: String,
    pub args: Vec<String>,
}

impl ModuleLine {
    /// `file:line`.
    pub fn place(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }

    /// The module's file name (`pam_pag.so` for `/lib/.../pam_pag.so` too).
    pub fn module_name(&self) -> &str {
        self.module.rsplit('/').next().unwrap_or(&self.module)
    }
}

/// Linux-PAM's own include depth limit is 32; a loop ends here too.
const MAX_DEPTH: usize = 16;

/// The `kind` lines of `service` in `dir`, includes expanded. Problems
/// (an include that cannot be read, too deep) are returned as text.
pub fn stack(dir: &Path, service: &str, kind: &str) -> (Vec<ModuleLine>, Vec<String>) {
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    expand(dir, &dir.join(service), Some(kind), kind, 0, &mut lines, &mut problems);
    (lines, problems)
}

fn expand(
    dir: &Path,
    file: &Path,
    only: Option<&str>,
    kind: &str,
    depth: usize,
    out: &mut Vec<ModuleLine>,
    problems: &mut Vec<String>,
) {
    if depth > MAX_DEPTH {
        problems.push(format!("{}: includes nested deeper than {MAX_DEPTH}", file.display()));
        return;
    }
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            problems.push(format!("{}: cannot read: {}", file.display(), io_text(&e)));
            return;
        }
    };
    for (number, words) in logical_lines(&text) {
        if words[0] == "@include" {
            if let Some(name) = words.get(1) {
                expand(dir, &resolve(dir, name), only, kind, depth + 1, out, problems);
            }
            continue;
        }
        if words.len() < 3 {
            continue;
        }
        let line_kind = words[0].trim_start_matches('-').to_ascii_lowercase();
        if line_kind != kind || only.is_some_and(|o| o != line_kind) {
            continue;
        }
        let (control, rest) = control_and_rest(&words[1..]);
        let Some(module) = rest.first() else { continue };
        if control == "include" || control == "substack" {
            expand(dir, &resolve(dir, module), Some(kind), kind, depth + 1, out, problems);
            continue;
        }
        out.push(ModuleLine {
            file: file.to_owned(),
            line: number,
            kind: line_kind,
            control,
            module: module.clone(),
            args: rest[1..].to_vec(),
        });
    }
}

/// An included name: relative to the PAM directory unless absolute.
fn resolve(dir: &Path, name: &str) -> PathBuf {
    if name.starts_with('/') {
        PathBuf::from(name)
    } else {
        dir.join(name)
    }
}

/// The control (one word, or a bracketed group of words) and what follows.
fn control_and_rest(words: &[String]) -> (String, Vec<String>) {
    if !words[0].starts_with('[') {
        return (words[0].clone(), words[1..].to_vec());
    }
    let end = words.iter().position(|w| w.ends_with(']')).unwrap_or(words.len() - 1);
    (words[..=end].join(" "), words[end + 1..].to_vec())
}

/// Lines without comments, continuations joined, split into words (a
/// bracketed argument such as `[a b]` stays one word), with the number of
/// the line each starts on.
fn logical_lines(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if pending.is_empty() {
            start = i + 1;
        }
        let line = raw.split('#').next().unwrap_or("");
        if let Some(cont) = line.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let words = split_words(&pending);
        if !words.is_empty() {
            out.push((start, words));
        }
        pending.clear();
    }
    out
}

fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for c in line.chars() {
        match c {
            '[' => {
                depth += 1;
                current.push(c);
            }
            ']' => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            c if c.is_whitespace() && depth == 0 => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    // The control `[a=b c=d]` stays one word; an argument like `[x y]`
    // too. Module lines never start with `[`, so the control is words[1].
    words
}

fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_owned(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_substacks_brackets_and_continuations() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("common-session"), "session optional pam_krb5.so\nauth required pam_unix.so\n")
            .unwrap();
        std::fs::write(d.join("extra"), "session required /lib/security/pam_pag.so debug\n").unwrap();
        std::fs::write(
            d.join("svc"),
            "# c\n@include common-session\nsession [success=ok default=bad] pam_selinux.so close\n\
             -session optional pam_systemd.so\nsession substack extra\nsession required pam_env.so \\\n  readenv=1\n",
        )
        .unwrap();
        let (lines, problems) = stack(d, "svc", "session");
        assert!(problems.is_empty(), "{problems:?}");
        let got: Vec<(usize, &str, &str, Vec<String>)> =
            lines.iter().map(|l| (l.line, l.control.as_str(), l.module_name(), l.args.clone())).collect();
        assert_eq!(
            got,
            [
                (1, "optional", "pam_krb5.so", vec![]),
                (3, "[success=ok default=bad]", "pam_selinux.so", vec!["close".to_owned()]),
                (4, "optional", "pam_systemd.so", vec![]),
                (1, "required", "pam_pag.so", vec!["debug".to_owned()]),
                (6, "required", "pam_env.so", vec!["readenv=1".to_owned()]),
            ]
        );
        let (auth, _) = stack(d, "svc", "auth");
        assert_eq!(auth.len(), 1);
    }

    #[test]
    fn a_loop_and_a_missing_include_are_problems() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "@include a\n").unwrap();
        let (_, problems) = stack(dir.path(), "a", "session");
        assert!(problems[0].contains("nested deeper"), "{problems:?}");
        std::fs::write(dir.path().join("b"), "session include nosuch\n").unwrap();
        let (_, problems) = stack(dir.path(), "b", "session");
        assert!(problems[0].ends_with("nosuch: cannot read: No such file or directory"), "{problems:?}");
    }
}
