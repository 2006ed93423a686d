//! PAM stacks written into the container's private `/etc/pam.d`, built line
//! by line so a test reads like the pam.d file it installs.

/// One `/etc/pam.d/<service>` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PamStack {
    lines: Vec<String>,
}

impl PamStack {
    /// An empty stack (every call to it fails: libpam needs each type present).
    pub fn new() -> Self {
        Self::default()
    }

    /// A stack from the text of a pam.d file (an example shipped in `conf/`,
    /// a copy of a system file), line by line as it is.
    pub fn from_text(text: &str) -> Self {
        Self { lines: text.lines().map(str::to_owned).collect() }
    }

    /// The stack with every `from` module field replaced by `to`: for
    /// example the bare `pam_pag.so` of a shipped stack by the path of the
    /// module just built.
    pub fn replace_module(self, from: &str, to: &str) -> Self {
        let lines = self
            .lines
            .into_iter()
            .map(|line| {
                if line.trim_start().starts_with('#') {
                    return line;
                }
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.iter().position(|w| *w == from) {
                    Some(at) => {
                        let mut words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
                        words[at] = to.to_owned();
                        words.join(" ")
                    }
                    None => line,
                }
            })
            .collect();
        Self { lines }
    }

    /// Password authentication and accounts by pam_unix, no session modules:
    /// the base a test adds its `session` lines to.
    pub fn unix_auth() -> Self {
        Self::new()
            .auth("required", "pam_unix.so")
            .account("required", "pam_unix.so")
            .password("required", "pam_unix.so")
    }

    /// pam_unix for everything: the stack of a service a test does not set.
    pub fn unix() -> Self {
        Self::unix_auth().session("required", "pam_unix.so")
    }

    /// The stack for `su`/`su-l`: root needs no password (pam_rootok), others
    /// authenticate by pam_unix.
    pub fn su() -> Self {
        Self::su_auth_only().session("required", "pam_unix.so")
    }

    /// [`PamStack::su`] without session lines: the base a test adds its
    /// own `session` lines to.
    pub fn su_auth_only() -> Self {
        Self::new().auth("sufficient", "pam_rootok.so").extend(Self::unix_auth())
    }

    /// Add `auth <control> <module and arguments>`.
    pub fn auth(self, control: &str, module: &str) -> Self {
        self.line(format!("auth {control} {module}"))
    }

    /// Add `account <control> <module and arguments>`.
    pub fn account(self, control: &str, module: &str) -> Self {
        self.line(format!("account {control} {module}"))
    }

    /// Add `password <control> <module and arguments>`.
    pub fn password(self, control: &str, module: &str) -> Self {
        self.line(format!("password {control} {module}"))
    }

    /// Add `session <control> <module and arguments>`.
    pub fn session(self, control: &str, module: &str) -> Self {
        self.line(format!("session {control} {module}"))
    }

    /// Add a raw line (a comment, an `@include`, bracketed controls).
    pub fn line(mut self, line: impl Into<String>) -> Self {
        self.lines.push(line.into());
        self
    }

    /// Append the lines of `other`.
    pub fn extend(mut self, other: PamStack) -> Self {
        self.lines.extend(other.lines);
        self
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut text = String::from("# written by the pag test harness\n");
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

/// The services a container has a stack for unless the test sets one;
/// `other` denies, so a service the test forgot fails loudly.
pub(crate) fn default_stacks() -> Vec<(String, PamStack)> {
    let deny = PamStack::new()
        .auth("required", "pam_warn.so")
        .auth("required", "pam_deny.so")
        .account("required", "pam_deny.so")
        .password("required", "pam_deny.so")
        .session("required", "pam_deny.so");
    vec![
        ("other".into(), deny),
        ("sshd".into(), PamStack::unix()),
        ("login".into(), PamStack::unix()),
        ("su".into(), PamStack::su()),
        ("su-l".into(), PamStack::su()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_lines_in_order() {
        let stack = PamStack::unix_auth().session("optional", "pam_keyinit.so force revoke");
        assert_eq!(
            stack.render(),
            "# written by the pag test harness\n\
             auth required pam_unix.so\n\
             account required pam_unix.so\n\
             password required pam_unix.so\n\
             session optional pam_keyinit.so force revoke\n"
        );
    }

    #[test]
    fn shipped_stacks_get_the_built_module() {
        let shipped = "# pam_pag.so comment stays\n@include common-auth\nauth optional pam_pag.so\nsession required pam_pag.so debug\n";
        let stack = PamStack::from_text(shipped).replace_module("pam_pag.so", "/build/libpam_pag.so");
        assert_eq!(
            stack.render(),
            "# written by the pag test harness\n# pam_pag.so comment stays\n@include common-auth\n\
             auth optional /build/libpam_pag.so\nsession required /build/libpam_pag.so debug\n"
        );
    }

    #[test]
    fn su_lets_root_in_first() {
        assert!(PamStack::su().render().lines().nth(1) == Some("auth sufficient pam_rootok.so"));
    }
}
