//! Where `status` and `peer serve` find the tag registry (which login a tag
//! gid was handed to; pam_pag fills it, see `pag::peer::registry`).

use std::path::PathBuf;

use pag::peer::registry::DEFAULT_DIR;

/// The environment variable that names another registry directory (tests,
/// or a site that moved it); a command's `--tag-registry` wins over it.
pub const ENV: &str = "PAG_TAG_REGISTRY";

/// The registry directory: `option`, else `$PAG_TAG_REGISTRY`, else the
/// default one.
pub fn dir(option: Option<&PathBuf>) -> PathBuf {
    match option {
        Some(dir) => dir.clone(),
        None => {
            std::env::var_os(ENV).filter(|v| !v.is_empty()).map_or_else(|| DEFAULT_DIR.into(), PathBuf::from)
        }
    }
}

/// Why `dir` cannot be consulted, if it cannot: a lookup that finds nothing
/// must not be mistaken for "no tag" when the caller simply may not read it
/// (the registry is root's alone, mode 0700).
pub fn unreadable(dir: &std::path::Path) -> Option<String> {
    // stat(2) of `dir/.` needs search permission on `dir`, exactly what a
    // lookup (open of `dir/<gid>`) needs.
    match std::fs::metadata(dir.join(".")) {
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Some(format!("no tag registry at {}: no login has been given a tag", dir.display()))
        }
        Err(e) => Some(format!(
            "the tag registry {} cannot be read: {}",
            dir.display(),
            pag::error::describe_io(&e)
        )),
    }
}
