//! Issuing a briefing: numbers from an office's register, given with no gap and never twice.
//!
//! [`Store::begin_issue`] takes the next number of (office, year) inside a transaction that
//! holds the register's row (PostgreSQL: a row lock, which every replica waits on; SQLite: the
//! write lock) while the caller renders and signs the issued PDF and writes it to the artifact
//! store; [`IssueTx::commit`] records the issued facts on the report in that transaction. Should
//! anything fail before, the transaction is rolled back and the number was never taken.

use std::str::FromStr;

use coopbrief_domain::{Code, DocumentNumber, Issued, PdfInfo, Report, ReportId, ReportState, Symbol};
use sqlx::Row;
use sqlx::any::AnyRow;
use tokio::sync::OwnedMutexGuard;

use crate::reports::report_from_row;
use crate::{Backend, Error, Result, Store};

/// A number taken from a register and not yet committed. Dropping it gives the number back.
pub struct IssueTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    /// SQLite: this process's turn to write, held with the write lock.
    _turn: Option<OwnedMutexGuard<()>>,
    id: ReportId,
    office: Code,
    year: i32,
    number: u32,
}

impl std::fmt::Debug for IssueTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssueTx")
            .field("report", &self.id)
            .field("office", &self.office)
            .field("year", &self.year)
            .field("number", &self.number)
            .finish()
    }
}

impl Store {
    /// Takes the next number of `office`'s register for `year` to issue report `id` with, and
    /// holds the register until the returned [`IssueTx`] is committed or dropped. Fails (taking
    /// nothing) when the report is missing, not SUCCEEDED, or issued already.
    pub async fn begin_issue(&self, id: ReportId, office: &Code, year: i32) -> Result<IssueTx> {
        let (mut tx, turn) = match self.backend {
            Backend::Sqlite => {
                let turn = self.writer.clone().lock_owned().await;
                (self.pool.begin_with("BEGIN IMMEDIATE").await?, Some(turn))
            }
            Backend::Postgres => (self.pool.begin().await?, None),
        };
        sqlx::query("INSERT INTO registers (office, year, last) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING")
            .bind(office.as_str())
            .bind(i64::from(year))
            .execute(&mut *tx)
            .await?;
        // The row lock taken here is what makes numbers follow one another across replicas.
        let last: i64 =
            sqlx::query_scalar("UPDATE registers SET last = last + 1 WHERE office = $1 AND year = $2 RETURNING last")
                .bind(office.as_str())
                .bind(i64::from(year))
                .fetch_one(&mut *tx)
                .await?;
        // Read under the lock: an issuance of this report that committed meanwhile is seen.
        let row =
            sqlx::query("SELECT * FROM reports WHERE id = $1").bind(id.to_string()).fetch_optional(&mut *tx).await?;
        let report = row
            .map(|r| report_from_row(&r))
            .transpose()?
            .ok_or_else(|| Error::NotFound { what: "report", key: id.to_string() })?;
        issuable(&report)?;
        let number = u32::try_from(last)
            .map_err(|_| Error::Corrupt { what: "register", message: format!("number {last} out of range") })?;
        Ok(IssueTx { tx, _turn: turn, id, office: office.clone(), year, number })
    }
}

/// Whether `report` may be issued: a SUCCEEDED draft, not issued yet.
pub fn issuable(report: &Report) -> Result<()> {
    if let Some(issued) = &report.issued {
        return Err(Error::FailedPrecondition(format!(
            "report {} is issued already, as {} on {}",
            report.id, issued.number, issued.date
        )));
    }
    if report.state != ReportState::Succeeded {
        return Err(Error::FailedPrecondition(format!(
            "report {} is {}; only a SUCCEEDED draft can be issued",
            report.id, report.state
        )));
    }
    Ok(())
}

impl IssueTx {
    /// The number taken.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// Records the issued facts on the report and commits: the number is given for good.
    pub async fn commit(mut self, issued: &Issued) -> Result<Report> {
        if issued.number.number != self.number || issued.office != self.office {
            return Err(Error::FailedPrecondition("the issued facts do not match the number taken".into()));
        }
        let row = sqlx::query(
            "UPDATE reports SET issued_office = $1, issued_year = $2, issued_number = $3, issued_symbol = $4,
                 issued_date = $5, issued_at = $6, issued_signer = $7, issued_certificate = $8,
                 issued_page_count = $9, issued_byte_size = $10, issued_sha256 = $11
             WHERE id = $12 AND state = 'SUCCEEDED' AND issued_number IS NULL RETURNING *",
        )
        .bind(self.office.as_str())
        .bind(i64::from(self.year))
        .bind(i64::from(self.number))
        .bind(issued.number.symbol.as_str())
        .bind(issued.date.to_string())
        .bind(issued.at.to_string())
        .bind(&issued.signer)
        .bind(&issued.certificate)
        .bind(i64::from(issued.pdf.pages))
        .bind(issued.pdf.bytes as i64)
        .bind(&issued.pdf.sha256)
        .bind(self.id.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(row) = row else {
            return Err(Error::FailedPrecondition(format!("report {} changed while it was being issued", self.id)));
        };
        let report = report_from_row(&row)?;
        // Its `report.issued` event, with the number, in the issuance's transaction.
        crate::deliveries::write_event(&mut self.tx, &report, coopbrief_domain::webhook::EventKind::Issued).await?;
        self.tx.commit().await?;
        Ok(report)
    }
}

/// The issued facts of a report row, when it has been issued.
pub(crate) fn issued_from_row(row: &AnyRow) -> Result<Option<Issued>> {
    let Some(number) = row.try_get::<Option<i64>, _>("issued_number")? else { return Ok(None) };
    let corrupt = |message: String| Error::Corrupt { what: "issued report", message };
    let text = |name: &str| -> Result<String> {
        row.try_get::<Option<String>, _>(name)?.ok_or_else(|| corrupt(format!("{name} is missing")))
    };
    let date = text("issued_date")?;
    let at = text("issued_at")?;
    Ok(Some(Issued {
        number: DocumentNumber {
            number: u32::try_from(number).map_err(|_| corrupt(format!("number {number}")))?,
            symbol: Symbol::parse(text("issued_symbol")?, "issued_symbol")?,
        },
        office: Code::parse(text("issued_office")?, "issued_office")?,
        date: jiff::civil::Date::from_str(&date).map_err(|e| corrupt(format!("date {date:?}: {e}")))?,
        at: at.parse().map_err(|e| corrupt(format!("time {at:?}: {e}")))?,
        signer: text("issued_signer")?,
        certificate: text("issued_certificate")?,
        pdf: PdfInfo {
            pages: row.try_get::<Option<i64>, _>("issued_page_count")?.unwrap_or(0) as u32,
            bytes: row.try_get::<Option<i64>, _>("issued_byte_size")?.unwrap_or(0) as u64,
            sha256: text("issued_sha256")?,
            template_version: row.try_get::<Option<String>, _>("template_version")?.unwrap_or_default(),
            data_hash: row.try_get::<Option<String>, _>("data_hash")?.unwrap_or_default(),
        },
    }))
}
