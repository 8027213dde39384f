//! Test support: start the real services on port 0 with a fresh database and fresh queue
//! names, and read PDFs back as text.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use coopbrief_cli::Client;
use coopbrief_queue::{AmqpQueue, AmqpSettings};
use coopbrief_store::testing::TestDb;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const AMQP_URL: &str = coopbrief_queue::DEFAULT_AMQP_URL;

/// A running data service (and, if asked, a worker) on loopback.
pub struct TestApp {
    pub endpoint: String,
    pub client: Client,
    pub queue: String,
    pub dir: tempfile::TempDir,
    stop_server: watch::Sender<bool>,
    stop_worker: watch::Sender<bool>,
    server: JoinHandle<()>,
    worker: Option<JoinHandle<()>>,
}

/// Connects to the real RabbitMQ or fails the test saying so: a test of the real path never
/// passes quietly without it.
pub async fn rabbitmq(queue: &str, prefetch: u16) -> AmqpQueue {
    match AmqpQueue::connect(amqp_settings(queue, prefetch)).await {
        Ok(q) => q,
        Err(e) => panic!(
            "RabbitMQ is required at 127.0.0.1:5672 (guest/guest) for this test and is unreachable: {e}. \
             Start it with `rabbitmq-server -detached` (or run .ci/run, which starts it)."
        ),
    }
}

/// Starts the data service through its real `Server::build` (SQLite file in a temp dir,
/// RabbitMQ with a fresh queue) and, with `worker`, a worker consuming that queue.
pub async fn spawn_app(worker: bool) -> TestApp {
    spawn_app_with(worker, |_| {}).await
}

/// [`spawn_app`] with the data service's settings changed by `change` first.
pub async fn spawn_app_with(worker: bool, change: impl FnOnce(&mut coopbrief_data::Settings)) -> TestApp {
    spawn_app_configured(worker.then(coopbrief_worker::WorkerConfig::default), change).await
}

/// [`spawn_app_with`], with an in-process worker of this configuration (or none).
pub async fn spawn_app_configured(
    worker: Option<coopbrief_worker::WorkerConfig>,
    change: impl FnOnce(&mut coopbrief_data::Settings),
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = format!("coopbrief.test.{}", uuid::Uuid::now_v7());
    // Fail early, naming RabbitMQ, if it is not there.
    drop(rabbitmq(&queue, 1).await);
    let mut settings = data_settings(dir.path(), &queue, "127.0.0.1:0".parse().expect("address"));
    change(&mut settings);
    let server = coopbrief_data::Server::build(&settings).await.expect("data service starts");
    let endpoint = format!("http://{}", server.local_addr().expect("bound"));
    let (stop_server, server_stopped) = watch::channel(false);
    let (stop_worker, worker_stopped) = watch::channel(false);
    let signal = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let server = tokio::spawn({
        let signal = signal(server_stopped);
        async move { server.run_until_stopped(signal).await.expect("data service runs") }
    });
    let worker = if let Some(config) = worker {
        let renderer = Arc::new(coopbrief_render::Renderer::new().expect("renderer loads"));
        let w = coopbrief_worker::Worker::with_config(&endpoint, renderer, config).expect("worker");
        let q = rabbitmq(&queue, 2).await;
        let signal = signal(worker_stopped);
        Some(tokio::spawn(async move { coopbrief_worker::run(Arc::new(q), w, 2, signal).await.expect("worker runs") }))
    } else {
        None
    };
    let client = Client::connect(&endpoint).await.expect("client connects");
    TestApp { endpoint, client, queue, dir, stop_server, stop_worker, server, worker }
}

