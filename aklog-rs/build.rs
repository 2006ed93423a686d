//! Generate bindings to MIT libkrb5 from the installed <krb5.h>, limited to
//! what aklog calls, so a libkrb5 upgrade that changes a struct is caught at
//! build time rather than by a crash.

use std::env;
use std::path::PathBuf;

/// Functions aklog calls.
const FUNCTIONS: &[&str] = &[
    "krb5_init_context",
    "krb5_free_context",
    "krb5_get_error_message",
    "krb5_free_error_message",
    "krb5_cc_default",
    "krb5_cc_default_name",
    "krb5_cc_close",
    "krb5_cc_get_principal",
    "krb5_cc_get_full_name",
    "krb5_free_string",
    "krb5_parse_name",
    "krb5_unparse_name",
    "krb5_free_unparsed_name",
    "krb5_free_principal",
    "krb5_get_credentials",
    "krb5_free_creds",
    "krb5_get_host_realm",
    "krb5_free_host_realm",
    "krb5_timeofday",
    // krb5.conf facts for messages: does a realm have a KDC, is DNS lookup on.
    "krb5_get_profile",
    "profile_release",
    "profile_get_values",
    "profile_free_list",
    "profile_get_boolean",
    // Renewal (aklog --renew): caches written, TGTs renewed or fetched with a keytab.
    "krb5_cc_resolve",
    "krb5_cc_initialize",
    "krb5_cc_store_cred",
    "krb5_cc_destroy",
    "krb5_cc_retrieve_cred",
    "krb5_free_cred_contents",
    "krb5_get_renewed_creds",
    "krb5_get_init_creds_keytab",
    "krb5_kt_resolve",
    "krb5_kt_close",
    "krb5_kt_start_seq_get",
    "krb5_kt_next_entry",
    "krb5_kt_end_seq_get",
    "krb5_free_keytab_entry_contents",
    "krb5_copy_principal",
    // pam_pag's `kcm` (PAG_MOVE_TO_KCM): the login's tickets copied into KCM:.
    "krb5_cc_copy_creds",
];

/// Error codes and enctypes aklog reacts to.
const CONSTANTS: &[&str] = &[
    "KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN",
    "KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN",
    "KRB5KRB_AP_ERR_TKT_EXPIRED",
    "KRB5KRB_AP_ERR_SKEW",
    "KRB5_CC_NOTFOUND",
    "KRB5_CC_END",
    "KRB5_FCC_NOFILE",
    "KRB5_KDC_UNREACH",
    "KRB5_REALM_CANT_RESOLVE",
    "KRB5_REALM_UNKNOWN",
    "PROF_NO_SECTION",
    "PROF_NO_RELATION",
    "KRB5_NO_TKT_IN_RLM",
    "ENCTYPE_DES_CBC_CRC",
    "ENCTYPE_DES_CBC_MD4",
    "ENCTYPE_DES_CBC_MD5",
    "ENCTYPE_DES3_CBC_SHA",
    "ENCTYPE_DES3_CBC_SHA1",
    "TKT_FLG_RENEWABLE",
    "KRB5_KCM_NO_SERVER",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/krb5/wrapper.h");
    println!("cargo:rustc-link-lib=krb5");

    let mut builder = bindgen::Builder::default()
        .header("src/krb5/wrapper.h")
        .allowlist_type("krb5_creds")
        .allowlist_type("krb5_keyblock")
        .allowlist_type("krb5_data")
        .allowlist_type("krb5_keytab_entry")
        .layout_tests(true)
        .derive_default(true)
        .generate_comments(false);
    for f in FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    for c in CONSTANTS {
        builder = builder.allowlist_var(c);
    }
    let bindings = builder
        .generate()
        .expect("generating libkrb5 bindings from <krb5.h> (install libkrb5-dev and libclang-dev)");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings.write_to_file(out.join("krb5_bindings.rs")).expect("writing the libkrb5 bindings");
}
