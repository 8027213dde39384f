//! The data service's errors and their one mapping to gRPC status codes.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Everything a data-service RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] coopbrief_store::Error),
    #[error("{0}")]
    Invalid(#[from] coopbrief_domain::Error),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("the job queue is unavailable: {0}")]
    Queue(#[from] coopbrief_queue::Error),
    /// No valid bearer token: missing, malformed, unknown or revoked.
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid token whose role does not allow the call.
    #[error("{0}")]
    PermissionDenied(String),
    /// A fault of this service (not of the request); logged, never shown in detail.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

const DOMAIN: &str = "coopbrief.v1";

impl From<Error> for Status {
    /// The only place where errors become gRPC codes.
    fn from(e: Error) -> Status {
        use coopbrief_store::Error as S;
        let invalid = |e: &coopbrief_domain::Error| {
            let details = match e.field() {
                Some(field) => ErrorDetails::with_bad_request_violation(field, e.to_string()),
                None => ErrorDetails::with_error_info("INVALID_ARGUMENT", DOMAIN, HashMap::new()),
            };
            Status::with_error_details(Code::InvalidArgument, e.to_string(), details)
        };
        let info = |code: Code, reason: &str, message: String| {
            Status::with_error_details(code, message, ErrorDetails::with_error_info(reason, DOMAIN, HashMap::new()))
        };
        match &e {
            Error::Invalid(d) | Error::Store(S::Invalid(d)) => invalid(d),
            Error::Store(S::NotFound { .. }) => info(Code::NotFound, "NOT_FOUND", e.to_string()),
            Error::Store(S::FailedPrecondition(_)) | Error::FailedPrecondition(_) => {
                info(Code::FailedPrecondition, "FAILED_PRECONDITION", e.to_string())
            }
            Error::Store(S::AlreadyExists { .. }) => info(Code::AlreadyExists, "ALREADY_EXISTS", e.to_string()),
            Error::Store(S::Aborted(_)) => info(Code::Aborted, "ETAG_MISMATCH", e.to_string()),
            Error::Queue(_) => info(Code::Unavailable, "QUEUE_UNAVAILABLE", e.to_string()),
            Error::Unauthenticated(_) => info(Code::Unauthenticated, "UNAUTHENTICATED", e.to_string()),
            Error::PermissionDenied(_) => info(Code::PermissionDenied, "PERMISSION_DENIED", e.to_string()),
            Error::Store(
                S::Corrupt { .. } | S::Database(_) | S::Migrate(_) | S::Io { .. } | S::Artifact { .. } | S::Config(_),
            )
            | Error::Internal(_) => {
                tracing::error!(error = %e, "internal error");
                info(Code::Internal, "INTERNAL", "internal error; see the data service's log".to_owned())
            }
        }
    }
}
