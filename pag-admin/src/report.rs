//! What a check found, printed as `OK`/`WARN`/`ERROR` lines or as JSON.

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Error,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// One finding: its level, the area (`config`, `pam`, `system`,
/// `program`), and one line of text.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub level: Level,
    pub area: &'static str,
    pub message: String,
}

/// Everything found, plus per-service detail for `--json`.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub services: Vec<serde_json::Value>,
}

impl Report {
    pub fn add(&mut self, level: Level, area: &'static str, message: impl Into<String>) {
        let message: String = message.into();
        // One finding, one line, whatever a message carried.
        let message = message.lines().map(str::trim).collect::<Vec<_>>().join(" ");
        self.findings.push(Finding { level, area, message });
    }

    pub fn ok(&mut self, area: &'static str, message: impl Into<String>) {
        self.add(Level::Ok, area, message);
    }

    pub fn warn(&mut self, area: &'static str, message: impl Into<String>) {
        self.add(Level::Warn, area, message);
    }

    pub fn error(&mut self, area: &'static str, message: impl Into<String>) {
        self.add(Level::Error, area, message);
    }

    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// The human form: one line per finding and a summary.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&format!("{:<5} {}: {}\n", f.level.word(), f.area, f.message));
        }
        out.push_str(&format!(
            "{} error(s), {} warning(s)\n",
            self.count(Level::Error),
            self.count(Level::Warn)
        ));
        out
    }

    /// The JSON form, for scripts.
    pub fn json(&self) -> String {
        let value = serde_json::json!({
            "errors": self.count(Level::Error),
            "warnings": self.count(Level::Warn),
            "findings": self.findings,
            "services": self.services,
        });
        serde_json::to_string_pretty(&value).expect("a report serializes") + "\n"
    }
}
