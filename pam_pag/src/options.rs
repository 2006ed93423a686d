//! Module options: the built-in defaults, the TOML file's `[pam]` and
//! `[pam.service.<name>]` layers, and the module arguments, merged in that
//! order (later wins). The arguments are described by one declarative table.

use std::path::{Path, PathBuf};

use pag::config::pam::{parse_tag_gids, program_env_refusal, KeyringOwner, OnClose, OnKeyringUnavailable};
#[cfg(test)]
use pag::config::Config;
use pag::config::{self, ConfigError, Document, PamSettings, Presence};

mod cache;

/// The token program unless configured: our aklog, at the path the build
/// was told (`PAM_PAG_AKLOG`, set by `make` from PREFIX).
pub const DEFAULT_PROGRAM: &str = match option_env!("PAM_PAG_AKLOG") {
    Some(path) => path,
    None => "/usr/local/bin/aklog",
};

/// Every option, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub debug: bool,
    pub minimum_uid: u32,
    pub ignore_root: bool,
    pub nopag: bool,
    pub notokens: bool,
    pub program: String,
    pub program_args: Vec<String>,
    pub cells: Vec<String>,
    pub timeout: u32,
    /// PAM environment variables passed to the program besides the fixed allowlist.
    pub program_env: Vec<String>,
    pub always_aklog: bool,
    pub on_close: OnClose,
    pub link_user_keyring: bool,
    pub on_keyring_unavailable: OnKeyringUnavailable,
    pub tokens_required: bool,
    pub keyring_owner: KeyringOwner,
    /// `tag_gids`: the range tags are handed out from, if any.
    pub tag_gids: Option<std::ops::RangeInclusive<u32>>,
    /// `kcm`: have the token program move the login's tickets into its KCM cache.
    pub kcm: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            debug: false,
            minimum_uid: 0,
            ignore_root: false,
            nopag: false,
            notokens: false,
            program: DEFAULT_PROGRAM.to_owned(),
            program_args: Vec::new(),
            cells: Vec::new(),
            timeout: 10,
            program_env: Vec::new(),
            always_aklog: false,
            on_close: OnClose::Unlog,
            link_user_keyring: true,
            on_keyring_unavailable: OnKeyringUnavailable::Ignore,
            tokens_required: false,
            keyring_owner: KeyringOwner::Root,
            tag_gids: None,
            kcm: false,
        }
    }
}

impl Options {
    /// What a session gets when its configuration is broken: isolation
    /// never depends on the configuration, so a PAG with the built-in
    /// defaults; but no token program, whose path, arguments and cells
    /// came from the configuration that could not be read.
    pub fn fail_safe() -> Self {
        Options { notokens: true, ..Options::default() }
    }

    /// Apply one layer; what it leaves unset keeps its earlier value.
    fn apply(&mut self, layer: &PamSettings) {
        fn set<T: Clone>(to: &mut T, from: &Option<T>) {
            if let Some(v) = from {
                *to = v.clone();
            }
        }
        set(&mut self.debug, &layer.debug);
        set(&mut self.minimum_uid, &layer.minimum_uid);
        set(&mut self.ignore_root, &layer.ignore_root);
        set(&mut self.nopag, &layer.nopag);
        set(&mut self.notokens, &layer.notokens);
        set(&mut self.program, &layer.program);
        set(&mut self.program_args, &layer.program_args);
        set(&mut self.cells, &layer.cells);
        set(&mut self.timeout, &layer.timeout);
        set(&mut self.program_env, &layer.program_env);
        set(&mut self.always_aklog, &layer.always_aklog);
        set(&mut self.on_close, &layer.on_close);
        set(&mut self.link_user_keyring, &layer.link_user_keyring);
        set(&mut self.on_keyring_unavailable, &layer.on_keyring_unavailable);
        set(&mut self.tokens_required, &layer.tokens_required);
        set(&mut self.keyring_owner, &layer.keyring_owner);
        set(&mut self.kcm, &layer.kcm);
        // Validated when the file was read; a layer that fails to parse
        // never gets here.
        if let Some(range) = layer.tag_gids.as_deref().and_then(|t| parse_tag_gids(t).ok()) {
            self.tag_gids = Some(range);
        }
    }
}

