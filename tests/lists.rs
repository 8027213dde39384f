//! Lists that end and reports that go: ListReports, ListSchedules and ListTokens in keyset pages
//! (1,200 reports, none twice, none missing), DeleteReport's rules and files, and the CLI's
//! `-o json`, paging and exit codes, against the real data service (and a worker where a
//! report must finish).

use std::collections::HashSet;
use std::time::Duration;

use coopbrief_data::AuthMode;
use coopbrief_domain::{Lang, Period, Role};
use coopbrief_proto::v1;
use coopbrief_proto::{AccessServiceClient, ReportServiceClient, ScheduleServiceClient};
use coopbrief_store::{NewReport, Store};
use coopbrief_tests::{cli, data_settings, spawn_app, spawn_app_configured, start_data, wait_for_state};
use tonic::Code;
use tonic::transport::Channel;

const SUCCEEDED: i32 = v1::ReportState::Succeeded as i32;
const FAILED: i32 = v1::ReportState::Failed as i32;

async fn reports_client(endpoint: &str) -> ReportServiceClient<Channel> {
    ReportServiceClient::connect(endpoint.to_owned()).await.expect("connects")
}

/// A second handle on the app's database, for writing many rows fast.
async fn store_of(app: &coopbrief_tests::TestApp) -> Store {
    Store::connect(&format!("sqlite://{}/coopbrief.db", app.dir.path().display())).await.expect("database opens")
}

/// Every report of a list, page by page with `page_size`; the ids in the order given, and
/// how many pages it took.
async fn all_pages(
    reports: &mut ReportServiceClient<Channel>,
    page_size: i32,
    state: i32,
    mut between: impl AsyncFnMut(),
) -> (Vec<String>, usize) {
    let (mut ids, mut pages, mut token) = (Vec::new(), 0, String::new());
    loop {
        let req = v1::ListReportsRequest { page_size, state, page_token: token.clone(), ..Default::default() };
        let page = reports.list_reports(req).await.expect("a page").into_inner();
        assert!(page.reports.len() <= 500, "no page above 500");
        pages += 1;
        ids.extend(page.reports.into_iter().map(|r| r.id));
        if page.next_page_token.is_empty() {
            return (ids, pages);
        }
        between().await;
        token = page.next_page_token;
    }
}

