//! Metrics as Prometheus scrapes them: a data service and a worker, each a process of its own
//! (a metrics recorder is global to its process) with `--metrics-listen` on loopback, make 20
//! reports on the real RabbitMQ, one of which fails; both `/metrics` pages then show exactly
//! those counts and histograms.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use coopbrief_cli::Client;
use coopbrief_proto::v1::ReportState;
use coopbrief_queue::AmqpQueue;
use coopbrief_tests::{
    AMQP_URL, Process, TEST_RETRY_DELAYS, amqp_settings, free_port, rabbitmq, wait_for_state, worker_process,
    workspace_binary,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The period whose reports the worker fails (its `faults` hook): transiently, so the job is
/// retried once, then the report FAILED and the job dead-lettered.
const FAILING_PERIOD: &str = "2019-Q1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_twenty_reports_one_failing_shows_their_counts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = format!("coopbrief.test.metrics.{}", uuid::Uuid::now_v7());
    drop(rabbitmq(&queue, 1).await);
    let listen = format!("127.0.0.1:{}", free_port());
    let endpoint = format!("http://{listen}");
    let data_metrics = format!("127.0.0.1:{}", free_port());
    let worker_metrics = format!("127.0.0.1:{}", free_port());

    let mut data = Command::new(workspace_binary("coopbrief-data"));
    data.env("COOPBRIEF_LISTEN", &listen)
        .env("COOPBRIEF_DATABASE_URL", format!("sqlite://{}/coopbrief.db", dir.path().display()))
        .env("COOPBRIEF_ARTIFACTS", dir.path().join("pdf"))
        .env("COOPBRIEF_AUTH", "off")
        .env("COOPBRIEF_AMQP_URL", AMQP_URL)
        .env("COOPBRIEF_QUEUE", &queue)
        .env("COOPBRIEF_AMQP_HEARTBEAT", "5")
        .env("COOPBRIEF_RETRY_DELAYS", TEST_RETRY_DELAYS.map(|d| d.to_string()).join(","))
        .env("COOPBRIEF_METRICS_LISTEN", &data_metrics)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null());
    let _data = Process(data.spawn().expect("coopbrief-data starts"));
    let _worker = worker_process(
        &endpoint,
        &queue,
        &[
            ("COOPBRIEF_METRICS_LISTEN", &worker_metrics),
            ("COOPBRIEF_DEBUG_FAIL_PERIOD", FAILING_PERIOD),
            ("COOPBRIEF_MAX_ATTEMPTS", "2"),
        ],
    );
    let client = connect(&endpoint).await;

    let mut ids = Vec::new();
    for i in 0..20 {
        let (period, lang) = if i == 7 { (FAILING_PERIOD, "vi") } else { ("2019", ["vi", "en"][i % 2]) };
        ids.push(client.request("hanoi-hanam", period, lang).await.expect("created").id);
    }
    let mut states = BTreeMap::new();
    for id in &ids {
        let done = [ReportState::Succeeded as i32, ReportState::Failed as i32];
        let report = wait_for_state(&client, id, &done, Duration::from_secs(120)).await;
        *states.entry(report.state).or_insert(0) += 1;
    }
    assert_eq!(
        states,
        BTreeMap::from([(ReportState::Succeeded as i32, 19), (ReportState::Failed as i32, 1)]),
        "19 succeed and one fails (the worker binary must have the `faults` feature, as `cargo test --workspace` builds it)"
    );

    // The worker settles a job after the data service has recorded it; the backlog gauges are
    // read every few seconds: wait until both pages show the end of the run.
    let worker = scrape_until(&worker_metrics, |m| {
        m.value("coopbrief_worker_jobs_total", &[]) >= 21.0 && m.value("coopbrief_worker_jobs_in_flight", &[]) == 0.0
    })
    .await;
    let data = scrape_until(&data_metrics, |m| {
        m.has("coopbrief_outbox_pending_jobs") && m.value("coopbrief_reports_unfinished", &[]) == 0.0
    })
    .await;

    println!("--- data service ---\n{}\n--- worker ---\n{}", data.text, worker.text);

    // The data service: reports by outcome, their time from creation to finish, the backlog.
    let finished = "coopbrief_reports_finished_total";
    assert_eq!(data.value(finished, &[("outcome", "succeeded")]), 19.0);
    assert_eq!(data.value(finished, &[("outcome", "failed")]), 1.0);
    assert_eq!(data.value(finished, &[("outcome", "cancelled")]), 0.0);
    assert_eq!(data.kind("coopbrief_report_duration_seconds"), Some("histogram"));
    assert_eq!(data.value("coopbrief_report_duration_seconds_count", &[]), 20.0);
    assert_eq!(data.value("coopbrief_report_duration_seconds_count", &[("outcome", "failed")]), 1.0);
    assert_eq!(data.value("coopbrief_report_duration_seconds_bucket", &[("le", "+Inf")]), 20.0);
    assert!(data.value("coopbrief_report_duration_seconds_sum", &[]) > 0.0);
    assert_eq!(data.value("coopbrief_reports_unfinished", &[("state", "queued")]), 0.0);
    assert_eq!(data.value("coopbrief_reports_unfinished", &[("state", "running")]), 0.0);
    assert_eq!(data.kind("coopbrief_outbox_pending_jobs"), Some("gauge"));
    assert_eq!(data.value("coopbrief_outbox_pending_jobs", &[]), 0.0);
    assert_eq!(data.value("coopbrief_outbox_oldest_pending_age_seconds", &[]), 0.0);

    // gRPC calls by method and code, with their latency.
    let calls = |method: &str, code: &str| {
        let path = format!("/coopbrief.v1.{method}");
        data.value("coopbrief_grpc_requests_total", &[("method", &path), ("code", code)])
    };
    assert_eq!(calls("ReportService/CreateReport", "OK"), 20.0);
    assert_eq!(calls("WorkerService/StartReport", "OK"), 21.0, "the failing report was tried twice");
    assert_eq!(calls("CooperationService/GetBriefingData", "OK"), 21.0);
    assert_eq!(calls("WorkerService/CompleteReport", "OK"), 19.0);
    assert_eq!(calls("WorkerService/FailReport", "OK"), 1.0);
    let create = [("method", "/coopbrief.v1.ReportService/CreateReport")];
    assert_eq!(data.kind("coopbrief_grpc_request_duration_seconds"), Some("histogram"));
    assert_eq!(data.value("coopbrief_grpc_request_duration_seconds_count", &create), 20.0);
    assert!(data.value("coopbrief_grpc_request_duration_seconds_sum", &create) > 0.0);
    for name in ["coopbrief_reports_finished_total", "coopbrief_grpc_requests_total", "coopbrief_outbox_pending_jobs"] {
        assert!(data.text.contains(&format!("# HELP {name} ")), "{name} has no help text");
    }

    // The worker: jobs by outcome, the retry, the dead letter, renders, nothing held.
    let jobs = "coopbrief_worker_jobs_total";
    assert_eq!(worker.value(jobs, &[("outcome", "succeeded")]), 19.0);
    assert_eq!(worker.value(jobs, &[("outcome", "retried")]), 1.0);
    assert_eq!(worker.value(jobs, &[("outcome", "failed")]), 1.0);
    assert_eq!(worker.value("coopbrief_job_retries_total", &[]), 1.0);
    assert_eq!(worker.value("coopbrief_jobs_dead_lettered_total", &[]), 1.0);
    assert_eq!(worker.kind("coopbrief_render_duration_seconds"), Some("histogram"));
    assert_eq!(worker.value("coopbrief_render_duration_seconds_count", &[]), 19.0);
    assert!(worker.value("coopbrief_render_duration_seconds_sum", &[]) > 0.0);
    assert_eq!(worker.kind("coopbrief_worker_jobs_in_flight"), Some("gauge"));
    assert_eq!(worker.value("coopbrief_worker_jobs_in_flight", &[]), 0.0);
    let broker = AmqpQueue::connect(amqp_settings(&queue, 1)).await.expect("broker");
    assert_eq!(broker.dead_letter_count().await.expect("count"), 1, "the dead letter the worker counted");

    // No label names a report, a programme or a period.
    for page in [&data, &worker] {
        for word in ids.iter().map(String::as_str).chain(["hanoi-hanam", FAILING_PERIOD]) {
            assert!(!page.text.contains(word), "a label holds {word:?}");
        }
    }
    let _ = broker.delete_queue().await;
}

