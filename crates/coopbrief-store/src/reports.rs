//! Report requests and their life cycle: QUEUED → RUNNING → SUCCEEDED or FAILED.

use std::str::FromStr;

use coopbrief_domain::webhook::EventKind;
use coopbrief_domain::{Lang, Letterhead, PdfInfo, PdfStandard, Period, Report, ReportId, ReportState};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Error, Result, Store};

/// Most reports one list call returns.
pub const MAX_PAGE: u32 = 500;

impl Store {
    /// Records a new report request as QUEUED together with its job in the outbox, in one
    /// transaction. With a `request_id` seen before, returns that report instead (AIP-155);
    /// the flag says whether a report was created. The job waits for any relay's next pass.
    pub async fn create_report(&self, new: &NewReport<'_>, request_id: Option<&str>) -> Result<(Report, bool)> {
        let (report, job) = self.new_report(new, request_id, false).await?;
        Ok((report, job.is_some()))
    }

    /// Like [`Store::create_report`], with the new job already claimed for the caller's relay
    /// (for [`OUTBOX_LEASE`]), which can publish it at once without claiming it again. Should
    /// the caller die before it is sent, any relay takes it once the lease runs out. `None`:
    /// the request was a repeat and no job was written.
    pub async fn create_report_claimed(
        &self,
        new: &NewReport<'_>,
        request_id: Option<&str>,
    ) -> Result<(Report, Option<OutboxJob>)> {
        self.new_report(new, request_id, true).await
    }

