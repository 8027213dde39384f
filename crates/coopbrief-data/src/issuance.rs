//! Issuing a briefing: the draft's data rendered again with a number, a date and a signer,
//! signed with the office's key (PAdES), stored beside the draft.
//!
//! It happens here, in the data service, inside the transaction that takes the number
//! (`Store::begin_issue`): the number, the issued PDF and the report's issued facts become
//! true together or not at all, so the register has no gap. The key stays with the data
//! service, read from its file at each issuance (a rotated key or certificate is picked up
//! without a restart); it is never stored, logged or sent.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use coopbrief_domain::schedule::default_time_zone;
use coopbrief_domain::{DocumentNumber, Issued, PdfInfo, Report, ReportId};
use coopbrief_render::{IssueStamp, RenderOptions, Renderer};
use coopbrief_sign::{SignOptions, SigningIdentity};
use coopbrief_store::PdfCopy;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::service::App;

/// Where the office's key is, and how issued briefings are rendered and signed.
pub struct Issuer {
    key: PathBuf,
    cert: Option<PathBuf>,
    password_file: Option<PathBuf>,
    tsa_url: Option<String>,
    template_dir: Option<PathBuf>,
    /// Made at the first issuance: a data service that never issues never loads typst.
    renderer: OnceLock<Arc<Renderer>>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").field("key", &self.key).field("cert", &self.cert).finish_non_exhaustive()
    }
}

/// What the settings say about issuing.
#[derive(Clone, Debug, Default)]
pub struct IssuerSettings {
    pub key: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub password_file: Option<PathBuf>,
    pub tsa_url: Option<String>,
    pub template_dir: Option<PathBuf>,
}

impl Issuer {
    /// An issuer, when a key is configured.
    pub fn new(settings: &IssuerSettings) -> Option<Issuer> {
        Some(Issuer {
            key: settings.key.clone()?,
            cert: settings.cert.clone(),
            password_file: settings.password_file.clone(),
            tsa_url: settings.tsa_url.clone(),
            template_dir: settings.template_dir.clone(),
            renderer: OnceLock::new(),
        })
    }

    /// Reads the key and certificate now (blocking: file reads and key decryption).
    fn identity(&self) -> Result<SigningIdentity> {
        let password = match &self.password_file {
            Some(path) => Some(zeroize::Zeroizing::new(
                std::fs::read(path)
                    .map_err(|e| {
                        Error::FailedPrecondition(format!("cannot read the signing key's password file: {e}"))
                    })?
                    .trim_ascii_end()
                    .to_vec(),
            )),
            None => None,
        };
        Ok(SigningIdentity::load(self.cert.as_deref(), &self.key, password.as_deref().map(|p| p.as_slice()))?)
    }

    fn renderer(&self) -> Result<Arc<Renderer>> {
        if let Some(r) = self.renderer.get() {
            return Ok(r.clone());
        }
        let made = match &self.template_dir {
            Some(dir) => Renderer::with_template_dir(dir),
            None => Renderer::new(),
        }
        .map_err(|e| Error::Internal(format!("the renderer could not be set up: {e}")))?;
        Ok(self.renderer.get_or_init(|| Arc::new(made)).clone())
    }
}

impl App {
    /// Issues report `id` for `actor`: see the module's doc. Refused, taking no number, when
    /// the report is not a SUCCEEDED draft, is issued already, has no office or signer, its
    /// data changed since the draft, or the key cannot be used.
    pub async fn issue(&self, id: ReportId, caller: &Caller) -> Result<Report> {
        let issuer = self.issuer.clone().ok_or_else(|| {
            Error::FailedPrecondition(
                "this data service cannot issue briefings: it has no signing key (--signing-key)".into(),
            )
        })?;
        let report = self.store.report(id).await?;
        coopbrief_store::issuable(&report)?;
        let draft = report.pdf.clone().ok_or_else(|| Error::FailedPrecondition(format!("report {id} has no draft")))?;
        let mut data = (*self.store.briefing_data(&report.programme, report.period).await?).clone();
        data.override_letterhead(&report.letterhead);
        let (office, signer) = data
            .programme
            .letterhead
            .issuable()
            .map_err(|e| Error::FailedPrecondition(format!("report {id} cannot be issued: {e}")))?;
        let (office, signer) = (office.clone(), signer.clone());

        // The key is checked before a number is taken: a wrong password or an expired
        // certificate consumes nothing.
        let now = jiff::Timestamp::now();
        let identity = {
            let issuer = issuer.clone();
            tokio::task::spawn_blocking(move || issuer.identity())
                .await
                .map_err(|e| Error::Internal(format!("loading the signing key panicked: {e}")))??
        };
        identity.check_usable_at(now)?;
        let certificate = identity.subject();
        // Built once, at the first issuance (fonts and templates loaded): off the executor.
        let renderer = {
            let issuer = issuer.clone();
            tokio::task::spawn_blocking(move || issuer.renderer())
                .await
                .map_err(|e| Error::Internal(format!("setting up the renderer panicked: {e}")))??
        };
        if renderer.template_version() != draft.template_version {
            return Err(Error::FailedPrecondition(format!(
                "the draft was drawn with template {}, this data service has {}; issue it where the templates match, or make a new draft",
                draft.template_version,
                renderer.template_version()
            )));
        }

        let date = default_time_zone().to_datetime(now).date();
        let tx = self.store.begin_issue(id, &office.code, i32::from(date.year())).await?;
        let number = DocumentNumber { number: tx.number(), symbol: office.symbol.clone() };
        let options = RenderOptions::new(report.lang, data.as_of.unwrap_or(date))
            .with_pdf_standard(report.pdf_standard)
            .with_issue(IssueStamp { number: number.number, date });
        let sign = SignOptions {
            reason: Some(format!("Ban hành Báo cáo số {number}")),
            location: Some(office.place.vi.clone()),
            name: Some(signer.name.clone()),
            tsa_url: issuer.tsa_url.clone(),
            ..SignOptions::new(now)
        };
        let expected_hash = draft.data_hash.clone();
        let (pdf, pages) = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, u32)> {
            let rendered = renderer
                .render(&data, &options)
                .map_err(|e| Error::FailedPrecondition(format!("the issued briefing could not be rendered: {e}")))?;
            if rendered.data_hash != expected_hash {
                return Err(Error::FailedPrecondition(format!(
                    "the programme's data changed since the draft was made (data {} then, {} now); make a new draft and issue that",
                    &expected_hash[..expected_hash.len().min(12)],
                    &rendered.data_hash[..12]
                )));
            }
            Ok((coopbrief_sign::sign_pdf(&rendered.bytes, &identity, &sign)?, rendered.pages))
        })
        .await
        .map_err(|e| Error::Internal(format!("issuing panicked: {e}")))??;

        let issued = Issued {
            number: number.clone(),
            office: office.code.clone(),
            date,
            at: now,
            signer: signer.summary(Some(&office)),
            certificate,
            pdf: PdfInfo {
                pages,
                bytes: pdf.len() as u64,
                sha256: hex::encode(Sha256::digest(&pdf)),
                template_version: draft.template_version.clone(),
                data_hash: draft.data_hash.clone(),
            },
        };
        // Whole or not at all: the file is written before the number is committed, and
        // removed again if the commit fails.
        self.artifacts.put(id, PdfCopy::Issued, pdf).await?;
        match tx.commit(&issued).await {
            Ok(report) => {
                info!(report_id = %id, number = %number, office = %office.code, actor = %caller.name, "briefing issued");
                let changes = serde_json::json!({
                    "issued": number.to_string(),
                    "office": office.code.to_string(),
                    "date": date.to_string(),
                    "sha256": issued.pdf.sha256,
                    "certificate": issued.certificate,
                });
                self.audit(caller, &format!("reports/{id}"), changes).await;
                Ok(report)
            }
            Err(e) => {
                if let Err(removed) = self.artifacts.delete(id, PdfCopy::Issued).await {
                    warn!(report_id = %id, error = %removed, "an issued pdf whose issuance failed could not be removed");
                }
                Err(e.into())
            }
        }
    }
}

