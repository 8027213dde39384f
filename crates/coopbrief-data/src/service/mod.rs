//! The gRPC services over one shared state, [`App`]: cooperation data (`cooperation`),
//! reports for people (`reports`), the worker-facing RPCs (`workers`), tokens and the audit
//! log (`access`).
//!
//! Each handler parses its request into domain types first (errors name the field), then
//! calls the store; store errors become gRPC codes in `error.rs`, nowhere else. A handler that
//! changes something records it with [`App::audit`] once the store has said yes.

mod access;
mod audit;
mod cooperation;
mod diagnostics;
mod reports;
mod schedules;
mod workers;

use std::str::FromStr;
use std::sync::Arc;

use coopbrief_domain::ReportId;
use coopbrief_queue::JobQueue;
use coopbrief_store::{ArtifactStore, Store};

use crate::error::{Error, Result};

pub use access::token_name;
pub(crate) use audit::caller;
pub use workers::MAX_PDF_BYTES;

/// State shared by every service.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub artifacts: ArtifactStore,
    pub queue: Arc<dyn JobQueue>,
    /// Reaches the outbox relay when a job has been written.
    pub relay: Arc<crate::relay::Handoff>,
    /// Imports parsed and written at once; one more is refused at once (`RESOURCE_EXHAUSTED`),
    /// so that big documents cannot pile up memory and CPU.
    pub imports: Arc<tokio::sync::Semaphore>,
    /// Issues briefings, when the service has the office's key.
    pub issuer: Option<Arc<crate::issuance::Issuer>>,
    /// The reports watched on this replica (`WatchReport`).
    pub watch: Arc<crate::watch::Hub>,
    /// Seals notify secrets; without it a request naming a notify target is refused.
    pub webhook_key: Option<Arc<crate::webhooks::WebhookKey>>,
}

impl App {
    /// Parses a notify target (empty: none) and seals its secret. A bad URL or secret is
    /// `INVALID_ARGUMENT` naming `notify.url` or `notify.secret`; a target while this service
    /// has no webhook key is `FAILED_PRECONDITION` naming the setting.
    pub(crate) fn notify_target(
        &self,
        target: Option<&coopbrief_proto::v1::NotifyTarget>,
    ) -> Result<Option<coopbrief_store::SealedTarget>> {
        let Some(target) = target.filter(|t| !t.url.trim().is_empty() || !t.secret.trim().is_empty()) else {
            return Ok(None);
        };
        let (url, secret) = coopbrief_proto::report::notify_target(target)?;
        let Some(key) = &self.webhook_key else {
            return Err(Error::FailedPrecondition(format!(
                "notify needs the data service's webhook key, and none is set: {}",
                crate::webhooks::KEY_SETTING
            )));
        };
        Ok(Some(key.seal_target(url, &secret)?))
    }
}

/// How many imports one data service runs at once.
pub const MAX_IMPORTS: usize = 2;

/// A required string field, trimmed; empty is `INVALID_ARGUMENT` naming the field.
pub(crate) fn required<'a>(value: &'a str, field: &str) -> Result<&'a str> {
    let v = value.trim();
    if v.is_empty() { Err(coopbrief_domain::Error::invalid(field, "is required").into()) } else { Ok(v) }
}

pub(crate) fn report_id(value: &str) -> Result<ReportId> {
    Ok(ReportId::from_str(required(value, "id")?)?)
}

/// `INVALID_ARGUMENT` naming the field, as this crate's error or as a status.
pub(crate) fn invalid<E: From<Error>>(field: impl Into<String>, message: impl Into<String>) -> E {
    E::from(Error::from(coopbrief_domain::Error::invalid(field, message)))
}

/// Page size when the request gives none (AIP-158).
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page of every list; a larger request gets this many.
pub const MAX_PAGE_SIZE: u32 = 500;

/// AIP-158: a page size of 0 is the default, above the maximum is the maximum, negative is an error.
pub(crate) fn page_size(size: i32) -> Result<u32> {
    match size {
        s if s < 0 => Err(invalid("page_size", format!("{s} is negative"))),
        0 => Ok(DEFAULT_PAGE_SIZE),
        s => Ok((s as u32).min(MAX_PAGE_SIZE)),
    }
}

/// The page a list request asks for.
pub(crate) fn page(size: i32, token: &str) -> Result<coopbrief_store::PageRequest> {
    let token = Some(token.trim()).filter(|t| !t.is_empty()).map(str::to_owned);
    Ok(coopbrief_store::PageRequest { size: page_size(size)?, token })
}

/// AIP-155, for every create: a request id is a UUID; empty means the client does not ask for
/// idempotency.
pub(crate) fn request_id(value: &str) -> Result<Option<String>> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let id = uuid::Uuid::parse_str(v).map_err(|_| invalid::<Error>("request_id", "is not a UUID"))?;
    Ok(Some(id.hyphenated().to_string()))
}
