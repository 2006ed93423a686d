//! PAM's numbers: return codes, setcred flags, item types. Values from
//! `<security/_pam_types.h>` of Linux-PAM.

/// A PAM return code.
pub type Code = i32;

pub const SUCCESS: Code = 0;
pub const SERVICE_ERR: Code = 3;
pub const SYSTEM_ERR: Code = 4;
pub const USER_UNKNOWN: Code = 10;
pub const SESSION_ERR: Code = 14;
pub const CRED_ERR: Code = 17;
pub const IGNORE: Code = 25;
pub const BAD_ITEM: Code = 29;

pub const ESTABLISH_CRED: i32 = 0x0002;
pub const DELETE_CRED: i32 = 0x0004;
pub const REINITIALIZE_CRED: i32 = 0x0008;
pub const REFRESH_CRED: i32 = 0x0010;

pub const ITEM_SERVICE: i32 = 1;

/// The setcred action a flags word asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cred {
    Establish,
    Reinitialize,
    Refresh,
    Delete,
}

impl Cred {
    /// Linux-PAM treats a flags word with no action as ESTABLISH.
    pub fn from_flags(flags: i32) -> Cred {
        if flags & DELETE_CRED != 0 {
            Cred::Delete
        } else if flags & REINITIALIZE_CRED != 0 {
            Cred::Reinitialize
        } else if flags & REFRESH_CRED != 0 {
            Cred::Refresh
        } else {
            Cred::Establish
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setcred_flags() {
        assert_eq!(Cred::from_flags(ESTABLISH_CRED | 0x8000), Cred::Establish);
        assert_eq!(Cred::from_flags(0), Cred::Establish);
        assert_eq!(Cred::from_flags(DELETE_CRED), Cred::Delete);
        assert_eq!(Cred::from_flags(REINITIALIZE_CRED), Cred::Reinitialize);
        assert_eq!(Cred::from_flags(REFRESH_CRED), Cred::Refresh);
    }
}
