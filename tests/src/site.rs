//! A small Kerberos + AFS-token login site in a test container: the pieces
//! the end-to-end scenarios and the demo share. The container holds users
//! and an sshd; a real MIT KDC (`kdc`) listens on the container's own
//! 127.0.0.1; `/etc/krb5.conf` inside points at it; pam_pag and aklog are
//! the ones this workspace built.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use crate::container::{built_binary, Container, Error, PamStack, Result};
use crate::kdc::Kdc;

/// The AFS cell of the site.
pub const CELL: &str = "example.org";
/// Its Kerberos realm (the cell in upper case, as aklog guesses it).
pub const REALM: &str = "EXAMPLE.ORG";

/// Paths of the workspace's built programs.
#[derive(Clone, Debug)]
pub struct Built {
    /// `libpam_pag.so`.
    pub pam_pag: PathBuf,
    /// `aklog`.
    pub aklog: PathBuf,
    /// `tokens`.
    pub tokens: PathBuf,
    /// `unlog`.
    pub unlog: PathBuf,
}

impl Built {
    /// Find them next to the running executable (see [`built_binary`]).
    pub fn find() -> Result<Self> {
        Ok(Self {
            pam_pag: built_binary("libpam_pag.so")?,
            aklog: built_binary("aklog")?,
            tokens: built_binary("tokens")?,
            unlog: built_binary("unlog")?,
        })
    }

    /// The pam.d module field for pam_pag: the module's path, our aklog as
    /// the token program, the site's cell, then `args`.
    pub fn pam_pag(&self, args: &str) -> String {
        format!("{} program={} cells={CELL} {args}", self.pam_pag.display(), self.aklog.display())
            .trim_end()
            .to_owned()
    }

    /// `tokens` as a shell word.
    pub fn tokens(&self) -> String {
        self.tokens.display().to_string()
    }
}

/// The shipped `conf/pam.d/SERVICE` stack with pam_pag.so pointing at the
/// built module (its options come from pam_pag.toml: the shipped stacks
/// carry no arguments).
pub fn shipped_stack(built: &Built, service: &str) -> PamStack {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/pam.d").join(service);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    PamStack::from_text(&text).replace_module("pam_pag.so", &built.pam_pag.display().to_string())
}

/// The sshd stack of a Kerberos site: password through pam_krb5 (which
/// leaves KRB5CCNAME in the PAM environment), pam_unix as the fallback and
/// for accounts, then pam_pag (with `pag_args`) making the PAG and running
/// aklog in it.
pub fn kerberos_stack(built: &Built, pag_args: &str) -> PamStack {
    PamStack::new()
        .auth("sufficient", "pam_krb5.so")
        .extend(PamStack::unix_auth())
        .session("optional", "pam_krb5.so")
        .session("required", &built.pam_pag(pag_args))
        .session("required", "pam_unix.so")
}

/// The stack of a login without Kerberos (public key, or root's `su`):
/// pam_unix for auth and accounts, then pam_pag (with `pag_args`) and
/// pam_unix for the session.
pub fn pag_stack(built: &Built, pag_args: &str) -> PamStack {
    PamStack::unix_auth().session("required", &built.pam_pag(pag_args)).session("required", "pam_unix.so")
}

/// Start a KDC for [`REALM`] on the container's loopback with the AFS
/// service principal of [`CELL`], and make it the container's
/// `/etc/krb5.conf`. Stop it (drop it) before tearing the container down.
pub fn start_kdc(ct: &Container) -> Result<Kdc> {
    let kdc = ct.in_network_namespace(|| Kdc::start(REALM))?.map_err(|e| Error::new(format!("KDC: {e}")))?;
    kdc.add_random_principal(&format!("afs/{CELL}")).map_err(|e| Error::new(format!("KDC: {e}")))?;
    let conf = std::fs::read_to_string(kdc.krb5_conf())
        .map_err(|e| Error::new(format!("{}: {e}", kdc.krb5_conf().display())))?;
    ct.write_file("/etc/krb5.conf", &conf, 0o644)?;
    Ok(kdc)
}

/// Give `user` a Kerberos principal with `password`.
pub fn add_user(kdc: &Kdc, user: &str, password: &str) -> Result<()> {
    kdc.add_principal(user, password).map_err(|e| Error::new(format!("KDC: {e}")))
}
