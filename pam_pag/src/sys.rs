//! Process calls that need `unsafe`: starting the token program with
//! clone(2) and the code its child runs between clone and exec. The only
//! `unsafe` of the crate besides `ffi`.
//!
//! The module runs inside someone else's process (sshd, login, gdm, sudo),
//! possibly multithreaded. Between clone and exec the child may therefore do
//! only async-signal-safe work: everything it needs (C strings, pointer
//! arrays, file descriptors, the group list) is prepared by the parent, and
//! the child makes raw system calls only. In particular it calls
//! setgroups/setresgid/setresuid as raw system calls, not through glibc:
//! glibc's wrappers broadcast the change to every thread it believes the
//! process has (and take a lock to do so), and after a raw clone(2) that list
//! is a stale copy of the parent's threads. The raw call changes the calling
//! thread, which in the child is the only one.

use std::ffi::{c_char, CString};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
use nix::unistd::Pid;

/// Permissions of the program's session keyring: possessor view, read,
/// write and search; no link (it cannot be attached anywhere), no setattr
/// (it cannot be re-permissioned), nothing for owner, group or other.
pub const PROGRAM_KEYRING_PERM: u32 = 0x0f00_0000;

/// Where the child failed before exec, as reported through the status pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    Setsid = 1,
    BecomeRoot,
    JoinKeyring,
    KeyringPermissions,
    Rlimit,
    Setgroups,
    Setresgid,
    Setresuid,
    Pdeathsig,
    CloseRange,
    Dup2,
    Chdir,
    Exec,
}

impl Stage {
    const ALL: [Stage; 13] = [
        Stage::Setsid,
        Stage::BecomeRoot,
        Stage::JoinKeyring,
        Stage::KeyringPermissions,
        Stage::Rlimit,
        Stage::Setgroups,
        Stage::Setresgid,
        Stage::Setresuid,
        Stage::Pdeathsig,
        Stage::CloseRange,
        Stage::Dup2,
        Stage::Chdir,
        Stage::Exec,
    ];

    pub fn from_code(code: u8) -> Option<Stage> {
        Stage::ALL.iter().copied().find(|s| *s as u8 == code)
    }

    /// What the child was doing, for the log line.
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Setsid => "starting a new session (setsid)",
            Stage::BecomeRoot => "setting the real uid to root for its session keyring",
            Stage::JoinKeyring => "giving it a session keyring of its own",
            Stage::KeyringPermissions => "setting the permissions of its session keyring",
            Stage::Rlimit => "setting its resource limits",
            Stage::Setgroups => "setting its supplementary groups",
            Stage::Setresgid => "setting its gid",
            Stage::Setresuid => "setting its uid",
            Stage::Pdeathsig => "setting its parent-death signal",
            Stage::CloseRange => "closing inherited file descriptors",
            Stage::Dup2 => "setting up its standard file descriptors",
            Stage::Chdir => "changing to /",
            Stage::Exec => "executing it",
        }
    }
}

/// Everything the child needs, prepared in the parent.
pub struct Plan<'a> {
    pub path: &'a CString,
    pub argv: &'a [CString],
    pub envp: &'a [CString],
    pub uid: u32,
    pub gid: u32,
    pub groups: &'a [libc::gid_t],
    /// (descriptor in the parent, number it gets in the program). Every
    /// source must be numbered above every target (see [`lift_fd`]).
    pub fds: &'a [(RawFd, RawFd)],
    /// The write end of the status pipe (close-on-exec): the child writes
    /// `[stage, 0, 0, 0, errno (4 bytes, native order)]` there when it fails.
    pub status_fd: RawFd,
    /// RLIMIT_CPU, seconds.
    pub cpu_seconds: u64,
    /// The module runs as root and switches to the user (the normal case);
    /// false when it already runs as the user (a hook called without root,
    /// such as a screen locker's setcred REFRESH): then the program keeps the
    /// caller's ids and gets a session keyring of the caller's.
    pub privileged: bool,
}

