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

/// A PAG keyring: possessors (processes in the PAG) may do everything; the
/// owner uid outside the PAG may only see that it exists and read its list
/// of links (so root, or the user, can tell which PAG a key belongs to);
/// nobody outside can search it, link it, write to it or join it.
pub const PAG_KEYRING: u32 = possessor(ALL) | user(VIEW | READ);

/// The marker key: readable inside the PAG, but not writable, not linkable
/// (so it cannot be copied into another keyring) and its permissions cannot
/// be changed.
pub const MARKER: u32 = possessor(VIEW | READ | SEARCH) | user(VIEW | READ);

/// A token and its companion keys: only processes in the PAG, for anything.
pub const TOKEN: u32 = possessor(ALL);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_read_like_keyctl_describe() {
        assert_eq!(PAG_KEYRING, 0x3f03_0000);
        assert_eq!(MARKER, 0x0b03_0000);
        assert_eq!(TOKEN, 0x3f00_0000);
        assert_eq!(PAG_KEYRING & user(SEARCH | LINK | WRITE), 0);
    }
}
