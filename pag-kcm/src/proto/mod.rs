//! The KCM protocol as MIT krb5 1.20's client (`ccache/cc_kcm.c`) speaks it:
//! framing, opcodes, the error codes it reacts to, and the file-ccache v4
//! encoding of principals and credentials it carries.

pub mod codes;
pub mod frame;
pub mod marshal;
pub mod opcode;
