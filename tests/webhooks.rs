//! Webhooks end to end: the real data service, RabbitMQ and a worker, and a small HTTP
//! receiver in the test that verifies each event's Standard Webhooks signature.

// A test fails loudly: unwrapping is how it says what went wrong.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use coopbrief_proto::ReportServiceClient;
use coopbrief_proto::v1::{self, NotificationState, ReportState};
use coopbrief_tests::{spawn_app_configured, wait_for_state};
use coopbrief_worker::WorkerConfig;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tonic::Code;

const SUCCEEDED: i32 = ReportState::Succeeded as i32;
const FAILED: i32 = ReportState::Failed as i32;
/// The key the tests' data services seal secrets with.
const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// One request the receiver took.
#[derive(Clone, Debug)]
struct Received {
    headers: HashMap<String, String>,
    body: Vec<u8>,
    /// The status it answered.
    status: u16,
}

/// A test HTTP receiver: records every POST and answers `status` (200 unless changed).
struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        Receiver::on(listener)
    }

    fn on(listener: TcpListener) -> Receiver {
        let addr = listener.local_addr().expect("bound");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let (s, st) = (seen.clone(), status.clone());
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (s, st) = (s.clone(), st.clone());
                tokio::spawn(async move {
                    let Some((headers, body)) = read_request(&mut conn).await else { return };
                    let status = st.load(Ordering::SeqCst);
                    s.lock().unwrap().push(Received { headers, body, status });
                    let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                    let _ = conn.write_all(answer.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Receiver { addr, seen, status }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `n` requests came; all of them.
    async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let started = std::time::Instant::now();
        loop {
            let seen = self.seen();
            if seen.len() >= n {
                return seen;
            }
            assert!(started.elapsed() < timeout, "{} of {n} requests after {timeout:?}", seen.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Reads one HTTP/1.1 request: its headers (names lowercase) and its body.
async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<(HashMap<String, String>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = buf[end + 4..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((headers, body))
}

/// What a receiver does with an event (Standard Webhooks): the timestamp within five minutes,
/// and one of the `v1,` signatures equal, in constant time, to the HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` keyed with the secret's bytes.
fn verify(secret: &str, headers: &HashMap<String, String>, body: &[u8]) -> Result<(), &'static str> {
    let key = BASE64.decode(secret.strip_prefix("whsec_").ok_or("not a whsec_ secret")?).map_err(|_| "bad secret")?;
    let id = headers.get("webhook-id").ok_or("no webhook-id")?;
    let timestamp = headers.get("webhook-timestamp").ok_or("no webhook-timestamp")?;
    let signatures = headers.get("webhook-signature").ok_or("no webhook-signature")?;
    let at: i64 = timestamp.parse().map_err(|_| "bad timestamp")?;
    if (jiff::Timestamp::now().as_second() - at).abs() > 300 {
        return Err("timestamp out of tolerance");
    }
    for signature in signatures.split(' ') {
        let Some(b64) = signature.strip_prefix("v1,") else { continue };
        let Ok(given) = BASE64.decode(b64) else { continue };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| "bad key")?;
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        // verify_slice compares in constant time.
        if mac.verify_slice(&given).is_ok() {
            return Ok(());
        }
    }
    Err("no valid signature")
}

/// A fresh random secret in the `whsec_` form, and its base64 part.
fn new_secret() -> String {
    use sha2::Digest;
    // 32 bytes no one could guess in a test: the digest of a UUIDv7 (74 random bits).
    format!("whsec_{}", BASE64.encode(Sha256::digest(uuid::Uuid::now_v7().as_bytes())))
}

fn settings(base: f64, cap: f64, attempts: u32) -> impl FnOnce(&mut coopbrief_data::Settings) {
    move |s| {
        s.webhooks.webhook_key = Some(KEY.into());
        s.webhooks.webhook_base_delay = base;
        s.webhooks.webhook_max_delay = cap;
        s.webhooks.webhook_max_attempts = attempts;
    }
}

fn create(period: &str, url: &str, secret: &str) -> v1::CreateReportRequest {
    v1::CreateReportRequest {
        programme: "hanoi-hanam".into(),
        period: period.into(),
        lang: "vi".into(),
        notify: Some(v1::NotifyTarget { url: url.into(), secret: secret.into() }),
        ..Default::default()
    }
}

async fn notification_in(
    reports: &mut ReportServiceClient<tonic::transport::Channel>,
    id: &str,
    state: NotificationState,
    timeout: Duration,
) -> v1::Report {
    let started = std::time::Instant::now();
    loop {
        let r = reports.get_report(v1::GetReportRequest { id: id.into() }).await.expect("get").into_inner();
        if r.notification.as_ref().is_some_and(|n| n.state == state as i32) {
            return r;
        }
        assert!(started.elapsed() < timeout, "notification not {state:?} after {timeout:?}: {:?}", r.notification);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_succeeded_and_a_failed_report_each_deliver_one_signed_event() {
    let receiver = Receiver::start().await;
    let worker = WorkerConfig { fail_period: Some("2019-Q1".into()), max_attempts: 1, ..WorkerConfig::default() };
    let app = spawn_app_configured(Some(worker), settings(0.2, 1.0, 5)).await;
    let mut reports = ReportServiceClient::connect(app.endpoint.clone()).await.expect("connect");
    let secret = new_secret();

    let ok = reports.create_report(create("2019", &receiver.url(), &secret)).await.expect("created").into_inner();
    let bad = reports.create_report(create("2019-Q1", &receiver.url(), &secret)).await.expect("created").into_inner();
    let ok = wait_for_state(&app.client, &ok.id, &[SUCCEEDED], Duration::from_secs(60)).await;
    let bad = wait_for_state(&app.client, &bad.id, &[FAILED], Duration::from_secs(60)).await;
    receiver.wait_for(2, Duration::from_secs(20)).await;
    // One event each, and no more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");

    for (report, kind) in [(&ok, "report.succeeded"), (&bad, "report.failed")] {
        let event = seen
            .iter()
            .find(|e| serde_json::from_slice::<serde_json::Value>(&e.body).unwrap()["data"]["id"] == report.id.as_str())
            .unwrap_or_else(|| panic!("no event of {}", report.id));
        assert_eq!(verify(&secret, &event.headers, &event.body), Ok(()), "{kind}");
        assert_eq!(event.headers.get("content-type").map(String::as_str), Some("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&event.body).unwrap();
        assert_eq!(body["type"], kind);
        assert!(body["timestamp"].as_str().is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()), "{body}");
        let data = &body["data"];
        assert_eq!(data["name"], format!("reports/{}", report.id));
        assert_eq!(data["programme"], "hanoi-hanam");
        assert_eq!(data["period"], report.period.as_str());
        assert_eq!(data["download_path"], format!("/#/reports/{}", report.id));
        if kind == "report.succeeded" {
            assert_eq!(data["state"], "SUCCEEDED");
            assert_eq!(data["sha256"], report.sha256.as_str());
            assert_eq!(data["data_hash"], report.data_hash.as_str());
        } else {
            assert_eq!(data["state"], "FAILED");
            assert_eq!(data["error"], report.error.as_str());
        }
        // What GetReport says of it.
        let got = notification_in(&mut reports, &report.id, NotificationState::Delivered, Duration::from_secs(5)).await;
        let n = got.notification.expect("notification");
        assert_eq!(n.url, receiver.url());
        assert_eq!(n.event_type, kind);
        assert_eq!(n.attempts, 1);
        assert_eq!(Some(&n.event_id), event.headers.get("webhook-id"));
        assert!(n.delivered_time.is_some());

        // A receiver rejects a tampered body, a tampered signature and another secret.
        let mut body = event.body.clone();
        body[10] ^= 1;
        assert!(verify(&secret, &event.headers, &body).is_err(), "tampered body");
        let mut headers = event.headers.clone();
        let mut sig = BASE64.decode(&headers["webhook-signature"][3..]).unwrap();
        sig[0] ^= 1;
        headers.insert("webhook-signature".into(), format!("v1,{}", BASE64.encode(sig)));
        assert!(verify(&secret, &headers, &event.body).is_err(), "tampered signature");
        let mut late = event.headers.clone();
        late.insert("webhook-timestamp".into(), "1000000000".into());
        assert!(verify(&secret, &late, &event.body).is_err(), "replayed long after");
        assert!(verify(&new_secret(), &event.headers, &event.body).is_err(), "another secret");
    }

    // The secret is in no answer, no list and not in the database file.
    let secret_b64 = secret.strip_prefix("whsec_").unwrap();
    let raw = BASE64.decode(secret_b64).unwrap();
    for id in [&ok.id, &bad.id] {
        let got = reports.get_report(v1::GetReportRequest { id: id.clone() }).await.unwrap().into_inner();
        assert!(!format!("{got:?}").contains(secret_b64));
    }
    let list = reports.list_reports(v1::ListReportsRequest::default()).await.unwrap().into_inner();
    assert!(!format!("{list:?}").contains(secret_b64));
    assert!(list.reports.iter().all(|r| r.notification.as_ref().is_some_and(|n| n.url == receiver.url())));
    let mut dump = Vec::new();
    for file in ["coopbrief.db", "coopbrief.db-wal"] {
        dump.extend(std::fs::read(app.path(file)).unwrap_or_default());
    }
    let url = receiver.url();
    assert!(dump.windows(url.len()).any(|w| w == url.as_bytes()), "the right file: it holds the url");
    assert!(!dump.windows(secret_b64.len()).any(|w| w == secret_b64.as_bytes()), "the secret's base64 in the file");
    assert!(!dump.windows(raw.len()).any(|w| w == raw.as_slice()), "the secret's bytes in the file");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_targets_are_refused_naming_the_field_and_no_key_is_a_failed_precondition() {
    let app = spawn_app_configured(None, settings(0.2, 1.0, 5)).await;
    let mut reports = ReportServiceClient::connect(app.endpoint.clone()).await.expect("connect");
    let good = new_secret();
    for (url, secret, field) in [
        ("file:///etc/passwd", good.as_str(), "notify.url"),
        ("https://user:hunter2@example.org/hooks", &good, "notify.url"),
        ("http://example.org/hooks", &good, "notify.url"),
        ("http://10.1.2.3/hooks", &good, "notify.url"),
        ("ftp://example.org/hooks", &good, "notify.url"),
        ("https://example.org/hooks", "whsec_c2hvcnQ=", "notify.secret"),
        ("https://example.org/hooks", "not-a-secret", "notify.secret"),
    ] {
        let err = reports.create_report(create("2019", url, secret)).await.expect_err(url);
        assert_eq!(err.code(), Code::InvalidArgument, "{url}: {}", err.message());
        let details = tonic_types::StatusExt::get_error_details(&err);
        let named = details.bad_request().and_then(|b| b.field_violations.first()).map(|v| v.field.clone());
        assert_eq!(named.as_deref(), Some(field), "{url}");
        assert!(!err.message().contains("hunter2") && !err.message().contains(&good[8..]), "{}", err.message());
    }
    // No report without a target has a notification, and retrying one is refused.
    let plain = reports
        .create_report(v1::CreateReportRequest {
            programme: "hanoi-hanam".into(),
            period: "2019".into(),
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner();
    assert!(plain.notification.is_none());
    let err = reports.retry_notification(v1::RetryNotificationRequest { id: plain.id }).await.expect_err("no target");
    assert_eq!(err.code(), Code::FailedPrecondition, "{}", err.message());
    let pending = reports.create_report(create("2019", "https://example.org/h", &good)).await.unwrap().into_inner();
    let err = reports.retry_notification(v1::RetryNotificationRequest { id: pending.id }).await.expect_err("no event");
    assert_eq!(err.code(), Code::FailedPrecondition, "{}", err.message());
    app.stop().await;

    // A data service without the key refuses a target, naming the setting.
    let app = spawn_app_configured(None, |_| {}).await;
    let mut reports = ReportServiceClient::connect(app.endpoint.clone()).await.expect("connect");
    let err = reports.create_report(create("2019", "https://example.org/h", &good)).await.expect_err("no key");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("--webhook-key-file"), "{}", err.message());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_reaches_a_receiver_that_was_down_for_30_seconds() {
    // A port nobody listens on yet.
    let port = coopbrief_tests::free_port();
    let url = format!("http://127.0.0.1:{port}/hooks");
    let app = spawn_app_configured(Some(WorkerConfig::default()), settings(1.0, 4.0, 100)).await;
    let mut reports = ReportServiceClient::connect(app.endpoint.clone()).await.expect("connect");
    let secret = new_secret();
    let report = reports.create_report(create("2019", &url, &secret)).await.expect("created").into_inner();
    wait_for_state(&app.client, &report.id, &[SUCCEEDED], Duration::from_secs(60)).await;
    let down_since = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let waiting = reports.get_report(v1::GetReportRequest { id: report.id.clone() }).await.unwrap().into_inner();
    let n = waiting.notification.expect("notification");
    assert_eq!(n.state, NotificationState::Pending as i32, "{n:?}");
    assert!(n.attempts >= 1 && n.last_error.contains("connection refused"), "{n:?}");
    assert!(n.next_attempt_time.is_some());

    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down_since.elapsed())).await;
    let receiver = Receiver::on(TcpListener::bind(("127.0.0.1", port)).await.expect("the port again"));
    let seen = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(verify(&secret, &seen[0].headers, &seen[0].body), Ok(()));
    let done = notification_in(&mut reports, &report.id, NotificationState::Delivered, Duration::from_secs(5)).await;
    let n = done.notification.unwrap();
    assert!(n.attempts >= 2, "{n:?}");
    assert_eq!(Some(&n.event_id), seen[0].headers.get("webhook-id"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.seen().len(), 1, "delivered once");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_receiver_ends_given_up_and_a_retry_delivers_the_same_event() {
    let receiver = Receiver::start().await;
    receiver.status.store(500, Ordering::SeqCst);
    let app = spawn_app_configured(Some(WorkerConfig::default()), settings(0.2, 0.5, 3)).await;
    let mut reports = ReportServiceClient::connect(app.endpoint.clone()).await.expect("connect");
    let secret = new_secret();
    let report = reports.create_report(create("2019", &receiver.url(), &secret)).await.expect("created").into_inner();
    wait_for_state(&app.client, &report.id, &[SUCCEEDED], Duration::from_secs(60)).await;
    let given_up = notification_in(&mut reports, &report.id, NotificationState::GivenUp, Duration::from_secs(30)).await;
    let n = given_up.notification.unwrap();
    assert_eq!((n.attempts, n.last_error.as_str()), (3, "HTTP 500"), "{n:?}");
    assert!(n.next_attempt_time.is_none() && n.delivered_time.is_none());
    let seen = receiver.seen();
    assert_eq!(seen.len(), 3, "three attempts");
    assert!(seen.iter().all(|e| e.headers.get("webhook-id") == Some(&n.event_id) && e.status == 500));
    assert!(seen.iter().all(|e| verify(&secret, &e.headers, &e.body).is_ok()));

    // The receiver recovers; the operator replays the event.
    receiver.status.store(200, Ordering::SeqCst);
    let retried = reports
        .retry_notification(v1::RetryNotificationRequest { id: report.id.clone() })
        .await
        .expect("retried")
        .into_inner();
    let r = retried.notification.unwrap();
    assert_eq!((r.state, r.attempts, r.event_id.as_str()), (NotificationState::Pending as i32, 0, n.event_id.as_str()));
    let done = notification_in(&mut reports, &report.id, NotificationState::Delivered, Duration::from_secs(10)).await;
    let d = done.notification.unwrap();
    assert_eq!((d.attempts, d.event_id.as_str()), (1, n.event_id.as_str()));
    let seen = receiver.seen();
    assert_eq!(seen.len(), 4);
    let last = seen.last().unwrap();
    assert_eq!((last.status, last.headers.get("webhook-id")), (200, Some(&n.event_id)), "the same event id");
    assert_eq!(last.body, seen[0].body, "the same event");
    assert_eq!(verify(&secret, &last.headers, &last.body), Ok(()));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_schedules_reports_inherit_its_target_and_the_schedule_shows_the_url_only() {
    let receiver = Receiver::start().await;
    let app = spawn_app_configured(Some(WorkerConfig::default()), |s| {
        settings(0.2, 1.0, 5)(s);
        s.scheduler_interval = 0.2;
    })
    .await;
    let mut schedules = coopbrief_proto::ScheduleServiceClient::connect(app.endpoint.clone()).await.expect("connect");
    let secret = new_secret();
    let schedule = v1::ReportSchedule {
        programme: "hanoi-hanam".into(),
        cadence: "yearly".into(),
        first_period: "2025".into(),
        notify: Some(v1::NotifyTarget { url: receiver.url(), secret: secret.clone() }),
        ..Default::default()
    };
    let created = schedules
        .create_schedule(v1::CreateScheduleRequest { schedule: Some(schedule) })
        .await
        .expect("created")
        .into_inner();
    let shown = created.notify.clone().expect("the target");
    assert_eq!((shown.url.as_str(), shown.secret.as_str()), (receiver.url().as_str(), ""), "the url, never the secret");
    let got = schedules.get_schedule(v1::GetScheduleRequest { id: created.id.clone() }).await.unwrap().into_inner();
    assert!(!format!("{got:?}").contains(&secret[6..]));

    // Its 2025 briefing is made at once (the year has closed), finishes, and tells the receiver.
    let seen = receiver.wait_for(1, Duration::from_secs(60)).await;
    assert_eq!(verify(&secret, &seen[0].headers, &seen[0].body), Ok(()));
    let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(body["data"]["schedule"], format!("schedules/{}", created.id));
    assert_eq!(body["data"]["period"], "2025");
    app.stop().await;
}
