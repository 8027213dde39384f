//! Health that tells the truth: the data service's gRPC health follows its database (an SQLite
//! file nobody can open, PostgreSQL stopped), and a worker whose token the data service refuses
//! takes no job and says so to its health check.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use coopbrief_cli::{Client, ReportOptions};
use coopbrief_data::AuthMode;
use coopbrief_domain::Role;
use coopbrief_proto::v1;
use coopbrief_runtime::ClientArgs;
use coopbrief_store::Store;
use coopbrief_store::testing::TestDb;
use coopbrief_tests::{
    AMQP_URL, Process, data_settings, rabbitmq, start_data, wait_for_state, worker_process, workspace_binary,
};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// How long health may take to follow the database (it probes every second).
const FOLLOWS_WITHIN: Duration = Duration::from_secs(15);

/// The overall health status, or `None` while the service cannot be reached.
async fn status(endpoint: &str) -> Option<ServingStatus> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned()).ok()?.connect().await.ok()?;
    let answer = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await.ok()?;
    ServingStatus::try_from(answer.into_inner().status).ok()
}

/// Waits until health answers `want`, or fails saying what it answered last.
async fn wait_for_health(endpoint: &str, want: ServingStatus, why: &str) -> Duration {
    let started = Instant::now();
    loop {
        let now = status(endpoint).await;
        if now == Some(want) {
            return started.elapsed();
        }
        assert!(started.elapsed() < FOLLOWS_WITHIN, "{why}: health still {now:?} after {FOLLOWS_WITHIN:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn health_is_not_serving_while_the_sqlite_file_cannot_be_opened() {
    // Root opens any file whatever its mode, so the service runs as `nobody`, from a copy of
    // its binary in a directory that user may read.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let binary = dir.path().join("coopbrief-data");
    std::fs::copy(workspace_binary("coopbrief-data"), &binary).expect("binary copied");
    let db = dir.path().join("coopbrief.db");
    let port = coopbrief_tests::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(&binary)
        .env("COOPBRIEF_LISTEN", format!("127.0.0.1:{port}"))
        .env("COOPBRIEF_DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("COOPBRIEF_ARTIFACTS", dir.path().join("pdf"))
        .env("COOPBRIEF_AUTH", "off")
        .env("COOPBRIEF_AMQP_URL", AMQP_URL)
        .env("COOPBRIEF_QUEUE", format!("coopbrief.test.{}", uuid::Uuid::now_v7()))
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null());
    let _service = Process(cmd.spawn().unwrap_or_else(|e| {
        panic!("setpriv (Debian package util-linux) is needed to run the data service as another user: {e}")
    }));
    wait_for_health(&endpoint, ServingStatus::Serving, "at start").await;

    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o000)).expect("chmod 000");
    let took = wait_for_health(&endpoint, ServingStatus::NotServing, "the database file unreadable").await;
    eprintln!("NOT_SERVING {} ms after the file was made unreadable", took.as_millis());
    // The named services say the same: each of them needs the database.
    let channel = tonic::transport::Endpoint::from_shared(endpoint.clone()).expect("uri").connect().await.expect("up");
    let named = HealthCheckRequest { service: "coopbrief.v1.ReportService".into() };
    let answer = HealthClient::new(channel).check(named).await.expect("health answers").into_inner();
    assert_eq!(answer.status, ServingStatus::NotServing as i32);

    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod 644");
    let took = wait_for_health(&endpoint, ServingStatus::Serving, "the database file readable again").await;
    eprintln!("SERVING {} ms after the file was readable again", took.as_millis());
}

