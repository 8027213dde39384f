//! RFC 3161 time-stamping for PAdES B-T: asks a time-stamp authority over plain HTTP for a token over the signature.

use crate::error::{Error, Result};

/// A time-stamp authority.
pub(crate) struct Tsa {
    _url: String,
}

impl Tsa {
    pub(crate) fn new(url: &str) -> Result<Tsa> {
        let _ = url;
        Err(Error::Unsupported("time-stamping (pades b-t) is not implemented yet".into()))
    }

    /// A time-stamp token (DER ContentInfo) over `signature`.
    pub(crate) fn stamp(&self, signature: &[u8]) -> Result<Vec<u8>> {
        let _ = signature;
        Err(Error::Unsupported("time-stamping".into()))
    }
}