/// A duplicate of `fd` numbered at least `min`, close-on-exec.
pub fn lift_fd(fd: RawFd, min: RawFd) -> Result<OwnedFd, Errno> {
    // fcntl(F_DUPFD_CLOEXEC) takes two integers and returns a new descriptor that nobody else owns.
    // SAFETY: no memory is touched; the new descriptor is owned only by the OwnedFd made from it below.
    let ret = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `ret` is a fresh descriptor that this function alone owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret) })
}

/// pidfd_open(2): a descriptor that becomes readable when `pid` exits.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes two integers and touches no memory.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    let fd = RawFd::try_from(ret).map_err(|_| Errno::EBADF)?;
    // SAFETY: `fd` is a fresh descriptor that this function alone owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Size of the child's stack (it runs only the few calls of `child`).
const STACK_SIZE: usize = 256 * 1024;

/// Start the child: clone(2) with `CLONE_NEWPID` when `new_pid_namespace`
/// (the program is then pid 1 of its own namespace), else a plain child.
/// Its exit signal is none, so it sends the application no SIGCHLD and an
/// application's `waitpid(-1, ...)` does not see it: only `waitpid(pid,
/// __WALL)` finds it. (Where the application ignores SIGCHLD the kernel
/// still reaps it at exit, measured here; its status is then unknown.)
pub fn spawn(plan: &Plan<'_>, new_pid_namespace: bool) -> Result<Pid, Errno> {
    // Pointer arrays for execve, built here: the child must not allocate.
    let mut argv: Vec<*const c_char> = plan.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const c_char> = plan.envp.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let prepared = Prepared { plan, argv: &argv, envp: &envp };
    let mut stack = vec![0u8; STACK_SIZE];
    let flags = if new_pid_namespace { CloneFlags::CLONE_NEWPID } else { CloneFlags::empty() };
    // Block every signal around the clone, so that no handler of the
    // application runs in the child before it has reset the dispositions.
    let mut old = SigSet::empty();
    let blocked = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::all()), Some(&mut old)).is_ok();
    let callback = Box::new(|| -> isize { child(&prepared) });
    // The child is a copy of this process (no CLONE_VM) running `callback` on `stack`; the callback runs only
    // async-signal-safe system calls on data prepared above (see `child`) and never returns (exec or _exit).
    // `stack` outlives the call in the parent, and the child has its own copy of it.
    // SAFETY: see above; no exit signal (0) is deliberate, see the function's comment.
    let result = unsafe { nix::sched::clone(callback, &mut stack, flags, None) };
    if blocked {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
    result
}

struct Prepared<'a, 'b> {
    plan: &'b Plan<'a>,
    argv: &'b [*const c_char],
    envp: &'b [*const c_char],
}

/// Report `stage` and errno on the status pipe and exit.
fn fail(status_fd: RawFd, stage: Stage) -> ! {
    let errno = Errno::last_raw();
    let mut message = [0u8; 8];
    message[0] = stage as u8;
    message[4..].copy_from_slice(&errno.to_ne_bytes());
    // write(2) and _exit(2) are async-signal-safe; `message` is a live local buffer of 8 bytes.
    // SAFETY: see above.
    unsafe {
        libc::write(status_fd, message.as_ptr().cast(), message.len());
        libc::_exit(127)
    }
}

/// A raw system call with up to four integer arguments; -1 and errno set on
/// failure (libc's syscall(2) does that).
fn raw(number: libc::c_long, a: libc::c_ulong, b: libc::c_ulong, c: libc::c_ulong) -> libc::c_long {
    // Every caller passes integers only (no pointers).
    // SAFETY: the system calls made through here read no memory of ours.
    unsafe { libc::syscall(number, a, b, c) }
}

