//! Cooperation data: partners, sectors, programmes and their records.

use coopbrief_domain::dataset::{Dataset, Partner, Programme, Sector};
use coopbrief_domain::{BriefingData, Period};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{Row, Sqlite, Transaction};

use crate::{Error, Result, Store};

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: usize,
    pub changed: usize,
    pub unchanged: usize,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} created, {} changed, {} unchanged", self.created, self.changed, self.unchanged)
    }
}

/// One row of `records`, before it is written.
struct Record {
    kind: &'static str,
    code: String,
    sector: Option<String>,
    period: Option<Period>,
    body: String,
}

impl Store {
    /// Writes a whole dataset in one transaction: all of it or none. Resources are matched by
    /// code; a programme's records are replaced by the dataset's.
    pub async fn import_dataset(&self, dataset: &Dataset) -> Result<ImportSummary> {
        dataset.validate()?;
        let mut tx = self.pool.begin().await?;
        let mut summary = ImportSummary::default();
        for (i, p) in dataset.partners.iter().enumerate() {
            upsert(&mut tx, "partners", &p.code, i, &json(p)?, &mut summary).await?;
        }
        for (i, s) in dataset.sectors.iter().enumerate() {
            upsert(&mut tx, "sectors", &s.code, i, &json(s)?, &mut summary).await?;
        }
        let base = sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(position) + 1, 0) FROM programmes")
            .fetch_one(&mut *tx)
            .await?;
        for (i, p) in dataset.programmes.iter().enumerate() {
            let position = base as usize + i;
            upsert(&mut tx, "programmes", &p.code, position, &json(&header(p))?, &mut summary).await?;
            sqlx::query("DELETE FROM programme_partners WHERE programme = ?").bind(&p.code).execute(&mut *tx).await?;
            for (j, pp) in p.partners.iter().enumerate() {
                sqlx::query("INSERT INTO programme_partners (programme, partner, position) VALUES (?, ?, ?)")
                    .bind(&p.code)
                    .bind(&pp.partner)
                    .bind(j as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            let records = records(p)?;
            let old: Vec<(String, String, String)> =
                sqlx::query_as("SELECT kind, code, body FROM records WHERE programme = ?")
                    .bind(&p.code)
                    .fetch_all(&mut *tx)
                    .await?;
            sqlx::query("DELETE FROM records WHERE programme = ?").bind(&p.code).execute(&mut *tx).await?;
            for (j, r) in records.iter().enumerate() {
                match old.iter().find(|(k, c, _)| k == r.kind && *c == r.code) {
                    None => summary.created += 1,
                    Some((_, _, body)) if *body == r.body => summary.unchanged += 1,
                    Some(_) => summary.changed += 1,
                }
                sqlx::query(
                    "INSERT INTO records (programme, kind, code, position, sector, period_start, period_end, body)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&p.code)
                .bind(r.kind)
                .bind(&r.code)
                .bind(j as i64)
                .bind(&r.sector)
                .bind(r.period.map(|x| x.start().to_string()))
                .bind(r.period.map(|x| x.end().to_string()))
                .bind(&r.body)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(summary)
    }

    /// Whether no programme is stored yet (a fresh database, to be seeded).
    pub async fn is_empty(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM programmes").fetch_one(&self.pool).await?;
        Ok(n == 0)
    }

    pub async fn partners(&self) -> Result<Vec<Partner>> {
        self.bodies("SELECT body FROM partners ORDER BY position, code", "partner").await
    }

    pub async fn sectors(&self) -> Result<Vec<Sector>> {
        self.bodies("SELECT body FROM sectors ORDER BY position, code", "sector").await
    }

    /// Programmes without their records.
    pub async fn programmes(&self) -> Result<Vec<Programme>> {
        self.bodies("SELECT body FROM programmes ORDER BY position, code", "programme").await
    }

    /// A programme with all its records.
    pub async fn programme(&self, code: &str) -> Result<Programme> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM programmes WHERE code = ?")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        let body = body.ok_or_else(|| Error::NotFound { what: "programme", key: code.to_owned() })?;
        let mut p: Programme = parse(&body, "programme")?;
        let rows = sqlx::query("SELECT kind, body FROM records WHERE programme = ? ORDER BY position")
            .bind(code)
            .fetch_all(&self.pool)
            .await?;
        for row in rows {
            let kind: String = row.try_get("kind")?;
            let body: String = row.try_get("body")?;
            match kind.as_str() {
                "indicator" => p.indicators.push(parse(&body, "indicator")?),
                "activity" => p.activities.push(parse(&body, "activity")?),
                "project" => p.projects.push(parse(&body, "project")?),
                "contribution" => p.contributions.push(parse(&body, "contribution")?),
                "assessment" => p.assessments.push(parse(&body, "assessment")?),
                "direction" => p.directions.push(parse(&body, "direction")?),
                other => return Err(Error::Corrupt { what: "record", message: format!("unknown kind {other:?}") }),
            }
        }
        Ok(p)
    }

    /// Everything a briefing of `programme` for `period` needs.
    pub async fn briefing_data(&self, programme: &str, period: Period) -> Result<BriefingData> {
        let p = self.programme(programme).await?;
        let partners = self.partners().await?;
        let sectors = self.sectors().await?;
        Ok(BriefingData::select(&p, period, &partners, &sectors))
    }

    async fn bodies<T: DeserializeOwned>(&self, sql: &'static str, what: &'static str) -> Result<Vec<T>> {
        let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&self.pool).await?;
        rows.iter().map(|b| parse(b, what)).collect()
    }
}

async fn upsert(
    tx: &mut Transaction<'_, Sqlite>,
    table: &'static str,
    code: &str,
    position: usize,
    body: &str,
    summary: &mut ImportSummary,
) -> Result<()> {
    let old: Option<String> = sqlx::query_scalar(&format!("SELECT body FROM {table} WHERE code = ?"))
        .bind(code)
        .fetch_optional(&mut **tx)
        .await?;
    match old {
        None => {
            summary.created += 1;
            sqlx::query(&format!("INSERT INTO {table} (code, position, body) VALUES (?, ?, ?)"))
                .bind(code)
                .bind(position as i64)
                .bind(body)
                .execute(&mut **tx)
                .await?;
        }
        Some(old) if old == body => summary.unchanged += 1,
        Some(_) => {
            summary.changed += 1;
            sqlx::query(&format!("UPDATE {table} SET body = ?, revision = revision + 1 WHERE code = ?"))
                .bind(body)
                .bind(code)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// The programme without its records, as stored in `programmes.body`.
fn header(p: &Programme) -> Programme {
    Programme {
        indicators: vec![],
        activities: vec![],
        projects: vec![],
        contributions: vec![],
        assessments: vec![],
        directions: vec![],
        ..p.clone()
    }
}

fn records(p: &Programme) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for x in &p.indicators {
        out.push(Record {
            kind: "indicator",
            code: x.code.clone(),
            sector: x.sector.clone(),
            period: None,
            body: json(x)?,
        });
    }
    for x in &p.activities {
        let (code, sector, period) = (x.code.clone(), x.sector.clone(), Some(x.period));
        out.push(Record { kind: "activity", code, sector, period, body: json(x)? });
    }
    for x in &p.projects {
        let (code, sector, period) = (x.code.clone(), x.sector.clone(), x.period);
        out.push(Record { kind: "project", code, sector, period, body: json(x)? });
    }
    for x in &p.contributions {
        let (code, sector, period) = (x.code.clone(), x.sector.clone(), Some(x.period));
        out.push(Record { kind: "contribution", code, sector, period, body: json(x)? });
    }
    // Assessments and directions have no code of their own in the dataset: their place stands in.
    for (i, x) in p.assessments.iter().enumerate() {
        let (code, sector, period) = (format!("assessment-{}", i + 1), x.sector.clone(), Some(x.period));
        out.push(Record { kind: "assessment", code, sector, period, body: json(x)? });
    }
    for (i, x) in p.directions.iter().enumerate() {
        let (code, sector, period) = (format!("direction-{}", i + 1), x.sector.clone(), Some(x.period));
        out.push(Record { kind: "direction", code, sector, period, body: json(x)? });
    }
    Ok(out)
}

fn json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt { what: "value", message: e.to_string() })
}

fn parse<T: DeserializeOwned>(body: &str, what: &'static str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| Error::Corrupt { what, message: e.to_string() })
}
