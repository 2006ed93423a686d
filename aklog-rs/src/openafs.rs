//! Whether an OpenAFS cache manager runs on this host, for a one-line note
//! from aklog and tokens: OpenAFS's afsd keeps its tokens in its kernel
//! module and ignores kAFS `rxrpc` keys, so on such a host our tokens do not
//! reach /afs and the user wants OpenAFS's aklog (openafs-krb5) instead.

use std::path::Path;

/// What shows the OpenAFS client, read under `proc` (`/proc`): its
/// `/proc/fs/openafs` directory, or `openafs` among the loaded modules.
pub fn cache_manager(proc: &Path) -> Option<String> {
    let dir = proc.join("fs/openafs");
    if dir.exists() {
        return Some(dir.display().to_string());
    }
    let modules = std::fs::read_to_string(proc.join("modules")).ok()?;
    modules
        .lines()
        .any(|l| l.split_whitespace().next() == Some("openafs"))
        .then(|| "the openafs kernel module".to_owned())
}

/// The note for `program` (on standard error), if OpenAFS's cache manager runs.
pub fn note(program: &str) {
    if let Some(evidence) = cache_manager(Path::new("/proc")) {
        eprintln!(
            "{program}: note: an OpenAFS cache manager runs here ({evidence}); it ignores the kAFS \
             tokens of this {program}: for OpenAFS's /afs use OpenAFS's aklog and tokens (openafs-krb5, openafs-client)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::cache_manager;

    #[test]
    fn finds_the_proc_directory_or_the_module_and_nothing_else() {
        let proc = tempfile::tempdir().unwrap();
        assert_eq!(cache_manager(proc.path()), None);
        std::fs::write(proc.path().join("modules"), "openafsx 1 0 - Live 0x0\nrxrpc 2 0 - Live 0x0\n")
            .unwrap();
        assert_eq!(cache_manager(proc.path()), None);
        std::fs::write(proc.path().join("modules"), "openafs 3198976 0 - Live 0x0 (POE)\n").unwrap();
        assert_eq!(cache_manager(proc.path()).as_deref(), Some("the openafs kernel module"));
        std::fs::remove_file(proc.path().join("modules")).unwrap();
        std::fs::create_dir_all(proc.path().join("fs/openafs")).unwrap();
        assert!(cache_manager(proc.path()).unwrap().ends_with("fs/openafs"));
    }
}