/// Runs `pg_ctlcluster <version> main <action>` on the local PostgreSQL.
fn pg_ctlcluster(action: &str) {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .expect("a local PostgreSQL cluster (/etc/postgresql/<version>) is needed to stop and start it");
    let out = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", action])
        .output()
        .unwrap_or_else(|e| panic!("pg_ctlcluster (Debian postgresql-common) is needed to {action} PostgreSQL: {e}"));
    assert!(out.status.success(), "pg_ctlcluster {action} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Starts PostgreSQL again when dropped, so that a failing test does not leave it stopped.
struct StartsPostgresAgain;

impl Drop for StartsPostgresAgain {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .args(["-c", "pg_ctlcluster --skip-systemctl-redirect \"$(ls /etc/postgresql)\" main start"])
            .output();
    }
}

#[tokio::test]
async fn health_is_not_serving_while_postgresql_is_stopped() {
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = format!("coopbrief.test.{}", uuid::Uuid::now_v7());
    let mut settings = data_settings(dir.path(), &queue, "127.0.0.1:0".parse().expect("address"));
    settings.database_url = db.url.clone();
    let (endpoint, running) = start_data(&settings).await;
    wait_for_health(&endpoint, ServingStatus::Serving, "at start").await;

    let _again = StartsPostgresAgain;
    pg_ctlcluster("stop");
    let took = wait_for_health(&endpoint, ServingStatus::NotServing, "PostgreSQL stopped").await;
    eprintln!("NOT_SERVING {} ms after PostgreSQL stopped", took.as_millis());
    pg_ctlcluster("start");
    let took = wait_for_health(&endpoint, ServingStatus::Serving, "PostgreSQL started again").await;
    eprintln!("SERVING {} ms after PostgreSQL started again", took.as_millis());
    // And it serves: a call that reads the database.
    let client = Client::connect(&endpoint).await.expect("client");
    client.report(&uuid::Uuid::now_v7().to_string()).await.expect_err("no such report, but an answer");
    running.stop().await;
    drop(db);
}

/// A data service with tokens on, SQLite in a temp dir, and a handle on its database.
struct Secured {
    endpoint: String,
    queue: String,
    store: Store,
    dir: tempfile::TempDir,
    running: coopbrief_tests::Running,
}

impl Secured {
    async fn start() -> Secured {
        let dir = tempfile::tempdir().expect("temp dir");
        let queue = format!("coopbrief.test.{}", uuid::Uuid::now_v7());
        drop(rabbitmq(&queue, 1).await);
        let mut settings = data_settings(dir.path(), &queue, "127.0.0.1:0".parse().expect("address"));
        settings.auth = AuthMode::Tokens;
        let (endpoint, running) = start_data(&settings).await;
        let store = Store::connect(&settings.database_url).await.expect("the database opens");
        Secured { endpoint, queue, store, dir, running }
    }

    async fn token(&self, name: &str, role: Role) -> String {
        coopbrief_data::auth::create_token(&self.store, name, role, "test").await.expect("token made").1
    }

    /// The `coopbrief-worker` binary with this token, writing its heartbeat to `heartbeat`.
    fn worker(&self, token: &str, heartbeat: &Path) -> Process {
        worker_process(
            &self.endpoint,
            &self.queue,
            &[("COOPBRIEF_TOKEN", token), ("COOPBRIEF_HEARTBEAT_FILE", &heartbeat.display().to_string())],
        )
    }

    async fn stop(self) {
        self.running.stop().await;
        let _ = rabbitmq(&self.queue, 1).await.delete_queue().await;
    }
}

/// `coopbrief-worker healthcheck` on this heartbeat file: whether it passed, and what it said.
fn healthcheck(heartbeat: &Path) -> (bool, String) {
    let out = Command::new(workspace_binary("coopbrief-worker"))
        .arg("healthcheck")
        .env("COOPBRIEF_HEARTBEAT_FILE", heartbeat)
        .output()
        .expect("coopbrief-worker healthcheck runs");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

/// Waits until the worker's heartbeat file holds `text`.
async fn wait_for_heartbeat(heartbeat: &Path, text: &str) {
    let started = Instant::now();
    loop {
        let said = std::fs::read_to_string(heartbeat).unwrap_or_default();
        if said.contains(text) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the heartbeat never said {text:?}; it says {said:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_a_refused_token_takes_no_job_and_a_good_one_renders_it_first_time() {
    let app = Secured::start().await;
    let viewer = app.token("vera", Role::Viewer).await;
    let revoked = app.token("worker-old", Role::Worker).await;
    app.store.revoke_token("worker-old").await.expect("revoked");

    let bad_beat = app.dir.path().join("bad.alive");
    let _bad = app.worker(&revoked, &bad_beat);
    wait_for_heartbeat(&bad_beat, "not taking jobs").await;
    let (healthy, said) = healthcheck(&bad_beat);
    assert!(!healthy, "a worker with a revoked token is unhealthy: {said}");
    assert!(said.contains("refused this worker's token"), "{said}");
    assert!(!said.contains(&revoked), "the healthcheck never shows the token: {said}");

    let client =
        Client::connect_with(&app.endpoint, &ClientArgs { token: Some(viewer), ca_file: None }).await.expect("client");
    let options = ReportOptions {
        programme: "hanoi-hanam".into(),
        period: "2019".into(),
        lang: "vi".into(),
        pdf_standard: String::new(),
        letterhead: None,
    };
    let id = client.create_report(&options, None).await.expect("created").id;
    // Longer than the test's retry delays: a worker that took the job would have moved it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let waiting = client.report(&id).await.expect("report");
    assert_eq!(waiting.state, v1::ReportState::Queued as i32, "the refused worker took no job");
    assert_eq!(waiting.attempt, 0, "and used no attempt");

    let good = app.token("worker-1", Role::Worker).await;
    let good_beat = app.dir.path().join("good.alive");
    let _good = app.worker(&good, &good_beat);
    let done = wait_for_state(&client, &id, &[v1::ReportState::Succeeded as i32], Duration::from_secs(120)).await;
    assert_eq!(done.attempt, 1, "the good worker rendered it on its first attempt");
    wait_for_heartbeat(&good_beat, "consuming").await;
    let (healthy, said) = healthcheck(&good_beat);
    assert!(healthy, "the good worker is healthy: {said}");

    // The good worker's token revoked while it consumes: its next job goes back to the queue
    // untouched, and it stops taking jobs.
    app.store.revoke_token("worker-1").await.expect("revoked");
    let id = client.create_report(&options, None).await.expect("created").id;
    wait_for_heartbeat(&good_beat, "not taking jobs").await;
    let (healthy, _) = healthcheck(&good_beat);
    assert!(!healthy, "a worker whose token was revoked is unhealthy");
    let waiting = client.report(&id).await.expect("report");
    assert_eq!((waiting.state, waiting.attempt), (v1::ReportState::Queued as i32, 0), "handed back untouched");
    let fresh = app.token("worker-2", Role::Worker).await;
    let _fresh = app.worker(&fresh, &app.dir.path().join("fresh.alive"));
    let done = wait_for_state(&client, &id, &[v1::ReportState::Succeeded as i32], Duration::from_secs(120)).await;
    assert_eq!(done.attempt, 1);
    app.stop().await;
}
