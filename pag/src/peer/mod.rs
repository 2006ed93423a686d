//! Which PAG is the process at the other end of a Unix socket in?
//!
//! No kernel interface reads another process's session keyring, so there
//! are two sound sources (DESIGN.md, "Peer PAGs"):
//!
//! - **A proof the peer takes part in** (the link challenge): the daemon
//!   makes a fresh key K that others may only link (no rights for whoever
//!   possesses it, so linking it gives nothing away), sends its serial; the
//!   client links K into its session keyring and answers with that keyring's
//!   serial P; the daemon lists P's links (as P's owner: a PAG made by the PAM
//!   module is root's) and finds K there, so the peer could write to P. The
//!   daemon then checks that P is a PAG (marker, owner, permissions), whether
//!   it is official (made by root for a login), and that the PAG's user is
//!   the peer's uid (SO_PEERCRED), and invalidates K. A cooperating member
//!   of P could relay the challenge for another process of the same user;
//!   it could as well hand that process its tokens, so nothing is lost.
//! - **A tag the kernel reports**: a supplementary group from a range the
//!   administrator reserved (`tag_gids`), captured by the kernel at
//!   connect() (SO_PEERGROUPS) and settable only by root. It names a login
//!   for unmodified clients that send nothing.
//!
//! The messages are in [`wire`].

pub mod registry;
pub mod wire;

use std::io::{Read, Write};
use std::ops::RangeInclusive;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::group;
use crate::perm;
use crate::sys::{self, KeySerial, Special};
use wire::Response;

/// What a daemon knows about its peer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Peer {
    /// The peer's uid (SO_PEERCRED, captured at connect()).
    pub uid: u32,
    /// Its gid.
    pub gid: u32,
    /// Its pid, as the daemon's pid namespace sees it.
    pub pid: i32,
    /// The supplementary group of the tag range, if the peer has one.
    pub tag: Option<u32>,
    /// The PAG the peer proved it is in, if it took part and the keyring it
    /// named is a PAG.
    pub pag: Option<i32>,
    /// The peer linked the challenge into the keyring it named, and that
    /// keyring could be checked (and, if a PAG, it is the peer's user's).
    pub proved: bool,
    /// The proved PAG was made by root for a login (the PAM module).
    pub official: bool,
    /// Why the proof did not succeed, or what limits it.
    pub note: Option<String>,
}

/// How to identify.
#[derive(Debug, Clone)]
pub struct Identify {
    /// Send a challenge and wait for the answer (a PAG-aware client);
    /// without it only what the kernel reports is used.
    pub challenge: bool,
    /// How long to wait for the answer.
    pub timeout: Duration,
    /// The administrator's tag range (`tag_gids`).
    pub tag_gids: Option<RangeInclusive<u32>>,
}

impl Default for Identify {
    fn default() -> Self {
        Identify { challenge: true, timeout: Duration::from_secs(2), tag_gids: None }
    }
}

/// Identify the peer of `stream` (the daemon side).
///
/// Errors are for this side's failures (no credentials, keyrings blocked);
/// whatever the peer does (closes, sends garbage, names a keyring it is not
/// in) ends as `proved: false` with a note.
pub fn identify(stream: &UnixStream, how: &Identify) -> Result<Peer> {
    let creds = sys::peer_credentials(stream.as_fd()).map_err(|e| {
        Error::keyring("reading the peer's credentials", sys::SysError { op: "getsockopt", errno: e })
    })?;
    let tag =
        how.tag_gids.as_ref().and_then(|range| creds.groups.iter().copied().find(|g| range.contains(g)));
    let mut peer = Peer { uid: creds.uid, gid: creds.gid, pid: creds.pid, tag, ..Peer::default() };
    if how.challenge {
        challenge(stream, how.timeout, &mut peer)?;
    }
    Ok(peer)
}

/// The challenge key, invalidated when dropped.
struct ChallengeKey(KeySerial);

impl ChallengeKey {
    /// Owner (this daemon): everything; group and other: LINK only;
    /// possessor: nothing, so a process whose keyring holds it gains nothing.
    const PERM: u32 = perm::user(perm::ALL) | perm::LINK << 8 | perm::LINK;