/// The module arguments, parsed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Arguments {
    /// `config=PATH`, if given.
    pub config: Option<PathBuf>,
    /// The settings the arguments make.
    pub settings: PamSettings,
    /// Arguments not in the table, to be logged and ignored.
    pub unknown: Vec<String>,
}

/// How an argument is written.
enum Shape {
    /// `name` alone means true; `name=true|false` also works.
    Flag(fn(&mut PamSettings, bool)),
    /// `name=value`.
    Value(fn(&mut Arguments, &str) -> Result<(), String>),
}

struct Spec {
    name: &'static str,
    shape: Shape,
}

const fn flag(name: &'static str, set: fn(&mut PamSettings, bool)) -> Spec {
    Spec { name, shape: Shape::Flag(set) }
}

const fn value(name: &'static str, set: fn(&mut Arguments, &str) -> Result<(), String>) -> Spec {
    Spec { name, shape: Shape::Value(set) }
}

/// The argument table: one line per option the `pam.d` line may carry.
const ARGUMENTS: &[Spec] = &[
    value("config", |a, v| {
        a.config = Some(PathBuf::from(v));
        Ok(())
    }),
    flag("debug", |s, v| s.debug = Some(v)),
    value("minimum_uid", |a, v| {
        a.settings.minimum_uid = Some(number(v)?);
        Ok(())
    }),
    flag("ignore_root", |s, v| s.ignore_root = Some(v)),
    flag("nopag", |s, v| s.nopag = Some(v)),
    flag("notokens", |s, v| s.notokens = Some(v)),
    value("program", |a, v| {
        a.settings.program = Some(absolute(v)?);
        Ok(())
    }),
    value("program_arg", |a, v| {
        a.settings.program_args.get_or_insert_with(Vec::new).push(v.to_owned());
        Ok(())
    }),
    value("cells", |a, v| {
        a.settings.cells = Some(list(v));
        Ok(())
    }),
    value("timeout", |a, v| {
        let seconds = number(v)?;
        if seconds == 0 {
            return Err("must be at least 1 second".into());
        }
        a.settings.timeout = Some(seconds);
        Ok(())
    }),
    value("tag_gids", |a, v| {
        parse_tag_gids(v)?;
        a.settings.tag_gids = Some(v.to_owned());
        Ok(())
    }),
    value("program_env", |a, v| {
        let names = list(v);
        if let Some((name, why)) = names.iter().find_map(|n| program_env_refusal(n).map(|why| (n, why))) {
            return Err(format!("`{name}` {why}"));
        }
        a.settings.program_env = Some(names);
        Ok(())
    }),
    flag("always_aklog", |s, v| s.always_aklog = Some(v)),
    value("on_close", |a, v| {
        a.settings.on_close = Some(one_of(v, ON_CLOSE)?);
        Ok(())
    }),
    flag("link_user_keyring", |s, v| s.link_user_keyring = Some(v)),
    value("on_keyring_unavailable", |a, v| {
        a.settings.on_keyring_unavailable = Some(one_of(v, ON_UNAVAILABLE)?);
        Ok(())
    }),
    flag("tokens_required", |s, v| s.tokens_required = Some(v)),
    flag("kcm", |s, v| s.kcm = Some(v)),
    value("keyring_owner", |a, v| {
        a.settings.keyring_owner = Some(one_of(v, OWNERS)?);
        Ok(())
    }),
];

const ON_CLOSE: &[(&str, OnClose)] =
    &[("unlog", OnClose::Unlog), ("revoke", OnClose::Revoke), ("retain", OnClose::Retain)];
const ON_UNAVAILABLE: &[(&str, OnKeyringUnavailable)] =
    &[("ignore", OnKeyringUnavailable::Ignore), ("fail", OnKeyringUnavailable::Fail)];
const OWNERS: &[(&str, KeyringOwner)] = &[("root", KeyringOwner::Root), ("user", KeyringOwner::User)];

fn number(v: &str) -> Result<u32, String> {
    v.parse().map_err(|_| format!("`{v}` is not a non-negative integer"))
}

fn absolute(v: &str) -> Result<String, String> {
    if v.starts_with('/') {
        Ok(v.to_owned())
    } else {
        Err(format!("`{v}` is not an absolute path"))
    }
}

