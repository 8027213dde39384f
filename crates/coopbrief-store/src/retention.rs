//! Deleting reports: one on request (`DeleteReport`), or those a retention policy lets go.
//!
//! A report is deleted with everything that refers to it in the database, in one transaction
//! ([`delete_report_rows`]); its PDFs are the caller's to remove once that has committed (a
//! file left behind is an orphan, never a report without its file). Only finished reports go:
//! the `DELETE` itself says so, so a report queued again meanwhile stays.

use coopbrief_domain::{Report, ReportId, ReportState};
use jiff::{SignedDuration, Timestamp};
use sqlx::Row;

use crate::{Error, Result, Store};

/// Which finished reports may go ([`Store::expired_reports`]). Nothing set: none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Finished reports whose last change is older than this go.
    pub max_age: Option<SignedDuration>,
    /// Of each schedule's finished reports, only the newest this many stay (reports made by
    /// hand are not counted).
    pub keep_latest: Option<u32>,
    /// Issued reports go too; without it they are kept whatever their age or rank.
    pub issued_too: bool,
}

impl Retention {
    /// Whether this policy deletes anything at all.
    pub fn is_off(&self) -> bool {
        self.max_age.is_none() && self.keep_latest.is_none()
    }
}

/// Deletes, in the caller's transaction, what refers to report `id` and then its row, if it is
/// finished (and not issued, unless `allow_issued`); whether it did. When it did not, the
/// caller rolls the transaction back. Every table that refers to
/// reports is emptied of its rows here (the outbox's jobs, the webhook deliveries; a table added
/// later adds its name), so that no path deletes a report and forgets one.
pub(crate) async fn delete_report_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: ReportId,
    allow_issued: bool,
) -> Result<bool> {
    let id = id.to_string();
    // What refers to the report first (a foreign key without a cascade would refuse the other
    // order); when the report then stays, the caller rolls all of it back.
    for table in ["outbox", "deliveries"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE report_id = $1")).bind(&id).execute(&mut **tx).await?;
    }
    let deleted = sqlx::query(
        "DELETE FROM reports WHERE id = $1 AND state IN ('SUCCEEDED', 'FAILED', 'CANCELLED')
             AND (issued_number IS NULL OR $2 = 1)",
    )
    .bind(&id)
    .bind(i64::from(allow_issued))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(deleted == 1)
}

/// Why report `r` may not be deleted (with `allow_issued` as asked), if it may not.
fn refusal(r: &Report, allow_issued: bool) -> Option<Error> {
    let id = r.id;
    if matches!(r.state, ReportState::Queued | ReportState::Running) {
        return Some(Error::FailedPrecondition(format!("report {id} is {}; cancel it first, then delete it", r.state)));
    }
    if r.issued.is_some() && !allow_issued {
        return Some(Error::FailedPrecondition(format!(
            "report {id} is issued; deleting it needs allow_issued (its number stays used in the register)"
        )));
    }
    None
}

impl Store {
    /// Deletes a finished report and its rows (not its PDFs: see the module); the report as it
    /// was. `NotFound` for an unknown id; `FailedPrecondition` for a QUEUED or RUNNING report,
    /// and for an issued one unless `allow_issued`.
    pub async fn delete_report(&self, id: ReportId, allow_issued: bool) -> Result<Report> {
        let report = self.report(id).await?;
        if let Some(refused) = refusal(&report, allow_issued) {
            return Err(refused);
        }
        let mut tx = self.pool.begin().await?;
        if !delete_report_rows(&mut tx, id, allow_issued).await? {
            tx.rollback().await?;
            // It changed meanwhile: queued again, issued, or deleted by another call.
            let now = self.report(id).await?;
            return Err(refusal(&now, allow_issued)
                .unwrap_or_else(|| Error::Aborted(format!("report {id} changed while it was deleted; try again"))));
        }
        tx.commit().await?;
        Ok(report)
    }

