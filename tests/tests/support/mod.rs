//! Shared by the container test files: reading `keyctl show @s` output.

#![allow(dead_code)] // each test file uses part of this

/// `keyctl show @s` printed a session keyring `_ses` owned by `uid` (a
/// keyring pam_keyinit made for this session); returns its serial.
#[track_caller]
pub fn assert_keyinit_session_keyring(output: &str, uid: u32) -> String {
    let (serial, owner, description) = session_keyring(output);
    assert!(
        owner == uid.to_string() && description == "_ses",
        "session keyring is not a _ses keyring of uid {uid}: {serial} {owner} {description} in\n{output}"
    );
    serial
}

/// The first keyring line after the `Keyring` header of `keyctl show @s`:
/// (serial, owner uid, description).
#[track_caller]
pub fn session_keyring(output: &str) -> (String, String, String) {
    // On a terminal the header may follow escape sequences of the shell's line editor.
    let mut lines = output.lines().skip_while(|l| !l.trim_end().ends_with("Keyring"));
    assert!(lines.next().is_some(), "no `keyctl show @s` output in:\n{output}");
    let first = lines.next().unwrap_or_default();
    let fields: Vec<&str> = first.split_whitespace().collect();
    assert!(fields.len() >= 6 && fields[4] == "keyring:", "not a keyring line: {first:?} in\n{output}");
    (fields[0].to_owned(), fields[2].to_owned(), fields[5..].join(" "))
}
