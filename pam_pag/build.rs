//! Link the cdylib with a version script so that only the `pam_sm_*` hooks
//! are exported, and mark it `-z nodelete`: libpam dlcloses modules at
//! pam_end, and reloading a Rust module (and libgcc_s with it) on every
//! login was the whole of its extra cost (DESIGN.md, "Benchmarks"); nodelete
//! also keeps thread-local destructors from running after unload.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=pam_pag.map");
    println!("cargo:rerun-if-env-changed=PAM_PAG_AKLOG");
    println!("cargo:rerun-if-env-changed=PAM_PAG_NODELETE");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={dir}/pam_pag.map");
    // PAM_PAG_NODELETE=0 builds without it, for the before/after benchmark.
    if std::env::var("PAM_PAG_NODELETE").as_deref() != Ok("0") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
}
