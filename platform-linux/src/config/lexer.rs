//! booth's line grammar (booth-protocol.md §4.1).
//!
//! One `key = value` per line. Blank lines and lines whose first non-blank
//! character is `#` are comments. A value is either quoted (`"…"` or `'…'`,
//! optionally followed by a `# comment`) or runs unquoted to the end of the
//! line with trailing blanks trimmed.
//!
//! Where booth silently reads something other than what the author meant, we
//! refuse the line instead (booth-protocol.md §10.4 #33): booth makes an inline
//! `# comment` after an unquoted value part of the value.

use super::diagnostics::quote;

/// Longest line booth reads.
pub(crate) const LINE_MAX: usize = 1023;
/// Longest key booth reads ("key/value too long").
pub(crate) const KEY_MAX: usize = 64;

/// One `key = value` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub quoted: bool,
}

/// A line booth would refuse, or would read differently from its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub key: Option<String>,
    pub message: String,
}

fn err(key: Option<&str>, message: String) -> LexError {
    LexError {
        key: key.map(str::to_owned),
        message,
    }
}

/// C's `isspace` in the "C" locale (what booth trims).
pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Splits one line (without its `\n`). `Ok(None)` for blank and comment lines.
pub(crate) fn lex(line: &str) -> Result<Option<Entry<'_>>, LexError> {
    if line.len() > LINE_MAX {
        return Err(err(
            None,
            format!(
                "line is {} characters long; booth reads at most {LINE_MAX} characters per line",
                line.len()
            ),
        ));
    }
    let s = line.trim_start_matches(is_space);
    if s.is_empty() || s.starts_with('#') {
        return Ok(None);
    }
    let key_end = s.find(|c: char| !is_key_char(c)).unwrap_or(s.len());
    let key = &s[..key_end];
    if key.is_empty() {
        let shown: String = s.chars().take(40).collect();
        return Err(err(
            None,
            format!(
                "expected a line of the form `key = value` or a `# comment`, found {}; a key \
                 consists of letters, digits, '-' and '_'",
                quote(&shown)
            ),
        ));
    }
    if key.len() > KEY_MAX {
        return Err(err(
            Some(key),
            format!(
                "key {} is {} characters long; booth accepts at most {KEY_MAX}",
                quote(key),
                key.len()
            ),
        ));
    }
    let rest = s[key_end..].trim_start_matches(is_space);
    let Some(rest) = rest.strip_prefix('=') else {
        let found = match rest.chars().next() {
            None => "the end of the line".to_owned(),
            Some(c) => quote(&c.to_string()),
        };
        return Err(err(
            Some(key),
            format!(
                "expected \"=\" after the key {} but found {found}; write `{key} = value` (a key \
                 consists of letters, digits, '-' and '_')",
                quote(key)
            ),
        ));
    };
    let rest = rest.trim_start_matches(is_space);
    let Some(first) = rest.chars().next() else {
        return Err(err(
            Some(key),
            format!("{key} = \"\": empty value (booth refuses it too)"),
        ));
    };
    if first == '"' || first == '\'' {
        let body = &rest[1..];
        let Some(end) = body.find(first) else {
            return Err(err(
                Some(key),
                format!(
                    "{key} = {rest}: the quote {first} is never closed; end the value with {first} \
                     on the same line"
                ),
            ));
        };
        let value = &body[..end];
        let after = body[end + 1..].trim_start_matches(is_space);
        if !after.is_empty() && !after.starts_with('#') {
            return Err(err(
                Some(key),
                format!(
                    "{key} = {}: unexpected text {} after the quoted value; only a `# comment` \
                     may follow the closing quote",
                    quote(value),
                    quote(after)
                ),
            ));
        }
        if value.is_empty() {
            return Err(err(
                Some(key),
                format!("{key} = \"\": empty value (booth refuses it too)"),
            ));
        }
        return Ok(Some(Entry {
            key,
            value,
            quoted: true,
        }));
    }
    let value = rest.trim_end_matches(is_space);
    if let Some(pos) = inline_comment(value) {
        let before = value[..pos].trim_end_matches(is_space);
        let comment = &value[pos..];
        let fix = if before.is_empty() {
            format!("put the comment on its own line and give {key} a value")
        } else {
            format!(
                "quote the value (`{key} = \"{before}\" {comment}`) or move the comment to its \
                 own line"
            )
        };
        return Err(err(
            Some(key),
            format!(
                "{key} = {}: booth does not treat `#` after an unquoted value as a comment: it \
                 would make {} part of the value and read {}; {fix}",
                quote(value),
                quote(comment),
                quote(value)
            ),
        ));
    }
    Ok(Some(Entry {
        key,
        value,
        quoted: false,
    }))
}

/// Position of a `#` that starts the (trimmed) value or follows a blank.
fn inline_comment(value: &str) -> Option<usize> {
    let mut prev_space = true;
    for (i, c) in value.char_indices() {
        if c == '#' && prev_space {
            return Some(i);
        }
        prev_space = is_space(c);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(line: &str) -> (String, String, bool) {
        let e = lex(line).unwrap().unwrap();
        (e.key.to_owned(), e.value.to_owned(), e.quoted)
    }

    #[test]
    fn comments_and_blanks() {
        assert_eq!(lex(""), Ok(None));
        assert_eq!(lex("   \t\r"), Ok(None));
        assert_eq!(lex("# x = y"), Ok(None));
        assert_eq!(lex("   # indented"), Ok(None));
    }

    #[test]
    fn values() {
        assert_eq!(
            entry("site = 127.0.0.2"),
            ("site".into(), "127.0.0.2".into(), false)
        );
        assert_eq!(
            entry("  expire=10  \r"),
            ("expire".into(), "10".into(), false)
        );
        assert_eq!(
            entry("ticket = \"ticketB\"        # all defaults"),
            ("ticket".into(), "ticketB".into(), true)
        );
        assert_eq!(
            entry("before-acquire-handler = '/usr/bin/x a # b'"),
            (
                "before-acquire-handler".into(),
                "/usr/bin/x a # b".into(),
                true
            )
        );
        assert_eq!(entry("name = a#b"), ("name".into(), "a#b".into(), false));
        assert_eq!(entry("x_y-z = a b"), ("x_y-z".into(), "a b".into(), false));
    }

    #[test]
    fn errors() {
        assert!(lex("site = 127.0.0.2 # dc1")
            .unwrap_err()
            .message
            .contains("quote the value"));
        assert!(lex("authfile = # none").is_err());
        assert!(lex("site").is_err());
        assert!(lex("site: 1").is_err());
        assert!(lex("site =").is_err());
        assert!(lex("site = \"\"").is_err());
        assert!(lex("ticket = \"a").is_err());
        assert!(lex("ticket = \"a\" b").is_err());
        assert!(lex("= 3").is_err());
        assert!(lex(&format!("name = {}", "a".repeat(1100))).is_err());
    }
}