fn assert_each_once_newest_first(listed: &[String], expected: &HashSet<String>) {
    let unique: HashSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "a report listed twice");
    let missing = expected.iter().filter(|id| !unique.contains(id)).count();
    assert_eq!(missing, 0, "{missing} reports missing");
    assert_eq!(listed.len(), expected.len(), "reports listed that were not expected");
    assert!(listed.windows(2).all(|w| w[0] > w[1]), "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_reports_pages_through_1200_reports_with_no_duplicate_and_none_missing() {
    let app = spawn_app(false).await;
    let store = store_of(&app).await;
    let (mut all, mut failed) = (HashSet::new(), HashSet::new());
    for i in 0..1200 {
        let period: Period = format!("{}", 2000 + i % 25).parse().expect("a period");
        let (report, _) =
            store.create_report(&NewReport::new("hanoi-hanam", period, Lang::Vi), None).await.expect("made");
        // Every third one failed: a filter over part of the list.
        if i % 3 == 0 {
            store.fail_report(report.id, "test").await.expect("failed");
            failed.insert(report.id.to_string());
        }
        all.insert(report.id.to_string());
    }
    let mut reports = reports_client(&app.endpoint).await;

    // Above 500: 500 a page, with a token (no silent cap).
    let (listed, pages) = all_pages(&mut reports, 1000, 0, async || {}).await;
    assert_each_once_newest_first(&listed, &all);
    assert_eq!(pages, 3, "500 + 500 + 200");
    // 0: the default, 50.
    let (listed, pages) = all_pages(&mut reports, 0, 0, async || {}).await;
    assert_each_once_newest_first(&listed, &all);
    assert_eq!(pages, 24);
    // With a filter: only the failed ones, all of them.
    let (listed, pages) = all_pages(&mut reports, 170, FAILED, async || {}).await;
    assert_each_once_newest_first(&listed, &failed);
    assert_eq!(pages, 3, "170 + 170 + 60");

    // Stable under inserts: reports made while paging come before the first page, not in a later one.
    let writer = store.clone();
    let (listed, _) = all_pages(&mut reports, 400, 0, async || {
        writer
            .create_report(&NewReport::new("hanoi-hanam", "2019".parse().expect("period"), Lang::Vi), None)
            .await
            .expect("made");
    })
    .await;
    assert_each_once_newest_first(&listed, &all);

    // A token is good only for its own list and filters; garbage is refused. Both name page_token.
    let first = reports
        .list_reports(v1::ListReportsRequest { page_size: 10, state: FAILED, ..Default::default() })
        .await
        .expect("a page")
        .into_inner();
    for token in [first.next_page_token.as_str(), "not-a-token", "7b7d"] {
        let req = v1::ListReportsRequest { page_size: 10, page_token: token.into(), ..Default::default() };
        let err = reports.list_reports(req).await.expect_err("refused");
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains("page_token"), "{err:?}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_and_tokens_page_like_the_reports() {
    let app = spawn_app(false).await;
    let channel = Channel::from_shared(app.endpoint.clone()).expect("endpoint").connect().await.expect("connects");
    let mut schedules = ScheduleServiceClient::new(channel.clone());
    let mut access = AccessServiceClient::new(channel);
    let mut made = Vec::new();
    // Periods from 2030 on: the scheduler leaves them alone.
    for year in 2030..2037 {
        let schedule = v1::ReportSchedule {
            programme: "hanoi-hanam".into(),
            cadence: "yearly".into(),
            first_period: year.to_string(),
            ..Default::default()
        };
        let req = v1::CreateScheduleRequest { schedule: Some(schedule) };
        made.push(schedules.create_schedule(req).await.expect("created").into_inner().id);
    }
    let (mut listed, mut token, mut pages) = (Vec::new(), String::new(), 0);
    loop {
        let req = v1::ListSchedulesRequest { page_size: 3, page_token: token, ..Default::default() };
        let page = schedules.list_schedules(req).await.expect("a page").into_inner();
        pages += 1;
        listed.extend(page.schedules.into_iter().map(|s| s.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!((listed, pages), (made, 3), "oldest first, 3 + 3 + 1");
    let req = v1::ListSchedulesRequest { page_token: "zz".into(), ..Default::default() };
    let err = schedules.list_schedules(req).await.expect_err("garbage");
    assert!(err.code() == Code::InvalidArgument && err.message().contains("page_token"), "{err:?}");

    let store = store_of(&app).await;
    for name in ["dung", "an", "binh", "chi", "giang"] {
        coopbrief_data::auth::create_token(&store, name, Role::Viewer, "test").await.expect("made");
    }
    store.revoke_token("binh").await.expect("revoked");
    let names = |show_revoked| {
        let mut access = access.clone();
        async move {
            let (mut names, mut token) = (Vec::new(), String::new());
            loop {
                let req = v1::ListTokensRequest { show_revoked, page_size: 2, page_token: token };
                let page = access.list_tokens(req).await.expect("a page").into_inner();
                names.extend(page.tokens.into_iter().map(|t| t.name));
                if page.next_page_token.is_empty() {
                    return names;
                }
                token = page.next_page_token;
            }
        }
    };
    assert_eq!(names(false).await, ["an", "chi", "dung", "giang"]);
    assert_eq!(names(true).await, ["an", "binh", "chi", "dung", "giang"]);
    // A token of the live list does not continue the list with revoked ones.
    let live = access
        .list_tokens(v1::ListTokensRequest { show_revoked: false, page_size: 1, page_token: String::new() })
        .await
        .expect("a page")
        .into_inner();
    let err = access
        .list_tokens(v1::ListTokensRequest { show_revoked: true, page_size: 1, page_token: live.next_page_token })
        .await
        .expect_err("another list's token");
    assert!(err.code() == Code::InvalidArgument && err.message().contains("page_token"), "{err:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_report_refuses_unfinished_and_issued_reports_and_removes_the_files() {
    let app = spawn_app(true).await;
    let mut reports = reports_client(&app.endpoint).await;
    let delete = |id: &str, allow_issued| v1::DeleteReportRequest { id: id.into(), allow_issued };

    let err = reports.delete_report(delete(&uuid::Uuid::now_v7().to_string(), false)).await.expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound, "{err:?}");

    let done = app.client.request("hanoi-hanam", "2019", "vi").await.expect("created");
    let done = wait_for_state(&app.client, &done.id, &[SUCCEEDED], Duration::from_secs(60)).await;
    let draft = app.dir.path().join("pdf").join(format!("{}.pdf", done.id));
    assert!(draft.exists(), "{}", draft.display());

    // Marked issued past the API (issuing needs an office's key), with an issued copy beside it.
    let store = store_of(&app).await;
    let url = format!("sqlite://{}/coopbrief.db", app.dir.path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("database opens");
    sqlx::query(
        "UPDATE reports SET issued_office = 'ubnd-hanoi', issued_year = 2026, issued_number = 1,
             issued_symbol = 'BC-UBND', issued_date = '2026-12-01', issued_at = '2026-12-01T08:00:00Z',
             issued_signer = 's', issued_certificate = 'c', issued_sha256 = 'ab' WHERE id = ?",
    )
    .bind(&done.id)
    .execute(&pool)
    .await
    .expect("marked issued");
    let issued = app.dir.path().join("pdf").join(format!("{}.issued.pdf", done.id));
    std::fs::write(&issued, b"%PDF-1.7 signed").expect("issued copy written");
    let err = reports.delete_report(delete(&done.id, false)).await.expect_err("issued");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("allow_issued"), "{err:?}");
    assert!(draft.exists() && issued.exists(), "nothing removed");
    reports.delete_report(delete(&done.id, true)).await.expect("deleted");
    assert!(!draft.exists() && !issued.exists(), "both copies gone");
    let err = reports.get_report(v1::GetReportRequest { id: done.id.clone() }).await.expect_err("gone");
    assert_eq!(err.code(), Code::NotFound);
    let (entries, _) = store.audit_entries(10, None).await.expect("audit");
    assert!(
        entries.iter().any(|e| e.method.ends_with("DeleteReport") && e.resource == format!("reports/{}", done.id)),
        "{entries:?}"
    );

    // A queued report: cancel first.
    app.stop().await;
    let app = spawn_app(false).await;
    let mut reports = reports_client(&app.endpoint).await;
    let queued = app.client.request("hanoi-hanam", "2019", "vi").await.expect("created");
    let err = reports.delete_report(delete(&queued.id, false)).await.expect_err("queued");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("cancel it first"), "{err:?}");
    reports.cancel_report(v1::CancelReportRequest { id: queued.id.clone() }).await.expect("cancelled");
    reports.delete_report(delete(&queued.id, false)).await.expect("deleted");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_delete_reports() {
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = format!("coopbrief.test.{}", uuid::Uuid::now_v7());
    let mut settings = data_settings(dir.path(), &queue, "127.0.0.1:0".parse().expect("address"));
    settings.auth = AuthMode::Tokens;
    let (endpoint, running) = start_data(&settings).await;
    let store = Store::connect(&settings.database_url).await.expect("database opens");
    let (report, _) = store
        .create_report(&NewReport::new("hanoi-hanam", "2019".parse().expect("period"), Lang::Vi), None)
        .await
        .expect("made");
    store.cancel_report(report.id).await.expect("cancelled");
    for (name, role, code) in [
        ("vera", Role::Viewer, Code::PermissionDenied),
        ("eddie", Role::Editor, Code::PermissionDenied),
        ("ada", Role::Admin, Code::Ok),
    ] {
        let token = coopbrief_data::auth::create_token(&store, name, role, "test").await.expect("token").1;
        let args = coopbrief_runtime::ClientArgs { token: Some(token), ca_file: None };
        let channel = coopbrief_runtime::client::connect(&endpoint, &args).await.expect("connects");
        let req = v1::DeleteReportRequest { id: report.id.to_string(), allow_issued: false };
        let answer = ReportServiceClient::new(channel).delete_report(req).await;
        assert_eq!(answer.map_or_else(|s| s.code(), |_| Code::Ok), code, "{role}");
    }
    assert!(store.report(report.id).await.is_err(), "the admin deleted it");
    running.stop().await;
    let _ = coopbrief_tests::rabbitmq(&queue, 1).await.delete_queue().await;
}

/// Runs `coopbrief --endpoint … ARGS`; its exit code and standard output.
fn coopbrief(endpoint: &str, args: &[&str]) -> (i32, String) {
    let out = cli(endpoint, None).args(args).output().expect("coopbrief runs");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    (out.status.code().unwrap_or(-1), stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_prints_json_for_scripts_and_exits_3_for_a_failed_report() {
    let worker =
        coopbrief_worker::WorkerConfig { fail_period: Some("2019-Q1".into()), max_attempts: 1, ..Default::default() };
    let app = spawn_app_configured(Some(worker), |_| {}).await;
    let e = app.endpoint.as_str();

    // `report create -o json` prints the report; its id works.
    let (code, out) = coopbrief(e, &["report", "create", "--period", "2019", "-o", "json"]);
    assert_eq!(code, 0, "{out}");
    let created: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let id = created["id"].as_str().expect("an id").to_owned();
    assert_eq!(created["state"], "REPORT_STATE_QUEUED", "{created}");
    assert_eq!(created["programme"], "hanoi-hanam");
    let (code, out) = coopbrief(e, &["report", "watch", &id, "-o", "json"]);
    assert_eq!(code, 0, "{out}");
    let changes: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(changes.last().expect("a change")["state"], "REPORT_STATE_SUCCEEDED", "{out}");
    let (code, out) = coopbrief(e, &["report", "get", &id, "-o", "yaml"]);
    assert_eq!(code, 0);
    let got: serde_json::Value = serde_yaml_ng::from_str(&out).expect("YAML");
    assert_eq!((got["id"].as_str(), got["pageCount"].as_u64().is_some()), (Some(id.as_str()), true), "{got}");

    // A report that ends FAILED: exit 3, its changes as JSON lines, the last one FAILED.
    let (code, out) = coopbrief(e, &["report", "create", "--period", "2019-Q1", "--wait", "-o", "json"]);
    assert_eq!(code, 3, "{out}");
    let last: serde_json::Value = serde_json::from_str(out.lines().last().expect("lines")).expect("a JSON line");
    assert_eq!(last["state"], "REPORT_STATE_FAILED", "{out}");
    assert!(last["error"].as_str().unwrap_or_default().contains("injected failure"), "{last}");
    let failed = last["id"].as_str().expect("an id");
    assert_eq!(coopbrief(e, &["report", "watch", failed]).0, 3, "watching a failed report");
    // A usage error is clap's 2.
    assert_eq!(coopbrief(e, &["report", "list", "--limit", "zero"]).0, 2);

    // Lists page: --limit, --all.
    let (code, out) = coopbrief(e, &["report", "list", "--limit", "1", "-o", "json"]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Vec<serde_json::Value>>(&out).expect("an array").len(), 1);
    let (_, out) = coopbrief(e, &["report", "list", "--all", "-o", "json"]);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&out).expect("an array");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"].as_str(), Some(failed), "newest first");

    // report delete, then the report is gone.
    assert_eq!(coopbrief(e, &["report", "delete", &id]).0, 0);
    assert_eq!(coopbrief(e, &["report", "get", &id]).0, 1);
    app.stop().await;
}
