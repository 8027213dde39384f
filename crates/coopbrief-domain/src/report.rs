//! Report identity, state and language.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result};

/// The id of a report request: a UUIDv7, so ids sort by creation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReportId(Uuid);

impl ReportId {
    pub fn new() -> Self {
        ReportId(Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for ReportId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ReportId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let s = s.strip_prefix("reports/").unwrap_or(s);
        Uuid::parse_str(s).map(ReportId).map_err(|_| {
            Error::invalid("id", format!("{s:?} is not a report id (a UUID, optionally as reports/<uuid>)"))
        })
    }
}

/// Where a report request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl ReportState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReportState::Queued => "QUEUED",
            ReportState::Running => "RUNNING",
            ReportState::Succeeded => "SUCCEEDED",
            ReportState::Failed => "FAILED",
            ReportState::Cancelled => "CANCELLED",
        }
    }

    /// Whether the report has reached an end state: no worker will change it (only an
    /// operator's retry of a failed or cancelled report).
    pub fn is_done(&self) -> bool {
        matches!(self, ReportState::Succeeded | ReportState::Failed | ReportState::Cancelled)
    }
}

impl FromStr for ReportState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "QUEUED" => Ok(ReportState::Queued),
            "RUNNING" => Ok(ReportState::Running),
            "SUCCEEDED" => Ok(ReportState::Succeeded),
            "FAILED" => Ok(ReportState::Failed),
            "CANCELLED" => Ok(ReportState::Cancelled),
            other => Err(Error::invalid("state", format!("{other:?} is not a report state"))),
        }
    }
}

impl fmt::Display for ReportState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The language of a briefing. Vietnamese first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Vi,
    En,
}

impl Lang {
    pub fn code(&self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }
}

impl FromStr for Lang {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "vi" => Ok(Lang::Vi),
            "en" => Ok(Lang::En),
            other => Err(Error::invalid("lang", format!("{other:?} is not a supported language; use vi or en"))),
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The PDF standard a briefing is written to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PdfStandard {
    /// Plain PDF.
    #[default]
    None,
    /// PDF/A-2b, for archiving.
    A2b,
    /// PDF/A-2b and PDF/UA-1 together: archivable and tagged for assistive technology.
    A2bUa1,
    /// PDF/A-3b with the briefing's data snapshot attached, so the figures travel with it.
    A3b,
}

impl PdfStandard {
    /// `""`, `"a-2b"`, `"a-2b,ua-1"` or `"a-3b"`, as written in requests and stored.
    pub fn code(&self) -> &'static str {
        match self {
            PdfStandard::None => "",
            PdfStandard::A2b => "a-2b",
            PdfStandard::A2bUa1 => "a-2b,ua-1",
            PdfStandard::A3b => "a-3b",
        }
    }
}

impl FromStr for PdfStandard {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let mut parts: Vec<String> = s
            .split([',', '+'])
            .map(|p| p.trim().to_ascii_lowercase().trim_start_matches("pdf/").replace(['-', '_'], ""))
            .filter(|p| !p.is_empty() && p != "none" && p != "pdf")
            .collect();
        parts.sort();
        parts.dedup();
        match parts.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            [] => Ok(PdfStandard::None),
            ["a2b"] => Ok(PdfStandard::A2b),
            ["a2b", "ua1"] => Ok(PdfStandard::A2bUa1),
            ["a3b"] => Ok(PdfStandard::A3b),
            _ => Err(Error::invalid(
                "pdf_standard",
                format!("{} is not supported; use a-2b, a-2b,ua-1, a-3b or leave it empty", crate::quote(s)),
            )),
        }
    }
}

/// A report request as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub id: ReportId,
    pub programme: String,
    pub period: crate::Period,
    pub lang: Lang,
    pub pdf_standard: PdfStandard,
    pub state: ReportState,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
    /// How many times a worker has started it.
    pub attempt: u32,
    pub error: Option<String>,
    /// Set once the report has succeeded.
    pub pdf: Option<PdfInfo>,
    /// The schedule that made it; `None` for a request made by hand.
    pub schedule: Option<crate::schedule::ScheduleId>,
    /// What the request (or its schedule) puts in place of the programme's letterhead.
    pub letterhead: crate::Letterhead,
    /// Set once the report has been issued: numbered, signed, stored beside the draft.
    pub issued: Option<Issued>,
    /// Where its events are POSTed (its own target or its schedule's) and how the newest
    /// one's delivery stands.
    pub notification: Option<crate::webhook::Notification>,
}

/// The facts of an issued briefing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    /// Its number in the office's register of the issue year: `12/BC-UBND`.
    pub number: crate::DocumentNumber,
    /// The office whose register gave the number.
    pub office: crate::Code,
    /// The issue date, in the office's time zone.
    pub date: jiff::civil::Date,
    pub at: jiff::Timestamp,
    /// The signer as printed: "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH Nguyễn Văn A".
    pub signer: String,
    /// The subject of the certificate the PDF is signed with.
    pub certificate: String,
    /// The issued PDF (the draft's facts stay in `Report::pdf`).
    pub pdf: PdfInfo,
}

/// The facts of a finished report's PDF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PdfInfo {
    pub pages: u32,
    pub bytes: u64,
    /// Lowercase hex sha256 of the PDF.
    pub sha256: String,
    pub template_version: String,
    /// sha256 of the briefing data the PDF was rendered from.
    pub data_hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_standards_read_as_people_write_them() {
        for (text, want) in [
            ("", PdfStandard::None),
            ("a-2b", PdfStandard::A2b),
            ("PDF/A-2b", PdfStandard::A2b),
            ("a-2b,ua-1", PdfStandard::A2bUa1),
            ("ua-1, a-2b", PdfStandard::A2bUa1),
            ("a-3b", PdfStandard::A3b),
        ] {
            let got: PdfStandard = text.parse().expect(text);
            assert_eq!(got, want, "{text}");
            assert_eq!(got.code().parse::<PdfStandard>().expect("code"), got);
        }
        for bad in ["a-1b", "ua-1", "a-3b,ua-1", "x"] {
            assert!(bad.parse::<PdfStandard>().is_err(), "{bad}");
        }
    }
}
