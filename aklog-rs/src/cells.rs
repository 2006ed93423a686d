//! Which cells aklog works on, and the Kerberos realm of each.
//!
//! Cells: the command line, else the `[aklog]` section of the shared TOML
//! file, else OpenAFS's /etc/openafs/ThisCell, else kAFS's
//! /proc/net/afs/rootcell. Realm: `-k`, else the file's `realm`, else
//! krb5.conf's domain-to-realm mapping of the cell name, else the cell name
//! in upper case (OpenAFS aklog's rule).

use std::path::{Component, Path, PathBuf};

use crate::exit::{Exit, Failure};
use crate::krb5::Context;

/// OpenAFS's local cell file.
pub const THIS_CELL: &str = "/etc/openafs/ThisCell";
/// OpenAFS's variable naming the directory of the client's configuration
/// files in place of /etc/openafs.
pub const AFSCONF_VAR: &str = "AFSCONF";

/// The local cell file: `$AFSCONF/ThisCell` where AFSCONF is set (as
/// OpenAFS's tools read it), else [`THIS_CELL`].
pub fn this_cell_file() -> PathBuf {
    match std::env::var_os(AFSCONF_VAR).filter(|d| !d.is_empty()) {
        Some(dir) => Path::new(&dir).join("ThisCell"),
        None => PathBuf::from(THIS_CELL),
    }
}
/// kAFS's root cell.
pub const ROOT_CELL: &str = "/proc/net/afs/rootcell";

/// Where the cells came from, for `-d` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellSource {
    /// `-c`/`-cell`, positional arguments or `-path`.
    CommandLine,
    /// The `[aklog]` section.
    Config,
    /// A file naming the local cell.
    File(PathBuf),
}

/// The cells to use: `given` if any, else `configured`, else the first of
/// `local_cell_files` that names one.
pub fn choose(
    given: &[String],
    configured: &[String],
    local_cell_files: &[&Path],
) -> Result<(Vec<String>, CellSource), Failure> {
    if !given.is_empty() {
        return Ok((dedup(given), CellSource::CommandLine));
    }
    if !configured.is_empty() {
        return Ok((dedup(configured), CellSource::Config));
    }
    for file in local_cell_files {
        if let Some(cell) = read_cell_file(file) {
            return Ok((vec![cell], CellSource::File(file.to_path_buf())));
        }
    }
    let tried: Vec<String> = local_cell_files.iter().map(|p| p.display().to_string()).collect();
    Err(Failure::new(
        Exit::AfsConfig,
        format!(
            "no cell given: use -c CELL, set cells in the [aklog] section of {}, or name the local cell in {}",
            pag::config::tool_path().display(),
            tried.join(" or ")
        ),
    ))
}

/// Cells compare without case (kAFS stores them lower case); keep the first
/// spelling of each.
fn dedup(cells: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in cells {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(c)) {
            out.push(c.clone());
        }
    }
    out
}

/// The first line of a cell file, trimmed; kAFS's rootcell may be empty or
/// say "none" when no root cell is set.
fn read_cell_file(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let cell = text.lines().next()?.trim();
    if cell.is_empty() || cell == "none" || pag::config::check_name("cell", cell).is_some() {
        return None;
    }
    Some(cell.to_owned())
}

/// The cell a path is in: kAFS mounts cells at /afs/<cell> (and the
/// read-write root at /afs/.<cell>).
pub fn cell_of_path(path: &Path) -> Result<String, Failure> {
    let bad = |why: &str| Failure::new(Exit::BadPath, format!("{}: {why}", path.display()));
    let full = std::fs::canonicalize(path).map_err(|e| bad(&pag::error::describe_io(&e)))?;
    let mut parts = full.components();
    let in_afs =
        parts.next() == Some(Component::RootDir) && parts.next() == Some(Component::Normal("afs".as_ref()));
    let cell = match (in_afs, parts.next()) {
        (true, Some(Component::Normal(cell))) => cell.to_string_lossy().trim_start_matches('.').to_owned(),
        _ => return Err(bad("not in AFS (expected a path under /afs/CELL)")),
    };
    if pag::config::check_name("cell", &cell).is_some() {
        return Err(bad("not in AFS (expected a path under /afs/CELL)"));
    }
    Ok(cell)
}

/// The realm of `cell`: `explicit` (from `-k` or the file), else the
/// domain-to-realm mapping, else the cell in upper case.
pub fn realm_for(context: &Context, cell: &str, explicit: Option<&str>) -> String {
    if let Some(r) = explicit {
        return r.to_owned();
    }
    // An error or the empty "referral realm" means krb5.conf has no mapping.
    let mapped = context.host_realms(cell).ok().and_then(|realms| realms.into_iter().find(|r| !r.is_empty()));
    mapped.unwrap_or_else(|| cell.to_ascii_uppercase())
}

/// The service principals to try for `cell` in `realm`, in OpenAFS order:
/// afs/<cell>@<REALM>, then afs@<REALM> when the realm is the cell's name.
pub fn service_principals(cell: &str, realm: &str) -> Vec<String> {
    let mut names = vec![format!("afs/{}@{realm}", cell.to_ascii_lowercase())];
    if realm.eq_ignore_ascii_case(cell) {
        names.push(format!("afs@{realm}"));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_order_follows_openafs() {
        assert_eq!(
            service_principals("Example.ORG", "EXAMPLE.ORG"),
            ["afs/example.org@EXAMPLE.ORG", "afs@EXAMPLE.ORG"]
        );
        assert_eq!(service_principals("example.org", "OTHER.REALM"), ["afs/example.org@OTHER.REALM"]);
    }

    #[test]
    fn sources_in_order() {
        let dir = std::env::temp_dir().join(format!("aklog-cells-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty");
        let this_cell = dir.join("ThisCell");
        std::fs::write(&empty, "\n").unwrap();
        std::fs::write(&this_cell, "local.cell\n").unwrap();
        let files = [empty.as_path(), this_cell.as_path()];
        let s = |v: &[&str]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();

        let (cells, source) = choose(&s(&["a", "A", "b"]), &s(&["c"]), &files).unwrap();
        assert_eq!((cells, source), (s(&["a", "b"]), CellSource::CommandLine));
        let (cells, source) = choose(&[], &s(&["c"]), &files).unwrap();
        assert_eq!((cells, source), (s(&["c"]), CellSource::Config));
        let (cells, source) = choose(&[], &[], &files).unwrap();
        assert_eq!((cells, source), (s(&["local.cell"]), CellSource::File(this_cell.clone())));
        let e = choose(&[], &[], &[empty.as_path()]).unwrap_err();
        assert_eq!(e.exit, Exit::AfsConfig);
        assert!(e.message.contains("no cell given"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn paths_outside_afs_are_bad() {
        let e = cell_of_path(Path::new("/")).unwrap_err();
        assert_eq!(e.exit, Exit::BadPath);
        let e = cell_of_path(Path::new("/nonexistent/x")).unwrap_err();
        assert_eq!(e.exit, Exit::BadPath);
    }
}
