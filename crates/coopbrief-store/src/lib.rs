//! Persistence of Coopbrief: cooperation data, report requests and their PDFs.
//!
//! All SQL of the project lives in this crate, behind [`Store`]. The database is SQLite (the
//! embedded default) or PostgreSQL, chosen by the URL's scheme, through sqlx's `Any` driver,
//! with each engine's migrations in `migrations/<engine>/`. Nothing above this crate knows which
//! engine it has. PDFs live in an [`ArtifactStore`].

mod access;
mod artifacts;
mod data;
mod deliveries;
mod issuance;
mod lists;
mod reports;
mod resources;
mod retention;
mod schedules;
mod sql;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

pub use access::{AuditEntry, Bootstrapped, MAX_AUDIT_PAGE, NewAuditEntry, StoredToken, TokenRecord};
pub use artifacts::{ArtifactFault, ArtifactStore, PdfCopy};
pub use data::{ImportReport, ImportSummary};
pub use deliveries::{DueDelivery, SealedTarget};
pub use issuance::{IssueTx, issuable};
pub use reports::{Backlog, NewReport, OUTBOX_LEASE, OutboxJob};
pub use resources::{Filter, Page, PageRequest, Paged, Versioned};
pub use retention::Retention;
pub use schedules::{ReportFilter, TickSummary, TraceStart};

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
    Database(sqlx::Error),
    /// The database cannot be reached just now (connection refused or reset, no connection
    /// free in time, the server shutting down or starting up): the same call may succeed later.
    #[error("the database is unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A setting (database or artifact URL) that cannot be used.
    #[error("{0}")]
    Config(String),
    #[error("artifact store error at {location}: {message}")]
    Artifact { location: String, fault: ArtifactFault, message: String },
    #[error("artifact store error at {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sqlx::Error> for Error {
    /// A lost or unobtainable connection is [`Error::Unavailable`]; every other database error
    /// is [`Error::Database`].
    fn from(e: sqlx::Error) -> Error {
        if connection_lost(&e) { Error::Unavailable(e) } else { Error::Database(e) }
    }
}

/// Whether `e` says the database could not be reached rather than that the statement failed:
/// an I/O error on the connection (refused, reset, closed), the pool out of time or closed, or
/// PostgreSQL's connection exceptions (SQLSTATE class 08) and shutdown codes (57P01 admin
/// shutdown, 57P02 crash shutdown, 57P03 cannot connect now).
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|code| code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}

/// Which database engine a [`Store`] talks to, chosen by the URL's scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://path/to/file.db` or `sqlite::memory:` — the embedded default.
    Sqlite,
    /// `postgres://user@host:port/database` (or `postgresql://`).
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of(url: &str) -> Result<Backend> {
        match url.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Ok(Backend::Sqlite),
            Some("postgres" | "postgresql") => Ok(Backend::Postgres),
            _ => Err(Error::Config(format!("database URL {:?} must start with sqlite: or postgres://", redact(url)))),
        }
    }
}

/// The database: cooperation data and report requests, on SQLite or PostgreSQL through sqlx's
/// `Any` driver. All SQL is written once, in the dialect both engines share (`$1` placeholders,
/// `ON CONFLICT`, `RETURNING`, `TEXT`/`BIGINT` columns); the few spots that differ ask
/// [`Store::backend`]. Each engine has its own migrations (`migrations/sqlite`, `migrations/postgres`).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    briefings: std::sync::Arc<data::BriefingCache>,
    /// SQLite writes one transaction at a time: writers of this process wait their turn here,
    /// however long a big import holds the file, instead of failing with "database is locked"
    /// once SQLite's busy timeout has passed.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// SQLite's database file (none in memory or on PostgreSQL), opened anew by [`Store::ping`].
    file: Option<std::path::PathBuf>,
}