    /// Up to `limit` finished reports that `policy` lets go at `now`, oldest first: older than
    /// its age, or past the newest `keep_latest` finished reports of their schedule; issued
    /// ones only with `issued_too`.
    pub async fn expired_reports(&self, policy: &Retention, now: Timestamp, limit: u32) -> Result<Vec<ReportId>> {
        if policy.is_off() {
            return Ok(Vec::new());
        }
        let mut q = crate::sql::Sql::new(
            "SELECT id FROM (
                 SELECT id, updated_at, schedule_id, issued_number,
                        ROW_NUMBER() OVER (PARTITION BY schedule_id ORDER BY id DESC) AS newest
                 FROM reports WHERE state IN ('SUCCEEDED', 'FAILED', 'CANCELLED')
             ) AS finished WHERE (1 = 0",
        );
        if let Some(age) = policy.max_age {
            let before = now.checked_sub(age).map_err(|e| Error::Config(format!("retention age: {e}")))?;
            // Stored as RFC 3339 text in UTC, which sorts as time does (to the second, all a
            // retention in days needs).
            q.push(" OR updated_at < ").bind(before.to_string());
        }
        if let Some(keep) = policy.keep_latest {
            q.push(" OR (schedule_id IS NOT NULL AND newest > ").bind(i64::from(keep)).push(")");
        }
        q.push(")");
        if !policy.issued_too {
            q.push(" AND issued_number IS NULL");
        }
        q.push(" ORDER BY id LIMIT ").bind(i64::from(limit.max(1)));
        let ids: Vec<String> = q
            .query()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<std::result::Result<_, _>>()?;
        ids.iter().map(|s| s.parse::<ReportId>().map_err(Error::from)).collect()
    }