    async fn new_report(
        &self,
        new: &NewReport<'_>,
        request_id: Option<&str>,
        claim: bool,
    ) -> Result<(Report, Option<OutboxJob>)> {
        let programme = new.programme;
        if let Some(existing) = self.report_by_request_id(request_id).await? {
            return Ok((existing, None));
        }
        let exists: Option<String> = sqlx::query_scalar("SELECT code FROM programmes WHERE code = $1")
            .bind(programme)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Err(Error::NotFound { what: "programme", key: programme.to_owned() });
        }
        let id = ReportId::new();
        let at = jiff::Timestamp::now();
        let now = at.to_string();
        let mut tx = self.pool.begin().await?;
        if !insert_report(&mut tx, id, new, request_id, None, &now).await? {
            // A concurrent request with the same id won the race: return its report.
            drop(tx);
            return match self.report_by_request_id(request_id).await? {
                Some(existing) => Ok((existing, None)),
                None => Err(Error::Aborted(format!("report {id} collided with another; send the request again"))),
            };
        }
        let claimed_until = claim.then(|| at.as_millisecond() + OUTBOX_LEASE.as_millis() as i64);
        let outbox_id = enqueue_claimed(&mut tx, id, &now, claimed_until, new.traceparent).await?;
        tx.commit().await?;
        // What was just written, without reading it back.
        let report = Report {
            id,
            programme: programme.to_owned(),
            period: new.period,
            lang: new.lang,
            pdf_standard: new.pdf_standard,
            state: ReportState::Queued,
            created_at: at,
            updated_at: at,
            attempt: 0,
            error: None,
            pdf: None,
            schedule: None,
            letterhead: new.letterhead.clone(),
            issued: None,
            notification: new
                .notify
                .map(|t| coopbrief_domain::webhook::Notification { url: t.url.clone(), delivery: None }),
        };
        let traceparent = new.traceparent.map(str::to_owned);
        Ok((report, Some(OutboxJob { id: outbox_id, report_id: id, tries: 0, traceparent })))
    }

    async fn report_by_request_id(&self, request_id: Option<&str>) -> Result<Option<Report>> {
        let Some(request_id) = request_id else { return Ok(None) };
        let row = sqlx::query("SELECT * FROM reports WHERE request_id = $1")
            .bind(request_id)
            .fetch_optional(&self.pool)
            .await?;
        match row.map(|r| report_from_row(&r)).transpose()? {
            Some(report) => Ok(Some(self.with_delivery(report).await?)),
            None => Ok(None),
        }
    }

    /// Jobs waiting to be published, oldest first, claimed or not (for inspection).
    #[cfg(any(test, feature = "testing"))]
    pub async fn pending_jobs(&self, limit: u32) -> Result<Vec<OutboxJob>> {
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "SELECT id, report_id, tries, traceparent FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(outbox_job).collect()
    }

    /// Claims up to `limit` jobs waiting to be published, oldest first, for [`OUTBOX_LEASE`]:
    /// the relay of another replica skips them until they are sent, released or the lease
    /// runs out (a relay that died mid-batch). The conditions stand in the outer `WHERE` too,
    /// so that on PostgreSQL a relay that waited for another's row lock re-checks the row it
    /// then sees, and leaves it.
    pub async fn claim_jobs(&self, limit: u32) -> Result<Vec<OutboxJob>> {
        let now = jiff::Timestamp::now().as_millisecond();
        let until = now + OUTBOX_LEASE.as_millis() as i64;
        let mut rows: Vec<OutboxRow> = sqlx::query_as(
            "UPDATE outbox SET claimed_until = $1
             WHERE sent_at IS NULL AND (claimed_until IS NULL OR claimed_until < $2) AND id IN (
                 SELECT id FROM outbox WHERE sent_at IS NULL AND (claimed_until IS NULL OR claimed_until < $2)
                 ORDER BY id LIMIT $3)
             RETURNING id, report_id, tries, traceparent",
        )
        .bind(until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.sort_unstable_by_key(|(id, ..)| *id);
        rows.into_iter().map(outbox_job).collect()
    }

    /// Gives claimed jobs back unpublished (a batch cut short), for the next relay pass.
    pub async fn release_jobs(&self, outbox_ids: &[i64]) -> Result<()> {
        if outbox_ids.is_empty() {
            return Ok(());
        }
        sqlx::query(&format!(
            "UPDATE outbox SET claimed_until = NULL WHERE sent_at IS NULL AND id IN ({})",
            id_list(outbox_ids)
        ))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The broker acked the job: it will not be published again.
    #[cfg(any(test, feature = "testing"))]
    pub async fn job_sent(&self, outbox_id: i64) -> Result<()> {
        self.jobs_sent(&[outbox_id]).await
    }

    /// The broker acked these jobs: none will be published again. One statement for them all.
    pub async fn jobs_sent(&self, outbox_ids: &[i64]) -> Result<()> {
        if outbox_ids.is_empty() {
            return Ok(());
        }
        sqlx::query(&format!(
            "UPDATE outbox SET sent_at = $1, tries = tries + 1, last_error = NULL WHERE id IN ({})",
            id_list(outbox_ids)
        ))
        .bind(jiff::Timestamp::now().to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Publishing failed; the job stays pending and is tried again.
    pub async fn job_not_sent(&self, outbox_id: i64, error: &str) -> Result<()> {
        sqlx::query("UPDATE outbox SET tries = tries + 1, last_error = $1, claimed_until = NULL WHERE id = $2")
            .bind(error)
            .bind(outbox_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Cancels a QUEUED or RUNNING report, and says whether this call cancelled it (not an
    /// earlier one). A finished one cannot be cancelled.
    pub async fn cancel_report(&self, id: ReportId) -> Result<(Report, bool)> {
        let cancelled = self
            .transition(
                id,
                "UPDATE reports SET state = 'CANCELLED', error = NULL, updated_at = $1
                 WHERE id = $2 AND state IN ('QUEUED', 'RUNNING') RETURNING *",
            )
            .await?;
        if let Some(report) = cancelled {
            return Ok((report, true));
        }
        let report = self.report(id).await?;
        if report.state != ReportState::Cancelled {
            return Err(Error::FailedPrecondition(format!(
                "report {id} is {}; only QUEUED or RUNNING reports can be cancelled",
                report.state
            )));
        }
        Ok((report, false))
    }

    /// Queues a FAILED or CANCELLED report again, with a new job in the outbox (in the trace
    /// `traceparent` names, if any).
    pub async fn retry_report(&self, id: ReportId, traceparent: Option<&str>) -> Result<Report> {
        let now = jiff::Timestamp::now().to_string();
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE reports SET state = 'QUEUED', error = NULL, updated_at = $1
             WHERE id = $2 AND state IN ('FAILED', 'CANCELLED')",
        )
        .bind(&now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            enqueue(&mut tx, id, &now, traceparent).await?;
        }
        tx.commit().await?;
        let report = self.report(id).await?;
        if changed == 0 {
            return Err(Error::FailedPrecondition(format!(
                "report {id} is {}; only FAILED or CANCELLED reports can be retried",
                report.state
            )));
        }
        Ok(report)
    }

    /// How many reports are in `state` (all reports with `None`).
    pub async fn count_reports(&self, state: Option<ReportState>) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports WHERE ($1 IS NULL OR state = $1)")
            .bind(state.map(|s| s.as_str()))
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// What waits in the pipeline, for the metrics: unfinished reports by state and the
    /// outbox's unpublished jobs. Cheap on both engines: each part reads an index that holds
    /// only what waits (`reports_by_state` for two states, the partial `outbox_pending`).
    pub async fn backlog(&self) -> Result<Backlog> {
        let states: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM reports WHERE state IN ('QUEUED', 'RUNNING') GROUP BY state")
                .fetch_all(&self.pool)
                .await?;
        let count = |state: ReportState| states.iter().find(|(s, _)| s == state.as_str()).map_or(0, |(_, n)| *n as u64);
        let (pending, oldest): (i64, Option<String>) = sqlx::query_as(
            "SELECT COUNT(*), (SELECT created_at FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT 1)
             FROM outbox WHERE sent_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Backlog {
            queued: count(ReportState::Queued),
            running: count(ReportState::Running),
            outbox_pending: pending as u64,
            outbox_oldest: oldest.and_then(|t| t.parse().ok()),
        })
    }

    /// Every report, oldest first — for tooling such as the soak test, not for requests.
    pub async fn all_reports(&self) -> Result<Vec<Report>> {
        let rows = sqlx::query("SELECT * FROM reports ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter().map(report_from_row).collect()
    }

    /// PDFs handed back by workers over all reports (above the number succeeded: duplicates).
    pub async fn total_uploads(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(uploads), 0) AS BIGINT) FROM reports")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// How many PDFs workers handed back for a report (more than one: duplicate jobs).
    #[cfg(any(test, feature = "testing"))]
    pub async fn uploads(&self, id: ReportId) -> Result<u32> {
        let n: i64 = sqlx::query_scalar("SELECT uploads FROM reports WHERE id = $1")
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u32)
    }

    pub async fn report(&self, id: ReportId) -> Result<Report> {
        let row =
            sqlx::query("SELECT * FROM reports WHERE id = $1").bind(id.to_string()).fetch_optional(&self.pool).await?;
        let report = row
            .map(|r| report_from_row(&r))
            .transpose()?
            .ok_or_else(|| Error::NotFound { what: "report", key: id.to_string() })?;
        self.with_delivery(report).await
    }

    /// The reports of these ids that exist, in no particular order: one query per
    /// [`MAX_PAGE`] ids (what a replica's report watchers poll).
    pub async fn reports_by_ids(&self, ids: &[ReportId]) -> Result<Vec<Report>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_PAGE as usize) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT * FROM reports WHERE id IN ({})", marks.join(", "));
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push(report_from_row(&row)?);
            }
        }
        self.with_deliveries(found).await
    }

    /// Newest first, optionally for one programme and in one state.
    pub async fn list_reports(
        &self,
        programme: Option<&str>,
        state: Option<ReportState>,
        limit: u32,
    ) -> Result<Vec<Report>> {
        let limit = i64::from(limit.clamp(1, MAX_PAGE));
        let rows = sqlx::query(
            "SELECT * FROM reports WHERE ($1 IS NULL OR programme = $1) AND ($2 IS NULL OR state = $2)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(programme)
        .bind(state.map(|s| s.as_str()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let reports = rows.iter().map(report_from_row).collect::<Result<Vec<_>>>()?;
        self.with_deliveries(reports).await
    }

    /// Reports not finished yet, oldest first: what a restarted in-process queue must replay.
    pub async fn unfinished_reports(&self) -> Result<Vec<ReportId>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM reports WHERE state IN ('QUEUED', 'RUNNING') ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        ids.iter().map(|s| ReportId::from_str(s).map_err(Error::from)).collect()
    }

    /// A worker takes the report: RUNNING, one more attempt. Returns the report and whether
    /// the worker should go on (false when it is already finished: a duplicate job).
    pub async fn start_report(&self, id: ReportId) -> Result<(Report, bool)> {
        let started = self
            .transition(
                id,
                "UPDATE reports SET state = 'RUNNING', attempt = attempt + 1, updated_at = $1
                 WHERE id = $2 AND state IN ('QUEUED', 'RUNNING') RETURNING *",
            )
            .await?;
        match started {
            Some(report) => Ok((report, true)),
            None => Ok((self.report(id).await?, false)),
        }
    }

    /// Runs a state change `sql` (an `UPDATE … RETURNING *`) whose two parameters are the time
    /// now and the report's id; the report as changed, or `None` when it was not in a state that
    /// allows the change (or does not exist).
    async fn transition(&self, id: ReportId, sql: &'static str) -> Result<Option<Report>> {
        let now = jiff::Timestamp::now().to_string();
        let row = sqlx::query(sql).bind(now).bind(id.to_string()).fetch_optional(&self.pool).await?;
        match row.map(|r| report_from_row(&r)).transpose()? {
            Some(report) => Ok(Some(self.with_delivery(report).await?)),
            None => Ok(None),
        }
    }

    /// Marks a QUEUED or RUNNING report SUCCEEDED with its PDF's facts, and counts the upload,
    /// in one statement; says whether this call finished it. Finishing it twice, or finishing a
    /// cancelled one, changes nothing (but counts the upload). (In an `UPDATE`, every `CASE`
    /// sees the row as it was.) The call that finishes a report with a notify target writes its
    /// `report.succeeded` event to the deliveries outbox in the same transaction.
    pub async fn complete_report(&self, id: ReportId, pdf: &PdfInfo) -> Result<(Report, bool)> {
        let now = jiff::Timestamp::now();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE reports SET uploads = uploads + 1,
                 state = CASE WHEN state IN ('QUEUED', 'RUNNING') THEN 'SUCCEEDED' ELSE state END,
                 error = CASE WHEN state IN ('QUEUED', 'RUNNING') THEN NULL ELSE error END,
                 updated_at = CASE WHEN state IN ('QUEUED', 'RUNNING') THEN $1 ELSE updated_at END,
                 page_count = CASE WHEN state IN ('QUEUED', 'RUNNING') THEN $2 ELSE page_count END,
                 byte_size = CASE WHEN state IN ('QUEUED', 'RUNNING') THEN $3 ELSE byte_size END,
                 sha256 = CASE WHEN state IN ('QUEUED', 'RUNNING') THEN $4 ELSE sha256 END,
                 template_version = CASE WHEN state IN ('QUEUED', 'RUNNING') THEN $5 ELSE template_version END,
                 data_hash = CASE WHEN state IN ('QUEUED', 'RUNNING') THEN $6 ELSE data_hash END
             WHERE id = $7 RETURNING *",
        )
        .bind(now.to_string())
        .bind(i64::from(pdf.pages))
        .bind(pdf.bytes as i64)
        .bind(&pdf.sha256)
        .bind(&pdf.template_version)
        .bind(&pdf.data_hash)
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let report = row
            .map(|r| report_from_row(&r))
            .transpose()?
            .ok_or_else(|| Error::NotFound { what: "report", key: id.to_string() })?;
        // The row carries this call's time only if this call changed its state.
        let finished = report.state == ReportState::Succeeded && report.updated_at == now;
        if finished {
            crate::deliveries::write_event(&mut tx, &report, EventKind::Succeeded).await?;
        }
        tx.commit().await?;
        Ok((self.with_delivery(report).await?, finished))
    }

    /// Marks a QUEUED or RUNNING report FAILED with a readable reason, and says whether this
    /// call failed it; a finished one stays. With a notify target, its `report.failed` event
    /// is written to the deliveries outbox in the same transaction.
    pub async fn fail_report(&self, id: ReportId, error: &str) -> Result<(Report, bool)> {
        let mut tx = self.pool.begin().await?;
        let failed = sqlx::query(
            "UPDATE reports SET state = 'FAILED', error = $1, updated_at = $2
             WHERE id = $3 AND state IN ('QUEUED', 'RUNNING') RETURNING *",
        )
        .bind(error)
        .bind(jiff::Timestamp::now().to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        match failed {
            Some(row) => {
                let report = report_from_row(&row)?;
                crate::deliveries::write_event(&mut tx, &report, EventKind::Failed).await?;
                tx.commit().await?;
                Ok((self.with_delivery(report).await?, true))
            }
            None => {
                drop(tx);
                Ok((self.report(id).await?, false))
            }
        }
    }
}

/// Writes a new QUEUED report (not its job): the one insert behind manual requests and
/// schedules. `scheduled` names the schedule and period it is made for.
pub(crate) async fn insert_report(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: ReportId,
    new: &NewReport<'_>,
    request_id: Option<&str>,
    scheduled: Option<(&str, &str)>,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let NewReport { programme, period, lang, pdf_standard, letterhead, traceparent: _, notify } = *new;
    // ON CONFLICT rather than catching the unique violation: on PostgreSQL an error aborts
    // the whole transaction, and the caller's transaction must go on.
    let inserted = sqlx::query(
        "INSERT INTO reports (id, programme, period, lang, pdf_standard, state, attempt, created_at, updated_at,
                              request_id, schedule_id, scheduled_period, letterhead, notify_url, notify_secret)
         VALUES ($1, $2, $3, $4, $5, 'QUEUED', 0, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT DO NOTHING",
    )
    .bind(id.to_string())
    .bind(programme)
    .bind(period.to_string())
    .bind(lang.code())
    .bind(pdf_standard.code())
    .bind(now)
    .bind(now)
    .bind(request_id)
    .bind(scheduled.map(|s| s.0))
    .bind(scheduled.map(|s| s.1))
    .bind(letterhead_json(letterhead))
    .bind(notify.map(|t| t.url.to_string()))
    .bind(notify.map(|t| t.secret.clone()))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// What waits in the pipeline ([`Store::backlog`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    pub queued: u64,
    pub running: u64,
    /// Jobs in the outbox not yet published.
    pub outbox_pending: u64,
    /// When the oldest of them was written.
    pub outbox_oldest: Option<jiff::Timestamp>,
}

/// What a new report asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewReport<'a> {
    pub programme: &'a str,
    pub period: Period,
    pub lang: Lang,
    pub pdf_standard: PdfStandard,
    /// Parts that replace the programme's letterhead for this report.
    pub letterhead: &'a Letterhead,
    /// The W3C trace context its job continues (the request's span), when traces are on.
    pub traceparent: Option<&'a str>,
    /// Where its events are POSTed, the secret sealed.
    pub notify: Option<&'a crate::SealedTarget>,
}

static NO_LETTERHEAD: Letterhead = Letterhead { office: None, signer: None, recipients: Vec::new() };

impl<'a> NewReport<'a> {
    /// A plain-PDF report of `programme` for `period` in `lang`, with the programme's letterhead.
    pub fn new(programme: &'a str, period: Period, lang: Lang) -> NewReport<'a> {
        NewReport {
            programme,
            period,
            lang,
            pdf_standard: PdfStandard::None,
            letterhead: &NO_LETTERHEAD,
            traceparent: None,
            notify: None,
        }
    }
}

/// A letterhead as stored: JSON, or NULL when it sets nothing.
pub(crate) fn letterhead_json(letterhead: &Letterhead) -> Option<String> {
    (!letterhead.is_empty()).then(|| serde_json::to_string(letterhead).unwrap_or_default())
}

/// The `letterhead` column of a report or schedule row.
pub(crate) fn letterhead_from_row(row: &AnyRow) -> Result<Letterhead> {
    match row.try_get::<Option<String>, _>("letterhead")? {
        Some(json) => crate::resources::parse(&json, "letterhead"),
        None => Ok(Letterhead::default()),
    }
}

/// How long a relay holds the jobs it claimed before another may take them.
pub const OUTBOX_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// A job in the outbox, not yet acked by the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxJob {
    pub id: i64,
    pub report_id: ReportId,
    /// Publish attempts so far.
    pub tries: u32,
    /// The W3C trace context the job was written in, for the relay to publish it in that trace.
    pub traceparent: Option<String>,
}

/// An outbox row as read: id, report id, tries, traceparent.
type OutboxRow = (i64, String, i64, Option<String>);

fn outbox_job((id, report_id, tries, traceparent): OutboxRow) -> Result<OutboxJob> {
    Ok(OutboxJob { id, report_id: ReportId::from_str(&report_id)?, tries: tries as u32, traceparent })
}

pub(crate) async fn enqueue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: ReportId,
    now: &str,
    traceparent: Option<&str>,
) -> Result<()> {
    enqueue_claimed(tx, id, now, None, traceparent).await?;
    Ok(())
}

