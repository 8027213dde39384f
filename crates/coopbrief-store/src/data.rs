//! Cooperation data: partners, sectors, programmes and their records.

use std::sync::Arc;

use coopbrief_domain::dataset::{Dataset, Partner, Programme, Sector};
use coopbrief_domain::{BriefingData, Period};
use serde::de::DeserializeOwned;

use coopbrief_domain::resource::Resource;

use crate::access::insert_audit;
use crate::resources::{columns, json, parse, written};
use crate::{Error, NewAuditEntry, Result, Store};

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: usize,
    pub changed: usize,
    pub unchanged: usize,
}

/// What an import did, resource by resource: keys such as `partner/hanoi` or
/// `hanoi-hanam/activity/fairs`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub created: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
    /// Records of an imported programme that the dataset no longer has.
    pub deleted: Vec<String>,
}

impl ImportReport {
    pub fn summary(&self) -> ImportSummary {
        ImportSummary { created: self.created.len(), changed: self.changed.len(), unchanged: self.unchanged.len() }
    }

    /// What an import changed, as its audit entry records it.
    pub fn changes(&self) -> serde_json::Value {
        serde_json::json!({
            "created": self.created, "changed": self.changed, "deleted": self.deleted,
            "unchanged": self.unchanged.len(),
        })
    }

    fn note(&mut self, key: String, old: Option<&str>, new: &str) {
        match old {
            None => self.created.push(key),
            Some(o) if o == new => self.unchanged.push(key),
            Some(_) => self.changed.push(key),
        }
    }
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} created, {} changed, {} unchanged", self.created, self.changed, self.unchanged)
    }
}

/// One row of `records`, before it is written.
struct Row_ {
    kind: &'static str,
    code: String,
    sector: Option<String>,
    start: Option<String>,
    end: Option<String>,
    status: Option<&'static str>,
    body: String,
}

fn row<R: Resource>(r: &R, code: String) -> Result<Row_> {
    let c = columns(r);
    Ok(Row_ { kind: R::NAME, code, sector: c.sector, start: c.start, end: c.end, status: c.status, body: json(r)? })
}

impl Store {
    /// Writes a whole dataset in one transaction: all of it or none. Resources are matched by
    /// code; a programme's records are replaced by the dataset's.
    pub async fn import_dataset(&self, dataset: &Dataset) -> Result<ImportSummary> {
        Ok(self.import(dataset, false, None).await?.summary())
    }

