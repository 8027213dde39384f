//! Codes: the short, stable, URL-safe identifiers of partners, sectors, programmes and records
//! (`hanoi`, `hanoi-hanam`, `ring-road-5`). A [`Code`] is built only by parsing, so one that
//! exists is valid and nothing past the boundary checks it again.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Lowercase ASCII letters, digits and `-`, 1 to 64 of them, not starting with `-`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Code(String);

impl Code {
    /// The longest code.
    pub const MAX_LEN: usize = 64;

    /// Parses a code; an error names `field` and quotes a short prefix of what was given.
    pub fn parse(code: impl Into<String>, field: &str) -> Result<Code> {
        let code = code.into();
        let ok = !code.is_empty()
            && code.len() <= Code::MAX_LEN
            && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !code.starts_with('-');
        if ok {
            Ok(Code(code))
        } else {
            Err(Error::invalid(
                field,
                format!("{} is not a code (1–64 characters: lowercase letters, digits and '-')", crate::quote(&code)),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Code {
    type Error = Error;
    fn try_from(code: String) -> Result<Code> {
        Code::parse(code, "code")
    }
}

impl FromStr for Code {
    type Err = Error;
    fn from_str(code: &str) -> Result<Code> {
        Code::parse(code, "code")
    }
}

impl From<Code> for String {
    fn from(code: Code) -> String {
        code.0
    }
}

impl Deref for Code {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Code {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// As the text it is: `"hanoi"`.
impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Code {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_codes_parse() {
        for good in ["hanoi", "hanoi-hanam", "ring-road-5", "a"] {
            assert_eq!(Code::parse(good, "code").unwrap(), good);
        }
        for bad in ["", "Hà Nội", "-x", "x y", "UPPER", &"a".repeat(65), "../../etc/passwd"] {
            let err = Code::parse(bad, "partner.code").unwrap_err();
            assert_eq!(err.field(), Some("partner.code"), "{bad:?}");
        }
        let long = Code::parse("x".repeat(10_000), "code").unwrap_err().to_string();
        assert!(long.len() < 200, "a bad value is quoted by a short prefix: {long}");
    }

    #[test]
    fn serde_parses_and_refuses() {
        let c: Code = serde_json::from_str("\"hanam\"").unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"hanam\"");
        assert!(serde_json::from_str::<Code>("\"Hà Nam\"").is_err());
    }
}
