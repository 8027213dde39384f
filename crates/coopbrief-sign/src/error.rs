//! The one error type of the crate: short lowercase messages naming what is wrong, never a key's bytes or a password.

use std::path::PathBuf;

/// Everything that can go wrong while loading a signing identity, signing or verifying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key or certificate file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The signing key's password is wrong (or a password was needed and none was given).
    #[error("the signing key's password is wrong")]
    KeyPassword,
    /// The signing key could not be read.
    #[error("the signing key cannot be read: {0}")]
    Key(String),
    /// The key is of a type this crate cannot sign with.
    #[error("unsupported signing key: {0}")]
    UnsupportedKey(String),
    /// The key does not belong to the certificate.
    #[error("the signing key does not match the certificate")]
    KeyMismatch,
    /// A certificate could not be read, or none was given.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The signing certificate is past its end of validity.
    #[error("the signing certificate expired at {not_after}")]
    CertificateExpired {
        /// End of the certificate's validity.
        not_after: jiff::Timestamp,
    },
    /// The signing certificate is not yet valid.
    #[error("the signing certificate is not valid before {not_before}")]
    CertificateNotYetValid {
        /// Start of the certificate's validity.
        not_before: jiff::Timestamp,
    },
    /// The PDF could not be read or has a structure this crate refuses.
    #[error("pdf: {0}")]
    Pdf(String),
    /// The signature could not be made.
    #[error("signing failed: {0}")]
    Sign(String),
    /// A time-stamp authority could not be reached or answered wrongly.
    #[error("time-stamp: {0}")]
    Timestamp(String),
    /// Something this crate does not do.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn pdf_err(msg: impl Into<String>) -> Error {
    Error::Pdf(msg.into())
}
