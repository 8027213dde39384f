//! PAdES baseline signatures for Coopbrief briefings (Nghị định 30/2020/NĐ-CP): signs a PDF as an incremental update
//! with a detached CAdES signature (SubFilter `ETSI.CAdES.detached`) and verifies such signatures offline.
//!
//! ```no_run
//! # fn main() -> coopbrief_sign::Result<()> {
//! let pdf = std::fs::read("briefing.pdf").expect("pdf");
//! let id = coopbrief_sign::demo_identity("Văn phòng UBND thành phố Hà Nội")?;
//! id.check_usable_at(jiff::Timestamp::now())?;
//! let signed = coopbrief_sign::sign_pdf(&pdf, &id, &coopbrief_sign::SignOptions::new(jiff::Timestamp::now()))?;
//! assert!(coopbrief_sign::verify_pdf(&signed)?.is_valid());
//! # Ok(())
//! # }
//! ```

mod asn1;
mod cms;
mod error;
mod identity;
mod pdf;
mod sign;
mod tsa;
mod verify;

pub use crate::error::{Error, Result};
pub use crate::identity::{SigningIdentity, demo_identity, demo_identity_pem};
pub use crate::pdf::MAX_PDF_BYTES;
pub use crate::sign::{SignOptions, sign_pdf};
pub use crate::verify::{DocInfo, SignatureReport, Verification, document_info, verify_pdf, verify_pdf_with_roots};