/// A client of the data service once its health check says SERVING.
async fn connect(endpoint: &str) -> Client {
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
    let started = Instant::now();
    loop {
        if let Ok(channel) = tonic::transport::Endpoint::from_shared(endpoint.to_owned()).expect("uri").connect().await
            && let Ok(answer) = HealthClient::new(channel).check(HealthCheckRequest::default()).await
            && answer.get_ref().status == ServingStatus::Serving as i32
        {
            return Client::connect(endpoint).await.expect("client connects");
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the data service at {endpoint} never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One scrape of a `/metrics` page.
struct Metrics {
    text: String,
}

impl Metrics {
    /// The samples: name, labels, value.
    fn samples(&self) -> impl Iterator<Item = (&str, Vec<(&str, &str)>, f64)> {
        self.text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample: {line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("a value: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (k, v) = l.split_once("=\"").unwrap_or_else(|| panic!("a label: {line}"));
                    (k, v.trim_end_matches('"'))
                })
                .collect();
            (name, labels, value)
        })
    }

    /// The sum of the samples of `name` that carry all of `labels` (0 when there is none).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples().filter(|(n, ls, _)| *n == name && labels.iter().all(|l| ls.contains(l))).map(|(_, _, v)| v).sum()
    }

    fn has(&self, name: &str) -> bool {
        self.samples().any(|(n, _, _)| n == name)
    }

    /// The metric's `# TYPE`.
    fn kind(&self, name: &str) -> Option<&str> {
        let prefix = format!("# TYPE {name} ");
        self.text.lines().find_map(|l| l.strip_prefix(&prefix))
    }
}

/// `GET /metrics` over plain HTTP/1.0, the body.
async fn scrape(addr: &str) -> std::io::Result<Metrics> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await??;
    let answer = String::from_utf8(answer).map_err(std::io::Error::other)?;
    let (head, body) = answer.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other("no header end"))?;
    assert!(head.starts_with("HTTP/1.") && head.contains(" 200 "), "{head}");
    Ok(Metrics { text: body.to_owned() })
}

/// Scrapes `addr` until `ready` holds (or fails the test after a while, showing the last page).
async fn scrape_until(addr: &str, ready: impl Fn(&Metrics) -> bool) -> Metrics {
    let started = Instant::now();
    loop {
        match scrape(addr).await {
            Ok(page) if ready(&page) => return page,
            Ok(page) if started.elapsed() > Duration::from_secs(30) => {
                panic!("the metrics at {addr} did not settle:\n{}", page.text)
            }
            Err(e) if started.elapsed() > Duration::from_secs(30) => panic!("no metrics at {addr}: {e}"),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
