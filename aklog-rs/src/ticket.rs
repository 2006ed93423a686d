//! From the default credentials cache to an rxkad token for one cell.

use pag::token::rxrpc::{RxkadToken, KVNO_KERBEROS5};
use pag::token::{KeyType, Token};

use crate::exit::{Exit, Failure};
use crate::kdf;
use crate::krb5::{code, Ccache, Context, Krb5Error};

/// The user's credentials: the default cache and its client principal.
pub struct Credentials<'c> {
    context: &'c Context,
    ccache: Ccache<'c>,
    client: crate::krb5::Principal<'c>,
    /// The client principal as text.
    pub client_name: String,
    /// The cache's full name, for messages.
    pub ccache_name: String,
}

/// What was fetched for one cell, for `-d` output and the tests.
#[derive(Debug)]
pub struct Fetched {
    /// The token (key type decided later, when it is stored).
    pub token: Token,
    /// The service principal that worked.
    pub service: String,
    /// The Kerberos session key's enctype.
    pub enctype: i32,
}

/// How KRB5CCNAME is set, for messages: users fix a wrong cache there.
fn krb5ccname() -> String {
    match std::env::var_os("KRB5CCNAME") {
        Some(v) => format!("KRB5CCNAME={}", v.to_string_lossy()),
        None => "KRB5CCNAME is not set".to_owned(),
    }
}

impl<'c> Credentials<'c> {
    /// Open the default cache and read its principal.
    pub fn open(context: &'c Context) -> Result<Self, Failure> {
        let cache_desc = || context.default_ccache_name().unwrap_or_else(|| "the default cache".to_owned());
        let no_creds = |e: &Krb5Error| {
            Failure::new(
                Exit::Kerberos,
                format!(
                    "no Kerberos credentials in {} ({}): {e}; run kinit, or point KRB5CCNAME at your cache",
                    cache_desc(),
                    krb5ccname()
                ),
            )
        };
        let ccache = context.default_ccache().map_err(|e| no_creds(&e))?;
        Self::from_cache(context, ccache, cache_desc(), no_creds)
    }

    /// Open the cache called `name` (the cache a renewer keeps).
    pub fn open_named(context: &'c Context, name: &str) -> Result<Self, Failure> {
        let no_creds =
            |e: &Krb5Error| Failure::new(Exit::Kerberos, format!("no Kerberos credentials in {name}: {e}"));
        let ccache = context.resolve_ccache(name).map_err(|e| no_creds(&e))?;
        Self::from_cache(context, ccache, name.to_owned(), no_creds)
    }

    fn from_cache(
        context: &'c Context,
        ccache: Ccache<'c>,
        described: String,
        no_creds: impl Fn(&Krb5Error) -> Failure,
    ) -> Result<Self, Failure> {
        let client = ccache.principal().map_err(|e| no_creds(&e))?;
        let client_name = client.name().map_err(|e| Failure::new(Exit::Kerberos, e.to_string()))?;
        let ccache_name = ccache.full_name().unwrap_or(described);
        Ok(Credentials { context, ccache, client, client_name, ccache_name })
    }

    /// A token for `cell` in `realm`, trying the service principals in order
    /// and moving on only when the KDC does not know one.
    pub fn token_for(&self, cell: &str, realm: &str) -> Result<Fetched, Failure> {
        let services = crate::cells::service_principals(cell, realm);
        for service in &services {
            let server = self
                .context
                .parse_name(service)
                .map_err(|e| Failure::new(Exit::Kerberos, format!("{service}: {e}")))?;
            let creds = match self.ccache.get_credentials(&self.client, &server) {
                Ok(c) => c,
                Err(e) if e.code == code::SERVICE_UNKNOWN => {
                    // The local KDC's "unknown" may be about krbtgt/REALM, not
                    // the AFS service: then no other name will do better.
                    if let Some(failure) = self.no_path(cell, realm, service) {
                        return Err(failure);
                    }
                    continue;
                }
                Err(e) => return Err(self.explain(cell, realm, service, &e)),
            };
            let session_key = kdf::rxkad_session_key(creds.session_enctype(), creds.session_key())
                .map_err(|e| Failure::new(Exit::Token, format!("cell {cell}: {e}")))?;
            let rxkad = RxkadToken {
                expiry: creds.end_time(),
                kvno: KVNO_KERBEROS5,
                session_key,
                ticket: creds.ticket().to_vec(),
            };
            // The type is only a placeholder until the store picks one.
            let token = Token::new(cell, KeyType::User, rxkad, Some(self.client_name.clone()));
            return Ok(Fetched { token, service: service.clone(), enctype: creds.session_enctype() });
        }
        Err(Failure::new(
            Exit::Kerberos,
            format!(
                "cell {cell}: the KDC of realm {realm} knows no AFS service principal for it (tried {})",
                services.join(", ")
            ),
        ))
    }

