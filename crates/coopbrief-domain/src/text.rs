//! Text entered in Vietnamese, with an optional English rendering beside it.

use serde::{Deserialize, Deserializer, Serialize};

use crate::{Lang, Result};

/// A piece of text in Vietnamese with an optional English version.
///
/// In the dataset it is written either as a plain string (Vietnamese only) or as
/// `{ vi: "…", en: "…" }`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Text {
    pub vi: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

impl Text {
    pub fn vi(vi: impl Into<String>) -> Self {
        Text { vi: vi.into(), en: None }
    }

    pub fn new(vi: impl Into<String>, en: impl Into<String>) -> Self {
        Text { vi: vi.into(), en: Some(en.into()) }
    }

    /// The text in `lang`, falling back to the Vietnamese as entered.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => self.en.as_deref().filter(|s| !s.is_empty()).unwrap_or(&self.vi),
            Lang::Vi => &self.vi,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.vi.trim().is_empty()
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Plain(String),
            Both {
                vi: String,
                #[serde(default)]
                en: Option<String>,
            },
        }
        Ok(match Raw::deserialize(deserializer)? {
            Raw::Plain(vi) => Text { vi, en: None },
            Raw::Both { vi, en } => Text { vi, en },
        })
    }
}

/// Checks that a string can be shown as it is, in the PDF and in its text layer: no control
/// characters but line breaks and tabs (a terminal or a viewer would act on them), no
/// bidirectional embeddings, overrides or isolates (they reorder what is shown, so the page
/// would say something else than the text), and no combining mark without a letter to sit on
/// (it would be drawn on nothing and doubled in the text layer). Vietnamese written with
/// combining marks after their letters is fine.
pub fn check_chars(text: &str, field: &str) -> Result<()> {
    let mut previous: Option<char> = None;
    for c in text.chars() {
        let why = match c {
            '\n' | '\t' => None,
            c if c.is_control() => Some("a control character"),
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {
                Some("a bidirectional control, which would reorder the text shown")
            }
            c if is_combining(c) && previous.is_none_or(char::is_whitespace) => {
                Some("a combining mark with no letter before it")
            }
            _ => None,
        };
        if let Some(why) = why {
            return Err(crate::Error::invalid(field, format!("holds U+{:04X}, {why}; remove it", c as u32)));
        }
        previous = Some(c);
    }
    Ok(())
}

/// Combining diacritical marks (the blocks Vietnamese and most Latin text use).
fn is_combining(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_shows_as_it_is_or_is_refused() {
        check_chars("Hà Nội – Hà Nam\nđợt 2", "title").unwrap();
        // Vietnamese in decomposed form: the marks follow their letters.
        check_chars("Ha\u{0300} No\u{0323}\u{0302}i", "title").unwrap();
        for bad in ["\u{1b}[2J", "a\u{7}", "abc \u{202E}cba", "\u{2067}x", "\u{0301}a", "a \u{0301}"] {
            let err = check_chars(bad, "partner.name.vi").unwrap_err();
            assert_eq!(err.field(), Some("partner.name.vi"), "{bad:?}");
        }
        let partner = crate::dataset::Partner {
            code: "x".parse().unwrap(),
            name: Text::new("ok", "\u{202E}x"),
            kind: crate::dataset::PartnerKind::City,
        };
        let err = crate::limits::check_value(&partner, "partner").unwrap_err();
        assert_eq!(err.field(), Some("partner.name.en"));
    }
}
