//! The deliveries outbox: each event of a report with a notify target (succeeded, failed,
//! issued) is a row written in the transaction of the report's change, then claimed with a
//! lease and sent by any replica's webhook sender until it is delivered or given up.

use std::str::FromStr;
use std::time::Duration;

use coopbrief_domain::webhook::{self, Delivery, DeliveryState, EventKind, NotifyUrl};
use coopbrief_domain::{Report, ReportId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Error, Result, Store};

/// A notify target as stored: the URL, and the secret sealed by the data service (the store
/// never sees it in clear).
#[derive(Clone, PartialEq, Eq)]
pub struct SealedTarget {
    pub url: NotifyUrl,
    /// `v1.` and the base64 of nonce and ciphertext; opaque here.
    pub secret: String,
}

impl std::fmt::Debug for SealedTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedTarget").field("url", &self.url).finish_non_exhaustive()
    }
}

/// An event due to be sent, claimed by one sender until `claimed_until`.
#[derive(Clone)]
pub struct DueDelivery {
    pub event_id: uuid::Uuid,
    pub report_id: ReportId,
    pub kind: EventKind,
    /// The JSON body, exactly as signed and sent.
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
    pub target: SealedTarget,
    /// The report's trace context, if its job was traced.
    pub traceparent: Option<String>,
    /// The claim's lease, Unix milliseconds: the outcome is recorded only while it holds.
    pub claimed_until: i64,
}

impl std::fmt::Debug for DueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueDelivery")
            .field("event_id", &self.event_id)
            .field("report_id", &self.report_id)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Writes the event `kind` of `report` to the deliveries outbox, if the report has a notify
/// target; in the caller's transaction (that of the report's change).
pub(crate) async fn write_event(conn: &mut sqlx::AnyConnection, report: &Report, kind: EventKind) -> Result<()> {
    if report.notification.is_none() {
        return Ok(());
    }
    let at = jiff::Timestamp::now();
    let payload = webhook::payload(report, kind, at).to_string();
    sqlx::query(
        "INSERT INTO deliveries (id, report_id, event_type, payload, state, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, 'PENDING', 0, $5, $6)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(report.id.to_string())
    .bind(kind.as_str())
    .bind(payload)
    .bind(at.as_millisecond())
    .bind(at.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// Claims up to `limit` deliveries that are due, oldest due first, for `lease`: another
    /// sender skips them until their outcome is recorded or the lease runs out. The conditions
    /// stand in the outer `WHERE` too, re-checked on the row a waiting sender then sees.
    pub async fn claim_deliveries(&self, limit: u32, lease: Duration) -> Result<Vec<DueDelivery>> {
        let now = jiff::Timestamp::now().as_millisecond();
        // Each claim's lease is its own (the time of this claim, to the millisecond, plus one
        // per batch is unlikely to meet another's), so an outcome is recorded only by its holder.
        let until = now + lease.as_millis() as i64;
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE deliveries SET claimed_until = $1
             WHERE state = 'PENDING' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2)
               AND id IN (SELECT id FROM deliveries
                          WHERE state = 'PENDING' AND next_attempt_at <= $2
                            AND (claimed_until IS NULL OR claimed_until < $2)
                          ORDER BY next_attempt_at, id LIMIT $3)
             RETURNING id",
        )
        .bind(until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut due = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(
                "SELECT d.id, d.report_id, d.event_type, d.payload, d.attempts, d.claimed_until,
                        r.notify_url, r.notify_secret,
                        (SELECT o.traceparent FROM outbox o WHERE o.report_id = d.report_id
                         ORDER BY o.id DESC LIMIT 1) AS traceparent
                 FROM deliveries d JOIN reports r ON r.id = d.report_id WHERE d.id = $1",
            )
            .bind(&id)
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else { continue };
            let corrupt = |message: String| Error::Corrupt { what: "delivery", message };
            let (Some(url), Some(secret)) =
                (row.try_get::<Option<String>, _>("notify_url")?, row.try_get::<Option<String>, _>("notify_secret")?)
            else {
                // The report lost its target (an operator's edit): nothing to send it to.
                self.delivery_failed(&id_of(&id)?, until, "the report has no notify target", None).await?;
                continue;
            };
            due.push(DueDelivery {
                event_id: id_of(&id)?,
                report_id: ReportId::from_str(&row.try_get::<String, _>("report_id")?)?,
                kind: EventKind::from_str(&row.try_get::<String, _>("event_type")?)
                    .map_err(|e| corrupt(e.to_string()))?,
                payload: row.try_get("payload")?,
                attempts: row.try_get::<i64, _>("attempts")?.max(0) as u32,
                target: SealedTarget { url: NotifyUrl::parse(&url, "notify_url")?, secret },
                traceparent: row.try_get("traceparent")?,
                claimed_until: row.try_get::<Option<i64>, _>("claimed_until")?.unwrap_or(until),
            });
        }
        Ok(due)
    }

    /// The receiver took the event (2xx): DELIVERED, for good. Recorded only while the
    /// claim `claimed_until` holds; says whether it was.
    pub async fn delivery_delivered(&self, event_id: &uuid::Uuid, claimed_until: i64) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE deliveries SET state = 'DELIVERED', attempts = attempts + 1, last_error = NULL,
                 delivered_at = $1, claimed_until = NULL
             WHERE id = $2 AND state = 'PENDING' AND claimed_until = $3",
        )
        .bind(jiff::Timestamp::now().to_string())
        .bind(event_id.to_string())
        .bind(claimed_until)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// An attempt failed: one more attempt counted, the reason kept, and the next attempt due
    /// at `next` — or, with `None`, GIVEN_UP. Recorded only while the claim holds.
    pub async fn delivery_failed(
        &self,
        event_id: &uuid::Uuid,
        claimed_until: i64,
        error: &str,
        next: Option<jiff::Timestamp>,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = $1, claimed_until = NULL,
                 state = $2, next_attempt_at = $3
             WHERE id = $4 AND state = 'PENDING' AND claimed_until = $5",
        )
        .bind(error)
        .bind(if next.is_some() { "PENDING" } else { "GIVEN_UP" })
        .bind(next.unwrap_or_else(jiff::Timestamp::now).as_millisecond())
        .bind(event_id.to_string())
        .bind(claimed_until)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Sends the report's newest event again: the same event id and body, attempts reset,
    /// PENDING and due now. FAILED_PRECONDITION when it has no target or no event yet.
    pub async fn retry_notification(&self, id: ReportId) -> Result<Report> {
        let report = self.report(id).await?;
        let Some(notification) = &report.notification else {
            return Err(Error::FailedPrecondition(format!("report {id} has no notify target")));
        };
        let Some(delivery) = &notification.delivery else {
            return Err(Error::FailedPrecondition(format!(
                "report {id} has no event yet; one is made when it succeeds, fails or is issued"
            )));
        };
        sqlx::query(
            "UPDATE deliveries SET state = 'PENDING', attempts = 0, last_error = NULL, delivered_at = NULL,
                 claimed_until = NULL, next_attempt_at = $1
             WHERE id = $2",
        )
        .bind(jiff::Timestamp::now().as_millisecond())
        .bind(delivery.event_id.to_string())
        .execute(&self.pool)
        .await?;
        self.report(id).await
    }

    /// Every delivery of a report, oldest first (for tests and tooling).
    pub async fn deliveries(&self, id: ReportId) -> Result<Vec<Delivery>> {
        let rows = sqlx::query("SELECT * FROM deliveries WHERE report_id = $1 ORDER BY id")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Fills in the newest delivery of each report that has a notify target: one query for
    /// them all (none when no report has a target).
    pub(crate) async fn with_deliveries(&self, mut reports: Vec<Report>) -> Result<Vec<Report>> {
        let ids: Vec<String> = reports.iter().filter(|r| r.notification.is_some()).map(|r| r.id.to_string()).collect();
        for chunk in ids.chunks(crate::reports::MAX_PAGE as usize) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT * FROM deliveries WHERE report_id IN ({}) ORDER BY id", marks.join(", "));
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                let report_id = ReportId::from_str(&row.try_get::<String, _>("report_id")?)?;
                let delivery = delivery_from_row(&row)?;
                // Ordered by id (UUIDv7, so by time): the last one seen is the newest.
                if let Some(n) = reports.iter_mut().find(|r| r.id == report_id).and_then(|r| r.notification.as_mut()) {
                    n.delivery = Some(delivery);
                }
            }
        }
        Ok(reports)
    }

    /// [`Store::with_deliveries`] for one report.
    pub(crate) async fn with_delivery(&self, report: Report) -> Result<Report> {
        if report.notification.is_none() {
            return Ok(report);
        }
        let mut one = self.with_deliveries(vec![report]).await?;
        one.pop().ok_or_else(|| Error::Corrupt { what: "report", message: "lost while reading".into() })
    }
}

