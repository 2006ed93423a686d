//! Key permission masks (`keyctl setperm`) the library sets, in one place.
//!
//! A mask has one byte per class: possessor, owner uid ("user"), group,
//! other. Key permissions have no capability override, so these bytes are
//! the whole of who may do what.

/// View the key's attributes.
pub const VIEW: u32 = 0x01;
/// Read the payload or, for a keyring, the list of links.
pub const READ: u32 = 0x02;
/// Update the payload or, for a keyring, add and remove links.
pub const WRITE: u32 = 0x04;
/// Find it by search and, for a keyring, search in it (and join it by name).
pub const SEARCH: u32 = 0x08;
/// Link it into another keyring.
pub const LINK: u32 = 0x10;
/// Change owner, permissions and timeout.
pub const SETATTR: u32 = 0x20;
/// Everything.
pub const ALL: u32 = 0x3f;

/// Shift a class byte into the possessor position.
pub const fn possessor(bits: u32) -> u32 {
    bits << 24
}

/// Shift a class byte into the owner-uid position.
pub const fn user(bits: u32) -> u32 {
    bits << 16
}

/// A PAG keyring: possessors (processes in the PAG) may see it, list it,
/// search it and add or remove keys in it, but not link it anywhere (so no
/// process of the user can keep it, or what only it holds, alive past the
/// login in a persistent, user or self-made keyring) and not change its
/// attributes (so these bits are final once set); the owner uid outside
/// the PAG may only see that it exists and read its list of links (so root,
/// or the user, can tell which PAG a key belongs to); nobody outside can
/// search it, link it, write to it or join it.
pub const PAG_KEYRING: u32 = possessor(VIEW | READ | WRITE | SEARCH) | user(VIEW | READ);

/// A PAG a user's own tool made (pagsh, `aklog -setpag`), owned by and
/// charged to that user: as [`PAG_KEYRING`], plus LINK for possessors,
/// which KEYCTL_SESSION_TO_PARENT needs on the keyring it hands to the
/// parent shell. Whatever a process in it does with it stays the user's own.
pub const OWN_PAG_KEYRING: u32 = PAG_KEYRING | possessor(LINK);

/// The marker key: readable inside the PAG, but not writable, not linkable
/// (so it cannot be copied into another keyring) and its permissions cannot
/// be changed.
pub const MARKER: u32 = possessor(VIEW | READ | SEARCH) | user(VIEW | READ);

/// A token and its companion keys that a user's own tool (aklog, pagsh)
/// stored, owned and paid for by the user: only processes in the PAG, for
/// anything.
pub const TOKEN: u32 = possessor(ALL);

/// A token (and its companion keys) that root stored for a login (the PAM
/// module), owned by root: processes in the PAG may read it, find it and
/// unlink or invalidate it (unlog), but neither update it (no growing it on
/// root's quota) nor link it anywhere else (no keeping it past the login)
/// nor change it. Root as owner keeps VIEW and LINK, which is what moving it
/// from the module's private staging keyring into the PAG needs.
pub const STORED_TOKEN: u32 = possessor(VIEW | READ | SEARCH) | user(VIEW | LINK);

/// The keyring the token program runs in: made fresh by root for each run,
/// usable by the program (possessor view, read, write, search) but not
/// linkable anywhere and not changeable, so nothing it holds outlives the run
/// through it; nothing for anyone outside.
pub const PROGRAM_KEYRING: u32 = possessor(VIEW | READ | WRITE | SEARCH);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_read_like_keyctl_describe() {
        assert_eq!(PAG_KEYRING, 0x0f03_0000);
        assert_eq!(OWN_PAG_KEYRING, 0x1f03_0000);
        assert_eq!(MARKER, 0x0b03_0000);
        assert_eq!(TOKEN, 0x3f00_0000);
        assert_eq!(STORED_TOKEN, 0x0b11_0000);
        assert_eq!(PROGRAM_KEYRING, 0x0f00_0000);
        assert_eq!(PAG_KEYRING & user(SEARCH | LINK | WRITE), 0);
        // Nothing root keeps for a login may be linked or re-permissioned
        // from inside it.
        for mask in [PAG_KEYRING, MARKER, STORED_TOKEN, PROGRAM_KEYRING] {
            assert_eq!(mask & possessor(LINK | SETATTR), 0, "{mask:08x}");
        }
        assert_eq!(STORED_TOKEN & possessor(WRITE), 0);
    }
}
