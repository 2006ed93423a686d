//! Safe wrappers over the kernel key management system calls.
//!
//! Every function returns the raw `errno` on failure ([`SysError`]) so that the
//! callers can tell "keyrings are blocked here" (EPERM/ENOSYS from seccomp)
//! from "quota exhausted" (EDQUOT) and "no such key type" (ENODEV), and say
//! what to do about each.
//!
//! linux-keyutils is used where it has the operation. It has no wrapper for
//! joining a session keyring, session-to-parent, describing or searching keys
//! of arbitrary type, listing a keyring without dropping keys of types it does
//! not know (such as `rxrpc`), `add_key` of an arbitrary type, or
//! `get_persistent` for another uid; those are written here, as thin
//! `syscall(2)` calls. This is the only module of the crate that may use
//! `unsafe`.

use std::ffi::{CStr, CString};
use std::fmt;

use linux_keyutils::{Key, KeyError, KeyPermissions};
use nix::errno::Errno;

pub mod signal;

/// A key serial number as the kernel hands it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeySerial(pub i32);

impl fmt::Display for KeySerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The special keyrings of `keyrings(7)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `@t`
    Thread,
    /// `@p`
    Process,
    /// `@s`
    Session,
    /// `@u`
    User,
    /// `@us`
    UserSession,
}

impl Special {
    fn id(self) -> i32 {
        match self {
            Special::Thread => libc::KEY_SPEC_THREAD_KEYRING,
            Special::Process => libc::KEY_SPEC_PROCESS_KEYRING,
            Special::Session => libc::KEY_SPEC_SESSION_KEYRING,
            Special::User => libc::KEY_SPEC_USER_KEYRING,
            Special::UserSession => libc::KEY_SPEC_USER_SESSION_KEYRING,
        }
    }

    /// The serial the kernel accepts in place of a real one (`KEY_SPEC_*`).
    pub fn serial(self) -> KeySerial {
        KeySerial(self.id())
    }
}

/// A failed key management call: which operation and the errno it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysError {
    /// The operation, as `keyctl(1)` names it (`join`, `add`, `chown`, ...).
    pub op: &'static str,
    /// What the kernel said.
    pub errno: Errno,
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "keyctl {}: {}", self.op, self.errno.desc())
    }
}

impl std::error::Error for SysError {}

/// Result of a system call wrapper.
pub type SysResult<T> = Result<T, SysError>;

fn last_error(op: &'static str) -> SysError {
    SysError { op, errno: Errno::last() }
}

/// linux-keyutils folds errno into its own enum; map it back without loss for
/// every value it names (the rest it keeps as `Unknown(errno)`).
fn from_keyutils(op: &'static str, error: KeyError) -> SysError {
    let errno = match error {
        KeyError::AccessDenied => Errno::EACCES,
        KeyError::QuotaExceeded => Errno::EDQUOT,
        KeyError::BadAddress => Errno::EFAULT,
        KeyError::InvalidArguments => Errno::EINVAL,
        KeyError::KeyExpired => Errno::EKEYEXPIRED,
        KeyError::KeyRevoked => Errno::EKEYREVOKED,
        KeyError::KeyRejected => Errno::EKEYREJECTED,
        KeyError::KeyringDoesNotExist | KeyError::KeyDoesNotExist => Errno::ENOKEY,
        KeyError::OutOfMemory => Errno::ENOMEM,
        KeyError::OperationNotSupported => Errno::ENOTSUP,
        KeyError::PermissionDenied => Errno::EPERM,
        KeyError::MissingFileOrDirectory => Errno::ENOENT,
        KeyError::Unknown(raw) => Errno::from_raw(raw),
        KeyError::InvalidDescription | KeyError::InvalidIdentifier | KeyError::WriteError => Errno::EINVAL,
    };
    SysError { op, errno }
}

fn c_string(op: &'static str, text: &str) -> SysResult<CString> {
    CString::new(text).map_err(|_| SysError { op, errno: Errno::EINVAL })
}

/// `keyctl(2)` with up to four integer arguments; returns the raw result.
///
/// All callers below pass pointers only to buffers and C strings they own for
/// the duration of the call.
fn keyctl(op: &'static str, cmd: u32, args: [libc::c_ulong; 4]) -> SysResult<libc::c_long> {
    // keyctl takes a command and four machine words. Callers pass either plain integers or pointers to memory
    // that outlives this call and is large enough for what the command reads or writes (checked at each call
    // site).
    // SAFETY: arguments are integers or pointers to live, large-enough memory.
    let ret = unsafe { libc::syscall(libc::SYS_keyctl, cmd, args[0], args[1], args[2], args[3]) };
    if ret < 0 {
        Err(last_error(op))
    } else {
        Ok(ret)
    }
}

fn serial_from(op: &'static str, raw: libc::c_long) -> SysResult<KeySerial> {
    i32::try_from(raw).map(KeySerial).map_err(|_| SysError { op, errno: Errno::ERANGE })
}

/// KEYCTL_JOIN_SESSION_KEYRING with a NULL name: the calling thread gets a new,
/// anonymous session keyring ("_ses", owned by its real uid/gid). Never
/// attaches to an existing keyring.
pub fn join_new_session_keyring() -> SysResult<KeySerial> {
    let ret = keyctl("join", libc::KEYCTL_JOIN_SESSION_KEYRING, [0, 0, 0, 0])?;
    serial_from("join", ret)
}

/// KEYCTL_JOIN_SESSION_KEYRING with a name: join the named keyring if the
/// caller may search it, else create one of that name. Used only by tests that
/// try to enter a PAG by name; a PAG itself is never joined by name.
pub fn join_session_keyring_named(name: &str) -> SysResult<KeySerial> {
    let name = c_string("join", name)?;
    let ret = keyctl("join", libc::KEYCTL_JOIN_SESSION_KEYRING, [name.as_ptr() as libc::c_ulong, 0, 0, 0])?;
    serial_from("join", ret)
}

/// KEYCTL_SESSION_TO_PARENT: the parent process gets the caller's session
/// keyring when it next returns to user space.
pub fn session_to_parent() -> SysResult<()> {
    keyctl("session_to_parent", libc::KEYCTL_SESSION_TO_PARENT, [0, 0, 0, 0]).map(|_| ())
}

/// The serial of a special keyring, created on demand when `create` is set.
/// Without create, a keyring that does not exist gives ENOKEY.
pub fn special_id(which: Special, create: bool) -> SysResult<KeySerial> {
    let ret = keyctl(
        "get_keyring_id",
        libc::KEYCTL_GET_KEYRING_ID,
        [which.id() as libc::c_ulong, libc::c_ulong::from(create), 0, 0],
    )?;
    serial_from("get_keyring_id", ret)
}

/// add_key(2) of any type into `keyring`; updates a key of the same type and
/// description in place where the type supports update.
pub fn add_key(
    key_type: &str,
    description: &str,
    payload: &[u8],
    keyring: KeySerial,
) -> SysResult<KeySerial> {
    raw_add_key("add", key_type, description, Some(payload), keyring)
}

/// add_key(2) of a new empty keyring named `description` into `keyring`.
pub fn add_keyring(description: &str, keyring: KeySerial) -> SysResult<KeySerial> {
    raw_add_key("newring", "keyring", description, None, keyring)
}

fn raw_add_key(
    op: &'static str,
    key_type: &str,
    description: &str,
    payload: Option<&[u8]>,
    keyring: KeySerial,
) -> SysResult<KeySerial> {
    let key_type = c_string(op, key_type)?;
    let description = c_string(op, description)?;
    // A keyring takes no payload: NULL with length 0.
    let (data, len) = payload.map_or((std::ptr::null(), 0), |p| (p.as_ptr(), p.len()));
    // The payload pointer/length pair comes from one live slice, or is NULL/0, which the kernel accepts for
    // types without payload.
    // SAFETY: the type and description are NUL-terminated strings owned here.
    let ret = unsafe {
        libc::syscall(libc::SYS_add_key, key_type.as_ptr(), description.as_ptr(), data, len, keyring.0)
    };
    if ret < 0 {
        return Err(last_error(op));
    }
    serial_from(op, ret)
}

/// KEYCTL_DESCRIBE, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// Key type name (`keyring`, `user`, `rxrpc`, ...).
    pub key_type: String,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Permission mask (possessor, user, group, other; one byte each).
    pub perm: u32,
    /// The description string.
    pub description: String,
}

/// KEYCTL_DESCRIBE: type, owner, permissions and description of a key.
pub fn describe(key: KeySerial) -> SysResult<Description> {
    let raw = read_buffer("describe", |buf, len| {
        keyctl(
            "describe",
            libc::KEYCTL_DESCRIBE,
            [key.0 as libc::c_ulong, buf as libc::c_ulong, len as libc::c_ulong, 0],
        )
    })?;
    let text = CStr::from_bytes_until_nul(&raw)
        .ok()
        .and_then(|c| c.to_str().ok())
        .or_else(|| std::str::from_utf8(&raw).ok())
        .ok_or(SysError { op: "describe", errno: Errno::EINVAL })?;
    parse_description(text).ok_or(SysError { op: "describe", errno: Errno::EINVAL })
}

/// Parse `type;uid;gid;perm;description` (the description may hold `;`).
fn parse_description(text: &str) -> Option<Description> {
    let mut parts = text.splitn(5, ';');
    let key_type = parts.next()?.to_owned();
    let uid = parts.next()?.parse().ok()?;
    let gid = parts.next()?.parse().ok()?;
    let perm = u32::from_str_radix(parts.next()?, 16).ok()?;
    let description = parts.next()?.to_owned();
    Some(Description { key_type, uid, gid, perm, description })
}

/// Read a variable-length answer: ask with a buffer, grow to the size the
/// kernel reports, and retry until it fits (the size can change in between).
fn read_buffer(
    op: &'static str,
    mut call: impl FnMut(*mut u8, usize) -> SysResult<libc::c_long>,
) -> SysResult<Vec<u8>> {
    let mut buf = vec![0u8; 512];
    loop {
        let needed = call(buf.as_mut_ptr(), buf.len())?;
        let needed = usize::try_from(needed).map_err(|_| SysError { op, errno: Errno::ERANGE })?;
        if needed <= buf.len() {
            buf.truncate(needed);
            return Ok(buf);
        }
        buf = vec![0u8; needed];
    }
}

/// KEYCTL_READ of a key's payload.
///
/// Not linux-keyutils' `read_to_vec`: that allocates 64 KiB per call, which
/// made listing 20 tokens (40 reads) measurably slower than `keyctl show`.
/// Payloads here are small; [`read_buffer`] grows to the size the kernel
/// reports when one is not.
pub fn read(key: KeySerial) -> SysResult<Vec<u8>> {
    read_buffer("read", |buf, len| {
        keyctl(
            "read",
            libc::KEYCTL_READ,
            [key.0 as libc::c_ulong, buf as libc::c_ulong, len as libc::c_ulong, 0],
        )
    })
}

/// KEYCTL_READ of a keyring: the serials it links to, of every key type.
pub fn keyring_links(keyring: KeySerial) -> SysResult<Vec<KeySerial>> {
    Ok(read(keyring)?
        .chunks_exact(4)
        .map(|c| KeySerial(i32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
        .collect())
}

/// KEYCTL_SEARCH for a key of any type, recursively from `keyring`, without
/// linking the result anywhere.
pub fn search(keyring: KeySerial, key_type: &str, description: &str) -> SysResult<KeySerial> {
    let key_type = c_string("search", key_type)?;
    let description = c_string("search", description)?;
    let ret = keyctl(
        "search",
        libc::KEYCTL_SEARCH,
        [
            keyring.0 as libc::c_ulong,
            key_type.as_ptr() as libc::c_ulong,
            description.as_ptr() as libc::c_ulong,
            0,
        ],
    )?;
    serial_from("search", ret)
}

/// KEYCTL_LINK: link `key` into `keyring`.
pub fn link(key: KeySerial, keyring: KeySerial) -> SysResult<()> {
    keyctl("link", libc::KEYCTL_LINK, [key.0 as libc::c_ulong, keyring.0 as libc::c_ulong, 0, 0]).map(|_| ())
}

/// KEYCTL_UNLINK: remove the link from `keyring` to `key`.
pub fn unlink(key: KeySerial, keyring: KeySerial) -> SysResult<()> {
    keyctl("unlink", libc::KEYCTL_UNLINK, [key.0 as libc::c_ulong, keyring.0 as libc::c_ulong, 0, 0])
        .map(|_| ())
}

/// KEYCTL_REVOKE.
pub fn revoke(key: KeySerial) -> SysResult<()> {
    Key::from_id(key.0.into()).revoke().map_err(|e| from_keyutils("revoke", e))
}

/// KEYCTL_INVALIDATE: the key goes away at once for everyone.
pub fn invalidate(key: KeySerial) -> SysResult<()> {
    Key::from_id(key.0.into()).invalidate().map_err(|e| from_keyutils("invalidate", e))
}

/// KEYCTL_SETPERM.
pub fn setperm(key: KeySerial, perm: u32) -> SysResult<()> {
    Key::from_id(key.0.into())
        .set_perms(KeyPermissions::from_u32(perm))
        .map_err(|e| from_keyutils("setperm", e))
}

/// KEYCTL_CHOWN; `None` leaves that id unchanged.
pub fn chown(key: KeySerial, uid: Option<u32>, gid: Option<u32>) -> SysResult<()> {
    Key::from_id(key.0.into()).chown(uid, gid).map_err(|e| from_keyutils("chown", e))
}

/// KEYCTL_SET_TIMEOUT in seconds (0 clears it).
pub fn set_timeout(key: KeySerial, seconds: u32) -> SysResult<()> {
    keyctl("timeout", libc::KEYCTL_SET_TIMEOUT, [key.0 as libc::c_ulong, libc::c_ulong::from(seconds), 0, 0])
        .map(|_| ())
}

/// KEYCTL_GET_PERSISTENT for `uid` (the caller's own, or any with
/// CAP_SETUID), linked into `link_into`.
pub fn get_persistent(uid: Option<u32>, link_into: KeySerial) -> SysResult<KeySerial> {
    let uid = uid.map_or(libc::c_ulong::MAX, libc::c_ulong::from);
    let ret =
        keyctl("get_persistent", libc::KEYCTL_GET_PERSISTENT, [uid, link_into.0 as libc::c_ulong, 0, 0])?;
    serial_from("get_persistent", ret)
}

// ---- A descriptor inherited across exec ----
//
// Not a key management call, but it needs `unsafe` (std can only adopt a raw
// descriptor through `FromRawFd`) and this is the crate's one unsafe module.

/// Descriptors already handed out by [`adopt_inherited_fd`].
static ADOPTED_FDS: std::sync::Mutex<Vec<std::os::fd::RawFd>> = std::sync::Mutex::new(Vec::new());

/// Take ownership of descriptor `raw`, which this process inherited across
/// exec (a pipe a parent passed and named, say, in an environment variable).
///
/// Refuses 0, 1 and 2 (the standard streams belong to std), a descriptor
/// that is not open (EBADF), and a second adoption of the same number
/// (EBUSY), so no two owners close it. Call it before the process opens
/// anything that might otherwise adopt the same number.
pub fn adopt_inherited_fd(raw: std::os::fd::RawFd) -> Result<std::os::fd::OwnedFd, Errno> {
    use std::os::fd::FromRawFd;
    if raw <= 2 {
        return Err(Errno::EINVAL);
    }
    nix::fcntl::fcntl(raw, nix::fcntl::FcntlArg::F_GETFD)?;
    let mut adopted = ADOPTED_FDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if adopted.contains(&raw) {
        return Err(Errno::EBUSY);
    }
    adopted.push(raw);
    // `raw` is open (F_GETFD succeeded), is not a standard stream, and this
    // function has not given it to an owner before. It was inherited across
    // exec, so no Rust object in this process opened it; the caller promises
    // nothing else adopted it.
    // SAFETY: as above, the OwnedFd made here is the descriptor's only owner.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) })
}

/// What the kernel recorded about the other end of a connected Unix socket
/// when it connected (SO_PEERCRED, SO_PEERGROUPS): the peer cannot change
/// it afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCredentials {
    /// Its pid.
    pub pid: i32,
    /// Its uid.
    pub uid: u32,
    /// Its gid.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

/// Most supplementary groups the kernel allows a process (NGROUPS_MAX).
const NGROUPS_MAX: usize = 65536;

/// The peer of the connected Unix socket `fd`.
pub fn peer_credentials(fd: std::os::fd::BorrowedFd<'_>) -> Result<PeerCredentials, Errno> {
    use std::os::fd::AsRawFd;
    let raw = fd.as_raw_fd();
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, a live local of exactly that size.
    let ret = unsafe {
        libc::getsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SO_PEERGROUPS: ask with a small buffer first; ERANGE says how much is needed.
    let mut groups: Vec<libc::gid_t> = vec![0; 32];
    loop {
        let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into the vector's buffer, which holds that many.
        let ret = unsafe {
            libc::getsockopt(raw, libc::SOL_SOCKET, libc::SO_PEERGROUPS, groups.as_mut_ptr().cast(), &mut len)
        };
        let count = len as usize / std::mem::size_of::<libc::gid_t>();
        if ret == 0 {
            groups.truncate(count);
            break;
        }
        match Errno::last() {
            Errno::ERANGE if count > groups.len() && count <= NGROUPS_MAX => groups.resize(count, 0),
            errno => return Err(errno),
        }
    }
    Ok(PeerCredentials { pid: cred.pid, uid: cred.uid, gid: cred.gid, groups })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_keeps_semicolons_in_the_last_field() {
        let d = parse_description("user;1000;100;3f010000;a;b;c").unwrap();
        assert_eq!(d.key_type, "user");
        assert_eq!((d.uid, d.gid, d.perm), (1000, 100, 0x3f01_0000));
        assert_eq!(d.description, "a;b;c");
    }

    #[test]
    fn malformed_description_is_rejected() {
        assert!(parse_description("user;x;1;3f;d").is_none());
        assert!(parse_description("user;1;1;zz;d").is_none());
        assert!(parse_description("user;1;1").is_none());
    }

    #[test]
    fn inherited_fd_is_adopted_once_and_never_a_standard_stream() {
        use std::os::fd::{AsRawFd, IntoRawFd};
        assert_eq!(adopt_inherited_fd(1).unwrap_err(), Errno::EINVAL);
        let (read, write) = nix::unistd::pipe().unwrap();
        drop(read);
        let raw = write.into_raw_fd();
        let owned = adopt_inherited_fd(raw).unwrap();
        assert_eq!(owned.as_raw_fd(), raw);
        assert_eq!(adopt_inherited_fd(raw).unwrap_err(), Errno::EBUSY);
        assert_eq!(adopt_inherited_fd(1_000_000).unwrap_err(), Errno::EBADF);
    }
}
