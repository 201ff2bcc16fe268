//! Errors and warnings about a configuration file, each tied to a file and line.

use std::fmt;

/// One message about a configuration file: an error or a warning.
///
/// Displayed as `file:line: message` (or `file: message` when it concerns the
/// file as a whole). Messages about a value start with `key = "value":`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name as given to [`load`](super::load) or [`parse`](super::parse).
    pub file: String,
    /// 1-based line number; `None` when the message is about the whole file.
    pub line: Option<usize>,
    /// The key concerned, if any.
    pub key: Option<String>,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// A configuration that cannot be used: every problem found, in file order
/// where possible (line-level problems first, then relations between values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigError {
    /// An error about the file as a whole (unreadable, not UTF-8, ...).
    pub(crate) fn file(file: &str, message: String) -> Self {
        ConfigError {
            diagnostics: vec![Diagnostic {
                file: file.to_owned(),
                line: None,
                key: None,
                message,
            }],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A value between double quotes, control characters escaped.
pub(crate) fn quote(v: &str) -> String {
    format!("\"{}\"", v.escape_debug())
}

/// `a, b, c` from a list of words.
pub(crate) fn list(words: &[&str]) -> String {
    words.join(", ")
}

/// The candidate closest to a misspelt `word` (same letters up to case, or at
/// most two edits away), if any.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase().replace('_', "-");
    let mut best: Option<(usize, &'a str)> = None;
    for &c in candidates {
        let d = if c == lower {
            0
        } else {
            edit_distance(&lower, c)
        };
        if d <= 2 && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let keys = ["expire", "timeout", "renewal-freq", "site-user"];
        assert_eq!(suggest("expires", &keys), Some("expire"));
        assert_eq!(suggest("Timeout", &keys), Some("timeout"));
        assert_eq!(suggest("site_user", &keys), Some("site-user"));
        assert_eq!(suggest("colour", &keys), None);
    }

    #[test]
    fn display() {
        let d = Diagnostic {
            file: "booth.conf".into(),
            line: Some(12),
            key: Some("expire".into()),
            message: "expire = \"10x\": bad".into(),
        };
        assert_eq!(d.to_string(), "booth.conf:12: expire = \"10x\": bad");
        assert_eq!(quote("a\"b\tc"), "\"a\\\"b\\tc\"");
    }
}