    /// Deletes these reports' rows as a retention sweep does: each in its own transaction,
    /// skipping any that changed meanwhile (queued again, deleted by another replica). The
    /// ids of those it deleted, whose PDFs the caller removes.
    pub async fn delete_expired(&self, ids: &[ReportId], issued_too: bool) -> Result<Vec<ReportId>> {
        let mut deleted = Vec::with_capacity(ids.len());
        for &id in ids {
            let mut tx = self.pool.begin().await?;
            if delete_report_rows(&mut tx, id, issued_too).await? {
                tx.commit().await?;
                deleted.push(id);
            } else {
                tx.rollback().await?;
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use coopbrief_domain::{Lang, PdfInfo, Period};

    use super::*;
    use crate::NewReport;
    use crate::testing::TestDb;

    fn pdf() -> PdfInfo {
        PdfInfo { pages: 1, bytes: 10, sha256: "00".repeat(32), template_version: "t".into(), data_hash: "d".into() }
    }

    async fn report(store: &Store, year: i16) -> ReportId {
        let period: Period = year.to_string().parse().unwrap();
        store.create_report(&NewReport::new("hanoi-hanam", period, Lang::Vi), None).await.unwrap().0.id
    }

    async fn set(store: &Store, id: ReportId, sql: &str) {
        sqlx::query(&format!("UPDATE reports SET {sql} WHERE id = $1"))
            .bind(id.to_string())
            .execute(&store.pool)
            .await
            .unwrap();
    }

    async fn issue(store: &Store, id: ReportId, number: i64) {
        let at = Timestamp::now();
        set(
            store,
            id,
            &format!(
                "issued_office = 'ubnd-hanoi', issued_year = 2026, issued_number = {number},
                 issued_symbol = 'BC-UBND', issued_date = '2026-12-01', issued_at = '{at}',
                 issued_signer = 's', issued_certificate = 'c', issued_sha256 = '{}'",
                "11".repeat(32)
            ),
        )
        .await;
    }

    async fn exists(store: &Store, id: ReportId) -> bool {
        !matches!(store.report(id).await, Err(Error::NotFound { .. }))
    }

    async fn delete_report_keeps_unfinished_and_issued_reports(db: &TestDb) {
        let store = db.seeded().await;
        let queued = report(&store, 2019).await;
        let err = store.delete_report(queued, true).await.unwrap_err();
        assert!(matches!(&err, Error::FailedPrecondition(m) if m.contains("cancel it first")), "{err}");
        store.start_report(queued).await.unwrap();
        assert!(matches!(store.delete_report(queued, false).await, Err(Error::FailedPrecondition(_))));
        store.cancel_report(queued).await.unwrap();
        let gone = store.delete_report(queued, false).await.unwrap();
        assert_eq!(gone.id, queued);
        assert!(!exists(&store, queued).await);
        let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE report_id = $1")
            .bind(queued.to_string())
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(pending, 0, "its jobs went with it");
        assert!(matches!(store.delete_report(queued, false).await, Err(Error::NotFound { .. })));

        let issued = report(&store, 2018).await;
        store.complete_report(issued, &pdf()).await.unwrap();
        issue(&store, issued, 1).await;
        let err = store.delete_report(issued, false).await.unwrap_err();
        assert!(matches!(&err, Error::FailedPrecondition(m) if m.contains("allow_issued")), "{err}");
        assert!(exists(&store, issued).await);
        store.delete_report(issued, true).await.unwrap();
        assert!(!exists(&store, issued).await);
    }

    async fn retention_lets_old_and_surplus_reports_go(db: &TestDb) {
        let store = db.seeded().await;
        let now = Timestamp::now();
        let old = now.checked_sub(SignedDuration::from_hours(24 * 40)).unwrap();
        // Made by hand: an old failed one, an old issued one, an old unfinished one, a new one.
        let old_failed = report(&store, 2010).await;
        store.fail_report(old_failed, "boom").await.unwrap();
        let old_issued = report(&store, 2011).await;
        store.complete_report(old_issued, &pdf()).await.unwrap();
        issue(&store, old_issued, 7).await;
        let old_queued = report(&store, 2012).await;
        let fresh = report(&store, 2013).await;
        store.complete_report(fresh, &pdf()).await.unwrap();
        for id in [old_failed, old_issued, old_queued] {
            set(&store, id, &format!("updated_at = '{old}'")).await;
        }
        // Five finished reports of one schedule, oldest first.
        let mut scheduled = Vec::new();
        for (i, year) in (2014..2019).enumerate() {
            let id = report(&store, year).await;
            store.complete_report(id, &pdf()).await.unwrap();
            set(&store, id, &format!("schedule_id = 'every-year', scheduled_period = '{year}'")).await;
            scheduled.push((i, id));
        }

        assert!(store.expired_reports(&Retention::default(), now, 100).await.unwrap().is_empty(), "off by default");
        let by_age = Retention { max_age: Some(SignedDuration::from_hours(24 * 30)), ..Retention::default() };
        assert_eq!(store.expired_reports(&by_age, now, 100).await.unwrap(), vec![old_failed]);
        let with_issued = Retention { issued_too: true, ..by_age };
        assert_eq!(store.expired_reports(&with_issued, now, 100).await.unwrap(), vec![old_failed, old_issued]);

        let latest = Retention { keep_latest: Some(2), ..Retention::default() };
        let surplus = store.expired_reports(&latest, now, 100).await.unwrap();
        assert_eq!(surplus, scheduled[..3].iter().map(|(_, id)| *id).collect::<Vec<_>>(), "all but the newest two");
        assert_eq!(store.expired_reports(&latest, now, 2).await.unwrap(), surplus[..2], "in bounded batches");

        let both = Retention { max_age: by_age.max_age, keep_latest: Some(2), issued_too: false };
        let expired = store.expired_reports(&both, now, 100).await.unwrap();
        // A report queued again since it was picked stays; running it twice is harmless.
        store.retry_report(old_failed, None).await.unwrap();
        let deleted = store.delete_expired(&expired, false).await.unwrap();
        assert_eq!(deleted.len(), 3, "{deleted:?}");
        assert!(store.delete_expired(&expired, false).await.unwrap().is_empty(), "idempotent");
        for id in [old_failed, old_issued, old_queued, fresh, scheduled[3].1, scheduled[4].1] {
            assert!(exists(&store, id).await, "{id} stays");
        }
        assert!(store.expired_reports(&both, now, 100).await.unwrap().is_empty());
    }

    crate::on_both_backends!(
        delete_report_keeps_unfinished_and_issued_reports,
        retention_lets_old_and_surplus_reports_go
    );
}
