//! Report schedules and the scheduler's tick: each closed period's report made exactly once.
//!
//! Exactly once, across replicas: a report for a schedule is written in one transaction that
//! first moves the schedule's cursor (`next_period`) by compare-and-set, then inserts the
//! report and its outbox job — the same insert as a manual request. A replica that read a
//! stale cursor changes nothing, and the unique index on `(schedule_id, scheduled_period)`
//! refuses a second report for a period whatever happens to the cursor.

use std::str::FromStr;
use std::time::Duration;

use coopbrief_domain::schedule::IssueMode;
use coopbrief_domain::schedule::{Cadence, Schedule, ScheduleDraft, ScheduleId, ScheduleSpec, Zone, template_name};
use coopbrief_domain::{Lang, PdfStandard, Period, Report, ReportId, ReportState};
use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;
use tracing::{info, warn};

use crate::reports::{NewReport, enqueue, insert_report, report_from_row};
use crate::{Error, Result, Store};

/// Due periods counted at most per schedule when reporting a backlog.
const MAX_BACKLOG_COUNT: u64 = 10_000;

/// Which reports to list; `None` fields do not filter.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReportFilter<'a> {
    pub programme: Option<&'a str>,
    pub state: Option<ReportState>,
    pub schedule: Option<ScheduleId>,
}

/// Starts a trace for a report a schedule makes: given the schedule and the report's id, the
/// W3C `traceparent` its job is written with (`None`: no trace).
pub type TraceStart<'a> = &'a (dyn Fn(ScheduleId, ReportId) -> Option<String> + Sync);

/// What one scheduler tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickSummary {
    /// Reports made, oldest period first per schedule.
    pub created: Vec<(ScheduleId, Period, ReportId)>,
    /// Of those, how many were late: their next period had closed too (downtime, a pause).
    pub caught_up: u64,
    /// Due periods left for the next ticks because of the per-tick limit.
    pub backlog: u64,
}

enum Claim {
    Created(ReportId),
    /// The report of this period existed already (the cursor was moved back by an update).
    Existed,
    /// Another scheduler moved the cursor first, or the schedule was paused or deleted.
    Lost,
}

impl Store {
    /// Creates a schedule for an existing programme; its first period is the cursor.
    pub async fn create_schedule(&self, spec: &ScheduleSpec) -> Result<Schedule> {
        self.create_schedule_notifying(spec, None).await
    }