/// The child, between clone and exec: async-signal-safe system calls only.
fn child(p: &Prepared<'_, '_>) -> isize {
    let plan = p.plan;
    let status = plan.status_fd;
    let check = |ret: libc::c_long, stage: Stage| {
        if ret < 0 {
            fail(status, stage);
        }
    };
    // Default dispositions for every signal (an ignored SIGPIPE or SIGCHLD
    // of the application would otherwise survive exec). The mask stays
    // all-blocked, as the parent set it, until just before exec.
    for sig in 1..65 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: sigaction with a zeroed (SIG_DFL) action read from a live local.
            unsafe {
                let action: libc::sigaction = std::mem::zeroed();
                libc::sigaction(sig, &action, std::ptr::null_mut());
            }
        }
    }
    // Its own session and process group: no controlling terminal, and the
    // group to kill when no PID namespace could be made.
    // SAFETY: setsid takes no arguments.
    check(unsafe { libc::setsid() }.into(), Stage::Setsid);
    // A new anonymous session keyring, owned by real uid 0 (the
    // application's real uid may be a user's, under sudo), so that the
    // program never runs in the PAG nor in any keyring of the login.
    let root = 0;
    if plan.privileged {
        check(raw(libc::SYS_setresuid, root, root, root), Stage::BecomeRoot);
    }
    // Both are raw keyctl(2) calls that neither allocate nor lock (their
    // error values are plain data).
    let keyring = match pag::sys::join_new_session_keyring() {
        Ok(k) => k,
        Err(_) => fail(status, Stage::JoinKeyring),
    };
    if pag::sys::setperm(keyring, PROGRAM_KEYRING_PERM).is_err() {
        fail(status, Stage::KeyringPermissions);
    }
    let cpu = libc::rlimit { rlim_cur: plan.cpu_seconds, rlim_max: plan.cpu_seconds };
    let core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: setrlimit reads the live local structs above.
    check(unsafe { libc::setrlimit(libc::RLIMIT_CPU, &cpu) }.into(), Stage::Rlimit);
    // SAFETY: as above.
    check(unsafe { libc::setrlimit(libc::RLIMIT_CORE, &core) }.into(), Stage::Rlimit);
    // Groups, then gid, then uid (real, effective and saved): no way back.
    // Without privilege only the uid step applies (setting all three to
    // the caller's own uid, which drops a different saved uid).
    if plan.privileged {
        // SAFETY: setgroups reads `groups.len()` gids from the parent-prepared slice.
        let ret = unsafe { libc::syscall(libc::SYS_setgroups, plan.groups.len(), plan.groups.as_ptr()) };
        check(ret, Stage::Setgroups);
    }
    let gid = libc::c_ulong::from(plan.gid);
    check(raw(libc::SYS_setresgid, gid, gid, gid), Stage::Setresgid);
    let uid = libc::c_ulong::from(plan.uid);
    check(raw(libc::SYS_setresuid, uid, uid, uid), Stage::Setresuid);
    // After the uid change (which clears it): die with the thread that runs us.
    let sigkill = libc::SIGKILL as libc::c_ulong;
    check(raw(libc::SYS_prctl, libc::PR_SET_PDEATHSIG as libc::c_ulong, sigkill, 0), Stage::Pdeathsig);
    // Nothing of the application's survives exec...
    let from = 3;
    let cloexec = libc::CLOSE_RANGE_CLOEXEC as libc::c_ulong;
    check(raw(libc::SYS_close_range, from, libc::c_ulong::from(u32::MAX), cloexec), Stage::CloseRange);
    // ...except what we hand over (dup2 clears close-on-exec on the copy).
    for &(source, target) in plan.fds {
        // SAFETY: dup2 takes two integers.
        check(unsafe { libc::dup2(source, target) }.into(), Stage::Dup2);
    }
    // SAFETY: chdir reads a static NUL-terminated string.
    check(unsafe { libc::chdir(c"/".as_ptr()) }.into(), Stage::Chdir);
    let empty = [0u64; 1];
    // SAFETY: rt_sigprocmask reads one 8-byte kernel sigset from a live local.
    let ret = unsafe {
        libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, empty.as_ptr(), std::ptr::null::<u64>(), 8)
    };
    check(ret, Stage::Exec);
    // path, argv and envp are NUL-terminated strings and NULL-terminated
    // pointer arrays prepared (and kept alive) by the parent.
    // SAFETY: see above.
    unsafe { libc::execve(plan.path.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr()) };
    fail(status, Stage::Exec)
}
