//! Databases for tests, on both engines: a fresh SQLite file, or a fresh PostgreSQL database
//! on the real server (`COOPBRIEF_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/test`)
//! created for one test and dropped when it ends. A missing PostgreSQL fails the test, naming it.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

use crate::Store;

/// The admin URL tests create their PostgreSQL databases from.
pub fn postgres_admin_url() -> String {
    std::env::var("COOPBRIEF_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// One test's database. Dropping it removes the database (PostgreSQL) or its directory (SQLite).
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<String>,
}

impl TestDb {
    /// A new SQLite file in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}/db.sqlite", dir.path().display());
        TestDb { url, _dir: Some(dir), postgres: None }
    }

    /// A new, empty database on the PostgreSQL server.
    ///
    /// # Panics
    /// When PostgreSQL cannot be reached: a test of the PostgreSQL store must not pass quietly.
    pub async fn postgres() -> TestDb {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin = postgres_admin_url();
        let name = format!(
            "coopbrief_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            jiff::Timestamp::now().as_millisecond() % 1_000_000
        );
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is needed for this test and is not reachable at {admin}: {e}"));
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} did not create the test database {name}: {e}"));
        let _ = conn.close().await;
        let url = match admin.rfind('/') {
            Some(slash) if slash > "postgres://".len() => format!("{}/{name}", &admin[..slash]),
            _ => panic!("COOPBRIEF_TEST_POSTGRES={admin} must name a database: postgres://user@host:port/db"),
        };
        TestDb { url, _dir: None, postgres: Some(name) }
    }

    /// A store on this database, schema migrated.
    pub async fn store(&self) -> Store {
        Store::connect(&self.url).await.unwrap_or_else(|e| panic!("the store on {} opens: {e}", self.url))
    }

    /// A store holding the bundled Hà Nội–Hà Nam dataset.
    pub async fn seeded(&self) -> Store {
        let store = self.store().await;
        let dataset = coopbrief_domain::dataset::Dataset::bundled().expect("the bundled dataset is valid");
        store.import_dataset(&dataset).await.expect("the bundled dataset imports");
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres.take() else { return };
        let admin = postgres_admin_url();
        // Drop runs inside the test's runtime: use a thread with its own to wait for the drop.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("note: the test database could not be dropped");
        }
    }
}

/// Runs each named `async fn(&TestDb)` as two tests: `sqlite::<name>` and `postgres::<name>`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::testing::TestDb::sqlite().await;
                    super::$name(&db).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::testing::TestDb::postgres().await;
                    super::$name(&db).await
                }
            )*
        }
    };
}