/// Writes a report's job to the outbox, claimed until `claimed_until` (Unix milliseconds) if
/// given, in the trace `traceparent` names; its outbox id.
async fn enqueue_claimed(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: ReportId,
    now: &str,
    claimed_until: Option<i64>,
    traceparent: Option<&str>,
) -> Result<i64> {
    let outbox_id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (report_id, created_at, claimed_until, traceparent) VALUES ($1, $2, $3, $4)
         RETURNING id",
    )
    .bind(id.to_string())
    .bind(now)
    .bind(claimed_until)
    .bind(traceparent)
    .fetch_one(&mut **tx)
    .await?;
    Ok(outbox_id)
}

/// Outbox ids as an SQL list (`1,2,3`): integers only, so nothing to escape, and one
/// statement for a whole batch on both engines.
fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

pub(crate) fn report_from_row(row: &AnyRow) -> Result<Report> {
    let corrupt = |message: String| Error::Corrupt { what: "report", message };
    let text = |name: &str| -> Result<String> { Ok(row.try_get::<String, _>(name)?) };
    let time = |name: &str| -> Result<jiff::Timestamp> {
        let s = text(name)?;
        s.parse().map_err(|e| corrupt(format!("{name} {s:?}: {e}")))
    };
    let state = ReportState::from_str(&text("state")?)?;
    let pdf = match (row.try_get::<Option<String>, _>("sha256")?, state) {
        (Some(sha256), ReportState::Succeeded) => Some(PdfInfo {
            pages: row.try_get::<Option<i64>, _>("page_count")?.unwrap_or(0) as u32,
            bytes: row.try_get::<Option<i64>, _>("byte_size")?.unwrap_or(0) as u64,
            sha256,
            template_version: row.try_get::<Option<String>, _>("template_version")?.unwrap_or_default(),
            data_hash: row.try_get::<Option<String>, _>("data_hash")?.unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(Report {
        id: ReportId::from_str(&text("id")?)?,
        programme: text("programme")?,
        period: Period::from_str(&text("period")?)?,
        lang: Lang::from_str(&text("lang")?)?,
        pdf_standard: PdfStandard::from_str(&text("pdf_standard")?)?,
        state,
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
        attempt: row.try_get::<i64, _>("attempt")? as u32,
        error: row.try_get("error")?,
        pdf,
        schedule: row
            .try_get::<Option<String>, _>("schedule_id")?
            .map(|s| coopbrief_domain::schedule::ScheduleId::from_str(&s))
            .transpose()?,
        letterhead: letterhead_from_row(row)?,
        issued: crate::issuance::issued_from_row(row)?,
        notification: crate::deliveries::notification_from_row(row)?,
    })
}