impl TestApp {
    /// Stops the services and deletes the test's queue.
    pub async fn stop(self) {
        // The worker first, so that it can finish what it holds against a live data service.
        let _ = self.stop_worker.send(true);
        if let Some(w) = self.worker {
            let _ = w.await;
        }
        let _ = self.stop_server.send(true);
        let _ = self.server.await;
        let q = rabbitmq(&self.queue, 1).await;
        let _ = q.delete_queue().await;
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The text of a PDF as `pdftotext -layout` extracts it, whitespace collapsed.
pub fn pdf_text(pdf: &std::path::Path) -> String {
    let out = Command::new("pdftotext").arg("-layout").arg(pdf).arg("-").output().unwrap_or_else(|e| {
        panic!("pdftotext (Debian package poppler-utils) is required to check PDFs: {e}; run .ci/run or apt-get install poppler-utils")
    });
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Asserts that the PDF's text holds every expected phrase, diacritics and all.
pub fn assert_pdf_contains(pdf: &std::path::Path, expected: &[&str]) {
    let text = pdf_text(pdf);
    let missing: Vec<_> = expected.iter().filter(|e| !text.contains(*e)).collect();
    assert!(missing.is_empty(), "missing from the PDF text: {missing:?}\n--- text ---\n{text}");
}

/// Retry delays the tests use, in seconds: short, so retries show within a test's time.
pub const TEST_RETRY_DELAYS: [f64; 3] = [0.3, 0.6, 1.2];

/// Data-service settings for a test: SQLite and PDFs under `dir`, the test's own queue,
/// access control off (the address must be loopback).
pub fn data_settings(dir: &Path, queue: &str, listen: std::net::SocketAddr) -> coopbrief_data::Settings {
    coopbrief_data::Settings {
        listen,
        database_url: format!("sqlite://{}/coopbrief.db", dir.display()),
        database_password: None,
        broker: coopbrief_runtime::BrokerArgs {
            amqp_url: AMQP_URL.into(),
            amqp_password: None,
            queue: queue.into(),
            amqp_heartbeat: 5,
            delivery_limit: 5,
            retry_delays: TEST_RETRY_DELAYS.to_vec(),
        },
        artifacts: dir.join("pdf").display().to_string(),
        seed: None,
        scheduler_interval: 30.0,
        scheduler_catch_up: 24,
        log_format: "text".into(),
        metrics: Default::default(),
        web_listen: None,
        // Loopback only (tests listen on 127.0.0.1); tests/auth.rs turns tokens on.
        auth: coopbrief_data::AuthMode::Off,
        tls_cert: None,
        tls_key: None,
        signing_key: None,
        signing_cert: None,
        signing_key_password_file: None,
        tsa_url: None,
        template_dir: None,
        bootstrap: Default::default(),
        retention: Default::default(),
        webhooks: Default::default(),
        command: None,
    }
}

/// Broker settings matching [`data_settings`] (the topology must be declared alike).
pub fn amqp_settings(queue: &str, prefetch: u16) -> AmqpSettings {
    AmqpSettings::from_flags(AMQP_URL, queue, prefetch, 5, 5, &TEST_RETRY_DELAYS)
}

/// A task started by a test, stopped on request.
pub struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn stop_signal() -> (watch::Sender<bool>, impl std::future::Future<Output = ()> + Send + 'static) {
    let (tx, mut rx) = watch::channel(false);
    (tx, async move {
        let _ = rx.wait_for(|s| *s).await;
    })
}

/// Starts a data service with these settings; returns its endpoint.
pub async fn start_data(settings: &coopbrief_data::Settings) -> (String, Running) {
    let server = coopbrief_data::Server::build(settings).await.expect("data service starts");
    let endpoint = format!("http://{}", server.local_addr().expect("bound"));
    let (stop, signal) = stop_signal();
    let task = tokio::spawn(async move { server.run_until_stopped(signal).await.expect("data service runs") });
    (endpoint, Running { stop, task })
}

/// Starts an in-process worker on `amqp` against the data service at `endpoint`.
pub fn start_worker(endpoint: &str, amqp: AmqpSettings, config: coopbrief_worker::WorkerConfig) -> Running {
    let renderer = Arc::new(coopbrief_render::Renderer::new().expect("renderer loads"));
    let worker = coopbrief_worker::Worker::with_config(endpoint, renderer, config).expect("worker");
    let concurrency = usize::from(amqp.prefetch);
    let queue = Arc::new(AmqpQueue::lazy(amqp));
    let (stop, signal) = stop_signal();
    let task = tokio::spawn(async move {
        coopbrief_worker::run(queue, worker, concurrency, signal).await.expect("worker runs");
    });
    Running { stop, task }
}

/// A free loopback port (bound and released: good enough on a test machine).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A binary of this workspace, built beside the test executable (`target/<profile>/`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target directory");
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built; run the tests with `cargo test --workspace`", path.display());
    path
}

/// A child process killed (SIGKILL) when dropped.
pub struct Process(pub std::process::Child);

impl Process {
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the `coopbrief-worker` binary against `endpoint` and `queue`, with extra env.
pub fn worker_process(endpoint: &str, queue: &str, env: &[(&str, &str)]) -> Process {
    let mut cmd = Command::new(workspace_binary("coopbrief-worker"));
    cmd.env("COOPBRIEF_DATA_ENDPOINT", endpoint)
        .env("COOPBRIEF_AMQP_URL", AMQP_URL)
        .env("COOPBRIEF_QUEUE", queue)
        .env("COOPBRIEF_AMQP_HEARTBEAT", "5")
        .env("COOPBRIEF_RETRY_DELAYS", TEST_RETRY_DELAYS.map(|d| d.to_string()).join(","))
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Process(cmd.spawn().expect("coopbrief-worker starts"))
}

/// Runs `rabbitmqctl` with `args` (stopping or starting the broker in fault tests).
pub fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("rabbitmqctl is required for the broker fault tests: {e}"));
    assert!(out.status.success(), "rabbitmqctl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Waits until the report is in one of `states`; panics with its last state after `timeout`.
pub async fn wait_for_state(
    client: &Client,
    id: &str,
    states: &[i32],
    timeout: std::time::Duration,
) -> coopbrief_proto::v1::Report {
    let started = std::time::Instant::now();
    loop {
        if let Ok(r) = client.report(id).await {
            if states.contains(&r.state) {
                return r;
            }
            if started.elapsed() > timeout {
                panic!("report {id} still in state {} (error {:?}) after {timeout:?}", r.state, r.error);
            }
        } else if started.elapsed() > timeout {
            panic!("report {id} unreadable after {timeout:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A fair held in 2019, with no sector or organiser: the filler of big test programmes.
pub fn fair(code: &str, title: String) -> coopbrief_domain::dataset::Activity {
    coopbrief_domain::dataset::Activity {
        code: code.parse().expect("a code"),
        sector: None,
        period: "2019".parse().expect("a period"),
        kind: coopbrief_domain::dataset::ActivityKind::Fair,
        title: coopbrief_domain::Text::vi(title),
        description: None,
        location: None,
        organiser: None,
        occurrences: None,
        participants: None,
        enterprises: None,
        products: None,
    }
}

// ---- processes, as compose starts them -------------------------------------------------------

/// The variables compose.yaml gives every Coopbrief container (`x-coopbrief-env`, `x-data-env`).
pub fn compose_env(cmd: &mut Command, db: &TestDb, pdf: &Path, queue: &str) {
    cmd.env("COOPBRIEF_AMQP_URL", AMQP_URL)
        .env("COOPBRIEF_LOG_FORMAT", "json")
        .env("COOPBRIEF_DATABASE_URL", &db.url)
        .env("COOPBRIEF_ARTIFACTS", pdf)
        .env("COOPBRIEF_AUTH", "tokens")
        // The test's own queue and short retry delays; the rest is as in compose.yaml.
        .env("COOPBRIEF_QUEUE", queue)
        .env("COOPBRIEF_RETRY_DELAYS", TEST_RETRY_DELAYS.map(|d| d.to_string()).join(","))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?} starts: {e}"));
    println!(
        "$ {cmd:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| !l.contains("\"level\":\"INFO\""))
            .collect::<Vec<_>>()
            .join("\n")
    );
    out
}

/// The token a `token create` printed (`cb_…`).
pub fn token_in(out: &Output) -> String {
    assert!(out.status.success(), "token create failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|w| w.starts_with("cb_"))
        .unwrap_or_else(|| panic!("no token in {:?}", String::from_utf8_lossy(&out.stdout)))
        .to_owned()
}

pub fn cli(endpoint: &str, token: Option<&str>) -> Command {
    let mut cmd = Command::new(workspace_binary("coopbrief"));
    cmd.arg("--endpoint").arg(endpoint).env_remove("COOPBRIEF_TOKEN").stdin(Stdio::null());
    if let Some(token) = token {
        cmd.env("COOPBRIEF_TOKEN", token);
    }
    cmd
}