/// What a signed briefing says of itself: its last signature checked, and the number, issue
/// date and data hash its metadata carry (the renderer writes them into the PDF's keywords,
/// which the signature covers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BriefingCheck {
    /// Signed, every signature valid, nothing changed after signing.
    pub valid: bool,
    pub problem: Option<String>,
    pub modified_after_signing: bool,
    pub covers_whole_document: bool,
    pub signer_subject: String,
    pub certificate_sha256: String,
    pub certificate_serial: String,
    pub signing_time: Option<jiff::Timestamp>,
    pub certificate_not_after: Option<jiff::Timestamp>,
    pub number: Option<String>,
    pub issue_date: Option<String>,
    pub data_hash: Option<String>,
}

/// Checks a briefing offline (the CLI's `report verify FILE` and `VerifyDocument` alike).
pub fn check_briefing(pdf: &[u8]) -> coopbrief_sign::Result<BriefingCheck> {
    let verification = coopbrief_sign::verify_pdf(pdf)?;
    let info = coopbrief_sign::document_info(pdf)?;
    let keywords = info.keywords.unwrap_or_default();
    let keyword =
        |key: &str| keywords.split([',', ';']).map(str::trim).find_map(|k| k.strip_prefix(key)).map(str::to_owned);
    let mut check = BriefingCheck {
        valid: verification.is_valid(),
        number: keyword("number="),
        issue_date: keyword("issued="),
        data_hash: keyword("data-sha256="),
        ..BriefingCheck::default()
    };
    let Some(last) = verification.signatures.last() else {
        check.problem = Some("the document is not signed".into());
        return Ok(check);
    };
    check.problem = verification.signatures.iter().find_map(|s| s.problem.clone());
    if check.problem.is_none() && !check.valid {
        check.problem = Some("the signature does not cover the whole document".into());
    }
    check.modified_after_signing = verification.signatures.iter().any(|s| s.modified_after_signing);
    check.covers_whole_document = last.covers_whole_document;
    check.signer_subject = last.signer_subject.clone();
    check.certificate_sha256 = last.certificate_sha256.clone();
    check.certificate_serial = last.serial.clone();
    check.signing_time = last.signing_time;
    check.certificate_not_after = last.not_after;
    Ok(check)
}

/// Checks a signed briefing's bytes; a PDF that cannot be read is `INVALID_ARGUMENT` on `pdf`.
pub fn verify(pdf: &[u8]) -> Result<coopbrief_proto::v1::VerifyDocumentResponse> {
    let check =
        check_briefing(pdf).map_err(|e| Error::Invalid(coopbrief_domain::Error::invalid("pdf", e.to_string())))?;
    let ts = coopbrief_proto::report::timestamp;
    Ok(coopbrief_proto::v1::VerifyDocumentResponse {
        valid: check.valid,
        problem: check.problem.unwrap_or_default(),
        modified_after_signing: check.modified_after_signing,
        covers_whole_document: check.covers_whole_document,
        signer_subject: check.signer_subject,
        certificate_sha256: check.certificate_sha256,
        certificate_serial: check.certificate_serial,
        signing_time: check.signing_time.map(ts),
        certificate_not_after: check.certificate_not_after.map(ts),
        number: check.number.unwrap_or_default(),
        issue_date: check.issue_date.unwrap_or_default(),
        data_hash: check.data_hash.unwrap_or_default(),
    })
}
