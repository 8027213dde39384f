//! Domain types of Coopbrief, parsed once and valid by construction.
//!
//! Everything past the gRPC boundary speaks these types: periods, languages, localized text,
//! the cooperation dataset (as people edit it in `data/`) and the briefing data a worker renders.

pub mod access;
pub mod briefing;
mod code;
pub mod dataset;
pub mod exchange;
pub mod format;
pub mod indicators;
pub mod letterhead;
pub mod limits;
mod period;
mod report;
pub mod resource;
pub mod schedule;
mod text;
pub mod webhook;
pub mod yaml;

pub use access::Role;
pub use briefing::BriefingData;
pub use code::Code;
pub use letterhead::{Authority, DocumentNumber, Letterhead, Office, Signer, Symbol};
pub use period::{Period, PeriodKind};
pub use report::{Issued, Lang, PdfInfo, PdfStandard, Report, ReportId, ReportState};
pub use text::{Text, check_chars};

/// Errors of domain parsing; each names the field it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{path}: {message}")]
    Dataset { path: String, message: String },
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), message: message.into() }
    }

    /// The field the error is about, if it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid { field, .. } => Some(field),
            Error::Dataset { .. } => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A value as an error message quotes it: escaped, in quotes, and at most 40 characters of it,
/// so that a message never echoes a whole field back.
pub fn quote(value: &str) -> String {
    const MAX: usize = 40;
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(MAX).collect();
    if chars.next().is_some() { format!("{head:?}…") } else { format!("{head:?}") }
}