fn list(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn one_of<T: Copy>(v: &str, choices: &[(&str, T)]) -> Result<T, String> {
    choices.iter().find(|(name, _)| *name == v).map(|(_, t)| *t).ok_or_else(|| {
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        format!("`{v}` is not one of {}", names.join(", "))
    })
}

/// A module argument with a bad value: the argument and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgumentError {
    pub argument: String,
    pub message: String,
}

/// Parse the module arguments. Unknown names are collected (the caller logs
/// and ignores them); a known name with a bad value is an error, so a typo
/// in a value never silently means the default.
pub fn parse_arguments(args: &[String]) -> Result<Arguments, ArgumentError> {
    let mut out = Arguments::default();
    for arg in args {
        let (name, v) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (arg.as_str(), None),
        };
        let Some(spec) = ARGUMENTS.iter().find(|s| s.name == name) else {
            out.unknown.push(arg.clone());
            continue;
        };
        let fail = |message: String| ArgumentError { argument: arg.clone(), message };
        match (&spec.shape, v) {
            (Shape::Flag(set), None) => set(&mut out.settings, true),
            (Shape::Flag(set), Some(v)) => {
                set(&mut out.settings, one_of(v, &[("true", true), ("false", false)]).map_err(fail)?)
            }
            (Shape::Value(_), None) => return Err(fail("needs a value (name=value)".into())),
            (Shape::Value(set), Some(v)) => set(&mut out, v).map_err(fail)?,
        }
    }
    Ok(out)
}

/// Why the options could not be resolved.
#[derive(Debug)]
pub enum OptionsError {
    Argument(ArgumentError),
    Config(ConfigError),
}

impl std::fmt::Display for OptionsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionsError::Argument(e) => write!(f, "module argument `{}`: {}", e.argument, e.message),
            OptionsError::Config(e) => write!(f, "{e}"),
        }
    }
}

/// The defaults, then the file's `[pam]` (and nothing else of it: a mistake
/// in `[aklog]` or `[pagsh]` never touches a login), then its section for
/// `service`, then the arguments. Without `config=`, a missing default file
/// means "no file"; a file named by `config=` must exist.
pub fn resolve(arguments: &Arguments, service: &str) -> Result<Options, OptionsError> {
    let (path, presence) = match &arguments.config {
        Some(path) => (path.clone(), Presence::NamedBy("config=")),
        None => (PathBuf::from(config::DEFAULT_PATH), Presence::MayBeAbsent),
    };
    let pam =
        cache::settings(&path, presence, || read_settings(&path, presence)).map_err(OptionsError::Config)?;
    Ok(merge(&pam, service, &arguments.settings))
}

/// The file's `[pam]`, or its first mistake; the defaults where the file
/// may be absent and is.
fn read_settings(path: &Path, presence: Presence) -> Result<PamSettings, ConfigError> {
    match Document::read(path, presence)? {
        Some(document) => document
            .pam()
            .map_err(|errors| config::first_error(errors).expect("an Err carries at least one error")),
        None => Ok(PamSettings::default()),
    }
}

