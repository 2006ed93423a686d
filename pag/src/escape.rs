//! Text for a log line from anything a user may control: every control
//! character escaped, so a line cannot be split, recoloured or reordered on
//! a terminal, and cut to a length. Shared by the PAM module's syslog lines
//! and pag-kcm's.
//!
//! C0 controls, DEL, C1 controls and the Unicode bidi controls become
//! `\xNN` or `\u{NNNN}`, a backslash becomes `\\` (so escapes are
//! unambiguous); each byte of invalid UTF-8 becomes `\xNN`.

/// What a cut line ends with.
pub const CUT_MARK: &str = "...[cut]";

/// `text` with every control character escaped (see the module comment).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text.as_bytes());
    out
}

/// Append `bytes` to `out`, escaped: valid UTF-8 stays as it is except the
/// controls, `\` and the bidi controls; each byte of an invalid sequence
/// becomes `\xNN`.
pub fn escape_into(out: &mut String, bytes: &[u8]) {
    use std::fmt::Write;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\0'..='\x1f' | '\x7f' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                '\u{80}'..='\u{9f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}' => {
                    let _ = write!(out, "\\u{{{:04x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

/// Cut `line` to at most `max` bytes (on a character boundary), ending in
/// [`CUT_MARK`] when anything was cut.
pub fn cut(line: &mut String, max: usize) {
    if line.len() <= max {
        return;
    }
    let mut end = max - CUT_MARK.len();
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line.truncate(end);
    line.push_str(CUT_MARK);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_bidi_and_backslash_are_escaped() {
        assert_eq!(escape("plain text, ünïcödé"), "plain text, ünïcödé");
        assert_eq!(escape("a\rb\x1b[31mc\0d\x7f\t\n"), "a\\x0db\\x1b[31mc\\x00d\\x7f\\x09\\x0a");
        assert_eq!(escape("back\\slash"), "back\\\\slash");
        assert_eq!(escape("\u{85}\u{9f}"), "\\u{0085}\\u{009f}");
        for c in ['\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}'] {
            assert_eq!(escape(&format!("x{c}y")), format!("x\\u{{{:04x}}}y", c as u32));
        }
        // Escaping is unambiguous: an escaped string never contains a raw
        // control, and `\x1b` typed by someone differs from ESC.
        assert_ne!(escape("\\x1b"), escape("\x1b"));
    }

    #[test]
    fn cut_lines_end_in_the_mark_on_a_character_boundary() {
        let mut line = "é".repeat(100);
        cut(&mut line, 51);
        assert!(line.len() <= 51 && line.ends_with(CUT_MARK), "{line}");
        let mut short = "short".to_owned();
        cut(&mut short, 51);
        assert_eq!(short, "short");
    }
}
