//! The daemon's loop: one thread polling the listening socket, every
//! connection and a signalfd. Requests are answered from memory in
//! microseconds, so one thread serves everyone; no read or write ever
//! blocks, so a slow or stuck client holds only its own connection, which
//! is closed at its deadline.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use pag::config::KcmConfig;

use crate::conn::{Conn, Step};
use crate::identity::Identifier;
use crate::log::Log;
use crate::ops::{dispatch, Uuids};
use crate::proto::frame::{self, FrameError, PREFIX};
use crate::store::{persist, Key, Scope, Store};

/// Largest request body: a REPLACE of a big cache fits; the client has no
/// limit of its own, so this is ours.
pub const MAX_REQUEST: usize = 1 << 20;

/// Bytes the connections of one uid may hold at once: requests being read
/// (reserved in full when their length arrives) and replies the client has
/// not taken. Without it, a user's many connections, each announcing a
/// large request or leaving a large reply unread, would hold gigabytes.
pub const MAX_HELD_PER_UID: usize = 16 << 20;
/// The same for all connections together.
pub const MAX_HELD_TOTAL: usize = 128 << 20;

/// How the daemon runs.
pub struct Settings {
    pub limits: KcmConfig,
    pub state_dir: PathBuf,
    pub gc_interval: Duration,
    pub identifier: Identifier,
}

pub struct Server {
    listener: UnixListener,
    conns: Vec<Conn>,
    per_uid: HashMap<u32, usize>,
    store: Store,
    uuids: Uuids,
    settings: Settings,
    log: Log,
    next_sweep: Instant,
}

impl Server {
    /// A server on `listener`, with the saved state loaded.
    pub fn new(listener: UnixListener, settings: Settings, log: Log) -> Self {
        let mut server = Server {
            listener,
            conns: Vec::new(),
            per_uid: HashMap::new(),
            store: Store::new(settings.limits.clone()),
            uuids: Uuids::new(),
            settings,
            log,
            next_sweep: Instant::now(),
        };
        server.load();
        server
    }

