//! Test support: start the real services on port 0 with a fresh database and fresh queue
//! names, and read PDFs back as text.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use coopbrief_cli::Client;
use coopbrief_queue::{AmqpQueue, AmqpSettings};
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
    match AmqpQueue::connect(AmqpSettings { url: AMQP_URL.into(), queue: queue.into(), prefetch }).await {
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
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = format!("coopbrief.test.{}", uuid::Uuid::now_v7());
    // Fail early, naming RabbitMQ, if it is not there.
    drop(rabbitmq(&queue, 1).await);
    let settings = coopbrief_data::Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        database_url: format!("sqlite://{}/coopbrief.db", dir.path().display()),
        amqp_url: AMQP_URL.into(),
        queue: queue.clone(),
        artifact_dir: dir.path().join("pdf"),
        seed: None,
        log_format: "text".into(),
    };
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
    let worker = if worker {
        let renderer = Arc::new(coopbrief_render::Renderer::new().expect("renderer loads"));
        let w = coopbrief_worker::Worker::new(&endpoint, renderer).expect("worker");
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
