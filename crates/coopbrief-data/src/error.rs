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
    /// The service is at its limit for this kind of call (concurrent imports …); try again later.
    #[error("{0}")]
    Busy(String),
    /// The signing key or certificate cannot be used, or signing failed. Never carries the
    /// key's bytes or its password (the signing crate's messages do not).
    #[error("{0}")]
    Sign(#[from] coopbrief_sign::Error),
    /// The service is shutting down: the call may be made again (another replica answers).
    #[error("the data service is shutting down; try again")]
    ShuttingDown,
    /// A fault of this service (not of the request); logged, never shown in detail.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

const DOMAIN: &str = "coopbrief.v1";

impl From<Error> for Status {
    /// The only place where errors become gRPC codes.
    fn from(e: Error) -> Status {
        use coopbrief_store::{ArtifactFault, Error as S};
        let said = told(&e.to_string());
        let invalid = |e: &coopbrief_domain::Error| {
            let details = match e.field() {
                Some(field) => ErrorDetails::with_bad_request_violation(field, said.clone()),
                None => ErrorDetails::with_error_info("INVALID_ARGUMENT", DOMAIN, HashMap::new()),
            };
            Status::with_error_details(Code::InvalidArgument, said.clone(), details)
        };
        let info = |code: Code, reason: &str| {
            Status::with_error_details(
                code,
                said.clone(),
                ErrorDetails::with_error_info(reason, DOMAIN, HashMap::new()),
            )
        };
        let passing = |code: Code, reason: &str, message: &str| {
            Status::with_error_details(code, message, ErrorDetails::with_error_info(reason, DOMAIN, HashMap::new()))
        };
        match &e {
            Error::Invalid(d) | Error::Store(S::Invalid(d)) => invalid(d),
            Error::Store(S::NotFound { .. }) => info(Code::NotFound, "NOT_FOUND"),
            Error::Store(S::FailedPrecondition(_)) | Error::FailedPrecondition(_) => {
                info(Code::FailedPrecondition, "FAILED_PRECONDITION")
            }
            Error::Store(S::AlreadyExists { .. }) => info(Code::AlreadyExists, "ALREADY_EXISTS"),
            Error::Store(S::Aborted(_)) => info(Code::Aborted, "ETAG_MISMATCH"),
            Error::Queue(_) => info(Code::Unavailable, "QUEUE_UNAVAILABLE"),
            Error::ShuttingDown => info(Code::Unavailable, "SHUTTING_DOWN"),
            Error::Busy(_) => info(Code::ResourceExhausted, "BUSY"),
            // A time-stamp authority that does not answer may answer later.
            Error::Sign(coopbrief_sign::Error::Timestamp(_)) => info(Code::Unavailable, "TIMESTAMP_UNAVAILABLE"),
            // The office's key or certificate: an operator must act before it can issue.
            Error::Sign(_) => info(Code::FailedPrecondition, "SIGNING_KEY"),
            Error::Unauthenticated(_) => info(Code::Unauthenticated, "UNAUTHENTICATED"),
            Error::PermissionDenied(_) => info(Code::PermissionDenied, "PERMISSION_DENIED"),
            // Passing conditions of the service's own stores: the caller retries. What failed
            // exactly is for the operator's log, not for the caller.
            Error::Store(S::Unavailable(_)) => {
                tracing::warn!(error = %e, "the database is unavailable");
                passing(Code::Unavailable, "DATABASE_UNAVAILABLE", "the database is unavailable; try again")
            }
            Error::Store(S::Artifact { fault: ArtifactFault::Full, .. }) => {
                tracing::warn!(error = %e, "the PDF store is full");
                passing(Code::ResourceExhausted, "PDF_STORE_FULL", "the PDF store is full")
            }
            Error::Store(S::Artifact { fault: ArtifactFault::Unavailable, .. }) => {
                tracing::warn!(error = %e, "the PDF store is unavailable");
                passing(Code::Unavailable, "PDF_STORE_UNAVAILABLE", "the PDF store is unavailable")
            }
            Error::Store(
                S::Corrupt { .. }
                | S::Database(_)
                | S::Migrate(_)
                | S::Io { .. }
                | S::Artifact { fault: ArtifactFault::Other, .. }
                | S::Config(_),
            )
            | Error::Internal(_) => {
                tracing::error!(error = %e, "internal error");
                let details = ErrorDetails::with_error_info("INTERNAL", DOMAIN, HashMap::new());
                Status::with_error_details(Code::Internal, "internal error; see the data service's log", details)
            }
        }
    }
}

/// A message as a caller is told it: every quoted value cut to a short prefix (a message names
/// what is wrong; it never echoes a whole field back), and the whole at most 1 KiB.
pub fn told(message: &str) -> String {
    const QUOTE: usize = 40;
    let mut out = String::with_capacity(message.len().min(crate::answers::MAX_MESSAGE_BYTES));
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '"' {
            continue;
        }
        let (mut kept, mut escaped) = (0, false);
        for c in chars.by_ref() {
            let closing = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            if closing {
                if kept > QUOTE {
                    out.push('…');
                }
                out.push('"');
                break;
            }
            kept += 1;
            if kept <= QUOTE {
                out.push(c);
            }
        }
    }
    crate::answers::shorten(&out, crate::answers::MAX_MESSAGE_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_quote_a_short_prefix_and_stay_short() {
        let long = format!("period: {:?} is not a period", "a".repeat(5000));
        let said = told(&long);
        assert!(said.starts_with(&format!("period: \"{}…\" is not", "a".repeat(40))), "{said}");
        assert!(said.ends_with("is not a period"));
        assert_eq!(told("partner \"hanoi\" not found"), "partner \"hanoi\" not found");
        assert_eq!(told(r#"a "b\"c" d"#), r#"a "b\"c" d"#);
        assert!(told(&"x".repeat(5000)).len() <= crate::answers::MAX_MESSAGE_BYTES);
        let status = Status::from(Error::Invalid(coopbrief_domain::Error::invalid("yaml", long)));
        assert!(status.message().len() < 200 && status.code() == Code::InvalidArgument);
    }

    #[test]
    fn a_full_or_unreachable_store_is_a_passing_condition_with_a_short_reason() {
        use coopbrief_store::{ArtifactFault, Error as S};
        let artifact = |fault| {
            let message = "Unable to copy data to file: No space left on device (os error 28)".into();
            Status::from(Error::Store(S::Artifact { location: "/srv/coopbrief/pdf".into(), fault, message }))
        };
        let full = artifact(ArtifactFault::Full);
        assert_eq!((full.code(), full.message()), (Code::ResourceExhausted, "the PDF store is full"));
        let down = artifact(ArtifactFault::Unavailable);
        assert_eq!((down.code(), down.message()), (Code::Unavailable, "the PDF store is unavailable"));
        assert_eq!(artifact(ArtifactFault::Other).code(), Code::Internal);
    }
}
