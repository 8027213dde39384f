//! Who issues a briefing, who signs it and who receives it (Nghị định 30/2020/NĐ-CP, Art. 8).
//!
//! A programme names them once; a schedule or a report request may override any of the three
//! parts ([`Letterhead::overridden_by`]). Without an office and a signer a briefing can only be
//! a draft: it shows the placeholders of an unsigned document.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Code, Error, Result, Text, limits};

/// The issuing office, the signer and the recipients of a briefing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Letterhead {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office: Option<Office>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<Signer>,
    /// Nơi nhận, one line each; the briefing adds "Lưu: VT." after them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<Text>,
}

impl Letterhead {
    pub fn is_empty(&self) -> bool {
        self.office.is_none() && self.signer.is_none() && self.recipients.is_empty()
    }

    /// This letterhead with each part `other` sets put in place of this one's.
    pub fn overridden_by(&self, other: &Letterhead) -> Letterhead {
        Letterhead {
            office: other.office.clone().or_else(|| self.office.clone()),
            signer: other.signer.clone().or_else(|| self.signer.clone()),
            recipients: if other.recipients.is_empty() { self.recipients.clone() } else { other.recipients.clone() },
        }
    }

    /// Checks every part; `at` is the path of the letterhead (`programmes[0]`, `letterhead`).
    pub fn check(&self, at: &str) -> Result<()> {
        if let Some(office) = &self.office {
            office.check(&join(at, "office"))?;
        }
        if let Some(signer) = &self.signer {
            signer.check(&join(at, "signer"))?;
        }
        if self.recipients.len() > limits::MAX_RECIPIENTS {
            return Err(Error::invalid(
                join(at, "recipients"),
                format!("at most {} recipients may be listed", limits::MAX_RECIPIENTS),
            ));
        }
        for (i, r) in self.recipients.iter().enumerate() {
            non_empty(r, &format!("{}[{i}]", join(at, "recipients")))?;
        }
        Ok(())
    }

    /// What an issued briefing needs: an office and a signer. Names what is missing.
    pub fn issuable(&self) -> Result<(&Office, &Signer)> {
        match (&self.office, &self.signer) {
            (Some(o), Some(s)) => Ok((o, s)),
            (None, _) => Err(Error::invalid(
                "office",
                "the issuing office is not set; set it on the programme, the schedule or the request",
            )),
            (_, None) => Err(Error::invalid(
                "signer",
                "the signer is not set; set it on the programme, the schedule or the request",
            )),
        }
    }
}

fn join(at: &str, field: &str) -> String {
    if at.is_empty() { field.to_owned() } else { format!("{at}.{field}") }
}

fn non_empty(text: &Text, field: &str) -> Result<()> {
    if text.is_empty() { Err(Error::invalid(field.to_owned(), "must not be empty")) } else { Ok(()) }
}

/// The issuing office (cơ quan ban hành).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Office {
    /// Keys the office's register of numbers: offices that share a code share their numbers.
    pub code: Code,
    /// E.g. "Ủy ban nhân dân thành phố Hà Nội"; printed in capitals.
    pub name: Text,
    /// The parent body (cơ quan chủ quản), printed above the office's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Text>,
    /// The symbol after the number (ký hiệu), e.g. `BC-UBND`.
    pub symbol: Symbol,
    /// The place name of the date line, e.g. "Hà Nội".
    pub place: Text,
}

impl Office {
    fn check(&self, at: &str) -> Result<()> {
        non_empty(&self.name, &join(at, "name"))?;
        non_empty(&self.place, &join(at, "place"))?;
        if let Some(parent) = &self.parent {
            non_empty(parent, &join(at, "parent"))?;
        }
        Ok(())
    }
}

/// The symbol of a document (ký hiệu): capital letters (Đ and other Vietnamese capitals
/// included) and digits in groups joined by `-`, e.g. `BC-UBND`, `BC-SKHĐT`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol(String);

impl Symbol {
    pub const MAX_CHARS: usize = 32;

