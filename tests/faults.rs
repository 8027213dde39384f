//! Fault tests of the job pipeline, against the real RabbitMQ on loopback. Each asserts the
//! outcome: every report finishes once (one PDF), or fails clearly — whatever the broker, a
//! worker or the data service does meanwhile.
//!
//! They stop and start the shared broker, so they run one at a time (a lock), and the test
//! binaries of the suite run one after another.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use coopbrief_cli::Client;
use coopbrief_proto::v1::{self, ReportState};
use coopbrief_queue::AmqpQueue;
use coopbrief_store::Store;
use coopbrief_tests::{
    Running, amqp_settings, data_settings, free_port, rabbitmq, rabbitmqctl, start_data, start_worker, wait_for_state,
    worker_process,
};
use coopbrief_worker::WorkerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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
        let dir = tempfile::tempdir().expect("temp dir");
        let queue = format!("coopbrief.fault.{}", uuid::Uuid::now_v7());
        drop(rabbitmq(&queue, 1).await);
        let listen = format!("127.0.0.1:{}", free_port()).parse().expect("address");
        let settings = data_settings(dir.path(), &queue, listen);
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