    fn new() -> Result<Self> {
        let doing = "making the challenge key";
        let mut nonce = [0u8; 16];
        getrandom(&mut nonce);
        let description = format!("pag:challenge:{}", hex(&nonce[..8]));
        let key = sys::add_key("user", &description, &nonce, Special::Thread.serial())
            .map_err(|e| Error::keyring(doing, e))?;
        let key = ChallengeKey(key);
        sys::setperm(key.0, Self::PERM).map_err(|e| Error::keyring(doing, e))?;
        // If this daemon dies before invalidating it, the kernel does.
        sys::set_timeout(key.0, 60).map_err(|e| Error::keyring(doing, e))?;
        Ok(key)
    }
}

impl Drop for ChallengeKey {
    fn drop(&mut self) {
        // Gone from every keyring it was linked into, the peer's included.
        let _ = sys::invalidate(self.0);
    }
}

fn challenge(stream: &UnixStream, timeout: Duration, peer: &mut Peer) -> Result<()> {
    let (pending, message) = PendingChallenge::start()?;
    let mut stream = Bounded::new(stream, timeout);
    // A peer that sends something and hangs up may have closed before the
    // challenge arrives (EPIPE): what it sent still says what it is.
    let sent = stream.write_all(&message);
    let mut answer = [0u8; wire::RESPONSE_LEN];
    if let Err(e) = stream.read_exact(&mut answer) {
        let closed =
            matches!(e.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset)
                || sent.as_ref().is_err_and(|w| w.kind() == std::io::ErrorKind::BrokenPipe);
        peer.note = Some(match (&sent, e.kind()) {
            _ if closed => "the peer closed the connection without answering".into(),
            (Err(w), _) => format!("cannot send the challenge: {}", describe_io(w)),
            (Ok(()), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                format!("no answer within {} ms (a client that does not take part)", timeout.as_millis())
            }
            (Ok(()), _) => format!("reading the answer: {}", describe_io(&e)),
        });
        return Ok(());
    }
    pending.finish(&answer, peer)
}

/// A challenge sent and not yet answered, for a daemon that cannot block
/// on one client (a poll loop): [`PendingChallenge::start`] makes the key
/// and the message to send; [`PendingChallenge::finish`] judges the answer
/// once its [`wire::RESPONSE_LEN`] bytes have arrived. Dropping it
/// invalidates the key.
pub struct PendingChallenge {
    key: ChallengeKey,
}

impl PendingChallenge {
    /// A fresh challenge and the bytes to send the peer.
    pub fn start() -> Result<(Self, [u8; wire::CHALLENGE_LEN])> {
        let key = ChallengeKey::new()?;
        let message = wire::challenge(key.0);
        Ok((PendingChallenge { key }, message))
    }

    /// Judge the peer's answer: fills `peer`'s `proved`, `pag`, `official`
    /// and `note` as [`identify`] does.
    pub fn finish(self, answer: &[u8; wire::RESPONSE_LEN], peer: &mut Peer) -> Result<()> {
        let keyring = match wire::parse_response(answer) {
            Ok(Response::Linked(keyring)) => keyring,
            Ok(Response::Declined(errno)) => {
                peer.note =
                    Some(format!("the peer could not link the challenge: {}", Errno::from_raw(errno).desc()));
                return Ok(());
            }
            Err(e) => {
                peer.note = Some(format!("the answer is not a proof: {e}"));
                return Ok(());
            }
        };
        check_proof(self.key.0, keyring, peer)
    }
}

/// The peer says it linked `key` into `keyring`: see that it did, and what
/// `keyring` is.
fn check_proof(key: KeySerial, keyring: KeySerial, peer: &mut Peer) -> Result<()> {
    let links = match sys::keyring_links(keyring) {
        Ok(l) => l,
        Err(e) if matches!(e.errno, Errno::EACCES | Errno::ENOKEY | Errno::EKEYREVOKED | Errno::ENOTDIR) => {
            peer.note = Some(format!(
                "keyring {keyring} cannot be read by uid {} ({}): a PAG only its user owns (pagsh) cannot be \
                 verified by another uid",
                nix::unistd::geteuid(),
                e.errno.desc()
            ));
            return Ok(());
        }
        Err(e) => return Err(Error::keyring("listing the peer's keyring", e)),
    };
    if !links.contains(&key) {
        peer.note = Some(format!("keyring {keyring} does not hold the challenge: the peer is not in it"));
        return Ok(());
    }
    match group::recognise(keyring)? {
        Some(pag) => {
            if pag.user().is_some_and(|u| u != peer.uid) {
                peer.note = Some(format!(
                    "PAG {keyring} is uid {}'s, but the peer is uid {}",
                    pag.user().unwrap_or_default(),
                    peer.uid
                ));
                return Ok(());
            }
            peer.pag = Some(keyring.0);
            peer.official = pag.is_official();
            peer.proved = true;
        }
        None => {
            peer.proved = true;
            peer.note = Some(format!("keyring {keyring} is a session keyring, not a PAG"));
        }
    }
    Ok(())
}

