//! Persistence of Coopbrief: cooperation data, report requests and their PDFs.
//!
//! All SQL of the project lives in this crate, behind [`Store`]. The database is SQLite through
//! sqlx, with migrations in `migrations/`. PDFs live in an [`ArtifactStore`] (a local directory).

mod access;
mod artifacts;
mod data;
mod reports;
mod resources;
mod schedules;

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

pub use access::{AuditEntry, MAX_AUDIT_PAGE, NewAuditEntry, StoredToken, TokenRecord};
pub use artifacts::ArtifactStore;
pub use data::{ImportReport, ImportSummary};
pub use reports::{NewReport, OutboxJob};
pub use resources::{Filter, Page, PageRequest, Record, Versioned};
pub use schedules::{ReportFilter, TickSummary};

/// Errors of the store. The data service maps them to gRPC codes in one place.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} {key:?} not found")]
    NotFound { what: &'static str, key: String },
    /// The request is valid but the resource is not in a state that allows it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A resource with this key exists already.
    #[error("{what} {key:?} already exists")]
    AlreadyExists { what: &'static str, key: String },
    /// An optimistic-concurrency check failed: the caller's etag is stale.
    #[error("{0}")]
    Aborted(String),
    #[error(transparent)]
    Invalid(#[from] coopbrief_domain::Error),
    /// Stored data that no longer parses: a bug or a manual edit of the database.
    #[error("stored {what} is corrupt: {message}")]
    Corrupt { what: &'static str, message: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("artifact store error at {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The database: cooperation data and report requests.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database at `url` — `sqlite://path/to/file.db` or
    /// `sqlite::memory:` — and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<Store> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
        }
        // An in-memory database lives as long as its one connection.
        let max = if url.contains(":memory:") { 1 } else { 8 };
        let pool = SqlitePoolOptions::new().max_connections(max).connect_with(options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Store { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
