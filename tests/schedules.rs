//! Report schedules over gRPC: create, pause, resume, update and delete a schedule, tick the
//! scheduler with a manual clock against the service's database, and find the reports it made
//! through `ListReports` with the schedule filter.

use std::sync::Arc;

use coopbrief_data::scheduler::Scheduler;
use coopbrief_domain::schedule::{Clock, ManualClock, Timestamp};
use coopbrief_proto::v1;
use coopbrief_proto::{ReportServiceClient, ScheduleServiceClient};
use coopbrief_store::Store;
use coopbrief_tests::spawn_app;
use prost_types::FieldMask;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Asserts the code and, for INVALID_ARGUMENT, that a BadRequest names `field`.
#[track_caller]
fn assert_status<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, field: Option<&str>) {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    if let Some(field) = field {
        let bad = status.get_details_bad_request().unwrap_or_else(|| panic!("no BadRequest in {status:?}"));
        assert_eq!(bad.field_violations.first().map(|v| v.field.as_str()), Some(field), "{status:?}");
    }
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn wire_time(s: &str) -> prost_types::Timestamp {
    let t = ts(s);
    prost_types::Timestamp { seconds: t.as_second(), nanos: 0 }
}

async fn periods(reports: &mut ReportServiceClient<Channel>, schedule: &str) -> Vec<String> {
    let req = v1::ListReportsRequest { schedule: schedule.into(), ..Default::default() };
    let listed = reports.list_reports(req).await.expect("list").into_inner().reports;
    for r in &listed {
        assert_eq!(r.schedule, format!("schedules/{}", schedule.trim_start_matches("schedules/")));
    }
    let mut periods: Vec<String> = listed.into_iter().map(|r| r.period).collect();
    periods.reverse();
    periods
}

#[tokio::test]
async fn a_schedule_created_over_grpc_makes_each_period_once_as_the_clock_moves() {
    let app = spawn_app(false).await;
    let channel = Channel::from_shared(app.endpoint.clone()).expect("endpoint").connect().await.expect("connects");
    let mut schedules = ScheduleServiceClient::new(channel.clone());
    let mut reports = ReportServiceClient::new(channel);

    // Periods from 2030 on: the service's own scheduler (on the real clock) leaves them alone.
    let new = |cadence: &str, first: &str| v1::ReportSchedule {
        programme: "hanoi-hanam".into(),
        cadence: cadence.into(),
        first_period: first.into(),
        template: "standard".into(),
        grace: Some(prost_types::Duration { seconds: 86_400, nanos: 0 }),
        ..Default::default()
    };
    let create = |s: v1::ReportSchedule| v1::CreateScheduleRequest { schedule: Some(s) };

    // Parsed at the boundary: errors name the field.
    assert_status(
        schedules.create_schedule(create(new("quarterly", "2030-01"))).await,
        Code::InvalidArgument,
        Some("first_period"),
    );
    assert_status(
        schedules.create_schedule(create(new("weekly", "2030-01"))).await,
        Code::InvalidArgument,
        Some("cadence"),
    );
    let mut bad_zone = new("monthly", "2030-01");
    bad_zone.time_zone = "Asia/Hanoi-ish".into();
    assert_status(schedules.create_schedule(create(bad_zone)).await, Code::InvalidArgument, Some("time_zone"));
    let mut bad_template = new("monthly", "2030-01");
    bad_template.template = "../../etc/passwd".into();
    assert_status(schedules.create_schedule(create(bad_template)).await, Code::InvalidArgument, Some("template"));
    let mut unknown = new("monthly", "2030-01");
    unknown.programme = "nowhere".into();
    assert_status(schedules.create_schedule(create(unknown)).await, Code::NotFound, None);

    let s = schedules.create_schedule(create(new("monthly", "2030-01"))).await.expect("create").into_inner();
    assert_eq!(s.name, format!("schedules/{}", s.id));
    assert_eq!(s.time_zone, "Asia/Ho_Chi_Minh");
    assert_eq!(s.lang, "vi");
    assert_eq!(s.enabled, Some(true));
    assert_eq!(s.template, "standard");
    assert_eq!(s.next_period, "2030-01");
    // January closes at midnight Hà Nội time (17:00Z on the 31st), plus one day of grace.
    assert_eq!(s.next_run_time, Some(wire_time("2030-02-01T17:00:00Z")));

    // The scheduler, on a manual clock, against the service's database.
    let store = Store::connect(&format!("sqlite://{}", app.path("coopbrief.db").display())).await.expect("store");
    let clock = ManualClock::new(ts("2030-02-01T16:59:59Z"));
    let scheduler = Scheduler::new(store, Arc::new(clock.clone()), 24, Default::default());
    assert!(scheduler.tick().await.expect("tick").created.is_empty(), "one second before the grace ends");
    clock.set(ts("2030-02-01T17:00:00Z"));
    assert_eq!(scheduler.tick().await.expect("tick").created.len(), 1);
    clock.set(ts("2030-04-15T00:00:00Z"));
    assert_eq!(scheduler.tick().await.expect("tick").created.len(), 2, "February and March");
    assert!(scheduler.tick().await.expect("tick").created.is_empty(), "never twice");
    assert_eq!(periods(&mut reports, &s.id).await, ["2030-01", "2030-02", "2030-03"]);

    let got = schedules.get_schedule(v1::GetScheduleRequest { id: s.name.clone() }).await.expect("get").into_inner();
    assert_eq!(got.last_run_period, "2030-03");
    assert_eq!(got.next_period, "2030-04");
    assert_eq!(got.caught_up, 1, "February was made late, together with March");

    // Paused: nothing; resumed: the missed periods, oldest first.
    schedules.pause_schedule(v1::PauseScheduleRequest { id: s.id.clone() }).await.expect("pause");
    clock.set(ts("2030-06-10T00:00:00Z"));
    assert!(scheduler.tick().await.expect("tick").created.is_empty());
    let resumed = schedules.resume_schedule(v1::ResumeScheduleRequest { id: s.id.clone() }).await.expect("resume");
    assert_eq!(resumed.into_inner().enabled, Some(true));
    assert_eq!(scheduler.tick().await.expect("tick").created.len(), 2, "April and May");
    assert_eq!(periods(&mut reports, &s.id).await, ["2030-01", "2030-02", "2030-03", "2030-04", "2030-05"]);

    // Update: a new cadence needs a first period of its kind.
    let to_quarterly = |first: &str, paths: &[&str]| v1::UpdateScheduleRequest {
        schedule: Some(v1::ReportSchedule {
            id: s.id.clone(),
            cadence: "quarterly".into(),
            first_period: first.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask { paths: paths.iter().map(|p| (*p).to_owned()).collect() }),
    };
    assert_status(
        schedules.update_schedule(to_quarterly("", &["cadence"])).await,
        Code::InvalidArgument,
        Some("first_period"),
    );
    assert_status(
        schedules.update_schedule(to_quarterly("", &["colour"])).await,
        Code::InvalidArgument,
        Some("update_mask"),
    );
    let updated = schedules
        .update_schedule(to_quarterly("2030-Q3", &["cadence", "first_period"]))
        .await
        .expect("update")
        .into_inner();
    assert_eq!((updated.cadence.as_str(), updated.next_period.as_str()), ("quarterly", "2030-Q3"));
    assert_eq!(updated.template, "standard", "fields outside the mask stay");

    // Filters: by schedule (a bad id names the field), and the latest finished briefing.
    let req = v1::ListReportsRequest { schedule: "not-a-uuid".into(), ..Default::default() };
    assert_status(reports.list_reports(req).await, Code::InvalidArgument, Some("schedule"));
    let req = v1::GetLatestReportRequest { programme: "hanoi-hanam".into(), ..Default::default() };
    assert_status(reports.get_latest_report(req).await, Code::NotFound, None);
    let req = v1::GetLatestReportRequest::default();
    assert_status(reports.get_latest_report(req).await, Code::InvalidArgument, Some("programme"));

    let listed = schedules.list_schedules(v1::ListSchedulesRequest::default()).await.expect("list").into_inner();
    assert_eq!(listed.schedules.len(), 1);
    schedules.delete_schedule(v1::DeleteScheduleRequest { id: s.id.clone() }).await.expect("delete");
    assert_status(schedules.get_schedule(v1::GetScheduleRequest { id: s.id.clone() }).await, Code::NotFound, None);
    // The reports it made stay, still naming it.
    assert_eq!(periods(&mut reports, &s.id).await.len(), 5);
    app.stop().await;
}

fn hours(n: u64) -> std::time::Duration {
    std::time::Duration::from_secs(n * 3600)
}

/// When week `week` (from 0) of a weekly schedule whose first week closes at `first_close` is
/// due: its close plus one hour of grace.
fn weekly_due(first_close: Timestamp, week: u64) -> Timestamp {
    first_close.checked_add(hours(24 * 7 * week + 1)).expect("in range")
}

#[tokio::test]
async fn a_weekly_cron_schedule_makes_each_week_once_over_eight_weeks_with_an_outage() {
    let app = spawn_app(false).await;
    let channel = Channel::from_shared(app.endpoint.clone()).expect("endpoint").connect().await.expect("connects");
    let mut schedules = ScheduleServiceClient::new(channel.clone());
    let mut reports = ReportServiceClient::new(channel);

    // Monday 00:00 in Hà Nội; 2030 so the service's own scheduler (real clock) leaves it alone.
    let new = |cadence: &str, first: &str| v1::CreateScheduleRequest {
        schedule: Some(v1::ReportSchedule {
            programme: "hanoi-hanam".into(),
            cadence: cadence.into(),
            first_period: first.into(),
            grace: Some(prost_types::Duration { seconds: 3600, nanos: 0 }),
            ..Default::default()
        }),
    };
    for bad in ["cron:*/5 * * * *", "cron:0 0,12 * * MON", "cron:0 0 30 2 *", "cron:not a cron", "cron:"] {
        let result = schedules.create_schedule(new(bad, "2030-01-07..2030-01-13")).await;
        assert_status(result, Code::InvalidArgument, Some("cadence"));
    }
    for misfit in ["2030-01", "2030-01-08..2030-01-14", "2030-01-07..2030-01-20"] {
        let result = schedules.create_schedule(new("cron:0 0 * * MON", misfit)).await;
        assert_status(result, Code::InvalidArgument, Some("first_period"));
    }

    let s = schedules
        .create_schedule(new("cron:0 0 * * MON", "2030-01-07..2030-01-13"))
        .await
        .expect("creating a cron schedule (report_schedules.cadence must accept \"cron:…\")")
        .into_inner();
    assert_eq!(s.cadence, "cron:0 0 * * MON");
    assert_eq!(s.next_period, "2030-01-07..2030-01-13");
    // Closes at the next firing, Monday 14 January 00:00 in Hà Nội (17:00Z on Sunday), + 1 h.
    let first_close = ts("2030-01-13T17:00:00Z");
    assert_eq!(s.next_run_time, Some(wire_time("2030-01-13T18:00:00Z")));
    let listed = schedules.list_schedules(v1::ListSchedulesRequest::default()).await.expect("list").into_inner();
    assert_eq!(listed.schedules.iter().map(|l| l.cadence.as_str()).collect::<Vec<_>>(), ["cron:0 0 * * MON"]);

    let store = Store::connect(&format!("sqlite://{}", app.path("coopbrief.db").display())).await.expect("store");
    let clock = ManualClock::new(ts("2030-01-07T00:00:00Z"));
    let scheduler = Scheduler::new(store, Arc::new(clock.clone()), 24, Default::default());
    // Down from Saturday 26 January to Tuesday 12 February: weeks 3, 4 and 5 close meanwhile.
    let (outage_from, outage_to) = (ts("2030-01-26T00:00:00Z"), ts("2030-02-12T06:00:00Z"));
    let end = ts("2030-03-05T00:00:00Z");
    let mut made: Vec<(String, Timestamp)> = Vec::new();
    while clock.now() < end {
        let now = clock.now();
        if now < outage_from || now >= outage_to {
            for (sid, period, _) in scheduler.tick().await.expect("tick").created {
                assert_eq!(sid.to_string(), s.id);
                assert!(made.iter().all(|(p, _)| *p != period.to_string()), "{period} made twice");
                made.push((period.to_string(), now));
            }
            // Exactly the weeks due by now exist, none missing, none twice.
            let due = (0..10).filter(|&week| weekly_due(first_close, week) <= now).count();
            assert_eq!(periods(&mut reports, &s.id).await.len(), due, "at {now}");
        }
        clock.set(now.checked_add(hours(6)).expect("in range"));
    }

    let weeks = [
        "2030-01-07..2030-01-13",
        "2030-01-14..2030-01-20",
        "2030-01-21..2030-01-27",
        "2030-01-28..2030-02-03",
        "2030-02-04..2030-02-10",
        "2030-02-11..2030-02-17",
        "2030-02-18..2030-02-24",
        "2030-02-25..2030-03-03",
    ];
    assert_eq!(periods(&mut reports, &s.id).await, weeks);
    assert_eq!(made.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), weeks, "oldest first");
    // On time: at the first tick (every 6 h) from 18:00Z on the Sunday; after the outage, the
    // three missed weeks at the first tick back.
    assert_eq!(made[0].1, ts("2030-01-13T18:00:00Z"));
    assert_eq!(made[2..5].iter().map(|(_, at)| *at).collect::<Vec<_>>(), [outage_to; 3]);
    assert_eq!(made[7].1, ts("2030-03-03T18:00:00Z"));

    let got = schedules.get_schedule(v1::GetScheduleRequest { id: s.id.clone() }).await.expect("get").into_inner();
    assert_eq!(got.last_run_period, "2030-02-25..2030-03-03");
    assert_eq!(got.next_period, "2030-03-04..2030-03-10");
    assert_eq!(got.next_run_time, Some(wire_time("2030-03-10T18:00:00Z")));
    assert_eq!(got.caught_up, 2, "weeks 3 and 4 were late; week 5 was the newest due when the service came back");
    app.stop().await;
}
