//! `WatchReport` across replicas: two data services on one PostgreSQL database; the worker
//! talks to replica B only, the watcher to replica A, which learns of each change from the
//! database (its poll), not from its own memory.

use std::time::{Duration, Instant};

use coopbrief_proto::v1;
use coopbrief_proto::v1::report_service_client::ReportServiceClient;
use coopbrief_store::testing::TestDb;
use coopbrief_tests::{amqp_settings, data_settings, rabbitmq, start_data, start_worker};
use tonic::Code;
use tonic::transport::Channel;

/// Everything a watch stream sends until it ends (or `limit` passes), with when each came.
async fn watch_all(client: &mut ReportServiceClient<Channel>, id: &str, limit: Duration) -> Vec<(v1::Report, Instant)> {
    let req = v1::WatchReportRequest { id: id.into() };
    let mut stream = client.watch_report(req).await.expect("watch starts").into_inner();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Ok(Ok(Some(report))) => seen.push((report, Instant::now())),
            Ok(Ok(None)) => return seen,
            Ok(Err(status)) => panic!("watch failed: {status:?}"),
            Err(_) => panic!("the watch did not end within {limit:?}; saw {:?}", states(&seen)),
        }
    }
}

fn states(seen: &[(v1::Report, Instant)]) -> Vec<(String, u32)> {
    seen.iter().map(|(r, _)| (state_name(r.state), r.attempt)).collect()
}

fn state_name(state: i32) -> String {
    v1::ReportState::try_from(state).map(|s| s.as_str_name().to_owned()).unwrap_or_else(|_| state.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_on_one_replica_sees_every_change_another_replicas_worker_makes() {
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = format!("coopbrief.test.watch.{}", uuid::Uuid::now_v7());
    drop(rabbitmq(&queue, 1).await);
    let settings = |name: &str| {
        let mut s = data_settings(&dir.path().join(name), &queue, "127.0.0.1:0".parse().expect("address"));
        s.database_url = db.url.clone();
        s.artifacts = dir.path().join("pdf").display().to_string();
        s
    };
    // A first (it seeds the empty database), then B.
    let (a, replica_a) = start_data(&settings("a")).await;
    let (b, replica_b) = start_data(&settings("b")).await;
    // The worker reaches B only; each render takes a second, so RUNNING lasts long enough to
    // be seen by a poll of a quarter of a second.
    let config = coopbrief_worker::WorkerConfig {
        render_delay: Duration::from_secs(1),
        ..coopbrief_worker::WorkerConfig::default()
    };
    let worker = start_worker(&b, amqp_settings(&queue, 2), config);

    let mut on_a = ReportServiceClient::connect(a.clone()).await.expect("connects to A");
    let create =
        v1::CreateReportRequest { programme: "hanoi-hanam".into(), period: "2019".into(), ..Default::default() };
    let report = on_a.create_report(create).await.expect("created").into_inner();
    let seen = watch_all(&mut on_a, &report.id, Duration::from_secs(90)).await;
    let got = states(&seen);
    println!("watch on A saw {got:?}");
    assert_eq!(
        got.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        ["REPORT_STATE_QUEUED", "REPORT_STATE_RUNNING", "REPORT_STATE_SUCCEEDED"],
        "every state, once each, in order"
    );
    assert_eq!(got[1].1, 1, "RUNNING shows the first attempt");
    let last = &seen.last().expect("a last message").0;
    assert_eq!(last.sha256.len(), 64, "the final message is the finished report: {last:?}");
    // B agrees: the change was made there.
    let mut on_b = ReportServiceClient::connect(b.clone()).await.expect("connects to B");
    let from_b = on_b.get_report(v1::GetReportRequest { id: report.id.clone() }).await.expect("get").into_inner();
    assert_eq!(from_b.sha256, last.sha256);

    // A finished report: its final state at once, and the stream ends.
    let started = Instant::now();
    let again = watch_all(&mut on_a, &report.id, Duration::from_secs(5)).await;
    assert_eq!(states(&again), [("REPORT_STATE_SUCCEEDED".to_owned(), 1)]);
    assert!(started.elapsed() < Duration::from_millis(500), "took {:?}", started.elapsed());

    // Unknown and malformed ids are refused before any stream starts.
    let unknown = on_a
        .watch_report(v1::WatchReportRequest { id: uuid::Uuid::now_v7().to_string() })
        .await
        .expect_err("unknown report");
    assert_eq!(unknown.code(), Code::NotFound);
    let bad = on_a.watch_report(v1::WatchReportRequest { id: "nope".into() }).await.expect_err("bad id");
    assert_eq!(bad.code(), Code::InvalidArgument);

    // Many watchers of one report cost one poll: 50 at once all see it finish.
    let report = on_a
        .create_report(v1::CreateReportRequest {
            programme: "hanoi-hanam".into(),
            period: "2019-H1".into(),
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner();
    let watchers: Vec<_> = (0..50)
        .map(|_| {
            let (mut client, id) = (on_a.clone(), report.id.clone());
            tokio::spawn(async move { watch_all(&mut client, &id, Duration::from_secs(90)).await })
        })
        .collect();
    for w in watchers {
        let seen = w.await.expect("watcher");
        let last = &seen.last().expect("a message").0;
        assert_eq!(state_name(last.state), "REPORT_STATE_SUCCEEDED");
    }

    worker.stop().await;
    replica_b.stop().await;
    replica_a.stop().await;
    let q = rabbitmq(&queue, 1).await;
    let _ = q.delete_queue().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_watch_does_not_hold_shutdown_and_is_told_to_watch_again() {
    let app = coopbrief_tests::spawn_app(false).await;
    let mut client = ReportServiceClient::connect(app.endpoint.clone()).await.expect("connects");
    let create =
        v1::CreateReportRequest { programme: "hanoi-hanam".into(), period: "2019".into(), ..Default::default() };
    let report = client.create_report(create).await.expect("created").into_inner();
    // No worker: the report stays QUEUED and the watch stays open.
    let mut stream =
        client.watch_report(v1::WatchReportRequest { id: report.id.clone() }).await.expect("watch").into_inner();
    let first = stream.message().await.expect("first message").expect("a report");
    assert_eq!(state_name(first.state), "REPORT_STATE_QUEUED");

    let started = Instant::now();
    let stopped = tokio::time::timeout(Duration::from_secs(10), app.stop()).await;
    assert!(stopped.is_ok(), "the data service did not stop within 10 s with a watch open");
    let ended = stream.message().await.expect_err("the watch ends with an error");
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    println!("stopped in {:?}; the watcher was told: {}", started.elapsed(), ended.message());
}
