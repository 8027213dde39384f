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
                let store = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
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

fn artifact_error(location: impl std::fmt::Display, e: object_store::Error) -> Error {
    Error::Artifact { location: location.to_string(), message: e.to_string() }
}