    pub fn parse(value: impl Into<String>, field: &str) -> Result<Symbol> {
        let value = value.into();
        let ok_char = |c: char| c.is_uppercase() || c.is_ascii_digit();
        let groups_ok = value.split('-').all(|g| !g.is_empty() && g.chars().all(ok_char));
        if value.is_empty() {
            Err(Error::invalid(field, "must not be empty"))
        } else if value.chars().count() > Symbol::MAX_CHARS {
            Err(Error::invalid(field, format!("is longer than {} characters", Symbol::MAX_CHARS)))
        } else if !groups_ok {
            Err(Error::invalid(
                field,
                format!(
                    "{} is not a symbol: capital letters and digits in groups joined by '-', like BC-UBND",
                    crate::quote(&value)
                ),
            ))
        } else {
            Ok(Symbol(value))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Symbol {
    type Error = Error;
    fn try_from(value: String) -> Result<Symbol> {
        Symbol::parse(value, "symbol")
    }
}

impl From<Symbol> for String {
    fn from(s: Symbol) -> String {
        s.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// The signer: on whose behalf, their title, their name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signer {
    /// TM., KT., Q., TL., TUQ. or none (a head signing in their own right).
    #[serde(default, skip_serializing_if = "Authority::is_none")]
    pub authority: Authority,
    /// Whom the prefix names: the collective after TM. ("Ủy ban nhân dân"; the office's name
    /// when absent) or the head after KT., TL., TUQ. ("Chủ tịch"). Unused with Q. and none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<Text>,
    /// E.g. "Chủ tịch", "Phó Chủ tịch"; printed in capitals.
    pub title: Text,
    /// Full name, e.g. "Nguyễn Văn A".
    pub name: String,
}

impl Signer {
    fn check(&self, at: &str) -> Result<()> {
        non_empty(&self.title, &join(at, "title"))?;
        if self.name.trim().is_empty() {
            return Err(Error::invalid(join(at, "name"), "must not be empty"));
        }
        if let Some(of) = &self.on_behalf_of {
            non_empty(of, &join(at, "on_behalf_of"))?;
        }
        if matches!(self.authority, Authority::Kt | Authority::Tl | Authority::Tuq) && self.on_behalf_of.is_none() {
            return Err(Error::invalid(
                join(at, "on_behalf_of"),
                format!("{} needs the head it signs for, e.g. \"Chủ tịch\"", self.authority.prefix()),
            ));
        }
        Ok(())
    }

    /// The lines of the signature block above the signature, in capitals:
    /// `["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"]`, `["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"]`, `["Q. CHỦ TỊCH"]`.
    pub fn title_lines(&self, office: Option<&Office>, lang: crate::Lang) -> Vec<String> {
        let title = self.title.get(lang).to_uppercase();
        let of = self.on_behalf_of.as_ref().or(office.map(|o| &o.name)).map(|t| t.get(lang).to_uppercase());
        match (self.authority, of) {
            (Authority::None, _) => vec![title],
            (Authority::Q, _) => vec![format!("Q. {title}")],
            (a, Some(of)) => vec![format!("{} {of}", a.prefix()), title],
            (_, None) => vec![title],
        }
    }

    /// "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH Nguyễn Văn A": the signer on one line, for lists and logs.
    pub fn summary(&self, office: Option<&Office>) -> String {
        format!("{} {}", self.title_lines(office, crate::Lang::Vi).join(" / "), self.name)
    }
}

/// The signing authority's prefix (thẩm quyền ký, Nghị định 30/2020/NĐ-CP Phụ lục I, II.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Authority {
    /// The head signs in their own right.
    #[default]
    None,
    /// Thay mặt: for a collective body.
    Tm,
    /// Ký thay: a deputy for the head.
    Kt,
    /// Quyền: acting head.
    Q,
    /// Thừa lệnh: by order of the head.
    Tl,
    /// Thừa ủy quyền: by delegation.
    Tuq,
}

impl Authority {
    pub fn is_none(&self) -> bool {
        *self == Authority::None
    }

    /// `"TM."`, `"KT."` …, or `""`.
    pub fn prefix(&self) -> &'static str {
        match self {
            Authority::None => "",
            Authority::Tm => "TM.",
            Authority::Kt => "KT.",
            Authority::Q => "Q.",
            Authority::Tl => "TL.",
            Authority::Tuq => "TUQ.",
        }
    }

    /// Reads `tm`, `TM.`, `kt` …; empty or `none` is none.
    pub fn parse(value: &str, field: &str) -> Result<Authority> {
        match value.trim().trim_end_matches('.').to_ascii_lowercase().as_str() {
            "" | "none" => Ok(Authority::None),
            "tm" => Ok(Authority::Tm),
            "kt" => Ok(Authority::Kt),
            "q" => Ok(Authority::Q),
            "tl" => Ok(Authority::Tl),
            "tuq" => Ok(Authority::Tuq),
            _ => Err(Error::invalid(
                field,
                format!("{} is not one of TM., KT., Q., TL., TUQ. or none", crate::quote(value)),
            )),
        }
    }

    /// `"tm"`, `"kt"` …, `""`: as stored and sent.
    pub fn code(&self) -> &'static str {
        match self {
            Authority::None => "",
            Authority::Tm => "tm",
            Authority::Kt => "kt",
            Authority::Q => "q",
            Authority::Tl => "tl",
            Authority::Tuq => "tuq",
        }
    }
}

/// A document's number in its office's register: `12/BC-UBND`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentNumber {
    pub number: u32,
    pub symbol: Symbol,
}

