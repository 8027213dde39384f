//! Where finished PDFs are kept: a local directory, one file per report.

use std::path::{Path, PathBuf};

use coopbrief_domain::ReportId;

use crate::{Error, Result};

/// A directory of PDFs named `<report id>.pdf`. Writes go to a temporary file first and are
/// renamed into place, so a reader never sees half a PDF.
#[derive(Clone, Debug)]
pub struct ArtifactStore {
    dir: PathBuf,
}

impl ArtifactStore {
    pub fn local(dir: impl Into<PathBuf>) -> Result<ArtifactStore> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        Ok(ArtifactStore { dir })
    }

    fn path(&self, id: ReportId) -> PathBuf {
        self.dir.join(format!("{id}.pdf"))
    }

    /// Stores the PDF of a report, replacing any earlier copy atomically.
    pub async fn put(&self, id: ReportId, bytes: &[u8]) -> Result<()> {
        let path = self.path(id);
        let tmp = self.dir.join(format!(".{id}.{}.tmp", uuid::Uuid::now_v7()));
        tokio::fs::write(&tmp, bytes).await.map_err(|e| io(&tmp, e))?;
        tokio::fs::rename(&tmp, &path).await.map_err(|e| io(&path, e))
    }

    /// Opens a stored PDF for streaming.
    pub async fn open(&self, id: ReportId) -> Result<tokio::fs::File> {
        let path = self.path(id);
        tokio::fs::File::open(&path).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound { what: "pdf of report", key: id.to_string() },
            _ => io(&path, e),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), source }
}