    /// The client's realm: what follows the last `@` of its name.
    fn client_realm(&self) -> &str {
        self.client_name.rsplit_once('@').map_or("", |(_, realm)| realm)
    }

    /// When `realm` is not the client's, whether the client's KDC has a
    /// cross-realm key for it; a failure saying so if it has none. Asked
    /// only after a service was "unknown", because MIT libkrb5 reports the
    /// local KDC's refusal of krbtgt/REALM@LOCAL with the same code as an
    /// unknown service in the remote realm. Paths through an intermediate
    /// realm ([capaths]) are not followed: with no direct key the message
    /// says so.
    fn no_path(&self, cell: &str, realm: &str, service: &str) -> Option<Failure> {
        let local = self.client_realm();
        if local.is_empty() || local == realm {
            return None;
        }
        let tgs = format!("krbtgt/{realm}@{local}");
        let server = self.context.parse_name(&tgs).ok()?;
        match self.ccache.get_credentials(&self.client, &server) {
            Err(e) if e.code == code::SERVICE_UNKNOWN => Some(Failure::new(
                Exit::Kerberos,
                format!(
                    "cell {cell}: your KDC ({local}) has no cross-realm path to {realm} (it knows no \
                     {tgs}), so there is no ticket for {service}; if the cell is in another realm, name it \
                     with -k REALM or map the cell in krb5.conf's [domain_realm]"
                ),
            )),
            _ => None,
        }
    }

    /// A realm this host cannot find a KDC for, in words: whether krb5.conf
    /// names none and whether DNS was asked. None when krb5.conf does name
    /// a KDC (then the KDC did not answer).
    fn unknown_realm(&self, cell: &str, realm: &str) -> Option<String> {
        if self.context.realm_has_kdc(realm) != Some(false) {
            return None;
        }
        let dns = if self.context.dns_lookup_kdc() {
            "DNS has no KDC records for it either"
        } else {
            "DNS lookup is off"
        };
        Some(format!(
            "cell {cell}: no Kerberos realm {realm} known to this host (krb5.conf has no KDC for it and {dns})"
        ))
    }

    /// A Kerberos failure in words a user can act on.
    fn explain(&self, cell: &str, realm: &str, service: &str, e: &Krb5Error) -> Failure {
        let message = match e.code {
            code::TICKET_EXPIRED => format!(
                "your Kerberos credentials in {} have expired ({}): {e}; run kinit",
                self.ccache_name,
                krb5ccname()
            ),
            code::CC_NOTFOUND | code::CC_END => format!(
                "no usable ticket-granting ticket for {} in {} ({}): {e}; run kinit",
                self.client_name,
                self.ccache_name,
                krb5ccname()
            ),
            code::KDC_UNREACH | code::REALM_CANT_RESOLVE | code::REALM_UNKNOWN => {
                self.unknown_realm(cell, realm).unwrap_or_else(|| {
                    format!("cell {cell}: cannot reach a KDC of realm {realm} for {service}: {e}")
                })
            }
            _ => format!("cell {cell}: getting a ticket for {service}: {e}"),
        };
        Failure::new(Exit::Kerberos, message)
    }
}