    /// [`Store::create_schedule`] with the notify target its reports inherit, written in the
    /// same statement (so that no tick can make a report of it without the target).
    pub async fn create_schedule_notifying(
        &self,
        spec: &ScheduleSpec,
        notify: Option<&crate::SealedTarget>,
    ) -> Result<Schedule> {
        self.require_programme(spec.programme()).await?;
        let id = ScheduleId::new();
        let now = Timestamp::now().to_string();
        let cursor = spec.first_period().to_string();
        bind_spec(
            sqlx::query(
                "INSERT INTO report_schedules (programme, cadence, time_zone, lang, template, pdf_standard,
                     first_period, grace_seconds, enabled, letterhead, issue, next_period, created_at, updated_at, id,
                     notify_url, notify_secret)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            ),
            spec,
        )
        .bind(cursor)
        .bind(&now)
        .bind(&now)
        .bind(id.to_string())
        .bind(notify.map(|t| t.url.to_string()))
        .bind(notify.map(|t| t.secret.clone()))
        .execute(&self.pool)
        .await?;
        self.schedule(id).await
    }

    pub async fn schedule(&self, id: ScheduleId) -> Result<Schedule> {
        let row = sqlx::query("SELECT * FROM report_schedules WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| schedule_from_row(&r))
            .transpose()?
            .ok_or_else(|| Error::NotFound { what: "schedule", key: id.to_string() })
    }

    /// Replaces what a person sets. A new cadence or first period moves the cursor to the
    /// first period; periods briefed already are not made again (the unique index).
    pub async fn update_schedule(&self, id: ScheduleId, spec: &ScheduleSpec) -> Result<Schedule> {
        self.update_schedule_notifying(id, spec, None).await
    }

    /// [`Store::update_schedule`], and with `Some(target)` its notify target set (or, with
    /// `Some(None)`, removed) in the same statement.
    pub async fn update_schedule_notifying(
        &self,
        id: ScheduleId,
        spec: &ScheduleSpec,
        notify: Option<Option<&crate::SealedTarget>>,
    ) -> Result<Schedule> {
        let old = self.schedule(id).await?;
        if spec.programme() != old.spec.programme() {
            self.require_programme(spec.programme()).await?;
        }
        let restart = spec.cadence() != old.spec.cadence() || spec.first_period() != old.spec.first_period();
        let cursor = if restart { spec.first_period() } else { old.next_period };
        bind_spec(
            sqlx::query(
                "UPDATE report_schedules SET programme = $1, cadence = $2, time_zone = $3, lang = $4, template = $5,
                     pdf_standard = $6, first_period = $7, grace_seconds = $8, enabled = $9, letterhead = $10,
                     issue = $11, next_period = $12, updated_at = $13,
                     notify_url = CASE WHEN $15 = 1 THEN $16 ELSE notify_url END,
                     notify_secret = CASE WHEN $15 = 1 THEN $17 ELSE notify_secret END
                 WHERE id = $14",
            ),
            spec,
        )
        .bind(cursor.to_string())
        .bind(Timestamp::now().to_string())
        .bind(id.to_string())
        .bind(i64::from(notify.is_some()))
        .bind(notify.flatten().map(|t| t.url.to_string()))
        .bind(notify.flatten().map(|t| t.secret.clone()))
        .execute(&self.pool)
        .await?;
        self.schedule(id).await
    }

    /// Deletes a schedule; the reports it made stay.
    pub async fn delete_schedule(&self, id: ScheduleId) -> Result<()> {
        let n = sqlx::query("DELETE FROM report_schedules WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound { what: "schedule", key: id.to_string() });
        }
        Ok(())
    }

    /// Pauses (`false`) or resumes (`true`) a schedule. Periods that close while it is paused
    /// are made after it resumes (catch-up), oldest first.
    pub async fn set_schedule_enabled(&self, id: ScheduleId, enabled: bool) -> Result<Schedule> {
        let n = sqlx::query("UPDATE report_schedules SET enabled = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(enabled))
            .bind(Timestamp::now().to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound { what: "schedule", key: id.to_string() });
        }
        self.schedule(id).await
    }

    /// One scheduler tick at `now`: for every enabled schedule, makes the report of each period
    /// due by `now` (closed, grace passed) and not made yet, oldest first, at most `limit` per
    /// schedule. Safe to run from several replicas at once.
    pub async fn run_schedules(&self, now: Timestamp, limit: u32) -> Result<TickSummary> {
        self.run_schedules_traced(now, limit, &|_, _| None).await
    }

    /// [`Store::run_schedules`], each report's job written in the trace `trace` starts for it
    /// (given the schedule and the new report's id; `None`: no trace).
    pub async fn run_schedules_traced(&self, now: Timestamp, limit: u32, trace: TraceStart<'_>) -> Result<TickSummary> {
        let rows =
            sqlx::query("SELECT * FROM report_schedules WHERE enabled = 1 ORDER BY id").fetch_all(&self.pool).await?;
        let mut summary = TickSummary::default();
        for row in &rows {
            let schedule = match schedule_from_row(row) {
                Ok(s) => s,
                Err(error) => {
                    warn!(%error, "skipping a schedule that does not parse");
                    continue;
                }
            };
            let id = schedule.id;
            match self.run_schedule(schedule, now, limit, trace, &mut summary).await {
                Ok(()) => {}
                // One schedule's bad data (a period past the last supported year …) must not
                // hold the others back.
                Err(Error::Invalid(error)) => warn!(schedule_id = %id, %error, "schedule skipped this tick"),
                Err(e) => return Err(e),
            }
        }
        Ok(summary)
    }

    async fn run_schedule(
        &self,
        mut s: Schedule,
        now: Timestamp,
        limit: u32,
        trace: TraceStart<'_>,
        summary: &mut TickSummary,
    ) -> Result<()> {
        let mut made = 0u32;
        let mut late = 0u64;
        let mut behind = false;
        loop {
            if s.spec.due_at(&s.next_period)? > now {
                break;
            }
            if made >= limit {
                let backlog = count_due(&s.spec, s.next_period, now);
                warn!(
                    schedule_id = %s.id, programme = %s.spec.programme(), next_period = %s.next_period,
                    backlog, limit, "catch-up limit reached; the other due periods wait for the next tick"
                );
                self.set_backlog(&s, backlog).await?;
                summary.backlog += backlog;
                behind = true;
                break;
            }
            let Some(next) = s.spec.cadence().next_period(&s.next_period) else {
                warn!(schedule_id = %s.id, period = %s.next_period, "no period after this one; schedule ends");
                break;
            };
            let is_late = s.spec.due_at(&next)? <= now;
            match self.claim(&s, next, is_late, now, trace).await? {
                Claim::Created(report_id) => {
                    made += 1;
                    late += u64::from(is_late);
                    info!(schedule_id = %s.id, report_id = %report_id, programme = %s.spec.programme(),
                          period = %s.next_period, late = is_late, "scheduled report queued");
                    summary.created.push((s.id, s.next_period, report_id));
                    s.next_period = next;
                }
                Claim::Existed => s.next_period = next,
                Claim::Lost => match self.schedule(s.id).await {
                    Ok(fresh) if fresh.spec.enabled() => s = fresh,
                    Ok(_) | Err(Error::NotFound { .. }) => return Ok(()),
                    Err(e) => return Err(e),
                },
            }
        }
        if !behind && s.backlog > 0 {
            self.set_backlog(&s, 0).await?;
        }
        if late > 0 {
            warn!(schedule_id = %s.id, programme = %s.spec.programme(), caught_up = late,
                  "made reports of periods missed while the scheduler was down or the schedule paused");
        }
        summary.caught_up += late;
        Ok(())
    }

    /// Moves the cursor from `s.next_period` to `next` and writes that period's report and job,
    /// in one transaction that starts with the write (so SQLite takes the write lock first).
    async fn claim(
        &self,
        s: &Schedule,
        next: Period,
        late: bool,
        now: Timestamp,
        trace: TraceStart<'_>,
    ) -> Result<Claim> {
        let period = s.next_period;
        let now_text = now.to_string();
        let mut tx = self.pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE report_schedules SET next_period = $1, last_run_period = $2, last_run_at = $3
             WHERE id = $4 AND next_period = $5 AND enabled = 1",
        )
        .bind(next.to_string())
        .bind(period.to_string())
        .bind(&now_text)
        .bind(s.id.to_string())
        .bind(period.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            tx.rollback().await?;
            return Ok(Claim::Lost);
        }
        let id = ReportId::new();
        let new = NewReport {
            programme: s.spec.programme(),
            period,
            lang: s.spec.lang(),
            pdf_standard: s.spec.pdf_standard(),
            letterhead: s.spec.letterhead(),
            traceparent: None,
            notify: None,
        };
        let sid = s.id.to_string();
        let written = Timestamp::now().to_string();
        if !insert_report(&mut tx, id, &new, None, Some((&sid, &period.to_string())), &written).await? {
            // This period was briefed already (a first period moved back): move on.
            tx.commit().await?;
            return Ok(Claim::Existed);
        }
        // The report inherits its schedule's notify target, sealed secret and all.
        sqlx::query(
            "UPDATE reports SET notify_url = (SELECT notify_url FROM report_schedules WHERE id = $1),
                 notify_secret = (SELECT notify_secret FROM report_schedules WHERE id = $1)
             WHERE id = $2",
        )
        .bind(&sid)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        enqueue(&mut tx, id, &written, trace(s.id, id).as_deref()).await?;
        if late {
            sqlx::query("UPDATE report_schedules SET caught_up = caught_up + 1 WHERE id = $1")
                .bind(&sid)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Claim::Created(id))
    }

    async fn set_backlog(&self, s: &Schedule, backlog: u64) -> Result<()> {
        sqlx::query("UPDATE report_schedules SET backlog = $1 WHERE id = $2")
            .bind(backlog as i64)
            .bind(s.id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest finished (SUCCEEDED) briefing of a programme: the one finished last.
    pub async fn latest_report(&self, programme: &str, schedule: Option<ScheduleId>) -> Result<Report> {
        self.require_programme(programme).await?;
        let row = sqlx::query(
            "SELECT * FROM reports WHERE programme = $1 AND state = 'SUCCEEDED' AND ($2 IS NULL OR schedule_id = $2)
             ORDER BY updated_at DESC, id DESC LIMIT 1",
        )
        .bind(programme)
        .bind(schedule.map(|s| s.to_string()))
        .fetch_optional(&self.pool)
        .await?;
        let report = row
            .map(|r| report_from_row(&r))
            .transpose()?
            .ok_or_else(|| Error::NotFound { what: "succeeded report of programme", key: programme.to_owned() })?;
        self.with_delivery(report).await
    }

    /// Sets (or, with `None`, removes) the notify target a schedule's new reports inherit.
    pub async fn set_schedule_notify(&self, id: ScheduleId, target: Option<&crate::SealedTarget>) -> Result<Schedule> {
        let n = sqlx::query("UPDATE report_schedules SET notify_url = $1, notify_secret = $2 WHERE id = $3")
            .bind(target.map(|t| t.url.to_string()))
            .bind(target.map(|t| t.secret.clone()))
            .bind(id.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound { what: "schedule", key: id.to_string() });
        }
        self.schedule(id).await
    }

    async fn require_programme(&self, programme: &str) -> Result<()> {
        let exists: Option<String> = sqlx::query_scalar("SELECT code FROM programmes WHERE code = $1")
            .bind(programme)
            .fetch_optional(&self.pool)
            .await?;
        match exists {
            Some(_) => Ok(()),
            None => Err(Error::NotFound { what: "programme", key: programme.to_owned() }),
        }
    }
}