impl fmt::Display for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.number, self.symbol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lang;

    fn office() -> Office {
        Office {
            code: Code::parse("ubnd-hanoi", "code").expect("code"),
            name: Text::vi("Ủy ban nhân dân thành phố Hà Nội"),
            parent: None,
            symbol: Symbol::parse("BC-UBND", "symbol").expect("symbol"),
            place: Text::vi("Hà Nội"),
        }
    }

    fn signer(authority: Authority, of: Option<&str>, title: &str) -> Signer {
        Signer { authority, on_behalf_of: of.map(Text::vi), title: Text::vi(title), name: "Nguyễn Văn A".into() }
    }

    #[test]
    fn symbols_take_vietnamese_capitals_and_refuse_the_rest() {
        for ok in ["BC-UBND", "BC-SKHĐT", "BC", "BC-VP2"] {
            assert!(Symbol::parse(ok, "symbol").is_ok(), "{ok}");
        }
        for bad in ["", "bc-ubnd", "BC--UBND", "-BC", "BC UBND", "BC/UBND", &"A".repeat(33)] {
            let e = Symbol::parse(bad, "office.symbol").expect_err(bad).to_string();
            assert!(e.starts_with("office.symbol: "), "{e}");
        }
    }

    #[test]
    fn title_lines_follow_the_decree() {
        let o = office();
        let lines = |s: Signer| s.title_lines(Some(&o), Lang::Vi);
        assert_eq!(lines(signer(Authority::None, None, "Chủ tịch")), ["CHỦ TỊCH"]);
        assert_eq!(
            lines(signer(Authority::Tm, Some("Ủy ban nhân dân"), "Chủ tịch")),
            ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"]
        );
        assert_eq!(
            lines(signer(Authority::Tm, None, "Chủ tịch")),
            ["TM. ỦY BAN NHÂN DÂN THÀNH PHỐ HÀ NỘI", "CHỦ TỊCH"]
        );
        assert_eq!(lines(signer(Authority::Kt, Some("Chủ tịch"), "Phó Chủ tịch")), ["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"]);
        assert_eq!(lines(signer(Authority::Q, None, "Chủ tịch")), ["Q. CHỦ TỊCH"]);
        assert!(signer(Authority::Kt, None, "Phó Chủ tịch").check("signer").is_err());
    }

    #[test]
    fn overrides_replace_whole_parts() {
        let base = Letterhead { office: Some(office()), signer: None, recipients: vec![Text::vi("Như trên")] };
        let over =
            Letterhead {
                office: None, signer: Some(signer(Authority::None, None, "Chủ tịch")), recipients: vec![]
            };
        let merged = base.overridden_by(&over);
        assert_eq!(merged.office, base.office);
        assert_eq!(merged.signer, over.signer);
        assert_eq!(merged.recipients, base.recipients);
        assert!(merged.issuable().is_ok());
        assert_eq!(base.issuable().expect_err("no signer").field(), Some("signer"));
    }

    #[test]
    fn reads_yaml_as_people_write_it() {
        let l: Letterhead = serde_yaml_ng::from_str(
            "office: { code: ubnd-hanoi, name: Ủy ban nhân dân thành phố Hà Nội, symbol: BC-UBND, place: Hà Nội }\n\
             signer: { authority: kt, on_behalf_of: Chủ tịch, title: Phó Chủ tịch, name: Nguyễn Văn A }\n\
             recipients: [Thường trực Thành ủy, Như trên]\n",
        )
        .expect("parse");
        l.check("letterhead").expect("valid");
        assert_eq!(l.signer.as_ref().map(|s| s.authority), Some(Authority::Kt));
        let bad = serde_yaml_ng::from_str::<Letterhead>("office: { code: x, name: a, symbol: bc, place: b }");
        assert!(bad.is_err());
    }
}
