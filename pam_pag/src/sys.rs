//! Process calls that need `unsafe`: the code the token program's child runs
//! between fork and exec. The only `unsafe` of the crate besides `ffi`.

use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};

/// Make `command` drop to `uid`/`gid`/`groups` in the child, in the order
/// that leaves no way back: supplementary groups, then gid, then uid (all
/// three of real, effective and saved). Also mark every inherited file
/// descriptor above 2 close-on-exec, so the program gets none of the
/// application's sockets or files.
pub fn drop_privileges_on_spawn(command: &mut Command, uid: Uid, gid: Gid, groups: Vec<Gid>) {
    let hook = move || -> std::io::Result<()> {
        // Close-on-exec rather than close: std's own exec-error pipe must
        // stay open until exec.
        // SAFETY: close_range takes three integers and touches no memory.
        let ret = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
        if ret != 0 {
            return Err(std::io::Error::last_os_error());
        }
        setgroups(&groups)?;
        setresgid(gid, gid, gid)?;
        setresuid(uid, uid, uid)?;
        Ok(())
    };
    // The hook runs in the forked child before exec. It only makes system calls (close_range, setgroups,
    // setresgid, setresuid) and builds an io::Error from errno: no locks, no allocation that could deadlock
    // on a lock held by another thread of the parent at fork time (the group list was computed in the parent
    // and moved in).
    // SAFETY: async-signal-safe work only between fork and exec.
    unsafe {
        command.pre_exec(hook);
    }
}
