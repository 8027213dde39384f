//! Text from the server made safe for a terminal: control and bidi characters shown, never obeyed.
//!
//! A name such as `"\x1b[2J\x1b]0;pwned\x07"` would clear the reader's screen and set the window
//! title if printed raw; a right-to-left override would reorder what the reader sees. Every
//! human-readable line the CLI prints passes server text through [`escape`]; the JSON and YAML
//! documents keep their values and write such characters as `\uXXXX` escapes ([`json`], [`yaml`]).

use std::borrow::Cow;
use std::fmt::Write;

/// C0 controls (newline and tab too), DEL, C1 controls and the bidi controls.
fn unsafe_char(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

/// `s` with each unsafe character written as `\u{1b}`; other text, backslashes included, as is.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes the characters serde_json leaves raw (DEL, C1, bidi) as `\uXXXX`. In serde_json's
/// output they can only stand inside strings (it escapes C0 there itself), where the escape reads
/// back as the same character, in JSON and in YAML's double-quoted strings alike.
pub(crate) fn json_text(text: String) -> String {
    if !text.chars().any(|c| c >= ' ' && unsafe_char(c)) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c >= ' ' && unsafe_char(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Pretty JSON whose bytes are safe on a terminal and which parses to the same value.
pub(crate) fn json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    Ok(json_text(serde_json::to_string_pretty(value)?))
}

/// YAML whose bytes are safe on a terminal and which parses to the same value: the usual block
/// style, or, when a value holds an unsafe character (the emitter writes some raw), the same
/// value as JSON (a YAML document too) with those characters escaped.
pub(crate) fn yaml<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    let text = serde_yaml_ng::to_string(value)?;
    if !text.chars().any(|c| c != '\n' && unsafe_char(c)) {
        return Ok(text);
    }
    Ok(json(value)? + "\n")
}

/// A YAML document received as text (`data export`), made safe the same way.
pub(crate) fn yaml_text(text: String) -> anyhow::Result<String> {
    if !text.chars().any(|c| c != '\n' && unsafe_char(c)) {
        return Ok(text);
    }
    let value: serde_json::Value = serde_yaml_ng::from_str(&text)?;
    Ok(json(&value)? + "\n")
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const HOSTILE: &str = "\x1b[2J\x1b]0;pwned\x07 a\tb\nc \u{7f}\u{9b}\u{202e}\u{2066}\u{200f}\u{61c}";

    #[test]
    fn escape_shows_every_control_and_bidi_character() {
        assert_eq!(
            escape(HOSTILE),
            "\\u{1b}[2J\\u{1b}]0;pwned\\u{7} a\\u{9}b\\u{a}c \\u{7f}\\u{9b}\\u{202e}\\u{2066}\\u{200f}\\u{61c}"
        );
        assert!(matches!(escape("Hà Nam – “Hà Nội” \\u{1b}"), Cow::Borrowed(_)), "plain text is left alone");
        assert_eq!(escape(&escape(HOSTILE)), escape(HOSTILE), "escaping twice changes nothing");
    }

    /// No byte of a C0 control, DEL or a C1/bidi character in the text.
    fn assert_safe(text: &str) {
        assert!(!text.chars().any(|c| c != '\n' && unsafe_char(c)), "{text:?}");
    }

    #[test]
    fn json_and_yaml_are_safe_and_read_back_the_same() {
        let doc = json!({"code": "hanam", "name": {"vi": HOSTILE, "en": "Ha Nam"}, "tags": [HOSTILE, 3]});
        let j = super::json(&doc).unwrap();
        assert_safe(&j);
        assert_eq!(serde_json::from_str::<Value>(&j).unwrap(), doc);
        let y = yaml(&doc).unwrap();
        assert_safe(&y);
        assert_eq!(serde_yaml_ng::from_str::<Value>(&y).unwrap(), doc);
        let exported = yaml_text(serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
        assert_safe(&exported);
        assert_eq!(serde_yaml_ng::from_str::<Value>(&exported).unwrap(), doc);

        let plain = json!({"code": "hanam", "description": "two\nlines"});
        assert_eq!(yaml(&plain).unwrap(), serde_yaml_ng::to_string(&plain).unwrap(), "safe values keep block style");
    }
}