fn id_of(s: &str) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(s).map_err(|e| Error::Corrupt { what: "delivery", message: format!("id {s:?}: {e}") })
}

fn delivery_from_row(row: &AnyRow) -> Result<Delivery> {
    let corrupt = |message: String| Error::Corrupt { what: "delivery", message };
    let millis = |v: i64| jiff::Timestamp::from_millisecond(v).map_err(|e| corrupt(e.to_string()));
    let delivered_at = row
        .try_get::<Option<String>, _>("delivered_at")?
        .map(|s| s.parse::<jiff::Timestamp>().map_err(|e| corrupt(format!("delivered_at {s:?}: {e}"))))
        .transpose()?;
    Ok(Delivery {
        event_id: id_of(&row.try_get::<String, _>("id")?)?,
        kind: EventKind::from_str(&row.try_get::<String, _>("event_type")?).map_err(|e| corrupt(e.to_string()))?,
        state: DeliveryState::from_str(&row.try_get::<String, _>("state")?).map_err(|e| corrupt(e.to_string()))?,
        attempts: row.try_get::<i64, _>("attempts")?.max(0) as u32,
        last_error: row.try_get("last_error")?,
        next_attempt_at: Some(millis(row.try_get::<i64, _>("next_attempt_at")?)?),
        delivered_at,
    })
}

/// The notify target of a report or schedule row: its URL (the secret stays sealed, unread).
pub(crate) fn notification_from_row(row: &AnyRow) -> Result<Option<webhook::Notification>> {
    let Some(url) = row.try_get::<Option<String>, _>("notify_url")? else { return Ok(None) };
    let url = NotifyUrl::parse(&url, "notify_url")
        .map_err(|e| Error::Corrupt { what: "notify url", message: e.to_string() })?;
    Ok(Some(webhook::Notification { url, delivery: None }))
}