    /// Like [`Store::import_dataset`], saying what happened to each resource; with `dry_run`,
    /// checks everything and rolls back. `audit` (its `changes` are what the import did) is
    /// written in the import's transaction.
    pub async fn import(
        &self,
        dataset: &Dataset,
        dry_run: bool,
        audit: Option<&NewAuditEntry<'_>>,
    ) -> Result<ImportReport> {
        dataset.validate()?;
        let mut tx = self.begin_write().await?;
        let mut report = ImportReport::default();
        for p in &dataset.partners {
            upsert(&mut tx, "partners", &p.code, &json(p)?, &mut report).await?;
        }
        for s in &dataset.sectors {
            upsert(&mut tx, "sectors", &s.code, &json(s)?, &mut report).await?;
            sqlx::query("UPDATE sectors SET programme = $1 WHERE code = $2")
                .bind(s.programme.as_deref())
                .bind(s.code.as_str())
                .execute(&mut *tx)
                .await?;
        }
        for p in &dataset.programmes {
            upsert(&mut tx, "programmes", &p.code, &json(&*p.header())?, &mut report).await?;
            written(&mut tx, &p.code, p).await?;
            let rows = rows(p)?;
            let old: Vec<(String, String, String)> =
                sqlx::query_as("SELECT kind, code, body FROM records WHERE programme = $1 ORDER BY position")
                    .bind(p.code.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
            sqlx::query("DELETE FROM records WHERE programme = $1").bind(p.code.as_str()).execute(&mut *tx).await?;
            for (j, r) in rows.iter().enumerate() {
                let previous = old.iter().find(|(k, c, _)| k == r.kind && *c == r.code).map(|(_, _, b)| b.as_str());
                report.note(format!("{}/{}/{}", p.code, r.kind, r.code), previous, &r.body);
                sqlx::query(
                    "INSERT INTO records (programme, kind, code, position, sector, period_start, period_end, status, body)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(p.code.as_str())
                .bind(r.kind)
                .bind(&r.code)
                .bind(j as i64)
                .bind(&r.sector)
                .bind(&r.start)
                .bind(&r.end)
                .bind(r.status)
                .bind(&r.body)
                .execute(&mut *tx)
                .await?;
            }
            for (kind, code, _) in &old {
                if !rows.iter().any(|r| r.kind == kind && r.code == *code) {
                    report.deleted.push(format!("{}/{kind}/{code}", p.code));
                }
            }
        }
        if dry_run {
            tx.rollback().await?;
        } else {
            if let Some(entry) = audit {
                let changes = report.changes().to_string();
                insert_audit(&mut tx, &NewAuditEntry { changes: &changes, ..*entry }).await?;
            }
            tx.commit().await?;
        }
        Ok(report)
    }

    /// A programme as one document: the programme with all its records, the partners it names
    /// and the sectors it may use (the shared taxonomy and its own).
    pub async fn export(&self, programme: &str) -> Result<Dataset> {
        let p = self.programme(programme).await?;
        let all = self.partners().await?;
        let named = |code: &str| p.mentions_partner(code);
        let mut partners: Vec<Partner> =
            p.partners.iter().filter_map(|pp| all.iter().find(|x| x.code == pp.partner).cloned()).collect();
        for x in &all {
            if named(&x.code) && !partners.iter().any(|y| y.code == x.code) {
                partners.push(x.clone());
            }
        }
        let sectors = self
            .sectors()
            .await?
            .into_iter()
            .filter(|s| s.programme.as_deref().is_none_or(|owner| owner == programme))
            .collect();
        Ok(Dataset { partners, sectors, programmes: vec![p] })
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

    /// Everything a briefing of `programme` for `period` needs, dated by its snapshot: the
    /// day this exact data (by its hash) was first asked for — today, if that is now.
    /// Shared, not copied: a cache hit hands out the cached data itself.
    pub async fn briefing_data(&self, programme: &str, period: Period) -> Result<Arc<BriefingData>> {
        let today = coopbrief_domain::schedule::default_time_zone().to_datetime(jiff::Timestamp::now()).date();
        self.briefing_data_on(programme, period, today).await
    }

    /// [`Store::briefing_data`] with the caller's idea of today (tests move time).
    pub async fn briefing_data_on(
        &self,
        programme: &str,
        period: Period,
        today: jiff::civil::Date,
    ) -> Result<Arc<BriefingData>> {
        // Read the version before the data: an entry is never labelled newer than its data.
        let version = self.data_version().await?;
        let key = (programme.to_owned(), period);
        if let Some(data) = self.briefings.get(&key, version) {
            return Ok(data);
        }
        let data = Arc::new(self.load_briefing_data(programme, period, today).await?);
        self.briefings.put(key, version, data.clone());
        Ok(data)
    }

    async fn load_briefing_data(
        &self,
        programme: &str,
        period: Period,
        today: jiff::civil::Date,
    ) -> Result<BriefingData> {
        let p = self.programme(programme).await?;
        let partners = self.partners().await?;
        let sectors = self.sectors().await?;
        let mut data = BriefingData::select(&p, period, &partners, &sectors);
        let hash = data.data_hash();
        let seen = |pool| {
            sqlx::query_scalar::<_, String>("SELECT first_seen FROM snapshots WHERE programme = $1 AND data_hash = $2")
                .bind(programme)
                .bind(hash.clone())
                .fetch_optional(pool)
        };
        // Read first: a known snapshot (the usual case) costs no write lock.
        let first_seen = match seen(&self.pool).await? {
            Some(day) => day,
            None => {
                sqlx::query(
                    "INSERT INTO snapshots (programme, data_hash, first_seen) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(programme)
                .bind(&hash)
                .bind(today.to_string())
                .execute(&self.pool)
                .await?;
                seen(&self.pool).await?.unwrap_or_else(|| today.to_string())
            }
        };
        let date = first_seen.parse().map_err(|e| Error::Corrupt { what: "snapshot", message: format!("{e}") })?;
        data.as_of = Some(date);
        Ok(data)
    }

    async fn bodies<T: DeserializeOwned>(&self, sql: &'static str, what: &'static str) -> Result<Vec<T>> {
        let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&self.pool).await?;
        rows.iter().map(|b| parse(b, what)).collect()
    }
}

/// Briefing data by (programme, period), each entry valid for one `data_version`. A snapshot's
/// date never changes once written, so an entry holds its `as_of` too. Loading and hashing a
/// programme's whole data is the costly part of `GetBriefingData`; a hit costs one small read.
#[derive(Debug, Default)]
pub(crate) struct BriefingCache(std::sync::Mutex<std::collections::HashMap<(String, Period), Entry>>);

/// A cached briefing and the `data_version` it was read at.
type Entry = (i64, Arc<BriefingData>);

impl BriefingCache {
    /// Entries kept at most; beyond, the cache starts afresh (programmes × periods asked for
    /// between two data changes are few).
    const CAPACITY: usize = 256;

    fn get(&self, key: &(String, Period), version: i64) -> Option<Arc<BriefingData>> {
        let map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key).filter(|(v, _)| *v == version).map(|(_, data)| data.clone())
    }

    fn put(&self, key: (String, Period), version: i64, data: Arc<BriefingData>) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Entries of older versions can never be hit again; a late put of an older version
        // must not evict those of a newer one.
        map.retain(|_, (v, _)| *v >= version);
        if map.get(&key).is_some_and(|(v, _)| *v > version) {
            return;
        }
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(key, (version, data));
    }
}

async fn upsert(
    tx: &mut sqlx::AnyConnection,
    table: &'static str,
    code: &str,
    body: &str,
    report: &mut ImportReport,
) -> Result<()> {
    let old: Option<String> = sqlx::query_scalar(&format!("SELECT body FROM {table} WHERE code = $1"))
        .bind(code)
        .fetch_optional(&mut *tx)
        .await?;
    let what = table.trim_end_matches('s');
    report.note(format!("{what}/{code}"), old.as_deref(), body);
    match old {
        None => {
            sqlx::query(&format!(
                "INSERT INTO {table} (code, position, body) VALUES ($1, (SELECT COALESCE(MAX(position) + 1, 0) FROM {table}), $2)"
            ))
            .bind(code)
            .bind(body)
            .execute(&mut *tx)
            .await?;
        }
        Some(old) if old == body => {}
        Some(_) => {
            sqlx::query(&format!("UPDATE {table} SET body = $1, revision = revision + 1 WHERE code = $2"))
                .bind(body)
                .bind(code)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

fn rows(p: &Programme) -> Result<Vec<Row_>> {
    let mut out = Vec::new();
    for x in &p.indicators {
        out.push(row(x, x.code.to_string())?);
    }
    for x in &p.activities {
        out.push(row(x, x.code.to_string())?);
    }
    for x in &p.projects {
        out.push(row(x, x.code.to_string())?);
    }
    for x in &p.contributions {
        out.push(row(x, x.code.to_string())?);
    }
    // Assessments and directions without a code of their own are keyed by their place.
    for (i, x) in p.assessments.iter().enumerate() {
        out.push(row(x, x.key(i))?);
    }
    for (i, x) in p.directions.iter().enumerate() {
        out.push(row(x, x.key(i))?);
    }
    Ok(out)
}