/// Merge the layers (pure; [`resolve`] adds the file reading).
pub fn merge(file: &PamSettings, service: &str, arguments: &PamSettings) -> Options {
    let mut options = Options::default();
    options.apply(file);
    if let Some(section) = file.for_service(service) {
        options.apply(section);
    }
    options.apply(arguments);
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults() {
        let o = Options::default();
        assert_eq!(o.timeout, 10);
        assert_eq!(o.on_close, OnClose::Unlog);
        assert_eq!(o.keyring_owner, KeyringOwner::Root);
        assert_eq!(o.on_keyring_unavailable, OnKeyringUnavailable::Ignore);
        assert!(o.link_user_keyring && !o.tokens_required && !o.debug);
        assert!(o.program.starts_with('/') && o.program.ends_with("/aklog"));
    }

    #[test]
    fn every_argument_parses() {
        let a = parse_arguments(&args(&[
            "config=/tmp/x.toml",
            "debug",
            "minimum_uid=1000",
            "ignore_root",
            "nopag",
            "notokens",
            "program=/bin/true",
            "program_arg=-d",
            "program_arg=-x",
            "cells=a.org, b.org",
            "timeout=3",
            "program_env=AKLOG_DEBUG, http_proxy",
            "always_aklog",
            "on_close=revoke",
            "link_user_keyring=false",
            "on_keyring_unavailable=fail",
            "tokens_required",
            "keyring_owner=user",
            "tag_gids=70000-70999",
            "kcm",
        ]))
        .unwrap();
        assert!(a.unknown.is_empty());
        assert_eq!(a.config.as_deref(), Some(Path::new("/tmp/x.toml")));
        let o = merge(&PamSettings::default(), "sshd", &a.settings);
        let expected = Options {
            debug: true,
            minimum_uid: 1000,
            ignore_root: true,
            nopag: true,
            notokens: true,
            program: "/bin/true".into(),
            program_args: args(&["-d", "-x"]),
            cells: args(&["a.org", "b.org"]),
            timeout: 3,
            program_env: args(&["AKLOG_DEBUG", "http_proxy"]),
            always_aklog: true,
            on_close: OnClose::Revoke,
            link_user_keyring: false,
            on_keyring_unavailable: OnKeyringUnavailable::Fail,
            tokens_required: true,
            keyring_owner: KeyringOwner::User,
            tag_gids: Some(70_000..=70_999),
            kcm: true,
        };
        assert_eq!(o, expected);
        assert_eq!(ARGUMENTS.len(), 19, "a new option needs a line in the test above");
    }

    #[test]
    fn unknown_arguments_are_collected_not_fatal() {
        let a = parse_arguments(&args(&["debug", "frobnicate", "x=y"])).unwrap();
        assert_eq!(a.unknown, args(&["frobnicate", "x=y"]));
        assert_eq!(a.settings.debug, Some(true));
    }

    #[test]
    fn bad_values_are_errors() {
        for (arg, message) in [
            ("timeout=soon", "`soon` is not a non-negative integer"),
            ("timeout=0", "must be at least 1 second"),
            ("on_close=later", "`later` is not one of unlog, revoke, retain"),
            ("program=aklog", "`aklog` is not an absolute path"),
            ("debug=yes", "`yes` is not one of true, false"),
            ("minimum_uid", "needs a value (name=value)"),
            (
                "program_env=LANGUAGE,LD_PRELOAD",
                "`LD_PRELOAD` may not be passed to the token program: it changes which code or configuration the program uses",
            ),
        ] {
            let e = parse_arguments(&args(&[arg])).unwrap_err();
            assert_eq!(e, ArgumentError { argument: arg.into(), message: message.into() });
        }
    }

    #[test]
    fn layers_merge_in_order() {
        let file = Config::parse(
            "[pam]\ntimeout = 5\ndebug = true\non_close = \"retain\"\n[pam.service.sshd]\ntimeout = 7\n",
            Path::new("t.toml"),
        )
        .unwrap()
        .pam;
        let a = parse_arguments(&args(&["on_close=revoke"])).unwrap();
        let sshd = merge(&file, "sshd", &a.settings);
        assert_eq!((sshd.timeout, sshd.debug, sshd.on_close), (7, true, OnClose::Revoke));
        let login = merge(&file, "login", &PamSettings::default());
        assert_eq!((login.timeout, login.on_close), (5, OnClose::Retain));
    }

    #[test]
    fn the_example_file_parses_and_explains_every_option() {
        let text = include_str!("../../conf/pam_pag.toml");
        let config = Config::parse(text, Path::new("conf/pam_pag.toml")).unwrap();
        assert_eq!(merge(&config.pam, "sshd", &PamSettings::default()), Options::default());
        for spec in ARGUMENTS {
            let key = match spec.name {
                "config" => continue,
                "program_arg" => "program_args",
                name => name,
            };
            assert!(
                text.contains(&format!("\n{key} = ")) || text.contains(&format!("\n# {key} = ")),
                "conf/pam_pag.toml does not show `{key}`"
            );
        }
    }

    #[test]
    fn explicit_config_file_must_exist() {
        let a = parse_arguments(&args(&["config=/nonexistent/pam_pag.toml"])).unwrap();
        let e = resolve(&a, "sshd").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/pam_pag.toml: cannot read the configuration named by config=: "),
            "{e}"
        );
    }
}