/// How many periods from `from` on are due by `now` (capped).
fn count_due(spec: &ScheduleSpec, from: Period, now: Timestamp) -> u64 {
    let mut n = 0;
    let mut p = Some(from);
    while let Some(period) = p {
        if n >= MAX_BACKLOG_COUNT || !spec.due_at(&period).is_ok_and(|due| due <= now) {
            break;
        }
        n += 1;
        p = spec.cadence().next_period(&period);
    }
    n
}

/// Binds what a person sets of a schedule as `$1`…`$11`, in the column order both writes use.
fn bind_spec<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    spec: &'q ScheduleSpec,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(spec.programme())
        .bind(spec.cadence().as_str())
        .bind(spec.time_zone().name())
        .bind(spec.lang().code())
        .bind(spec.template())
        .bind(spec.pdf_standard().code())
        .bind(spec.first_period().to_string())
        .bind(spec.grace().as_secs() as i64)
        .bind(i64::from(spec.enabled()))
        .bind(crate::reports::letterhead_json(spec.letterhead()))
        .bind(spec.issue().code())
}

pub(crate) fn schedule_from_row(row: &AnyRow) -> Result<Schedule> {
    let corrupt = |message: String| Error::Corrupt { what: "schedule", message };
    let text = |name: &str| -> Result<String> { Ok(row.try_get::<String, _>(name)?) };
    let time = |s: &str| -> Result<Timestamp> { s.parse().map_err(|e| corrupt(format!("time {s:?}: {e}"))) };
    let spec = ScheduleSpec::new(ScheduleDraft {
        programme: text("programme")?,
        cadence: Cadence::from_str(&text("cadence")?)?,
        time_zone: Zone::from_str(&text("time_zone")?)?,
        lang: Lang::from_str(&text("lang")?)?,
        // Rows written before template names were codes may hold any text; the renderer has
        // one template, so such a row keeps working on it rather than failing to load.
        template: template_name(&text("template")?).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "a stored schedule names a template that is not a code; using the default");
            None
        }),
        pdf_standard: PdfStandard::from_str(&text("pdf_standard")?)?,
        first_period: Period::from_str(&text("first_period")?)?,
        grace: Duration::from_secs(row.try_get::<i64, _>("grace_seconds")?.max(0) as u64),
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        letterhead: crate::reports::letterhead_from_row(row)?,
        issue: IssueMode::from_str(&text("issue")?)?,
    })?;
    let last_run_period = row.try_get::<Option<String>, _>("last_run_period")?;
    let last_run_at = row.try_get::<Option<String>, _>("last_run_at")?;
    Ok(Schedule {
        id: ScheduleId::from_str(&text("id")?)?,
        spec,
        next_period: Period::from_str(&text("next_period")?)?,
        last_run_period: last_run_period.as_deref().map(Period::from_str).transpose()?,
        last_run_at: last_run_at.as_deref().map(time).transpose()?,
        caught_up: row.try_get::<i64, _>("caught_up")?.max(0) as u64,
        backlog: row.try_get::<i64, _>("backlog")?.max(0) as u64,
        created_at: time(&text("created_at")?)?,
        updated_at: time(&text("updated_at")?)?,
        notify_url: crate::deliveries::notification_from_row(row)?.map(|n| n.url),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use coopbrief_domain::schedule::{Clock, ManualClock};
    use jiff::SignedDuration;

    use super::*;
    use crate::testing::TestDb;

    const PROGRAMME: &str = "hanoi-hanam";

    fn draft(cadence: &str, first: &str) -> ScheduleDraft {
        let draft = ScheduleDraft::new(PROGRAMME, cadence.parse().unwrap(), first.parse().unwrap());
        ScheduleDraft { template: template_name("standard").unwrap(), ..draft }
    }

    fn spec(cadence: &str, first: &str) -> ScheduleSpec {
        ScheduleSpec::new(draft(cadence, first)).unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// The periods of a schedule's reports, oldest first, and whether any came twice.
    async fn periods(store: &Store, id: ScheduleId) -> Vec<String> {
        let filter = ReportFilter { schedule: Some(id), ..Default::default() };
        let mut out: Vec<String> = store
            .list_reports_page(&filter, &crate::PageRequest { size: crate::reports::MAX_PAGE, token: None })
            .await
            .unwrap()
            .items
            .iter()
            .map(|r| r.period.to_string())
            .collect();
        out.reverse();
        out
    }

    async fn outbox_jobs(store: &Store) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(&store.pool).await.unwrap()
    }

    async fn a_simulated_year_makes_twelve_months_four_quarters_and_one_year_with_an_outage(db: &TestDb) {
        let store = db.seeded().await;
        let monthly = store.create_schedule(&spec("monthly", "2026-01")).await.unwrap();
        let quarterly = store.create_schedule(&spec("quarterly", "2026-Q1")).await.unwrap();
        let yearly = store.create_schedule(&spec("yearly", "2026")).await.unwrap();
        let clock = ManualClock::new(ts("2026-01-01T00:00:00Z"));
        let (outage_from, outage_to) = (ts("2026-04-20T00:00:00Z"), ts("2026-08-10T06:00:00Z"));
        let end = ts("2027-01-03T00:00:00Z");
        let mut seen = BTreeMap::new();
        while clock.now() < end {
            // The data service is down from 20 April to 10 August: no ticks at all.
            if clock.now() < outage_from || clock.now() >= outage_to {
                let tick = store.run_schedules(clock.now(), 24).await.unwrap();
                for (sid, period, _) in tick.created {
                    assert!(seen.insert((sid, period.to_string()), clock.now()).is_none(), "{period} made twice");
                }
                // Outside the outage, exactly the periods due by now exist.
                for s in [&monthly, &quarterly, &yearly] {
                    let due = count_due(&s.spec, s.spec.first_period(), clock.now());
                    assert_eq!(periods(&store, s.id).await.len() as u64, due, "at {}", clock.now());
                }
            }
            clock.advance(SignedDuration::from_hours(6));
        }
        let months: Vec<String> = (1..=12).map(|m| format!("2026-{m:02}")).collect();
        assert_eq!(periods(&store, monthly.id).await, months);
        assert_eq!(periods(&store, quarterly.id).await, ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]);
        assert_eq!(periods(&store, yearly.id).await, ["2026"]);
        assert_eq!(outbox_jobs(&store).await, 17, "each report has its job");
        // April, May, June and Q2 closed during the outage; July's close too, but it was
        // the newest due when the service came back, so it was on time.
        let m = store.schedule(monthly.id).await.unwrap();
        assert_eq!(m.caught_up, 3);
        assert_eq!(m.last_run_period, Some("2026-12".parse().unwrap()));
        assert_eq!(m.next_period.to_string(), "2027-01");
        assert_eq!(store.schedule(quarterly.id).await.unwrap().caught_up, 0);
        // Made right after the outage: April (closed 30 April 17:00Z) at the first tick back.
        assert_eq!(seen[&(monthly.id, "2026-04".to_owned())], outage_to);
        // On time otherwise: December at the first tick (every 6 h) after 31 Dec 17:00Z.
        assert_eq!(seen[&(monthly.id, "2026-12".to_owned())], ts("2026-12-31T18:00:00Z"));
    }

    async fn a_month_closes_at_midnight_hanoi_time_and_not_a_second_before(db: &TestDb) {
        let store = db.seeded().await;
        let s = store.create_schedule(&spec("monthly", "2026-01")).await.unwrap();
        let tick = store.run_schedules(ts("2026-01-31T16:59:59Z"), 24).await.unwrap();
        assert!(tick.created.is_empty(), "23:59:59 in Hà Nội is still January");
        let tick = store.run_schedules(ts("2026-01-31T17:00:00Z"), 24).await.unwrap();
        assert_eq!(tick.created.len(), 1);
        assert_eq!(periods(&store, s.id).await, ["2026-01"]);
        let report = store.report(tick.created[0].2).await.unwrap();
        assert_eq!(report.state, ReportState::Queued);
        assert_eq!(report.programme, PROGRAMME);
    }

    /// Each report a schedule makes has its job written in the trace started for it.
    async fn each_scheduled_report_starts_its_own_trace(db: &TestDb) {
        let store = db.seeded().await;
        let s = store.create_schedule(&spec("monthly", "2026-01")).await.unwrap();
        let trace = |schedule: ScheduleId, report: ReportId| {
            assert_eq!(schedule, s.id);
            Some(format!("00-{}-00f067aa0ba902b7-01", report.to_string().replace('-', "")))
        };
        let tick = store.run_schedules_traced(ts("2026-03-31T17:00:00Z"), 24, &trace).await.unwrap();
        assert_eq!(tick.created.len(), 3);
        let jobs = store.pending_jobs(10).await.unwrap();
        let made: Vec<_> = tick.created.iter().map(|(_, _, id)| trace(s.id, *id)).collect();
        assert_eq!(jobs.into_iter().map(|j| j.traceparent).collect::<Vec<_>>(), made);
    }

    async fn february_of_a_leap_year_closes_after_the_29th(db: &TestDb) {
        let store = db.seeded().await;
        let s = store.create_schedule(&spec("monthly", "2024-02")).await.unwrap();
        assert!(store.run_schedules(ts("2024-02-28T17:00:00Z"), 24).await.unwrap().created.is_empty());
        assert!(store.run_schedules(ts("2024-02-29T16:59:59Z"), 24).await.unwrap().created.is_empty());
        assert_eq!(store.run_schedules(ts("2024-02-29T17:00:00Z"), 24).await.unwrap().created.len(), 1);
        assert_eq!(periods(&store, s.id).await, ["2024-02"]);
    }

    async fn the_grace_delay_holds_the_report_back(db: &TestDb) {
        let store = db.seeded().await;
        let sp = ScheduleDraft { grace: Duration::from_secs(3 * 86_400), ..draft("quarterly", "2026-Q1") };
        let s = store.create_schedule(&ScheduleSpec::new(sp).unwrap()).await.unwrap();
        assert!(store.run_schedules(ts("2026-04-03T16:59:59Z"), 24).await.unwrap().created.is_empty());
        assert_eq!(store.run_schedules(ts("2026-04-03T17:00:00Z"), 24).await.unwrap().created.len(), 1);
        assert_eq!(periods(&store, s.id).await, ["2026-Q1"]);
    }

    async fn catch_up_is_limited_per_tick_oldest_first_and_visible(db: &TestDb) {
        let store = db.seeded().await;
        let s = store.create_schedule(&spec("monthly", "2024-01")).await.unwrap();
        let now = ts("2026-11-26T10:00:00Z"); // 34 months (2024-01 … 2026-10) are due
        let first = store.run_schedules(now, 24).await.unwrap();
        assert_eq!(first.created.len(), 24);
        assert_eq!(first.created[0].1.to_string(), "2024-01");
        assert_eq!(first.created[23].1.to_string(), "2025-12");
        assert_eq!(first.backlog, 10);
        let after = store.schedule(s.id).await.unwrap();
        assert_eq!((after.caught_up, after.backlog), (24, 10));
        assert_eq!(after.last_run_period, Some("2025-12".parse().unwrap()));
        let second = store.run_schedules(now, 24).await.unwrap();
        assert_eq!(second.created.len(), 10);
        assert_eq!(second.backlog, 0);
        let done = store.schedule(s.id).await.unwrap();
        // 2026-10 is the newest due period: on time, not caught up.
        assert_eq!((done.caught_up, done.backlog), (33, 0));
        assert_eq!(periods(&store, s.id).await.len(), 34);
        assert!(store.run_schedules(now, 24).await.unwrap().created.is_empty());
    }

    async fn three_racing_schedulers_on_one_database_make_each_report_once(db: &TestDb) {
        let first = db.seeded().await;
        let mut ids = Vec::new();
        for (cadence, from) in
            [("monthly", "2026-01"), ("quarterly", "2026-Q1"), ("yearly", "2026"), ("half-yearly", "2026-H1")]
        {
            ids.push(first.create_schedule(&spec(cadence, from)).await.unwrap().id);
        }
        let mut stores = vec![first];
        for _ in 0..2 {
            stores.push(db.store().await);
        }
        let clock = ManualClock::new(ts("2026-01-01T00:00:00Z"));
        let mut made = 0;
        // Every day of the year, three replicas tick at the same instant.
        while clock.now() < ts("2027-01-02T00:00:00Z") {
            let ticks: Vec<_> = stores
                .iter()
                .map(|s| {
                    let (s, now) = (s.clone(), clock.now());
                    tokio::spawn(async move { s.run_schedules(now, 24).await })
                })
                .collect();
            for t in ticks {
                made += t.await.unwrap().unwrap().created.len();
            }
            clock.advance(SignedDuration::from_hours(24));
        }
        let store = &stores[0];
        let lens: Vec<usize> = {
            let mut v = Vec::new();
            for id in &ids {
                let ps = periods(store, *id).await;
                assert_eq!(ps.iter().collect::<BTreeSet<_>>().len(), ps.len(), "no period twice");
                v.push(ps.len());
            }
            v
        };
        assert_eq!(lens, [12, 4, 1, 2]);
        assert_eq!(made, 19, "the replicas together reported each report once");
        assert_eq!(store.count_reports(None).await.unwrap(), 19);
        assert_eq!(outbox_jobs(store).await, 19);
    }

    async fn a_paused_schedule_makes_nothing_and_catches_up_on_resume(db: &TestDb) {
        let store = db.seeded().await;
        let s = store.create_schedule(&spec("monthly", "2026-01")).await.unwrap();
        store.set_schedule_enabled(s.id, false).await.unwrap();
        assert!(store.run_schedules(ts("2026-03-15T00:00:00Z"), 24).await.unwrap().created.is_empty());
        let resumed = store.set_schedule_enabled(s.id, true).await.unwrap();
        assert!(resumed.spec.enabled());
        let tick = store.run_schedules(ts("2026-03-15T00:00:00Z"), 24).await.unwrap();
        assert_eq!(tick.created.len(), 2);
        assert_eq!(tick.caught_up, 1);
        assert_eq!(periods(&store, s.id).await, ["2026-01", "2026-02"]);
    }

    async fn moving_the_first_period_back_fills_the_gap_without_duplicates(db: &TestDb) {
        let store = db.seeded().await;
        let s = store.create_schedule(&spec("monthly", "2026-03")).await.unwrap();
        store.run_schedules(ts("2026-05-15T00:00:00Z"), 24).await.unwrap();
        assert_eq!(periods(&store, s.id).await, ["2026-03", "2026-04"]);
        let updated = store.update_schedule(s.id, &spec("monthly", "2026-01")).await.unwrap();
        assert_eq!(updated.next_period.to_string(), "2026-01");
        let tick = store.run_schedules(ts("2026-05-15T00:00:00Z"), 24).await.unwrap();
        let made: Vec<String> = tick.created.iter().map(|c| c.1.to_string()).collect();
        assert_eq!(made, ["2026-01", "2026-02"]);
        assert_eq!(periods(&store, s.id).await, ["2026-03", "2026-04", "2026-01", "2026-02"]);
        assert_eq!(store.schedule(s.id).await.unwrap().next_period.to_string(), "2026-05");
    }

    async fn unknown_programmes_and_schedules_are_not_found(db: &TestDb) {
        let store = db.seeded().await;
        let sp = ScheduleDraft { programme: "nowhere".into(), ..draft("monthly", "2026-01") };
        let err = store.create_schedule(&ScheduleSpec::new(sp).unwrap()).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { what: "programme", .. }), "{err}");
        let err = store.schedule(ScheduleId::new()).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { what: "schedule", .. }), "{err}");
        let s = store.create_schedule(&spec("monthly", "2026-01")).await.unwrap();
        store.delete_schedule(s.id).await.unwrap();
        assert!(matches!(store.delete_schedule(s.id).await.unwrap_err(), Error::NotFound { .. }));
    }

    async fn the_latest_report_is_the_newest_succeeded_one(db: &TestDb) {
        let store = db.seeded().await;
        let s = store.create_schedule(&spec("monthly", "2026-01")).await.unwrap();
        let tick = store.run_schedules(ts("2026-04-15T00:00:00Z"), 24).await.unwrap();
        let err = store.latest_report(PROGRAMME, None).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        let pdf = |n: &str| coopbrief_domain::PdfInfo {
            pages: 1,
            bytes: 10,
            sha256: n.into(),
            template_version: "t".into(),
            data_hash: "d".into(),
        };
        store.complete_report(tick.created[1].2, &pdf("feb")).await.unwrap();
        store.complete_report(tick.created[0].2, &pdf("jan")).await.unwrap();
        store.fail_report(tick.created[2].2, "boom").await.unwrap();
        let latest = store.latest_report(PROGRAMME, Some(s.id)).await.unwrap();
        assert_eq!(latest.id, tick.created[0].2, "finished last");
        assert_eq!(latest.schedule, Some(s.id), "a scheduled report names its schedule");
    }

    async fn the_notify_target_is_written_with_the_schedule_and_kept_or_replaced_by_an_update(db: &TestDb) {
        let store = db.seeded().await;
        let target = |url: &str| crate::SealedTarget {
            url: coopbrief_domain::webhook::NotifyUrl::parse(url, "notify.url").unwrap(),
            secret: "v1.c2VhbGVk".into(),
        };
        let first = target("https://hooks.example.org/a");
        let s = store.create_schedule_notifying(&spec("monthly", "2026-01"), Some(&first)).await.unwrap();
        assert_eq!(s.notify_url.as_ref().map(ToString::to_string).as_deref(), Some("https://hooks.example.org/a"));
        // An update that does not name the target keeps it; one that does replaces or removes it.
        let kept = store.update_schedule_notifying(s.id, &spec("monthly", "2026-02"), None).await.unwrap();
        assert_eq!(kept.notify_url, s.notify_url);
        let second = target("https://hooks.example.org/b");
        let replaced =
            store.update_schedule_notifying(s.id, &spec("monthly", "2026-02"), Some(Some(&second))).await.unwrap();
        assert_eq!(
            replaced.notify_url.as_ref().map(ToString::to_string).as_deref(),
            Some("https://hooks.example.org/b")
        );
        let removed = store.update_schedule_notifying(s.id, &spec("monthly", "2026-02"), Some(None)).await.unwrap();
        assert_eq!(removed.notify_url, None);
    }

    crate::on_both_backends!(
        the_notify_target_is_written_with_the_schedule_and_kept_or_replaced_by_an_update,
        a_simulated_year_makes_twelve_months_four_quarters_and_one_year_with_an_outage,
        a_month_closes_at_midnight_hanoi_time_and_not_a_second_before,
        each_scheduled_report_starts_its_own_trace,
        february_of_a_leap_year_closes_after_the_29th,
        the_grace_delay_holds_the_report_back,
        catch_up_is_limited_per_tick_oldest_first_and_visible,
        three_racing_schedulers_on_one_database_make_each_report_once,
        a_paused_schedule_makes_nothing_and_catches_up_on_resume,
        moving_the_first_period_back_fills_the_gap_without_duplicates,
        unknown_programmes_and_schedules_are_not_found,
        the_latest_report_is_the_newest_succeeded_one,
    );
}
