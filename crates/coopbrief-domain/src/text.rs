//! Text entered in Vietnamese, with an optional English rendering beside it.

use serde::{Deserialize, Deserializer, Serialize};

use crate::Lang;

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
