//! A seccomp filter that makes the key management system calls fail with a
//! chosen errno, for tests of "keyrings blocked" behaviour.

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

/// Install, for the calling thread and everything it starts, a filter under
/// which keyctl, add_key and request_key fail with `errno`. Sets
/// no_new_privs, as any unprivileged seccomp filter must.
pub fn block_keyrings(errno: i32) -> Result<(), String> {
    let arch: TargetArch = std::env::consts::ARCH.try_into().map_err(|e| format!("{e:?}"))?;
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> =
        [libc::SYS_keyctl, libc::SYS_add_key, libc::SYS_request_key]
            .into_iter()
            .map(|nr| (nr, Vec::new()))
            .collect();
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno as u32), arch)
        .map_err(|e| e.to_string())?;
    let program: BpfProgram = filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())?;
    seccompiler::apply_filter(&program).map_err(|e| e.to_string())
}
