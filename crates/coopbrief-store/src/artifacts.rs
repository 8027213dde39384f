//! Where finished PDFs are kept: a local directory by default, or any S3-compatible object
//! store, through the `object_store` crate; one object per report, `<prefix>/<report id>.pdf`.

use std::path::Path;
use std::sync::Arc;

use coopbrief_domain::ReportId;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use crate::{Error, Result};

/// The PDFs of reports. Writes are whole or nothing: the local store writes a staging file
/// and renames it into place, S3 makes an object visible only once its upload completes; a
/// reader never sees half a PDF.
#[derive(Clone, Debug)]
pub struct ArtifactStore {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// Where, for messages: a directory or a URL (without credentials).
    location: String,
}

impl ArtifactStore {
    /// A local directory (created if missing).
    pub fn local(dir: impl AsRef<Path>) -> Result<ArtifactStore> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
        let store =
            object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(|e| artifact_error(dir.display(), e))?;
        Ok(ArtifactStore { store: Arc::new(store), prefix: ObjectPath::default(), location: dir.display().to_string() })
    }

    /// An artifact store named by `location`: a directory path (or `file:///abs/dir`), or
    /// `s3://bucket/prefix` for S3 and S3-compatible stores (MinIO, Ceph …), configured by the
    /// usual `AWS_*` environment variables (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`), or `memory://` (tests).
    pub fn open_location(location: &str) -> Result<ArtifactStore> {
        let Some((scheme, rest)) = location.split_once("://") else { return ArtifactStore::local(location) };
        match scheme {
            "file" => ArtifactStore::local(rest),
            "memory" => Ok(ArtifactStore {
                store: Arc::new(object_store::memory::InMemory::new()),
                prefix: ObjectPath::default(),
                location: location.to_owned(),
            }),
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                // A few quick retries of the client's own for a blip; a longer outage is the job
                // pipeline's to wait out (its delay queues), rather than a call held for minutes.
                let retry = object_store::RetryConfig {
                    max_retries: 3,
                    retry_timeout: std::time::Duration::from_secs(15),
                    ..object_store::RetryConfig::default()
                };
                let store = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry)
                    .build()
                    .map_err(|e| artifact_error(location, e))?;
                Ok(ArtifactStore {
                    store: Arc::new(store),
                    prefix: ObjectPath::from(prefix.trim_matches('/')),
                    location: location.to_owned(),
                })
            }
            other => Err(Error::Config(format!(
                "artifact store {location:?}: unknown scheme {other:?} (use a directory, file://, s3:// or memory://)"
            ))),
        }
    }

    fn path(&self, id: ReportId, copy: PdfCopy) -> ObjectPath {
        match copy {
            PdfCopy::Draft => self.prefix.child(format!("{id}.pdf")),
            PdfCopy::Issued => self.prefix.child(format!("{id}.issued.pdf")),
        }
    }

    /// Stores a copy of a report's PDF, replacing any earlier one whole.
    pub async fn put(&self, id: ReportId, copy: PdfCopy, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(id, copy);
        self.store.put(&path, bytes.into()).await.map_err(|e| artifact_error(&self.location, e))?;
        Ok(())
    }

    /// Removes a copy (an issued PDF whose issuance did not commit); absent is fine.
    pub async fn delete(&self, id: ReportId, copy: PdfCopy) -> Result<()> {
        match self.store.delete(&self.path(id, copy)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(artifact_error(&self.location, e)),
        }
    }

    /// Streams a stored PDF, in the pieces the store hands out.
    pub async fn open(&self, id: ReportId, copy: PdfCopy) -> Result<BoxStream<'static, Result<Vec<u8>>>> {
        let found = self.store.get(&self.path(id, copy)).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => Error::NotFound { what: "pdf of report", key: id.to_string() },
            e => artifact_error(&self.location, e),
        })?;
        let location = self.location.clone();
        Ok(found
            .into_stream()
            .map(move |piece| piece.map(|b| b.to_vec()).map_err(|e| artifact_error(&location, e)))
            .boxed())
    }

    /// A stored PDF whole, up to `max` bytes (an issued PDF to verify).
    pub async fn read(&self, id: ReportId, copy: PdfCopy, max: usize) -> Result<Vec<u8>> {
        let mut pieces = self.open(id, copy).await?;
        let mut bytes = Vec::new();
        while let Some(piece) = pieces.next().await {
            bytes.extend_from_slice(&piece?);
            if bytes.len() > max {
                return Err(Error::FailedPrecondition(format!("the pdf of report {id} is larger than {max} bytes")));
            }
        }
        Ok(bytes)
    }

    /// Where the PDFs are, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }
}

