//! End to end, against the real RabbitMQ: request a briefing over gRPC, a worker renders it,
//! download the PDF, check its sha256 and its text; bad input gets the right codes.

use std::time::Duration;

use coopbrief_proto::v1;
use coopbrief_proto::{CooperationServiceClient, ReportServiceClient};
use coopbrief_tests::{assert_pdf_contains, fair, spawn_app, spawn_app_configured};
use coopbrief_worker::WorkerConfig;
use sha2::{Digest, Sha256};
use tonic::Code;

/// What the seed briefing must say, with every diacritic.
const SEED_PHRASES: &[&str] = &["Hà Nội", "Hà Nam", "Hòa Bình", "87", "10.900", "Vành đai 5", "Nhuệ", "3 tỷ đồng"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_wait_download_over_rabbitmq() {
    let app = spawn_app(true).await;
    let report = app.client.request("hanoi-hanam", "2019", "vi").await.expect("created");
    assert_eq!(report.state, v1::ReportState::Queued as i32);
    assert_eq!(report.period, "2019");

    let done = app.client.wait(&report.id, Duration::from_secs(120)).await.expect("finished");
    assert_eq!(done.state, v1::ReportState::Succeeded as i32, "error: {}", done.error);
    assert!(done.page_count > 1, "pages: {}", done.page_count);
    assert_eq!(done.attempt, 1);

    let out = app.path("briefing.pdf");
    let downloaded = app.client.download(&report.id, &out, coopbrief_cli::PdfCopy::Draft).await.expect("downloaded");
    let bytes = std::fs::read(&out).expect("pdf on disk");
    assert!(bytes.starts_with(b"%PDF-"));
    assert_eq!(bytes.len() as u64, done.byte_size);
    assert_eq!(hex::encode(Sha256::digest(&bytes)), done.sha256);
    assert_eq!(downloaded.sha256, done.sha256);
    assert_pdf_contains(&out, SEED_PHRASES);
    assert_pdf_contains(&out, &["Năm 2019"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn english_briefing_over_rabbitmq() {
    let app = spawn_app(true).await;
    let report = app.client.request("hanoi-hanam", "2019", "en").await.expect("created");
    let done = app.client.wait(&report.id, Duration::from_secs(120)).await.expect("finished");
    assert_eq!(done.state, v1::ReportState::Succeeded as i32, "error: {}", done.error);
    let out = app.path("en.pdf");
    app.client.download(&report.id, &out, coopbrief_cli::PdfCopy::Draft).await.expect("downloaded");
    assert_pdf_contains(&out, &["Hanoi", "Ha Nam", "10,900", "billion VND"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_codes() {
    // No worker: a report stays QUEUED, so its download is refused.
    let app = spawn_app(false).await;
    let mut reports = ReportServiceClient::connect(app.endpoint.clone()).await.expect("connect");
    let create = |programme: &str, period: &str, lang: &str| v1::CreateReportRequest {
        programme: programme.into(),
        period: period.into(),
        lang: lang.into(),
        ..Default::default()
    };

    let cases = [
        (create("hue-danang", "2019", "vi"), Code::NotFound, "programme \"hue-danang\""),
        (create("hanoi-hanam", "2019-13", "vi"), Code::InvalidArgument, "period"),
        (create("hanoi-hanam", "last year", "vi"), Code::InvalidArgument, "period"),
        (create("", "2019", "vi"), Code::InvalidArgument, "programme"),
        (create("hanoi-hanam", "", "vi"), Code::InvalidArgument, "period"),
        (create("hanoi-hanam", "2019", "fr"), Code::InvalidArgument, "lang"),
    ];
    for (req, code, needle) in cases {
        let what = format!("{req:?}");
        let err = reports.create_report(req).await.expect_err(&what);
        assert_eq!(err.code(), code, "{what}: {}", err.message());
        assert!(err.message().contains(needle), "{what}: message {:?} should name {needle:?}", err.message());
    }
    // A field violation travels as google.rpc.BadRequest details too.
    let err = reports.create_report(create("hanoi-hanam", "2019-Q5", "vi")).await.expect_err("bad quarter");
    let details = tonic_types::StatusExt::get_error_details(&err);
    let field = details.bad_request().and_then(|b| b.field_violations.first()).map(|v| v.field.clone());
    assert_eq!(field.as_deref(), Some("period"));

    let err = reports.get_report(v1::GetReportRequest { id: "not-a-uuid".into() }).await.expect_err("bad id");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("id"), "{}", err.message());
    let missing = uuid::Uuid::now_v7().to_string();
    let err = reports.get_report(v1::GetReportRequest { id: missing }).await.expect_err("unknown id");
    assert_eq!(err.code(), Code::NotFound);

    let queued = app.client.request("hanoi-hanam", "2019-Q3", "vi").await.expect("created");
    let err = reports
        .download_report(v1::DownloadReportRequest { id: queued.id.clone(), issued: false })
        .await
        .expect_err("unfinished download");
    assert_eq!(err.code(), Code::FailedPrecondition, "{}", err.message());
    assert!(err.message().contains("QUEUED"), "{}", err.message());

    let err = reports.list_reports(v1::ListReportsRequest { page_size: -1, ..Default::default() }).await;
    assert_eq!(err.expect_err("negative page size").code(), Code::InvalidArgument);

    let mut data = CooperationServiceClient::connect(app.endpoint.clone()).await.expect("connect");
    let err = data
        .get_briefing_data(v1::GetBriefingDataRequest { programme: "hanoi-hanam".into(), period: "2019-00".into() })
        .await
        .expect_err("bad period");
    assert_eq!(err.code(), Code::InvalidArgument);
    // Nothing above was stored: only the one valid request is listed.
    let listed = reports.list_reports(v1::ListReportsRequest::default()).await.expect("list").into_inner();
    assert_eq!(listed.reports.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_answer() {
    let app = spawn_app(false).await;
    let channel =
        tonic::transport::Endpoint::from_shared(app.endpoint.clone()).expect("uri").connect().await.expect("connect");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for service in ["", "coopbrief.v1.ReportService", "coopbrief.v1.CooperationService", "coopbrief.v1.WorkerService"] {
        let resp = health
            .check(tonic_health::pb::HealthCheckRequest { service: service.into() })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e}"));
        assert_eq!(resp.into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    }
    let mut data = CooperationServiceClient::connect(app.endpoint.clone()).await.expect("connect");
    let list = data.list_programmes(v1::ListProgrammesRequest::default()).await.expect("list").into_inner();
    assert_eq!(list.programmes.len(), 1);
    assert_eq!(list.programmes[0].code, "hanoi-hanam");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_writes_the_briefing_in_one_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A report left QUEUED by an earlier run that stopped: the demo's job channel replays it.
    let db = format!("sqlite://{}/coopbrief.db", dir.path().join("var").display());
    let store = coopbrief_data::open_store(&db, None).await.expect("store");
    let (left, _) = store
        .create_report(
            &coopbrief_store::NewReport::new(
                "hanoi-hanam",
                "2019-Q3".parse().expect("period"),
                coopbrief_domain::Lang::En,
            ),
            None,
        )
        .await
        .expect("queued");
    store.close().await;

    let out = dir.path().join("briefing.pdf");
    let args = coopbrief_cli::DemoArgs {
        report: coopbrief_cli::ReportOptions {
            programme: "hanoi-hanam".into(),
            period: "2019".into(),
            lang: "vi".into(),
            pdf_standard: String::new(),
            letterhead: None,
        },
        out: out.clone(),
        dir: dir.path().join("var"),
        amqp: None,
        queue: coopbrief_queue::DEFAULT_QUEUE.into(),
        issue: false,
        web: None,
    };
    let report = coopbrief_cli::demo(args).await.expect("demo runs");
    assert_eq!(report.state, v1::ReportState::Succeeded as i32);
    let bytes = std::fs::read(&out).expect("pdf written");
    assert_eq!(hex::encode(Sha256::digest(&bytes)), report.sha256);
    assert_pdf_contains(&out, SEED_PHRASES);

    let store = coopbrief_data::open_store(&db, None).await.expect("store");
    let replayed = store.report(left.id).await.expect("the earlier report");
    assert_eq!(replayed.state, coopbrief_domain::ReportState::Succeeded, "{:?}", replayed.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn equal_data_gives_equal_bytes_and_pdf_a_on_request() {
    let app = spawn_app(true).await;
    let plain = |lang: &str| coopbrief_cli::ReportOptions {
        programme: "hanoi-hanam".into(),
        period: "2019".into(),
        lang: lang.into(),
        pdf_standard: String::new(),
        letterhead: None,
    };
    let a = app.client.create_report(&plain("vi"), None).await.expect("created");
    let b = app.client.create_report(&plain("vi"), None).await.expect("created");
    let archive = coopbrief_cli::ReportOptions { pdf_standard: "a-2b".into(), ..plain("vi") };
    let c = app.client.create_report(&archive, None).await.expect("created");
    let [a, b, c] = [a, b, c].map(|r| r.id);
    let mut done = Vec::new();
    for id in [&a, &b, &c] {
        let r = app.client.wait(id, Duration::from_secs(120)).await.expect("finished");
        assert_eq!(r.state, v1::ReportState::Succeeded as i32, "{}", r.error);
        assert_eq!(r.data_hash.len(), 64, "the report records the data hash");
        assert!(!r.template_version.is_empty());
        done.push(r);
    }
    assert_eq!(done[0].sha256, done[1].sha256, "same data, template and language: same bytes");
    assert_eq!(done[0].data_hash, done[2].data_hash);
    assert_eq!(done[2].pdf_standard, "a-2b");
    let out = app.path("archive.pdf");
    app.client.download(&c, &out, coopbrief_cli::PdfCopy::Draft).await.expect("downloaded");
    // poppler prints the XMP metadata, where PDF/A declares its part and conformance.
    let meta =
        std::process::Command::new("pdfinfo").arg("-meta").arg(&out).output().expect("pdfinfo (poppler-utils) runs");
    let meta: String = String::from_utf8_lossy(&meta.stdout).split_whitespace().collect();
    let part = meta.contains("<pdfaid:part>2</pdfaid:part>") || meta.contains("pdfaid:part=\"2\"");
    let level =
        meta.contains("<pdfaid:conformance>B</pdfaid:conformance>") || meta.contains("pdfaid:conformance=\"B\"");
    assert!(part && level, "the XMP should declare PDF/A-2b:\n{meta}");

    let mut reports = ReportServiceClient::connect(app.endpoint.clone()).await.expect("connect");
    let err = reports
        .create_report(v1::CreateReportRequest {
            programme: "hanoi-hanam".into(),
            period: "2019".into(),
            pdf_standard: "x-1".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown standard");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("pdf_standard"), "{}", err.message());
    app.stop().await;
}

/// The seed programme with `n` more activities in 2019, each titled with `chars` characters.
fn seed_with_activities(n: usize, chars: usize) -> coopbrief_domain::dataset::Dataset {
    use coopbrief_domain::dataset::Dataset;
    let mut dataset = Dataset::bundled().expect("seed");
    let words = "Hội chợ xúc tiến thương mại nông sản Hà Nội – Hà Nam ";
    let title: String = words.chars().cycle().take(chars).collect();
    let programme = &mut dataset.programmes[0];
    for j in 0..n {
        programme.activities.push(fair(&format!("fair-{j:05}"), format!("{j} {title}")));
    }
    dataset
}

/// The app with a worker whose renders have a memory budget of `bytes`, and a cooperation
/// client sized like the worker's and the CLI's: past tonic's 4 MiB both ways.
async fn app_with_render_budget(
    bytes: u64,
) -> (coopbrief_tests::TestApp, CooperationServiceClient<tonic::transport::Channel>) {
    use coopbrief_domain::limits::MAX_MESSAGE_BYTES;
    let config = WorkerConfig { render_memory_budget: Some(bytes), ..WorkerConfig::default() };
    let app = spawn_app_configured(Some(config), |_| {}).await;
    let data = CooperationServiceClient::connect(app.endpoint.clone())
        .await
        .expect("connect")
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    (app, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_imports_is_briefed_and_exported_and_what_is_too_large_is_refused() {
    // Under a 6 GiB memory budget, which the renderer's estimate of this programme (about
    // 4.9 GiB: 5,000 titles of 1,000 characters) fits in.
    let (app, mut data) = app_with_render_budget(6 << 30).await;

    let big = seed_with_activities(5_000, 1_000);
    let yaml = coopbrief_domain::exchange::to_yaml(&big).expect("yaml");
    assert!(yaml.len() > 4 * 1024 * 1024, "the document is past gRPC's default limit: {} bytes", yaml.len());
    let started = std::time::Instant::now();
    let imported = data
        .import_programme(v1::ImportProgrammeRequest { yaml, validate_only: false })
        .await
        .expect("5,000 activities of 1,000 characters import")
        .into_inner();
    assert_eq!(imported.created.len(), 5_000, "one created record per new activity");

    let report = app.client.request("hanoi-hanam", "2019", "vi").await.expect("created");
    let done = app.client.wait(&report.id, Duration::from_secs(600)).await.expect("finished");
    assert_eq!(done.state, v1::ReportState::Succeeded as i32, "error: {}", done.error);
    let out = app.path("big.pdf");
    app.client.download(&report.id, &out, coopbrief_cli::PdfCopy::Draft).await.expect("downloaded");
    assert_pdf_contains(&out, &["Hà Nội", "Năm 2019"]);

    let exported = data
        .export_programme(v1::ExportProgrammeRequest { programme: "hanoi-hanam".into() })
        .await
        .expect("the imported programme exports")
        .into_inner()
        .yaml;
    assert_eq!(coopbrief_domain::exchange::from_yaml(&exported).expect("the export parses"), big);
    eprintln!("5,000 activities: import, briefing and export took {:?}", started.elapsed());

    // Past a cap: refused at import, naming the field and the limit; nothing changes.
    let seed_activities = big.programmes[0].activities.len() - 5_000;
    // The index of the one activity added below; its title is "0 " and 19,999 more characters.
    let last = seed_activities;
    let cases = [
        (
            seed_with_activities(20_001 - seed_activities, 10),
            "programmes[0].activities".to_owned(),
            "has 20001 items; the limit is 20000",
        ),
        (
            seed_with_activities(1, 20_001 - "0 ".len()),
            format!("programmes[0].activities[{last}].title.vi"),
            "is 20001 characters long; the limit is 20000",
        ),
    ];
    for (dataset, field, needle) in cases {
        let yaml = coopbrief_domain::exchange::to_yaml(&dataset).expect("yaml");
        let err = data
            .import_programme(v1::ImportProgrammeRequest { yaml, validate_only: false })
            .await
            .expect_err("past a cap");
        assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
        assert!(err.message().contains(&field) && err.message().contains(needle), "{}", err.message());
        let details = tonic_types::StatusExt::get_error_details(&err);
        let named = details.bad_request().and_then(|b| b.field_violations.first()).map(|v| v.field.clone());
        assert_eq!(named.as_deref(), Some(field.as_str()), "{}", err.message());
        assert!(err.message().len() < 300, "the message does not echo the value: {}", err.message());
    }
    let again = data
        .export_programme(v1::ExportProgrammeRequest { programme: "hanoi-hanam".into() })
        .await
        .expect("export")
        .into_inner()
        .yaml;
    assert_eq!(again, exported, "a refused import changes nothing");
    app.stop().await;
}

/// A briefing estimated past the worker's memory budget fails its report on the first attempt,
/// saying why, before anything is laid out; the worker goes on with the next job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_briefing_over_the_memory_budget_fails_at_once_and_the_worker_goes_on() {
    let (app, mut data) = app_with_render_budget(256 << 20).await;
    // 5,000 activities in 2019: the 2019 briefing is about 850 pages, 2018's a few.
    let yaml = coopbrief_domain::exchange::to_yaml(&seed_with_activities(5_000, 60)).expect("yaml");
    data.import_programme(v1::ImportProgrammeRequest { yaml, validate_only: false }).await.expect("imported");

    let big = app.client.request("hanoi-hanam", "2019", "vi").await.expect("created");
    let done = app.client.wait(&big.id, Duration::from_secs(120)).await.expect("finished");
    assert_eq!(done.state, v1::ReportState::Failed as i32, "over the budget: {}", done.error);
    assert_eq!(done.attempt, 1, "a permanent failure, not retried");
    assert!(done.error.contains("too large to render within the memory budget"), "{}", done.error);
    assert!(done.error.contains("the budget is 256 MiB"), "{}", done.error);
    assert!(done.error.len() < 400, "short: {}", done.error);

    let small = app.client.request("hanoi-hanam", "2018", "vi").await.expect("created");
    let done = app.client.wait(&small.id, Duration::from_secs(120)).await.expect("finished");
    assert_eq!(done.state, v1::ReportState::Succeeded as i32, "the worker goes on: {}", done.error);
    app.stop().await;
}