    fn load(&mut self) {
        let dir = &self.settings.state_dir;
        let max_file = self.settings.limits.max_collection_bytes as u64 * 2 + 4096;
        let (loaded, problems) = persist::load_all(dir, max_file, crate::ops::MAX_NAME);
        for p in problems {
            self.log.say(&format!("state: {p}"));
        }
        let mut kept = 0;
        for (path, key, collection) in loaded {
            match self.store.insert(key, collection) {
                Ok(()) => kept += 1,
                Err(bound) => {
                    self.log.say(&format!("state: {}: over {}; removed", path.display(), bound.key()));
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        if kept > 0 {
            self.log.say(&format!("state: {kept} collections loaded from {}", dir.display()));
        }
    }

    /// Serve until SIGTERM or SIGINT. SIGHUP (a "reload" by habit) does not
    /// stop it: the configuration is read at start only, which it says.
    pub fn run(&mut self) -> Result<(), String> {
        let mut signals = SigSet::empty();
        for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
            signals.add(s);
        }
        signals.thread_block().map_err(|e| format!("blocking signals: {e}"))?;
        let sfd = SignalFd::with_flags(&signals, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| format!("signalfd: {e}"))?;
        loop {
            let now = Instant::now();
            if now >= self.next_sweep {
                self.sweep();
                self.next_sweep = now + self.settings.gc_interval;
            }
            self.close_expired(now);
            let (stop, listener_ready, conns) = {
                let mut fds = Vec::with_capacity(self.conns.len() + 2);
                fds.push(PollFd::new(sfd.as_fd(), PollFlags::POLLIN));
                // Always accepting: past max_connections a client is closed at
                // once rather than left in a backlog that fills.
                fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
                for c in &self.conns {
                    let flags = if c.writing() { PollFlags::POLLOUT } else { PollFlags::POLLIN };
                    fds.push(PollFd::new(c.stream.as_fd(), flags));
                }
                let wait = self.next_wakeup().saturating_duration_since(Instant::now());
                let timeout = PollTimeout::try_from(wait.as_millis().min(60_000) as i32 + 1)
                    .unwrap_or(PollTimeout::MAX);
                match poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(format!("poll: {e}")),
                }
                let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
                let stop = ready(&fds[0]);
                let listener_ready = ready(&fds[1]);
                let conns: Vec<bool> = fds[2..].iter().map(ready).collect();
                (stop, listener_ready, conns)
            };
            if stop {
                let which = sfd.read_signal().ok().flatten().map(|s| s.ssi_signo).unwrap_or(0);
                if which == Signal::SIGHUP as u32 {
                    self.log.say("SIGHUP: the configuration is read at start only; restart pag-kcm to apply changes (live logins keep their tickets)");
                    continue;
                }
                self.log.say(&format!(
                    "signal {which}: stopping; the state stays in {}",
                    self.settings.state_dir.display()
                ));
                return Ok(());
            }
            // Connections first (indices stay valid: closed ones are removed after).
            let mut closed = Vec::new();
            for (i, ready) in conns.into_iter().enumerate() {
                if ready && !self.serve(i) {
                    closed.push(i);
                }
            }
            for i in closed.into_iter().rev() {
                self.close(i);
            }
            if listener_ready {
                self.accept();
            }
        }
    }

    fn next_wakeup(&self) -> Instant {
        let l = &self.settings.limits;
        let (idle, request) = (Duration::from_secs(l.idle_timeout), Duration::from_secs(l.request_timeout));
        self.conns.iter().map(|c| c.deadline(idle, request)).fold(self.next_sweep, Instant::min)
    }

    fn close_expired(&mut self, now: Instant) {
        let l = &self.settings.limits;
        let (idle, request) = (Duration::from_secs(l.idle_timeout), Duration::from_secs(l.request_timeout));
        for i in (0..self.conns.len()).rev() {
            if self.conns[i].deadline(idle, request) <= now {
                if self.conns[i].busy_since.is_some() {
                    let who = self.conns[i].client.key;
                    self.log
                        .say(&format!("{who}: a request or reply took over {request:?}; connection closed"));
                }
                self.close(i);
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and the like: the backlog waits; say it (rate-limited).
                    self.log.say(&format!("accept: {e}"));
                    return;
                }
            };
            let l = &self.settings.limits;
            if self.conns.len() >= l.max_connections {
                self.log
                    .say(&format!("{} connections open (max_connections): refusing one", self.conns.len()));
                continue;
            }
            let client = match self.settings.identifier.client(&stream) {
                Ok(c) => c,
                Err(e) => {
                    self.log.say(&format!("cannot tell who connected: {e}"));
                    continue;
                }
            };
            let open = self.per_uid.get(&client.key.uid).copied().unwrap_or(0);
            if open >= l.max_uid_connections {
                let uid = client.key.uid;
                self.log.say(&format!(
                    "uid {uid} has {open} connections open (max_uid_connections): refusing one"
                ));
                continue;
            }
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if let Some(note) = &client.note {
                let line = format!(
                    "uid {} pid {}: {}; it gets the per-uid caches",
                    client.key.uid, client.pid, note.text
                );
                if note.odd {
                    self.log.say(&line);
                } else {
                    self.log.trace(&line);
                }
            }
            *self.per_uid.entry(client.key.uid).or_default() += 1;
            self.conns.push(Conn::new(stream, client));
        }
    }

    fn close(&mut self, i: usize) {
        let conn = self.conns.swap_remove(i);
        if let Some(n) = self.per_uid.get_mut(&conn.client.key.uid) {
            *n -= 1;
            if *n == 0 {
                self.per_uid.remove(&conn.client.key.uid);
            }
        }
    }

    /// Serve connection `i` one step: write more of its reply, or read and
    /// answer at most one request (so no client keeps the loop to itself).
    fn serve(&mut self, i: usize) -> bool {
        if self.conns[i].writing() {
            return self.conns[i].flush();
        }
        let key = self.conns[i].client.key;
        let body = loop {
            match self.conns[i].read(MAX_REQUEST) {
                Step::Waiting => return true,
                Step::Close(None) => return false,
                Step::Close(Some(why)) => {
                    let why = match why {
                        FrameError::BadLength(len) => {
                            format!("a request of {len} bytes (over {MAX_REQUEST})")
                        }
                        FrameError::Version(v) => format!("protocol version {v}, not 2"),
                    };
                    self.log.say(&format!("{key}: {why}; connection closed"));
                    return false;
                }
                Step::Announced(len) => {
                    if let Some(bound) = self.over_budget(key.uid, PREFIX + len) {
                        self.log.say(&format!(
                            "{key}: a request of {len} bytes would pass {bound}; connection closed"
                        ));
                        return false;
                    }
                    self.conns[i].take_body(len);
                }
                Step::Request(body) => break body,
                Step::Hello(version) => return self.challenge(i, version),
                Step::Answer(answer) => return self.judge(i, &answer),
            }
        };
        let request = match frame::parse_request(&body) {
            Ok(r) => r,
            Err(_) => {
                self.log.say(&format!("{key}: protocol version {}, not 2; connection closed", body[0]));
                return false;
            }
        };
        let answer = dispatch(&mut self.store, &key, &mut self.uuids, request.op, request.params);
        self.log.trace(&format!(
            "uid={} scope={} op={} -> {}",
            key.uid,
            scope_name(&key),
            request.op.name(),
            answer.code
        ));
        if let Some(bound) = answer.bound {
            let limit = bound.limit(&self.store.limits);
            self.log.say(&format!(
                "{key}: {} refused: over {} = {limit} (raise it in [kcm] of pam_pag.toml)",
                request.op.name(),
                bound.key()
            ));
        }
        if answer.changed {
            if let Err(e) = persist::save(&self.settings.state_dir, &key, self.store.get(&key)) {
                self.log.say(&format!("{key}: saving to {}: {e}", self.settings.state_dir.display()));
            }
        }
        let reply = frame::reply(answer.code, &answer.payload);
        if !self.conns[i].reply(reply) {
            return false;
        }
        // What the client did not take at once stays with us until it does.
        if let Some(bound) = self.over_budget(key.uid, 0) {
            self.log.say(&format!("{key}: replies not taken pass {bound}; connection closed"));
            return false;
        }
        true
    }

