//! Memory per cached login: each daemon's resident memory before and after
//! `logins` more logins have cached a TGT and one service ticket.
//!
//! A "login" here is a uid of its own (uids [`FIRST_UID`].. with no passwd
//! entry, run through setpriv; both daemons key on the peer's uid alone),
//! kinit alice then kvno the service. Why distinct uids: in pag-kcm a login
//! of a tagged PAG gets a collection of its own, and so does each uid; a
//! collection of its own per login is what a login costs, so N uids with
//! one cache each stand for N logins (without N live PAGs and their tags).
//! N caches in one collection would not: pag-kcm bounds a collection to 16
//! caches (`[kcm] max_caches`), and would share one collection's overhead.
//! sssd-kcm's per-uid collections are the same thing in its terms.
//!
//! Both daemons are filled at once (two shells), from the same KDC.

use std::process::Stdio;
use std::time::{Duration, Instant};

use pag_tests::container::{shell_quote, As};
use pag_tests::stats::proc_field;

use crate::site::{Site, PAG, PAG_STATE_DIR, PASSWORD, SERVICE, SSSD, SSSD_STATE_DIR, USER};
use crate::timing::Backend;

/// The first uid of the fill (far from the container harness's leased
/// 61100-61999 and from any account).
pub const FIRST_UID: u32 = 3_000_000;

/// Resident memory of a process, kB (/proc/PID/status).
#[derive(Clone, Copy, Debug, Default)]
pub struct Rss {
    pub total: u64,
    pub anon: u64,
    pub file: u64,
}

/// Disk (or tmpfs) a daemon's state takes.
#[derive(Clone, Debug, Default)]
pub struct Stored {
    pub dir: &'static str,
    pub files: u64,
    pub bytes: u64,
    pub allocated_kb: u64,
}

pub struct Measured {
    pub name: &'static str,
    pub before: Rss,
    pub after: Rss,
    pub stored_before: Stored,
    pub stored: Stored,
    /// Wall time of the fill (both fills run at once, against one KDC).
    pub fill: Duration,
}

impl Measured {
    /// kB per login of one of the figures.
    pub fn per_login(&self, logins: usize, f: fn(&Rss) -> u64) -> f64 {
        (f(&self.after) as f64 - f(&self.before) as f64) / logins as f64
    }
}

fn rss(site: &Site, pid: u32) -> Result<Rss, String> {
    let path = format!("/proc/{pid}/status");
    let out = site.ct.exec(&As::Root, &["cat", &path]).map_err(|e| e.to_string())?;
    let field = |name: &str| -> Result<u64, String> {
        proc_field(&out.stdout, name).ok_or_else(|| format!("{path}: no {name}: {out:?}"))
    };
    Ok(Rss { total: field("VmRSS")?, anon: field("RssAnon")?, file: field("RssFile")? })
}

fn stored(site: &Site, dir: &'static str) -> Result<Stored, String> {
    let script = format!(
        "find {dir} -type f | wc -l; du -s --apparent-size -B1 {dir} | cut -f1; du -sk {dir} | cut -f1"
    );
    let out = site.ct.sh(&As::Root, &script).map_err(|e| e.to_string())?;
    let nums: Vec<u64> = out.stdout.lines().filter_map(|l| l.trim().parse().ok()).collect();
    let [files, bytes, allocated_kb] = nums[..] else {
        return Err(format!("sizing {dir}: {out:?}"));
    };
    Ok(Stored { dir, files, bytes, allocated_kb })
}

/// The shell loop logging `logins` uids in to `backend`, run as root; it
/// ends with klist of the last uid (which must show the service).
fn fill_script(backend: &Backend, logins: usize) -> String {
    let conf = shell_quote(&backend.krb5_config);
    format!(
        "run_as() {{ setpriv --reuid $u --regid $u --clear-groups env -i PATH=/usr/bin:/bin KRB5_CONFIG={conf} \"$@\"; }}\n\
         i=0\n\
         while [ $i -lt {logins} ]; do\n\
         \x20 u=$(({FIRST_UID} + i))\n\
         \x20 echo '{PASSWORD}' | run_as kinit {USER} >/dev/null || {{ echo \"kinit as uid $u failed\" >&2; exit 1; }}\n\
         \x20 run_as kvno {SERVICE} >/dev/null || {{ echo \"kvno as uid $u failed\" >&2; exit 1; }}\n\
         \x20 i=$((i + 1))\n\
         done\n\
         u=$(({FIRST_UID} + {logins} - 1))\n\
         run_as klist\n"
    )
}

/// Fill both daemons with `logins` logins each and measure them.
pub fn measure(site: &Site, logins: usize) -> Result<Vec<Measured>, String> {
    let daemons = [(PAG, PAG_STATE_DIR), (SSSD, SSSD_STATE_DIR)];
    let mut before = Vec::new();
    for (name, dir) in daemons {
        before.push((rss(site, site.backend(name).daemon_pid.expect("a daemon"))?, stored(site, dir)?));
    }
    let started = Instant::now();
    let mut children = Vec::new();
    for (name, _) in daemons {
        let script = fill_script(site.backend(name), logins);
        let child = site
            .ct
            .command(&As::Root, &["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("filling {name}: {e}"))?;
        children.push((name, child));
    }
    let mut fills = Vec::new();
    for (name, child) in children {
        let out = child.wait_with_output().map_err(|e| format!("filling {name}: {e}"))?;
        fills.push(started.elapsed());
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !stdout.contains(&format!("{SERVICE}@")) {
            return Err(format!(
                "filling {name} with {logins} logins: {}\n{stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let mut measured = Vec::new();
    for (((name, dir), (before, stored_before)), fill) in daemons.into_iter().zip(before).zip(fills) {
        let after = rss(site, site.backend(name).daemon_pid.expect("a daemon"))?;
        measured.push(Measured { name, before, after, stored_before, stored: stored(site, dir)?, fill });
    }
    Ok(measured)
}