/// A write transaction, holding this process's writer turn on SQLite (see [`Store::begin_write`]).
pub(crate) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }

    pub(crate) async fn rollback(self) -> Result<()> {
        Ok(self.tx.rollback().await?)
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens the database at `url` and brings its schema up to date: `sqlite://path/to/file.db`
    /// (created if missing, WAL, foreign keys on), `sqlite::memory:`, or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of(url)?;
        let mut file = None;
        let (options, max) = match backend {
            Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?.create_if_missing(true);
                if !url.contains(":memory:") {
                    file = Some(options.get_filename().to_path_buf());
                }
                if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
                }
                if url.contains(":memory:") {
                    // An in-memory database lives as long as its one connection. (Its options
                    // do not round-trip through a URL: sqlx would panic building one.)
                    (AnyConnectOptions::from_str(url)?, 1)
                } else {
                    (AnyConnectOptions::from_url(&options.to_url_lossy())?, 8)
                }
            }
            Backend::Postgres => {
                let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
                (AnyConnectOptions::from_url(&options.to_url_lossy())?, 16)
            }
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    // The Any driver takes SQLite's settings from the URL only: set the rest here.
                    if backend == Backend::Sqlite {
                        for pragma in
                            ["PRAGMA journal_mode = WAL", "PRAGMA foreign_keys = ON", "PRAGMA busy_timeout = 10000"]
                        {
                            conn.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store { pool, backend, briefings: Default::default(), writer: Default::default(), file })
    }

    /// Whether the database answers: a read through the pool and, on SQLite, the database file
    /// opened anew (the pool's open connections would go on reading a file nobody can open any
    /// more, until they are replaced). For health checks; the caller bounds the wait.
    pub async fn ping(&self) -> Result<()> {
        if let Some(path) = &self.file {
            use tokio::io::AsyncReadExt;
            let io = |e| Error::from(sqlx::Error::Io(e));
            let mut header = [0u8; 16];
            tokio::fs::File::open(path).await.map_err(io)?.read_exact(&mut header).await.map_err(io)?;
            if &header != b"SQLite format 3\0" {
                return Err(Error::Corrupt { what: "database file", message: "it is not an SQLite database".into() });
            }
        }
        self.data_version().await.map(drop)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction for a check-then-write on cooperation data. Writers of data go one
    /// at a time, on either engine: SQLite takes its write lock at once (`BEGIN IMMEDIATE`);
    /// PostgreSQL takes a transaction-scoped advisory lock, which every replica shares.
    ///
    /// Every such transaction moves `data_version`, so caches of data read from it (the
    /// briefing data) know, with one small read, whether anything changed on any replica.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx> {
        let (mut tx, turn) = match self.backend {
            Backend::Sqlite => {
                let turn = self.writer.clone().lock_owned().await;
                (self.pool.begin_with("BEGIN IMMEDIATE").await?, Some(turn))
            }
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(7263801)").execute(&mut *tx).await?;
                (tx, None)
            }
        };
        sqlx::query("UPDATE data_version SET version = version + 1 WHERE id = 1").execute(&mut *tx).await?;
        Ok(WriteTx { tx, _turn: turn })
    }

    /// The current `data_version` (see [`Store::begin_write`]).
    pub(crate) async fn data_version(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT version FROM data_version WHERE id = 1").fetch_one(&self.pool).await?)
    }
}

/// A database URL with its password, if any, hidden.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_is_unavailable_and_a_failed_statement_is_not() {
        let reset = sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into());
        assert!(matches!(Error::from(reset), Error::Unavailable(_)));
        assert!(matches!(Error::from(sqlx::Error::PoolTimedOut), Error::Unavailable(_)));
        assert!(matches!(Error::from(sqlx::Error::PoolClosed), Error::Unavailable(_)));
        assert!(matches!(Error::from(sqlx::Error::RowNotFound), Error::Database(_)));
        assert!(matches!(Error::from(sqlx::Error::Protocol("bad message".into())), Error::Database(_)));
    }
}
