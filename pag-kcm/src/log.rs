//! The daemon's messages: one line each on stderr (the journal under
//! systemd), escaped, bounded in length and in rate, so no client can fill
//! the log or forge a line.

use std::io::Write;
use std::time::{Duration, Instant};

/// The longest line, in bytes, after escaping.
pub const MAX_LINE: usize = 512;
/// Lines per [`WINDOW`]; more are counted and said once the window ends.
pub const MAX_LINES: u32 = 100;
pub const WINDOW: Duration = Duration::from_secs(10);

/// A rate-limited writer of lines.
pub struct Log {
    window_start: Instant,
    lines: u32,
    suppressed: u32,
    pub trace: bool,
}

impl Log {
    pub fn new(trace: bool) -> Self {
        Log { window_start: Instant::now(), lines: 0, suppressed: 0, trace }
    }

    /// Say `text` (escaped and cut to [`MAX_LINE`]).
    pub fn say(&mut self, text: &str) {
        let now = Instant::now();
        if now.duration_since(self.window_start) >= WINDOW {
            if self.suppressed > 0 {
                emit(&format!(
                    "{} messages suppressed (more than {MAX_LINES} in {WINDOW:?})",
                    self.suppressed
                ));
            }
            self.window_start = now;
            self.lines = 0;
            self.suppressed = 0;
        }
        if self.lines >= MAX_LINES {
            self.suppressed += 1;
            return;
        }
        self.lines += 1;
        emit(&bounded(text));
    }

    /// A `--trace` line: never rate-limited (the administrator asked).
    pub fn trace(&mut self, text: &str) {
        if self.trace {
            emit(&format!("trace {}", bounded(text)));
        }
    }
}

fn emit(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "pag-kcm: {line}");
}

/// `text` escaped as every pag log line is ([`pag::escape`]: controls,
/// bidi controls, backslashes), at most [`MAX_LINE`] bytes.
pub fn bounded(text: &str) -> String {
    let mut line = pag::escape::escape(text);
    pag::escape::cut(&mut line, MAX_LINE);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_escaped_and_cut() {
        assert_eq!(bounded("a\nb\\\u{202e}"), "a\\x0ab\\\\\\u{202e}");
        let long = bounded(&"x".repeat(10_000));
        assert!(long.len() <= MAX_LINE && long.ends_with(pag::escape::CUT_MARK));
    }
}
