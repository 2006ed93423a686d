//! pag-kcm: a KCM daemon (the protocol MIT krb5's `KCM:` caches speak) that
//! keeps each login's Kerberos caches apart, keyed by (uid, PAG).
#![forbid(unsafe_code)]
