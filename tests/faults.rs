//! Fault tests of the job pipeline, against the real RabbitMQ on loopback. Each asserts the
//! outcome: every report finishes once (one PDF), or fails clearly — whatever the broker, a
//! worker or the data service does meanwhile.
//!
//! They stop and start the shared broker and PostgreSQL, so they run one at a time (a lock), and
//! the test binaries of the suite run one after another.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::process::Command;

use coopbrief_cli::Client;
use coopbrief_proto::v1::{self, ReportState};
use coopbrief_proto::{ReportServiceClient, WorkerServiceClient};
use coopbrief_queue::AmqpQueue;
use coopbrief_store::Store;
use coopbrief_tests::{
    Process, Running, TEST_RETRY_DELAYS, amqp_settings, data_settings, free_port, rabbitmq, rabbitmqctl, start_data,
    start_worker, wait_for_state, worker_process, workspace_binary,
};
use coopbrief_worker::WorkerConfig;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tonic::Code;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SUCCEEDED: i32 = ReportState::Succeeded as i32;
const FAILED: i32 = ReportState::Failed as i32;
const RUNNING: i32 = ReportState::Running as i32;

/// A data service on a fixed port with its own database, PDFs and queue.
struct Env {
    dir: tempfile::TempDir,
    queue: String,
    settings: coopbrief_data::Settings,
    endpoint: String,
    data: Option<Running>,
    client: Client,
}

impl Env {
    async fn new() -> Env {
        Env::with(|_, _| {}).await
    }

    /// An environment whose data-service settings `change` adjusts first (it may also prepare
    /// the temporary directory, say mount a file system on its `pdf`).
    async fn with(change: impl FnOnce(&std::path::Path, &mut coopbrief_data::Settings)) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let queue = format!("coopbrief.fault.{}", uuid::Uuid::now_v7());
        drop(rabbitmq(&queue, 1).await);
        let listen = format!("127.0.0.1:{}", free_port()).parse().expect("address");
        let mut settings = data_settings(dir.path(), &queue, listen);
        change(dir.path(), &mut settings);
        let (endpoint, data) = start_data(&settings).await;
        let client = Client::connect(&endpoint).await.expect("client");
        Env { dir, queue, settings, endpoint, data: Some(data), client }
    }

    fn worker(&self, config: WorkerConfig, prefetch: u16) -> Running {
        start_worker(&self.endpoint, amqp_settings(&self.queue, prefetch), config)
    }

    async fn stop_data(&mut self) {
        if let Some(d) = self.data.take() {
            d.stop().await;
        }
    }

    async fn start_data(&mut self) {
        let (_, data) = start_data(&self.settings).await;
        self.data = Some(data);
    }

    async fn store(&self) -> Store {
        Store::connect(&self.settings.database_url).await.expect("store")
    }

    fn pdfs(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("pdf"))
            .map(|d| d.filter_map(Result::ok).filter(|e| e.path().extension().is_some_and(|x| x == "pdf")).count())
            .unwrap_or(0)
    }

    async fn finish(mut self, workers: Vec<Running>) {
        for w in workers {
            w.stop().await;
        }
        self.stop_data().await;
        let _ = rabbitmq(&self.queue, 1).await.delete_queue().await;
    }
}

fn quick() -> WorkerConfig {
    WorkerConfig { shutdown_grace: Duration::from_secs(5), ..WorkerConfig::default() }
}

/// The broker comes back even if a test fails while it is stopped.
struct BrokerGuard;

impl BrokerGuard {
    fn stop() -> BrokerGuard {
        rabbitmqctl(&["stop_app"]);
        BrokerGuard
    }
}

