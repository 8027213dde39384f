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
use tonic::Status;

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
}

/// A required string field, trimmed; empty is `INVALID_ARGUMENT` naming the field.
pub(crate) fn required<'a>(value: &'a str, field: &str) -> Result<&'a str> {
    let v = value.trim();
    if v.is_empty() { Err(coopbrief_domain::Error::invalid(field, "is required").into()) } else { Ok(v) }
}

pub(crate) fn report_id(value: &str) -> Result<ReportId> {
    Ok(ReportId::from_str(required(value, "id")?)?)
}

/// An `INVALID_ARGUMENT` status naming the field.
pub(crate) fn invalid(field: &str, message: &str) -> Status {
    Error::from(coopbrief_domain::Error::invalid(field, message)).into()
}
