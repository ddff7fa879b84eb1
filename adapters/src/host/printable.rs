//! Text a peer sent, made safe to show on a terminal. A detail text, a procedure or type
//! name from a manifest, a string in a result: any of them may hold escape sequences that
//! move the cursor, recolour or retitle a terminal, or bidirectional overrides that make
//! what is shown differ from what is there. These functions write such characters as
//! visible escapes and leave everything else alone.

use std::borrow::Cow;
use std::fmt::Write;

/// True for characters a terminal may act on instead of showing: C0 controls, DEL, C1
/// controls (U+0080 to U+009F), and the bidirectional embeddings, overrides and isolates.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character a terminal might act on written as a Rust escape (`\u{1b}`,
/// `\n`); unchanged (borrowed) if there is none.
///
/// ```
/// use wirecall_adapters::host::printable;
/// assert_eq!(printable("no such file"), "no such file");
/// assert_eq!(printable("\x1b[31mred\x1b[0m"), "\\u{1b}[31mred\\u{1b}[0m");
/// assert_eq!(printable("two\nlines"), "two\\nlines");
/// ```
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text (as `serde_json` writes it, which escapes only C0 controls) with DEL, the C1
/// controls and the bidirectional overrides escaped too, as `\u009b`: still the same JSON
/// value, now safe on a terminal.
///
/// ```
/// use wirecall_adapters::host::json_printable;
/// assert_eq!(json_printable(r#"{"a":"x"}"#), r#"{"a":"x"}"#);
/// assert_eq!(json_printable("\"\u{9b}31m\""), r#""\u009b31m""#);
/// assert_eq!(json_printable("{\n  \"a\": 1\n}"), "{\n  \"a\": 1\n}");
/// ```
pub fn json_printable(json: &str) -> Cow<'_, str> {
    // C0 controls inside strings are escaped by the JSON writer already; outside them they
    // are its layout (newlines, indentation), left as they are.
    let unsafe_in_json = |c: char| is_unsafe(c) && u32::from(c) >= 0x20;
    if !json.chars().any(unsafe_in_json) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if unsafe_in_json(c) {
            // Outside strings JSON holds no such characters, so each is inside one.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_and_override_is_escaped_and_nothing_else() {
        let hostile = "\x1b]0;title\x07 \u{9b}2J \u{7f} \u{202e}txt.exe\u{2069} ok ünï 日本";
        let shown = printable(hostile);
        assert!(!shown.chars().any(is_unsafe), "{shown}");
        assert!(shown.contains("ok ünï 日本"), "{shown}");
        let json = serde_escape(hostile);
        let safe = json_printable(&json);
        assert!(!safe.chars().any(is_unsafe), "{safe}");
        // The same value, read back.
        assert_eq!(parse_json_string(&safe), hostile);
    }

    /// A JSON string as serde_json writes it (C0 escaped, the rest raw).
    fn serde_escape(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// Reads back a JSON string of `\uXXXX` escapes (BMP only) and plain characters.
    fn parse_json_string(json: &str) -> String {
        let inner = &json[1..json.len() - 1];
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let code = u32::from_str_radix(&hex, 16).unwrap_or(0xfffd);
                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                Some(other) => out.push(other),
                None => {}
            }
        }
        out
    }
}