impl Drop for BrokerGuard {
    fn drop(&mut self) {
        rabbitmqctl(&["start_app"]);
        rabbitmqctl(&["await_startup"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_of_the_worker_mid_render_the_report_completes_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let mut slow = worker_process(&env.endpoint, &env.queue, &[("COOPBRIEF_DEBUG_RENDER_DELAY_MS", "4000")]);
    let report = env.client.request("hanoi-hanam", "2019", "vi").await.expect("created");
    let running = wait_for_state(&env.client, &report.id, &[RUNNING], Duration::from_secs(30)).await;
    assert_eq!(running.attempt, 1);
    slow.kill();

    let rescuer = env.worker(quick(), 1);
    let done = wait_for_state(&env.client, &report.id, &[SUCCEEDED], Duration::from_secs(60)).await;
    assert_eq!(done.attempt, 2, "redelivered once after the kill");
    let id = report.id.parse().expect("id");
    assert_eq!(env.store().await.uploads(id).await.expect("uploads"), 1, "one PDF handed back");
    assert_eq!(env.pdfs(), 1);
    env.finish(vec![rescuer]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_restart_with_100_jobs_all_complete_none_twice() {
    let _one = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let workers = vec![env.worker(quick(), 4), env.worker(quick(), 4)];
    let mut ids = Vec::new();
    for i in 0..100 {
        let period = ["2019", "2019-Q1", "2019-Q2", "2019-Q3", "2019-Q4"][i % 5];
        ids.push(env.client.request("hanoi-hanam", period, "vi").await.expect("created").id);
    }
    // Restart the broker while jobs are queued and some are in flight.
    wait_for_state(&env.client, &ids[5], &[SUCCEEDED], Duration::from_secs(60)).await;
    {
        let _down = BrokerGuard::stop();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for id in &ids {
        let r = wait_for_state(&env.client, id, &[SUCCEEDED, FAILED], Duration::from_secs(180)).await;
        assert_eq!(r.state, SUCCEEDED, "report {id}: {}", r.error);
    }
    let store = env.store().await;
    let all = store.list_reports(None, None, 500).await.expect("list");
    assert_eq!(all.len(), 100, "no report created twice");
    assert_eq!(env.pdfs(), 100, "one PDF per report");
    env.finish(workers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn data_service_down_while_a_worker_holds_the_job_it_retries_and_completes() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut env = Env::new().await;
    let config = WorkerConfig { render_delay: Duration::from_millis(1500), max_attempts: 20, ..quick() };
    let worker = env.worker(config, 1);
    let report = env.client.request("hanoi-hanam", "2019", "en").await.expect("created");
    wait_for_state(&env.client, &report.id, &[RUNNING], Duration::from_secs(30)).await;
    env.stop_data().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    env.start_data().await;
    let client = Client::connect(&env.endpoint).await.expect("client");
    let done = wait_for_state(&client, &report.id, &[SUCCEEDED], Duration::from_secs(60)).await;
    assert!(done.attempt >= 2, "the job was retried: attempt {}", done.attempt);
    assert_eq!(env.pdfs(), 1);
    env.finish(vec![worker]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_down_when_the_request_arrives_it_completes_once_the_broker_is_back() {
    let _one = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let worker = env.worker(quick(), 1);
    let report = {
        let _down = BrokerGuard::stop();
        let report = env.client.request("hanoi-hanam", "2019", "vi").await.expect("accepted while the broker is down");
        assert_eq!(report.state, ReportState::Queued as i32);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(env.client.report(&report.id).await.expect("get").state, ReportState::Queued as i32);
        report
    };
    let done = wait_for_state(&env.client, &report.id, &[SUCCEEDED], Duration::from_secs(90)).await;
    assert_eq!(done.attempt, 1);
    env.finish(vec![worker]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_job_fails_after_the_configured_attempts_into_the_dead_letter_queue() {
    let _one = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let config = WorkerConfig { fail_period: Some("2019-Q1".into()), max_attempts: 3, ..quick() };
    let worker = env.worker(config, 2);
    let poison = env.client.request("hanoi-hanam", "2019-Q1", "vi").await.expect("created");
    let healthy = env.client.request("hanoi-hanam", "2019", "vi").await.expect("created");
    // Other jobs keep flowing while the poison one is retried.
    wait_for_state(&env.client, &healthy.id, &[SUCCEEDED], Duration::from_secs(30)).await;
    let failed = wait_for_state(&env.client, &poison.id, &[FAILED], Duration::from_secs(60)).await;
    assert_eq!(failed.attempt, 3, "{failed:?}");
    assert!(failed.error.contains("gave up after 3 attempts"), "{}", failed.error);
    assert!(failed.error.contains("injected failure"), "{}", failed.error);
    let queue = AmqpQueue::connect(amqp_settings(&env.queue, 1)).await.expect("broker");
    // The worker records the failure first, then dead-letters the job: give it a moment.
    let mut dead = 0;
    for _ in 0..50 {
        dead = queue.dead_letter_count().await.expect("count");
        if dead > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead, 1, "the poison job waits in the dead-letter queue");

    // An operator replays it once the cause is gone: here, with a healthy worker.
    worker.stop().await;
    let healthy_worker = env.worker(quick(), 1);
    let mut reports = coopbrief_proto::ReportServiceClient::connect(env.endpoint.clone()).await.expect("connect");
    let again = reports.retry_report(v1::RetryReportRequest { id: poison.id.clone() }).await.expect("retry");
    assert_eq!(again.into_inner().state, ReportState::Queued as i32);
    wait_for_state(&env.client, &poison.id, &[SUCCEEDED], Duration::from_secs(30)).await;
    env.finish(vec![healthy_worker]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_request_id_sent_concurrently_makes_one_report() {
    let _one = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let client = env.client.clone();
            tokio::spawn(async move {
                client.request_with_id("hanoi-hanam", "2019", "vi", Some("5f0c7c1e-42a1-4b7e-9a57-0ff1ce000042")).await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for c in calls {
        ids.push(c.await.expect("task").expect("created").id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let all = env.store().await.list_reports(None, None, 10).await.expect("list");
    assert_eq!(all.len(), 1);
    env.finish(vec![]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_a_queued_report_and_the_worker_leaves_it() {
    let _one = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let report = env.client.request("hanoi-hanam", "2019", "vi").await.expect("created");
    let mut reports = coopbrief_proto::ReportServiceClient::connect(env.endpoint.clone()).await.expect("connect");
    let cancelled = reports.cancel_report(v1::CancelReportRequest { id: report.id.clone() }).await.expect("cancel");
    assert_eq!(cancelled.into_inner().state, ReportState::Cancelled as i32);
    let worker = env.worker(quick(), 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(env.client.report(&report.id).await.expect("get").state, ReportState::Cancelled as i32);
    assert_eq!(env.pdfs(), 0);
    let err = reports.cancel_report(v1::CancelReportRequest { id: report.id.clone() }).await;
    assert!(err.is_ok(), "cancelling twice is harmless");
    env.finish(vec![worker]).await;
}

/// A loopback TCP proxy to RabbitMQ whose existing connections can be frozen: bytes stop
/// flowing both ways but the sockets stay open, as on a dead network path.
struct SilentProxy {
    port: u16,
    frozen: Arc<std::sync::Mutex<Vec<Arc<AtomicBool>>>>,
}

impl SilentProxy {
    async fn start() -> SilentProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let frozen: Arc<std::sync::Mutex<Vec<Arc<AtomicBool>>>> = Arc::default();
        let registry = frozen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect("127.0.0.1:5672").await else { continue };
                let flag = Arc::new(AtomicBool::new(false));
                registry.lock().expect("lock").push(flag.clone());
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, flag.clone()));
                tokio::spawn(pump(sr, cw, flag));
            }
        });
        SilentProxy { port, frozen }
    }

    fn freeze(&self) {
        for flag in self.frozen.lock().expect("lock").iter() {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            // Hold both sockets open and forward nothing, for good.
            let _keep = (from, to);
            std::future::pending::<()>().await;
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_connection_is_noticed_by_heartbeat_and_the_worker_recovers() {
    let _one = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let proxy = SilentProxy::start().await;
    let mut amqp = amqp_settings(&env.queue, 1);
    amqp.url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port);
    amqp.heartbeat = Some(2);
    let worker = start_worker(&env.endpoint, amqp, quick());
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.freeze();
    let report = env.client.request("hanoi-hanam", "2019", "vi").await.expect("created");
    let done = wait_for_state(&env.client, &report.id, &[SUCCEEDED], Duration::from_secs(60)).await;
    assert_eq!(done.state, SUCCEEDED);
    assert_eq!(env.pdfs(), 1);
    env.finish(vec![worker]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_the_job_in_flight_finish_then_the_worker_exits_0() {
    let _one = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let mut worker = worker_process(&env.endpoint, &env.queue, &[("COOPBRIEF_DEBUG_RENDER_DELAY_MS", "2000")]);
    let report = env.client.request("hanoi-hanam", "2019", "vi").await.expect("created");
    wait_for_state(&env.client, &report.id, &[RUNNING], Duration::from_secs(30)).await;
    let pid = worker.0.id().to_string();
    let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(sent.success());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = worker.0.try_wait().expect("wait") {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the worker did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    let r = env.client.report(&report.id).await.expect("get");
    assert_eq!(r.state, SUCCEEDED, "the job in flight was finished before exiting");
    env.finish(vec![]).await;
}

// ---- the PDF store full or away, the database restarted ----------------------------------------

/// The worker's upload of `pdf` for report `id`, as `CompleteReport` takes it.
fn upload(id: &str, pdf: &[u8]) -> Vec<v1::CompleteReportRequest> {
    use v1::complete_report_request::Part;
    let header = v1::CompleteReportHeader {
        id: id.to_owned(),
        page_count: 1,
        byte_size: pdf.len() as u64,
        sha256: hex::encode(Sha256::digest(pdf)),
        template_version: "test".into(),
        data_hash: "test".into(),
    };
    let mut parts = vec![v1::CompleteReportRequest { part: Some(Part::Header(header)) }];
    parts.extend(pdf.chunks(64 * 1024).map(|c| v1::CompleteReportRequest { part: Some(Part::Chunk(c.to_vec())) }));
    parts
}

/// Marks report `id` running and uploads a PDF for it, as a worker does; the upload's answer.
async fn start_and_upload(endpoint: &str, id: &str) -> Result<v1::Report, tonic::Status> {
    let mut workers = WorkerServiceClient::connect(endpoint.to_owned()).await.expect("connect");
    workers.start_report(v1::StartReportRequest { id: id.to_owned() }).await.expect("started");
    let pdf = b"%PDF-1.7 not a briefing, only its size ".repeat(2000);
    workers.complete_report(futures::stream::iter(upload(id, &pdf))).await.map(tonic::Response::into_inner)
}

/// Waits until report `id` has begun its `attempts`-th attempt; panics if it ends meanwhile.
async fn wait_for_attempts(client: &Client, id: &str, attempts: u32) -> v1::Report {
    let started = std::time::Instant::now();
    loop {
        let r = client.report(id).await.expect("get");
        assert!(r.state == RUNNING || r.state == ReportState::Queued as i32, "report {id} ended: {r:?}");
        if r.attempt >= attempts {
            return r;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "report {id} still at attempt {}", r.attempt);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The stored PDF of a succeeded report is whole: its sha256 is the one the report records.
fn assert_whole(pdf: &std::path::Path, report: &v1::Report) {
    let bytes = std::fs::read(pdf).unwrap_or_else(|e| panic!("{}: {e}", pdf.display()));
    assert_eq!(hex::encode(Sha256::digest(&bytes)), report.sha256, "{}", pdf.display());
}

/// A small tmpfs mounted on a directory for one test; unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("mount(8) is needed for the full-disk test: {e}"));
        assert!(
            out.status.success(),
            "the full-disk test mounts a {size} tmpfs on {} and needs root (CAP_SYS_ADMIN) for it: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_owned())
    }

    /// Fills the file system to its last byte with one file, and returns that file.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut file = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        path
    }

    /// The names of the files on it, sorted.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("read dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The PDF directory on a small file system filled to the last byte: an upload is refused as
/// `RESOURCE_EXHAUSTED`, "the PDF store is full", and leaves no partial file; the worker's job is
/// retried through the delay queues (the report stays RUNNING, never FAILED); once space is freed
/// the report succeeds with one whole PDF.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_pdf_store_is_retried_and_the_report_succeeds_once_space_is_freed() {
    let _one = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let disk = Tmpfs::mount(&env.dir.path().join("pdf"), "1m");
    let filler = disk.fill();

    let report = env.client.request("hanoi-hanam", "2019", "vi").await.expect("created");
    let refused = start_and_upload(&env.endpoint, &report.id).await.expect_err("the store is full");
    assert_eq!((refused.code(), refused.message()), (Code::ResourceExhausted, "the PDF store is full"), "{refused:?}");
    assert_eq!(disk.names(), ["filler"], "no partial PDF is left behind");
    assert_eq!(env.client.report(&report.id).await.expect("get").state, RUNNING);

    // A worker meets the same and retries (short delays: 0.3, 0.6, 1.2 s).
    let worker = env.worker(WorkerConfig { max_attempts: 30, ..quick() }, 1);
    let retried = wait_for_attempts(&env.client, &report.id, 4).await;
    assert_eq!(retried.state, RUNNING, "retried, not failed: {retried:?}");
    assert_eq!(disk.names(), ["filler"], "still no partial PDF");

    std::fs::remove_file(&filler).expect("space freed");
    let done = wait_for_state(&env.client, &report.id, &[SUCCEEDED, FAILED], Duration::from_secs(60)).await;
    assert_eq!(done.state, SUCCEEDED, "{}", done.error);
    assert_eq!(disk.names(), [format!("{}.pdf", report.id)]);
    assert_whole(&disk.0.join(format!("{}.pdf", report.id)), &done);
    let id = report.id.parse().expect("id");
    assert_eq!(env.store().await.uploads(id).await.expect("uploads"), 1, "stored once");
    drop(disk);
    env.finish(vec![worker]).await;
}

/// The version of the local PostgreSQL cluster (`/etc/postgresql/<version>/main`).
fn postgres_version() -> String {
    std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|d| d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).max())
        .unwrap_or_else(|| {
            panic!("the PostgreSQL restart test restarts a local cluster (/etc/postgresql, pg_ctlcluster); none found")
        })
}

/// Brings the local PostgreSQL back (if a test failed while it was down) and waits until it
/// accepts connections, so the other tests sharing it find it up.
struct PostgresGuard;

impl PostgresGuard {
    fn restart() -> PostgresGuard {
        let version = postgres_version();
        let out = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", "restart"])
            .output()
            .unwrap_or_else(|e| panic!("pg_ctlcluster (postgresql-common) is needed to restart PostgreSQL: {e}"));
        assert!(out.status.success(), "pg_ctlcluster restart failed: {}", String::from_utf8_lossy(&out.stderr));
        PostgresGuard
    }

    /// Waits until PostgreSQL accepts connections (at most a minute).
    async fn wait_until_up() {
        use sqlx::Connection;
        let admin = coopbrief_store::testing::postgres_admin_url();
        let started = std::time::Instant::now();
        loop {
            match sqlx::PgConnection::connect(&admin).await {
                Ok(c) => {
                    let _ = c.close().await;
                    return;
                }
                Err(e) if started.elapsed() > Duration::from_secs(60) => panic!("PostgreSQL did not come back: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

impl Drop for PostgresGuard {
    fn drop(&mut self) {
        if std::net::TcpStream::connect("127.0.0.1:5432").is_err() {
            let _ = Command::new("pg_ctlcluster")
                .args(["--skip-systemctl-redirect", &postgres_version(), "main", "start"])
                .status();
        }
    }
}

/// Makes a report, calling again on `UNAVAILABLE` (as the CLI does) with the same request id;
/// every code other than OK it met goes into `seen`.
async fn create_retrying(
    reports: &mut ReportServiceClient<tonic::transport::Channel>,
    req: v1::CreateReportRequest,
    seen: &std::sync::Mutex<Vec<Code>>,
) -> Option<v1::Report> {
    let started = std::time::Instant::now();
    loop {
        match reports.create_report(req.clone()).await {
            Ok(r) => return Some(r.into_inner()),
            Err(s) => {
                seen.lock().expect("lock").push(s.code());
                if s.code() != Code::Unavailable || started.elapsed() > Duration::from_secs(60) {
                    eprintln!("create {}: {s:?}", req.request_id);
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// PostgreSQL restarted (`pg_ctlcluster … restart`) in the middle of a 200-report run, while 40
/// callers create reports around it: no caller sees anything but `UNAVAILABLE` (and retries it
/// with the same request id), and every report ends SUCCEEDED, one per request id, with one
/// whole stored PDF each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_mid_run_loses_nothing_duplicates_nothing_and_no_caller_sees_internal() {
    let _one = ONE_AT_A_TIME.lock().await;
    let db = coopbrief_store::testing::TestDb::postgres().await;
    let env = Env::with(|_, s| s.database_url = db.url.clone()).await;
    let patient = || WorkerConfig { max_attempts: 10, ..quick() };
    let workers = vec![env.worker(patient(), 4), env.worker(patient(), 4)];

    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let created = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let periods = ["2019", "2019-Q1", "2019-Q2", "2019-Q3", "2019-Q4"];
    let callers: Vec<_> = (0..40)
        .map(|c| {
            let (endpoint, seen, created) = (env.endpoint.clone(), seen.clone(), created.clone());
            tokio::spawn(async move {
                let mut reports = ReportServiceClient::connect(endpoint).await.expect("connect");
                let mut made = Vec::new();
                // Five reports each, paced so that the calls go on before, during and after
                // the restart.
                for i in 0..5 {
                    let req = v1::CreateReportRequest {
                        programme: "hanoi-hanam".into(),
                        period: periods[(c + i) % periods.len()].into(),
                        lang: "vi".into(),
                        request_id: uuid::Uuid::now_v7().to_string(),
                        ..Default::default()
                    };
                    let report = create_retrying(&mut reports, req.clone(), &seen).await;
                    created.fetch_add(1, Ordering::SeqCst);
                    made.push((req.request_id, report.map(|r| r.id)));
                    tokio::time::sleep(Duration::from_millis(800)).await;
                }
                made
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let before = created.load(Ordering::SeqCst);
    let restarted = tokio::task::spawn_blocking(PostgresGuard::restart).await.expect("restart");
    PostgresGuard::wait_until_up().await;
    let after = created.load(Ordering::SeqCst);
    println!("PostgreSQL restarted after {before} creates, up again after {after}");
    assert!(before > 0 && before < 200, "the restart began in the middle of the creates ({before})");

    let mut ids = std::collections::BTreeSet::new();
    for caller in callers {
        for (request_id, id) in caller.await.expect("caller") {
            let id = id.unwrap_or_else(|| panic!("request {request_id} was not created"));
            assert!(ids.insert(id.clone()), "report {id} returned for two request ids");
        }
    }
    let seen = seen.lock().expect("lock").clone();
    println!("codes the callers met: {seen:?}");
    assert!(seen.iter().all(|c| *c == Code::Unavailable), "only UNAVAILABLE, never INTERNAL: {seen:?}");
    assert_eq!(ids.len(), 200);

    let mut attempts = 0;
    for id in &ids {
        let r = wait_for_state(&env.client, id, &[SUCCEEDED, FAILED], Duration::from_secs(300)).await;
        assert_eq!(r.state, SUCCEEDED, "report {id}: {}", r.error);
        assert_whole(&env.dir.path().join("pdf").join(format!("{id}.pdf")), &r);
        attempts += r.attempt;
    }
    println!("200 reports succeeded in {attempts} attempts");
    let all = env.store().await.all_reports().await.expect("reports");
    assert_eq!(all.len(), 200, "one report per request id, none made twice");
    assert_eq!(env.pdfs(), 200, "one stored PDF per report");
    env.finish(workers).await;
    drop(restarted);
}

/// moto's standalone S3 server (`moto_server`, PyPI `moto[server]`) on a free port; killed
/// when dropped.
///
/// moto rather than s3rver: it installs with pip like the pyHanko the suite already uses,
/// where s3rver would bring npm and a Node runtime; and it checks SigV4 signatures and speaks the
/// S3 REST API `object_store` uses, which s3rver only approximates.
struct Moto {
    port: u16,
    _process: Process,
}

impl Moto {
    async fn start(port: u16) -> Moto {
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("moto's S3 server is needed for the S3 test and did not start: {e}; pip install 'moto[server]'")
            });
        let process = Process(child);
        let started = std::time::Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "moto_server did not listen on port {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Moto { port, _process: process }
    }

    /// Creates a bucket (moto keeps its state in memory: a new server has none).
    async fn create_bucket(&self, bucket: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).await.expect("moto");
        let request = format!(
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        s.write_all(request.as_bytes()).await.expect("request");
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.expect("answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "creating bucket {bucket}: {answer}");
    }
}

/// The `s3://` artifact path against a real S3 API (moto): a report's PDF goes to the bucket
/// and downloads whole; with the server down, an upload is `UNAVAILABLE` ("the PDF store is
/// unavailable") and the job is retried; the server comes back (a new moto on the same port,
/// its bucket made again, since moto keeps its state in memory) and the report succeeds.
///
/// The server is killed rather than paused (SIGSTOP): a killed server refuses connections at
/// once, as a crashed or restarting store does, whereas a paused one leaves each request to
/// time out, which makes a slow test of the same path.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_artifacts_survive_the_store_being_down_for_a_while() {
    let _one = ONE_AT_A_TIME.lock().await;
    let s3_port = free_port();
    let moto = Moto::start(s3_port).await;
    moto.create_bucket("briefings").await;

    let dir = tempfile::tempdir().expect("temp dir");
    let queue = format!("coopbrief.fault.{}", uuid::Uuid::now_v7());
    drop(rabbitmq(&queue, 1).await);
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(workspace_binary("coopbrief-data"));
    cmd.env("COOPBRIEF_LISTEN", format!("127.0.0.1:{port}"))
        .env("COOPBRIEF_AUTH", "off")
        .env("COOPBRIEF_DATABASE_URL", format!("sqlite://{}/coopbrief.db", dir.path().display()))
        .env("COOPBRIEF_ARTIFACTS", "s3://briefings/pdf")
        .env("AWS_ENDPOINT", format!("http://127.0.0.1:{s3_port}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "coopbrief")
        .env("AWS_SECRET_ACCESS_KEY", "coopbrief-test-secret")
        .env("COOPBRIEF_AMQP_URL", coopbrief_tests::AMQP_URL)
        .env("COOPBRIEF_QUEUE", &queue)
        .env("COOPBRIEF_AMQP_HEARTBEAT", "5")
        .env("COOPBRIEF_RETRY_DELAYS", TEST_RETRY_DELAYS.map(|d| d.to_string()).join(","))
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null());
    let _data = Process(cmd.spawn().expect("coopbrief-data starts"));
    let started = std::time::Instant::now();
    let client = loop {
        match Client::connect(&endpoint).await {
            Ok(c) => break c,
            Err(e) => assert!(started.elapsed() < Duration::from_secs(30), "the data service did not start: {e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let patient = || WorkerConfig { max_attempts: 30, ..quick() };

    // Up: the PDF goes to the bucket and comes back whole.
    let worker = start_worker(&endpoint, amqp_settings(&queue, 1), patient());
    let first = client.request("hanoi-hanam", "2019", "vi").await.expect("created");
    let first = wait_for_state(&client, &first.id, &[SUCCEEDED, FAILED], Duration::from_secs(60)).await;
    assert_eq!(first.state, SUCCEEDED, "{}", first.error);
    let out = dir.path().join("first.pdf");
    client.download(&first.id, &out, coopbrief_cli::PdfCopy::Draft).await.expect("download (sha256 checked)");
    assert_whole(&out, &first);
    assert!(!dir.path().join("pdf").exists(), "nothing stored locally");

    // Down: the upload is UNAVAILABLE, and the worker's job is retried.
    worker.stop().await;
    drop(moto);
    let second = client.request("hanoi-hanam", "2019-Q3", "en").await.expect("created");
    let refused = start_and_upload(&endpoint, &second.id).await.expect_err("the store is down");
    assert_eq!((refused.code(), refused.message()), (Code::Unavailable, "the PDF store is unavailable"), "{refused:?}");
    let worker = start_worker(&endpoint, amqp_settings(&queue, 1), patient());
    let retried = wait_for_attempts(&client, &second.id, 4).await;
    assert_eq!(retried.state, RUNNING, "retried, not failed: {retried:?}");

    // Back: the report succeeds.
    let moto = Moto::start(s3_port).await;
    moto.create_bucket("briefings").await;
    let second = wait_for_state(&client, &second.id, &[SUCCEEDED, FAILED], Duration::from_secs(60)).await;
    assert_eq!(second.state, SUCCEEDED, "{}", second.error);
    let out = dir.path().join("second.pdf");
    client.download(&second.id, &out, coopbrief_cli::PdfCopy::Draft).await.expect("download (sha256 checked)");
    assert_whole(&out, &second);
    worker.stop().await;
    let _ = rabbitmq(&queue, 1).await.delete_queue().await;
}
