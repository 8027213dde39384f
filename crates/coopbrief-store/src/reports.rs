//! Report requests and their life cycle: QUEUED → RUNNING → SUCCEEDED or FAILED.

use std::str::FromStr;

use coopbrief_domain::{Lang, PdfInfo, Period, Report, ReportId, ReportState};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Error, Result, Store};

/// Most reports one list call returns.
pub const MAX_PAGE: u32 = 500;

impl Store {
    /// Records a new report request as QUEUED. The programme must exist.
    pub async fn create_report(&self, programme: &str, period: Period, lang: Lang) -> Result<Report> {
        let exists: Option<String> = sqlx::query_scalar("SELECT code FROM programmes WHERE code = ?")
            .bind(programme)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Err(Error::NotFound { what: "programme", key: programme.to_owned() });
        }
        let id = ReportId::new();
        let now = jiff::Timestamp::now().to_string();
        sqlx::query(
            "INSERT INTO reports (id, programme, period, lang, state, attempt, created_at, updated_at)
             VALUES (?, ?, ?, ?, 'QUEUED', 0, ?, ?)",
        )
        .bind(id.to_string())
        .bind(programme)
        .bind(period.to_string())
        .bind(lang.code())
        .bind(&now)
        .bind(&now)
        .execute(&self.pool)
        .await?;
        self.report(id).await
    }

    pub async fn report(&self, id: ReportId) -> Result<Report> {
        let row =
            sqlx::query("SELECT * FROM reports WHERE id = ?").bind(id.to_string()).fetch_optional(&self.pool).await?;
        row.map(|r| report_from_row(&r))
            .transpose()?
            .ok_or_else(|| Error::NotFound { what: "report", key: id.to_string() })
    }

    /// Newest first, optionally for one programme.
    pub async fn list_reports(&self, programme: Option<&str>, limit: u32) -> Result<Vec<Report>> {
        let limit = i64::from(limit.clamp(1, MAX_PAGE));
        let rows = match programme {
            Some(p) => {
                sqlx::query("SELECT * FROM reports WHERE programme = ? ORDER BY id DESC LIMIT ?")
                    .bind(p)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM reports ORDER BY id DESC LIMIT ?").bind(limit).fetch_all(&self.pool).await?
            }
        };
        rows.iter().map(report_from_row).collect()
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
        let now = jiff::Timestamp::now().to_string();
        let changed = sqlx::query(
            "UPDATE reports SET state = 'RUNNING', attempt = attempt + 1, updated_at = ?
             WHERE id = ? AND state IN ('QUEUED', 'RUNNING')",
        )
        .bind(&now)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?
        .rows_affected();
        let report = self.report(id).await?;
        Ok((report, changed == 1))
    }

    /// Marks a report SUCCEEDED with its PDF's facts. Finishing it twice is harmless.
    pub async fn complete_report(&self, id: ReportId, pdf: &PdfInfo) -> Result<Report> {
        let now = jiff::Timestamp::now().to_string();
        sqlx::query(
            "UPDATE reports SET state = 'SUCCEEDED', error = NULL, updated_at = ?,
                 page_count = ?, byte_size = ?, sha256 = ?, template_version = ?
             WHERE id = ? AND state <> 'SUCCEEDED'",
        )
        .bind(&now)
        .bind(i64::from(pdf.pages))
        .bind(pdf.bytes as i64)
        .bind(&pdf.sha256)
        .bind(&pdf.template_version)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        self.report(id).await
    }

    /// Marks a report FAILED with a readable reason, unless it has already succeeded.
    pub async fn fail_report(&self, id: ReportId, error: &str) -> Result<Report> {
        let now = jiff::Timestamp::now().to_string();
        sqlx::query(
            "UPDATE reports SET state = 'FAILED', error = ?, updated_at = ? WHERE id = ? AND state <> 'SUCCEEDED'",
        )
        .bind(error)
        .bind(&now)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        self.report(id).await
    }
}

fn report_from_row(row: &SqliteRow) -> Result<Report> {
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
        }),
        _ => None,
    };
    Ok(Report {
        id: ReportId::from_str(&text("id")?)?,
        programme: text("programme")?,
        period: Period::from_str(&text("period")?)?,
        lang: Lang::from_str(&text("lang")?)?,
        state,
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
        attempt: row.try_get::<i64, _>("attempt")? as u32,
        error: row.try_get("error")?,
        pdf,
    })
}
