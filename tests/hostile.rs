//! Hostile input against the real data service: documents built to stall the YAML parser or to
//! blow up its memory are refused fast while the service keeps answering; concurrent big imports
//! queue or are turned away at once, and every one that commits has exactly one audit entry;
//! text that would show differently than it reads is refused naming its field.

use std::time::{Duration, Instant};

use coopbrief_domain::dataset::Dataset;
use coopbrief_domain::exchange;
use coopbrief_proto::{CooperationServiceClient, v1};
use coopbrief_tests::{TestApp, fair, spawn_app};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

/// The resident memory of this process (the data service runs in it), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).expect("VmRSS");
    kib.trim().trim_end_matches("kB").trim().parse::<u64>().expect("a number") * 1024
}

async fn channel(app: &TestApp) -> Channel {
    Channel::from_shared(app.endpoint.clone()).expect("endpoint").connect().await.expect("connects")
}

async fn import(
    data: &mut CooperationServiceClient<Channel>,
    yaml: String,
) -> Result<v1::ImportProgrammeResponse, tonic::Status> {
    data.import_programme(v1::ImportProgrammeRequest { yaml, validate_only: false }).await.map(|r| r.into_inner())
}

/// Health checks every 10 ms until stopped; returns the slowest answer.
fn watch_health(channel: Channel) -> (tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<Duration>) {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut health = HealthClient::new(channel);
        let mut slowest = Duration::ZERO;
        while !*stopped.borrow() {
            let started = Instant::now();
            health.check(HealthCheckRequest { service: String::new() }).await.expect("health answers");
            slowest = slowest.max(started.elapsed());
            let _ = tokio::time::timeout(Duration::from_millis(10), stopped.changed()).await;
        }
        slowest
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_that_would_stall_or_swell_the_parser_are_refused_fast() {
    let app = spawn_app(false).await;
    let channel = channel(&app).await;
    let mut data = CooperationServiceClient::new(channel.clone());
    // Nested flow mappings (the parser's work grows with the square of the depth) and aliases
    // of a big node (expanded before any check), each about 4 MB.
    let depth = 780_000;
    let nested = format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth));
    let big = "x".repeat(1000);
    let aliases = format!("node: &n {{t: \"{big}\"}}\nlist:\n{}", "  - *n\n".repeat(560_000));
    let (stop, health) = watch_health(channel.clone());
    let before = rss();
    for (what, yaml, limit) in [("nested", nested, "nested more than 32"), ("aliases", aliases, "anchors and aliases")]
    {
        let size = yaml.len();
        assert!(size > 3_900_000, "{what}: {size} bytes");
        let started = Instant::now();
        let status = import(&mut data, yaml).await.expect_err("refused");
        let took = started.elapsed();
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
        assert!(status.message().contains(limit), "{what}: {}", status.message());
        let field = status.get_details_bad_request().and_then(|b| b.field_violations.first().map(|v| v.field.clone()));
        assert_eq!(field.as_deref(), Some("yaml"), "{what}");
        assert!(took < Duration::from_secs(1), "{what} took {took:?}");
        println!("{what}: {size} bytes refused in {took:?}");
    }
    let grew = rss().saturating_sub(before);
    let _ = stop.send(true);
    let slowest = health.await.expect("health task");
    println!("the service grew by {} KiB; the slowest health check took {slowest:?}", grew >> 10);
    assert!(grew < 64 << 20, "the service grew by {} MiB", grew >> 20);
    assert!(slowest < Duration::from_millis(100), "a health check waited {slowest:?}");
    app.stop().await;
}

/// A programme of its own with `n` activities, as an import document.
fn big_programme(code: &str, n: usize) -> String {
    let mut ds = Dataset::bundled().expect("seed");
    let p = &mut ds.programmes[0];
    p.code = code.parse().expect("a code");
    p.activities = (0..n).map(|i| fair(&format!("a-{i}"), format!("Hội chợ {i} {}", "ư".repeat(100)))).collect();
    p.projects.clear();
    p.contributions.clear();
    p.indicators.retain(|i| i.sector.is_none());
    p.assessments.retain(|a| a.sector.is_none());
    p.directions.retain(|d| d.sector.is_none());
    ds.sectors.clear();
    exchange::to_yaml(&ds).expect("yaml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_big_imports_queue_or_are_turned_away_and_each_commit_is_audited_once() {
    let app = spawn_app(false).await;
    let channel = channel(&app).await;
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let mut data = CooperationServiceClient::new(channel.clone());
            let yaml = big_programme(&format!("big-{i}"), 3_000);
            tokio::spawn(async move {
                let started = Instant::now();
                (import(&mut data, yaml).await, started.elapsed())
            })
        })
        .collect();
    let mut committed = 0;
    for call in calls {
        match call.await.expect("task") {
            (Ok(_), _) => committed += 1,
            (Err(s), took) if s.code() == Code::ResourceExhausted => {
                assert!(took < Duration::from_secs(1), "turned away after {took:?}: {s:?}");
                assert!(s.message().contains("imports are running"), "{}", s.message());
            }
            (Err(s), _) => panic!("an import failed: {s:?}"),
        }
    }
    assert!(committed >= 1, "no import went through");
    println!("{committed} of 8 imports committed, the others turned away at once");
    let store = coopbrief_store::Store::connect(&format!("sqlite://{}/coopbrief.db", app.dir.path().display()))
        .await
        .expect("the test's database");
    let (entries, _) = store.audit_entries(500, None).await.expect("audit log");
    let imports = entries.iter().filter(|e| e.method == "ImportProgramme").count();
    assert_eq!(imports, committed, "one audit entry per committed import");
    let programmes = store.programmes().await.expect("programmes");
    assert_eq!(programmes.iter().filter(|p| p.code.starts_with("big-")).count(), committed);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_that_would_show_otherwise_than_it_reads_is_refused_naming_the_field() {
    let app = spawn_app(false).await;
    let mut data = CooperationServiceClient::new(channel(&app).await);
    for (name, why) in [
        ("\u{1b}[2J\u{1b}]0;pwned\u{7}", "control character"),
        ("Hà \u{202E}maN", "bidirectional control"),
        ("\u{0301}Hà Nam", "combining mark"),
    ] {
        let partner = v1::Partner {
            code: "odd".into(),
            name: Some(v1::LocalizedText { vi: name.into(), en: None }),
            kind: v1::PartnerKind::Province as i32,
            etag: String::new(),
        };
        let status = data
            .create_partner(v1::CreatePartnerRequest { partner: Some(partner), request_id: String::new() })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().starts_with("partner.name.vi: holds U+") && status.message().contains(why),
            "{status:?}"
        );
    }
    app.stop().await;
}