/// Which copy of a report's PDF: the draft a worker rendered, or the issued, signed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PdfCopy {
    Draft,
    Issued,
}

/// Why the artifact store failed, as far as a caller cares: whether trying again can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactFault {
    /// Out of space or quota (`ENOSPC`, `EDQUOT`, HTTP 507): worth retrying once space is freed.
    Full,
    /// Not reachable or not answering (connection refused or reset, a timeout, HTTP 5xx, 429 or
    /// 408 after the client's own retries): worth retrying later.
    Unavailable,
    /// Anything else (permissions, a missing bucket, a bad setting): an operator must act.
    Other,
}

fn artifact_error(location: impl std::fmt::Display, e: object_store::Error) -> Error {
    Error::Artifact { location: location.to_string(), fault: fault_of(&e), message: e.to_string() }
}

/// Classifies an object-store error by what its chain of causes holds: an I/O error (local
/// files, or the socket under an HTTP request), the HTTP client's error kind, or — the one
/// thing `object_store` does not expose as a type — the status an S3 server answered with.
fn fault_of(e: &object_store::Error) -> ArtifactFault {
    use object_store::client::{HttpError, HttpErrorKind};
    use std::io::ErrorKind;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            // ENOSPC is 28 and EDQUOT 122 on Linux; `ErrorKind` names them too.
            if matches!(io.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
                || matches!(io.raw_os_error(), Some(28 | 122))
            {
                return ArtifactFault::Full;
            }
            if matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::NotConnected
                    | ErrorKind::BrokenPipe
                    | ErrorKind::TimedOut
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
            ) {
                return ArtifactFault::Unavailable;
            }
        }
        if let Some(http) = c.downcast_ref::<HttpError>()
            && matches!(
                http.kind(),
                HttpErrorKind::Connect | HttpErrorKind::Request | HttpErrorKind::Timeout | HttpErrorKind::Interrupted
            )
        {
            return ArtifactFault::Unavailable;
        }
        cause = c.source();
    }
    // After its retries, object_store reports a server's answer only in text:
    // "Server returned non-2xx status code: 503 Service Unavailable: …", or "Server returned
    // error response: …" for a 200 whose body is an S3 error (InternalError, SlowDown).
    let said = e.to_string();
    let status =
        said.split_once("status code: ").and_then(|(_, rest)| rest.get(..3)).and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(507) => ArtifactFault::Full,
        Some(408 | 429 | 500..=599) => ArtifactFault::Unavailable,
        _ if said.contains("Server returned error response") => ArtifactFault::Unavailable,
        _ => ArtifactFault::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(source: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
        object_store::Error::Generic { store: "test", source: Box::new(source) }
    }

    #[test]
    fn full_and_unavailable_stores_are_told_apart_from_other_faults() {
        let io = |code| generic(std::io::Error::from_raw_os_error(code));
        assert_eq!(fault_of(&io(28)), ArtifactFault::Full, "ENOSPC");
        assert_eq!(fault_of(&io(122)), ArtifactFault::Full, "EDQUOT");
        assert_eq!(fault_of(&io(111)), ArtifactFault::Unavailable, "ECONNREFUSED");
        assert_eq!(fault_of(&io(13)), ArtifactFault::Other, "EACCES");
        let said = |text: &str| generic(std::io::Error::other(text.to_owned()));
        let status = "Error performing PUT http://s3/b/x.pdf in 1s - Server returned non-2xx status code: ";
        assert_eq!(fault_of(&said(&format!("{status}503 Service Unavailable: "))), ArtifactFault::Unavailable);
        assert_eq!(fault_of(&said(&format!("{status}507 Insufficient Storage: "))), ArtifactFault::Full);
        assert_eq!(fault_of(&said(&format!("{status}403 Forbidden: AccessDenied"))), ArtifactFault::Other);
        assert_eq!(fault_of(&said(&format!("{status}404 Not Found: NoSuchBucket"))), ArtifactFault::Other);
    }

    #[tokio::test]
    async fn a_local_store_that_cannot_write_is_not_called_full() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = ArtifactStore::local(dir.path()).expect("store");
        let id: ReportId = "01a2176b-0abe-7694-b7e9-45b440feeb79".parse().expect("id");
        std::fs::remove_dir_all(dir.path()).expect("gone");
        std::fs::write(dir.path(), b"a file where the directory was").expect("a file");
        match store.put(id, PdfCopy::Draft, b"%PDF".to_vec()).await {
            Err(Error::Artifact { fault, .. }) => assert_eq!(fault, ArtifactFault::Other),
            other => panic!("{other:?}"),
        }
    }
}