    /// Which budget of bytes held by connections ([`MAX_HELD_PER_UID`],
    /// [`MAX_HELD_TOTAL`]) `more` bytes for a connection of `uid` would pass.
    fn over_budget(&self, uid: u32, more: usize) -> Option<&'static str> {
        let (mut of_uid, mut all) = (more, more);
        for c in &self.conns {
            let held = c.held();
            all += held;
            if c.client.key.uid == uid {
                of_uid += held;
            }
        }
        if of_uid > MAX_HELD_PER_UID {
            Some("the bytes one uid's connections may hold (16 MiB)")
        } else if all > MAX_HELD_TOTAL {
            Some("the bytes all connections may hold (128 MiB)")
        } else {
            None
        }
    }

    /// A client offered to prove its PAG: send the challenge.
    fn challenge(&mut self, i: usize, version: u8) -> bool {
        let who = self.conns[i].client.key;
        if version != pag::peer::wire::VERSION {
            self.log.say(&format!(
                "{who}: proof hello version {version}, this daemon speaks 1; connection closed"
            ));
            return false;
        }
        match pag::peer::PendingChallenge::start() {
            Ok((pending, message)) => {
                let conn = &mut self.conns[i];
                conn.challenge = Some(pending);
                conn.reply(message.to_vec())
            }
            Err(e) => {
                self.log.say(&format!("{who}: cannot make a challenge: {e}; connection closed"));
                false
            }
        }
    }

    /// The answer to the challenge: a proved login PAG of the client's uid
    /// decides its collection, over the tag.
    fn judge(&mut self, i: usize, answer: &[u8; pag::peer::wire::RESPONSE_LEN]) -> bool {
        let conn = &mut self.conns[i];
        let Some(pending) = conn.challenge.take() else { return false };
        let client = &mut conn.client;
        let mut peer = pag::peer::Peer { uid: client.key.uid, pid: client.pid, ..Default::default() };
        let result = pending.finish(answer, &mut peer);
        let before = client.key;
        let note = match result {
            Err(e) => Some(format!("checking its proof: {e}")),
            Ok(()) => match self.settings.identifier.proved_scope(&peer) {
                Ok(scope) => {
                    client.key.scope = scope;
                    None
                }
                Err(why) => Some(why),
            },
        };
        let key = client.key;
        if let Some(why) = note {
            self.log.say(&format!("{before} pid {}: no proof ({why}); it keeps {key}", peer.pid));
        } else {
            self.log.trace(&format!("uid={} pid={} proved {key}", key.uid, peer.pid));
        }
        true
    }

    /// Drop the collections of logins that have ended, and close their
    /// connections.
    fn sweep(&mut self) {
        let mut keys = self.store.keys();
        keys.extend(self.conns.iter().map(|c| c.client.key));
        keys.sort();
        keys.dedup();
        for key in keys {
            if matches!(key.scope, Scope::Uid) || self.settings.identifier.still_live(&key) {
                continue;
            }
            self.drop_login(&key);
        }
    }

    fn drop_login(&mut self, key: &Key) {
        let caches = self.store.get(key).map_or(0, |c| c.caches.len());
        self.store.remove(key);
        if let Err(e) = persist::save(&self.settings.state_dir, key, None) {
            self.log.say(&format!("{key}: removing its state file: {e}"));
        }
        // Routine on a login host: a trace line, not a log line.
        self.log.trace(&format!("{key}: the login has ended; its {caches} caches are gone"));
        for i in (0..self.conns.len()).rev() {
            if self.conns[i].client.key == *key {
                self.close(i);
            }
        }
    }
}

fn scope_name(key: &Key) -> String {
    match key.scope {
        Scope::Uid => "uid".into(),
        Scope::Login { pag, .. } => format!("pag{pag}"),
    }
}
