//! `[pagsh]`: defaults for `pagsh`; its command line overrides them.

use serde::Deserialize;

/// The `[pagsh]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagshConfig {
    /// Link the user keyring into each new PAG, as pam_keyinit does, so
    /// keys kept there (for example `KEYRING:user:` ccaches) stay reachable.
    pub link_user_keyring: bool,
    /// Run the program without a PAG (with a warning) where keyrings are
    /// unavailable, as OpenAFS pagsh does; `--allow-no-pag` sets it too.
    pub allow_no_pag: bool,
}

impl Default for PagshConfig {
    fn default() -> Self {
        PagshConfig { link_user_keyring: true, allow_no_pag: false }
    }
}