/// What a client proved, for its own information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proof {
    /// The session keyring the challenge was linked into.
    pub keyring: KeySerial,
}

/// Why a client could not take part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProveError {
    /// Reading the challenge or sending the answer failed (in words).
    Io(String),
    /// What came was not a challenge.
    Wire(wire::WireError),
    /// The challenge key could not be linked into the session keyring.
    Link(Errno),
}

impl std::fmt::Display for ProveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProveError::Io(what) => f.write_str(what),
            ProveError::Wire(e) => write!(f, "the daemon's challenge: {e}"),
            ProveError::Link(errno) => {
                write!(f, "cannot link the challenge into the session keyring: {}", errno.desc())
            }
        }
    }
}

impl std::error::Error for ProveError {}

/// Send the hello on `stream`, then take part in the challenge that answers
/// it (the client side, for daemons whose protocol has the client speak
/// first, such as pag-kcm).
pub fn prove_with_hello(stream: &UnixStream, timeout: Duration) -> std::result::Result<Proof, ProveError> {
    Bounded::new(stream, timeout)
        .write_all(&wire::HELLO)
        .map_err(|e| ProveError::Io(format!("sending the hello: {}", describe_io(&e))))?;
    prove(stream, timeout)
}

/// Take part in the daemon's challenge on `stream` (the client side): read
/// it, link its key into this thread's session keyring, answer.
pub fn prove(stream: &UnixStream, timeout: Duration) -> std::result::Result<Proof, ProveError> {
    let mut stream = Bounded::new(stream, timeout);
    let mut challenge = [0u8; wire::CHALLENGE_LEN];
    stream
        .read_exact(&mut challenge)
        .map_err(|e| ProveError::Io(format!("reading the challenge: {}", describe_io(&e))))?;
    let key = wire::parse_challenge(&challenge).map_err(ProveError::Wire)?;
    let session = Special::Session.serial();
    let answer = match sys::link(key, session) {
        Ok(()) => match sys::special_id(Special::Session, false) {
            Ok(keyring) => Response::Linked(keyring),
            Err(e) => Response::Declined(e.errno as i32),
        },
        Err(e) => Response::Declined(e.errno as i32),
    };
    stream
        .write_all(&wire::response(answer))
        .map_err(|e| ProveError::Io(format!("sending the answer: {}", describe_io(&e))))?;
    match answer {
        Response::Linked(keyring) => Ok(Proof { keyring }),
        Response::Declined(errno) => Err(ProveError::Link(Errno::from_raw(errno))),
    }
}

/// The stream with read and write timeouts for the proof, restored after.
struct Bounded<'a> {
    stream: &'a UnixStream,
    before: (Option<Duration>, Option<Duration>),
}

impl<'a> Bounded<'a> {
    fn new(stream: &'a UnixStream, timeout: Duration) -> Self {
        let before = (stream.read_timeout().unwrap_or(None), stream.write_timeout().unwrap_or(None));
        // A zero timeout means "none" to the socket; the smallest real one instead.
        let timeout = timeout.max(Duration::from_millis(1));
        let _ = stream.set_read_timeout(Some(timeout));
        let _ = stream.set_write_timeout(Some(timeout));
        Bounded { stream, before }
    }
}

impl Read for Bounded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&*self.stream).read(buf)
    }
}

impl Write for Bounded<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // MSG_NOSIGNAL: a peer that hung up must not kill a daemon whose
        // program does not ignore SIGPIPE (Rust's own runtime does; others may not).
        nix::sys::socket::send(self.stream.as_raw_fd(), buf, nix::sys::socket::MsgFlags::MSG_NOSIGNAL)
            .map_err(std::io::Error::from)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Bounded<'_> {
    fn drop(&mut self) {
        let _ = self.stream.set_read_timeout(self.before.0);
        let _ = self.stream.set_write_timeout(self.before.1);
    }
}

fn describe_io(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(errno) => Errno::from_raw(errno).desc().to_owned(),
        None => e.to_string(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Random bytes from the kernel (getrandom(2) through /dev/urandom's
/// interface; failure leaves zeros, which only weakens the description's
/// uniqueness, not the proof: the key serial is what is checked).
fn getrandom(buf: &mut [u8]) {
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(buf);
    }
}
