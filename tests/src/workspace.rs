//! Finding what cargo built in this workspace from a test or bench program.

use std::path::PathBuf;

/// A file cargo built in this workspace (a binary or `libpam_pag.so`): in
/// the directory of the running executable or its parent, which is where
/// cargo puts them for tests (`target/debug/deps/..` -> `target/debug`).
/// Binaries of other packages are there after `cargo build --workspace`.
pub fn built_binary(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    exe.ancestors().skip(1).take(2).map(|dir| dir.join(name)).find(|p| p.is_file()).ok_or_else(|| {
        format!(
            "{name} not found next to {}; build the workspace first (cargo build --workspace)",
            exe.display()
        )
    })
}
