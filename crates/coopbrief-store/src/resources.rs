//! Standard methods on cooperation data (AIP-131..135): get, list in keyset pages, create
//! (idempotent with a request id), update and delete guarded by etags.
//!
//! Partners, sectors and programmes have tables of their own; the records of a programme
//! (indicators, activities, projects, contributions, assessments, directions) share `records`,
//! told apart by `kind`. Every write runs in a `BEGIN IMMEDIATE` transaction, so a check and the
//! write it guards see the same data.

use coopbrief_domain::Period;
use coopbrief_domain::dataset::{
    Activity, Assessment, Contribution, Direction, Indicator, Partner, Programme, Project, Sector,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use crate::sql::{self, Sql};

use crate::data::{header, json, parse};
use crate::{Error, Result, Store};

/// A stored resource with what a client needs to change it safely.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Versioned<T> {
    pub value: T,
    /// The code the resource is stored under (an assessment without a code: its place).
    pub key: String,
    /// The programme of a record; empty for partners, sectors and programmes.
    pub programme: String,
    /// Changes whenever the stored value does (a digest of it).
    pub etag: String,
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<Versioned<T>>,
    /// Empty on the last page.
    pub next_page_token: String,
}

/// What a list is narrowed to; every field optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub programme: Option<String>,
    pub sector: Option<String>,
    /// Records whose period overlaps this one.
    pub period: Option<Period>,
    /// `planned`, `in_progress` … as in the dataset.
    pub status: Option<String>,
    /// Programmes this partner takes part in.
    pub partner: Option<String>,
    /// Partners of this kind (`city`, `province` …).
    pub kind: Option<String>,
}

/// Which page: how many items and where the previous page ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageRequest {
    /// Already clamped by the caller to 1..=MAX.
    pub size: u32,
    pub token: Option<String>,
}

/// The position after which the next page starts, with the query it belongs to.
#[derive(Serialize, Deserialize)]
struct Token {
    /// The list and its filters: a token is only good for the query that issued it.
    q: String,
    programme: String,
    position: i64,
    code: String,
}

fn etag(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..8])
}

/// A short digest of the list and its filters: a token is only good for the query that issued it.
fn fingerprint(list: &str, f: &Filter) -> String {
    hex::encode(&Sha256::digest(format!("{list}|{f:?}").as_bytes())[..6])
}

fn encode_token(t: &Token) -> Result<String> {
    Ok(hex::encode(json(t)?))
}

fn decode_token(token: &str, query: &str) -> Result<Token> {
    let bad =
        || coopbrief_domain::Error::invalid("page_token", format!("{token:?} is not a page token of this service"));
    let bytes = hex::decode(token).map_err(|_| bad())?;
    let t: Token = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if t.q != query {
        return Err(coopbrief_domain::Error::invalid("page_token", "was issued for a different list or filter").into());
    }
    Ok(t)
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Invalid(coopbrief_domain::Error::invalid(field, message))
}

/// A record of a programme, stored in `records`.
pub trait Record: Serialize + DeserializeOwned + Clone + Send + Sync {
    /// The value of `records.kind`, also the resource's name in messages and field paths.
    const KIND: &'static str;
    /// The code it is stored under, when it has one.
    fn code(&self) -> Option<&str>;
    fn sector(&self) -> Option<&str>;
    /// The days it covers, for the period filter (an indicator: from its first value to its last).
    fn period(&self) -> Option<Period>;
    fn status(&self) -> Option<&'static str> {
        None
    }
    /// The partners it names, each with its field.
    fn partner_refs(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Sets the code it is stored under, when the value itself carries none.
    fn set_code(&mut self, _code: Option<String>) {}
}

impl Record for Indicator {
    const KIND: &'static str = "indicator";
    fn code(&self) -> Option<&str> {
        Some(&self.code)
    }
    fn sector(&self) -> Option<&str> {
        self.sector.as_deref()
    }
    fn period(&self) -> Option<Period> {
        let start = self.values.iter().map(|v| v.period.start()).min()?;
        let end = self.values.iter().map(|v| v.period.end()).max()?;
        Period::range(start, end).ok()
    }
}

impl Record for Activity {
    const KIND: &'static str = "activity";
    fn code(&self) -> Option<&str> {
        Some(&self.code)
    }
    fn sector(&self) -> Option<&str> {
        self.sector.as_deref()
    }
    fn period(&self) -> Option<Period> {
        Some(self.period)
    }
    fn partner_refs(&self) -> Vec<(String, String)> {
        self.organiser.iter().map(|o| ("organiser".to_owned(), o.clone())).collect()
    }
}

impl Record for Project {
    const KIND: &'static str = "project";
    fn code(&self) -> Option<&str> {
        Some(&self.code)
    }
    fn sector(&self) -> Option<&str> {
        self.sector.as_deref()
    }
    fn period(&self) -> Option<Period> {
        self.period
    }
    fn status(&self) -> Option<&'static str> {
        use coopbrief_domain::dataset::ProjectStatus as S;
        Some(match self.status {
            S::Planned => "planned",
            S::InProgress => "in_progress",
            S::Completed => "completed",
            S::Suspended => "suspended",
        })
    }
    fn partner_refs(&self) -> Vec<(String, String)> {
        self.partners.iter().enumerate().map(|(i, p)| (format!("partners[{i}]"), p.clone())).collect()
    }
}

impl Record for Contribution {
    const KIND: &'static str = "contribution";
    fn code(&self) -> Option<&str> {
        Some(&self.code)
    }
    fn sector(&self) -> Option<&str> {
        self.sector.as_deref()
    }
    fn period(&self) -> Option<Period> {
        Some(self.period)
    }
    fn partner_refs(&self) -> Vec<(String, String)> {
        vec![("from".to_owned(), self.from.clone()), ("to".to_owned(), self.to.clone())]
    }
}

impl Record for Assessment {
    const KIND: &'static str = "assessment";
    fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }
    fn sector(&self) -> Option<&str> {
        self.sector.as_deref()
    }
    fn period(&self) -> Option<Period> {
        Some(self.period)
    }
    fn set_code(&mut self, code: Option<String>) {
        self.code = code;
    }
}

impl Record for Direction {
    const KIND: &'static str = "direction";
    fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }
    fn sector(&self) -> Option<&str> {
        self.sector.as_deref()
    }
    fn period(&self) -> Option<Period> {
        Some(self.period)
    }
    fn set_code(&mut self, code: Option<String>) {
        self.code = code;
    }
}

/// The columns of `records` that queries filter on, pulled out of a record.
pub(crate) struct Columns {
    pub sector: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub status: Option<&'static str>,
}

pub(crate) fn columns<R: Record>(r: &R) -> Columns {
    let period = r.period();
    Columns {
        sector: r.sector().map(str::to_owned),
        start: period.map(|p| p.start().to_string()),
        end: period.map(|p| p.end().to_string()),
        status: r.status(),
    }
}

/// Checks that the partners and the sector a record names exist, and that a programme-specific
/// sector is its own programme's.
pub(crate) async fn check_record_refs<R: Record>(conn: &mut AnyConnection, programme: &str, r: &R) -> Result<()> {
    let kind = R::KIND;
    for (field, code) in r.partner_refs() {
        let found: Option<String> = sqlx::query_scalar("SELECT code FROM partners WHERE code = $1")
            .bind(&code)
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            return Err(invalid(format!("{kind}.{field}"), format!("no partner has code {code:?}")));
        }
    }
    if let Some(code) = r.sector() {
        check_sector(conn, programme, code, &format!("{kind}.sector")).await?;
    }
    Ok(())
}

async fn check_sector(conn: &mut AnyConnection, programme: &str, code: &str, field: &str) -> Result<()> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT programme FROM sectors WHERE code = $1").bind(code).fetch_optional(&mut *conn).await?;
    match row {
        None => Err(invalid(field, format!("no sector has code {code:?}"))),
        Some((Some(owner),)) if owner != programme => {
            Err(invalid(field, format!("sector {code:?} belongs to programme {owner:?}")))
        }
        Some(_) => Ok(()),
    }
}

async fn programme_exists(conn: &mut AnyConnection, programme: &str) -> Result<()> {
    let found: Option<String> = sqlx::query_scalar("SELECT code FROM programmes WHERE code = $1")
        .bind(programme)
        .fetch_optional(&mut *conn)
        .await?;
    found.map(|_| ()).ok_or_else(|| Error::NotFound { what: "programme", key: programme.to_owned() })
}

/// The first result of an earlier Create with this request id, if there was one.
async fn replayed<T: DeserializeOwned>(
    conn: &mut AnyConnection,
    request_id: Option<&str>,
    method: &str,
) -> Result<Option<Versioned<T>>> {
    let Some(id) = request_id else { return Ok(None) };
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT method, response FROM request_ids WHERE request_id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    match row {
        None => Ok(None),
        Some((m, _)) if m != method => Err(invalid("request_id", format!("{id:?} was already used for a {m} request"))),
        Some((_, response)) => Ok(Some(parse(&response, "request")?)),
    }
}

async fn remember<T: Serialize>(
    conn: &mut AnyConnection,
    request_id: Option<&str>,
    method: &str,
    result: &Versioned<T>,
) -> Result<()> {
    if let Some(id) = request_id {
        sqlx::query("INSERT INTO request_ids (request_id, method, response, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(method)
            .bind(json(result)?)
            .bind(jiff::Timestamp::now().to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn check_etag(what: &str, key: &str, current: &str, expected: Option<&str>) -> Result<()> {
    match expected {
        Some(e) if e != current => Err(Error::Aborted(format!(
            "{what} {key:?} has changed since it was read (etag {e:?}, now {current:?}); read it again"
        ))),
        _ => Ok(()),
    }
}

// ---- records ------------------------------------------------------------------------------

impl Store {
    pub async fn get_record<R: Record>(&self, programme: &str, code: &str) -> Result<Versioned<R>> {
        let mut conn = self.pool.acquire().await?;
        get_record(&mut conn, programme, code).await
    }

    pub async fn list_records<R: Record>(&self, filter: &Filter, page: &PageRequest) -> Result<Page<R>> {
        let query = fingerprint(R::KIND, filter);
        let mut q = Sql::new("SELECT programme, code, position, body FROM records WHERE kind = ");
        q.bind(R::KIND);
        if let Some(p) = &filter.programme {
            q.push(" AND programme = ").bind(p.clone());
        }
        if let Some(s) = &filter.sector {
            q.push(" AND sector = ").bind(s.clone());
        }
        if let Some(p) = &filter.period {
            q.push(" AND period_start <= ").bind(p.end().to_string());
            q.push(" AND period_end >= ").bind(p.start().to_string());
        }
        if let Some(s) = &filter.status {
            q.push(" AND status = ").bind(s.clone());
        }
        if let Some(token) = &page.token {
            let t = decode_token(token, &query)?;
            q.push(" AND (programme, position, code) > (").bind(t.programme).push(", ");
            q.bind(t.position).push(", ").bind(t.code).push(")");
        }
        q.push(" ORDER BY programme, position, code LIMIT ").bind(i64::from(page.size) + 1);
        let rows = q.query().fetch_all(&self.pool).await?;
        let mut items = Vec::new();
        let mut last = None;
        for row in rows.iter().take(page.size as usize) {
            let programme: String = row.try_get("programme")?;
            let code: String = row.try_get("code")?;
            let position: i64 = row.try_get("position")?;
            let body: String = row.try_get("body")?;
            items.push(Versioned {
                value: parse(&body, R::KIND)?,
                key: code.clone(),
                programme: programme.clone(),
                etag: etag(&body),
            });
            last = Some(Token { q: query.clone(), programme, position, code });
        }
        let next_page_token = match last {
            Some(t) if rows.len() > page.size as usize => encode_token(&t)?,
            _ => String::new(),
        };
        Ok(Page { items, next_page_token })
    }

    /// Stores a new record. Its code must be new in the programme; with a request id that was
    /// seen before, returns the first result instead.
    pub async fn create_record<R: Record>(
        &self,
        programme: &str,
        record: &R,
        request_id: Option<&str>,
    ) -> Result<Versioned<R>> {
        let method = format!("Create/{}", R::KIND);
        let mut tx = self.begin_write().await?;
        if let Some(first) = replayed(&mut tx, request_id, &method).await? {
            return Ok(first);
        }
        programme_exists(&mut tx, programme).await?;
        let code = record.code().ok_or_else(|| invalid(format!("{}.code", R::KIND), "is required"))?.to_owned();
        check_record_refs(&mut tx, programme, record).await?;
        let body = json(record)?;
        let c = columns(record);
        let done = sqlx::query(
            "INSERT INTO records (programme, kind, code, position, sector, period_start, period_end, status, body)
             VALUES ($1, $2, $3, (SELECT COALESCE(MAX(position) + 1, 0) FROM records WHERE programme = $4), $5, $6, $7, $8, $9)
             ON CONFLICT DO NOTHING",
        )
        .bind(programme)
        .bind(R::KIND)
        .bind(&code)
        .bind(programme)
        .bind(&c.sector)
        .bind(&c.start)
        .bind(&c.end)
        .bind(c.status)
        .bind(&body)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::AlreadyExists { what: R::KIND, key: format!("{programme}/{code}") });
        }
        let result = Versioned { value: record.clone(), key: code, programme: programme.to_owned(), etag: etag(&body) };
        remember(&mut tx, request_id, &method, &result).await?;
        tx.commit().await?;
        Ok(result)
    }

    /// Replaces a record, if `expected_etag` (when given) is still its etag.
    pub async fn update_record<R: Record>(
        &self,
        programme: &str,
        code: &str,
        record: &R,
        expected_etag: Option<&str>,
    ) -> Result<Versioned<R>> {
        let mut tx = self.begin_write().await?;
        let current: Versioned<R> = get_record(&mut tx, programme, code).await?;
        check_etag(R::KIND, code, &current.etag, expected_etag)?;
        check_record_refs(&mut tx, programme, record).await?;
        let body = json(record)?;
        let c = columns(record);
        sqlx::query(
            "UPDATE records SET sector = $1, period_start = $2, period_end = $3, status = $4, body = $5,
             revision = revision + 1 WHERE programme = $6 AND kind = $7 AND code = $8",
        )
        .bind(&c.sector)
        .bind(&c.start)
        .bind(&c.end)
        .bind(c.status)
        .bind(&body)
        .bind(programme)
        .bind(R::KIND)
        .bind(code)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Versioned {
            value: record.clone(),
            key: code.to_owned(),
            programme: programme.to_owned(),
            etag: etag(&body),
        })
    }

    pub async fn delete_record<R: Record>(
        &self,
        programme: &str,
        code: &str,
        expected_etag: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let current: Versioned<R> = get_record(&mut tx, programme, code).await?;
        check_etag(R::KIND, code, &current.etag, expected_etag)?;
        sqlx::query("DELETE FROM records WHERE programme = $1 AND kind = $2 AND code = $3")
            .bind(programme)
            .bind(R::KIND)
            .bind(code)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn get_record<R: Record>(conn: &mut AnyConnection, programme: &str, code: &str) -> Result<Versioned<R>> {
    let body: Option<String> =
        sqlx::query_scalar("SELECT body FROM records WHERE programme = $1 AND kind = $2 AND code = $3")
            .bind(programme)
            .bind(R::KIND)
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?;
    let body = body.ok_or_else(|| Error::NotFound { what: R::KIND, key: format!("{programme}/{code}") })?;
    Ok(Versioned {
        value: parse(&body, R::KIND)?,
        key: code.to_owned(),
        programme: programme.to_owned(),
        etag: etag(&body),
    })
}

// ---- partners, sectors, programmes ---------------------------------------------------------

/// A resource with a table of its own.
trait TopLevel: Serialize + DeserializeOwned + Clone {
    const TABLE: &'static str;
    const WHAT: &'static str;
    fn code(&self) -> &str;
    /// What is stored in `body` (a programme: without its records).
    fn body(&self) -> Result<String> {
        json(self)
    }
}

impl TopLevel for Partner {
    const TABLE: &'static str = "partners";
    const WHAT: &'static str = "partner";
    fn code(&self) -> &str {
        &self.code
    }
}

impl TopLevel for Sector {
    const TABLE: &'static str = "sectors";
    const WHAT: &'static str = "sector";
    fn code(&self) -> &str {
        &self.code
    }
}

impl TopLevel for Programme {
    const TABLE: &'static str = "programmes";
    const WHAT: &'static str = "programme";
    fn code(&self) -> &str {
        &self.code
    }
    fn body(&self) -> Result<String> {
        json(&header(self))
    }
}

async fn get_top<T: TopLevel>(conn: &mut AnyConnection, code: &str) -> Result<Versioned<T>> {
    let body: Option<String> = sqlx::query_scalar(&format!("SELECT body FROM {} WHERE code = $1", T::TABLE))
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?;
    let body = body.ok_or_else(|| Error::NotFound { what: T::WHAT, key: code.to_owned() })?;
    Ok(Versioned { value: parse(&body, T::WHAT)?, key: code.to_owned(), programme: String::new(), etag: etag(&body) })
}

impl Store {
    pub async fn get_partner(&self, code: &str) -> Result<Versioned<Partner>> {
        get_top(&mut *self.pool.acquire().await?, code).await
    }

    pub async fn get_sector(&self, code: &str) -> Result<Versioned<Sector>> {
        get_top(&mut *self.pool.acquire().await?, code).await
    }

    /// A programme with its records; the etag is that of the programme itself.
    pub async fn get_programme(&self, code: &str) -> Result<Versioned<Programme>> {
        let head: Versioned<Programme> = get_top(&mut *self.pool.acquire().await?, code).await?;
        Ok(Versioned { value: self.programme(code).await?, ..head })
    }

    pub async fn list_partners(&self, filter: &Filter, page: &PageRequest) -> Result<Page<Partner>> {
        let backend = self.backend;
        self.list_top(filter, page, |q, f| {
            if let Some(p) = &f.programme {
                q.push(" AND code IN (SELECT partner FROM programme_partners WHERE programme = ").bind(p.clone());
                q.push(")");
            }
            if let Some(k) = &f.kind {
                q.push(&format!(" AND {} = ", sql::json_text(backend, "body", "kind"))).bind(k.clone());
            }
        })
        .await
    }

    pub async fn list_sectors(&self, filter: &Filter, page: &PageRequest) -> Result<Page<Sector>> {
        self.list_top(filter, page, |q, f| {
            if let Some(p) = &f.programme {
                q.push(" AND (programme IS NULL OR programme = ").bind(p.clone()).push(")");
            }
        })
        .await
    }

    /// Programmes without their records.
    pub async fn list_programmes(&self, filter: &Filter, page: &PageRequest) -> Result<Page<Programme>> {
        let backend = self.backend;
        self.list_top(filter, page, |q, f| {
            if let Some(p) = &f.partner {
                q.push(" AND code IN (SELECT programme FROM programme_partners WHERE partner = ").bind(p.clone());
                q.push(")");
            }
            if let Some(s) = &f.status {
                q.push(&format!(" AND {} = ", sql::json_text(backend, "body", "status"))).bind(s.clone());
            }
        })
        .await
    }

    async fn list_top<T: TopLevel>(
        &self,
        filter: &Filter,
        page: &PageRequest,
        narrow: impl Fn(&mut Sql, &Filter),
    ) -> Result<Page<T>> {
        let query = fingerprint(T::TABLE, filter);
        let mut q = Sql::new(format!("SELECT code, position, body FROM {} WHERE 1 = 1", T::TABLE));
        narrow(&mut q, filter);
        if let Some(token) = &page.token {
            let t = decode_token(token, &query)?;
            q.push(" AND (position, code) > (").bind(t.position).push(", ").bind(t.code).push(")");
        }
        q.push(" ORDER BY position, code LIMIT ").bind(i64::from(page.size) + 1);
        let rows = q.query().fetch_all(&self.pool).await?;
        let mut items = Vec::new();
        let mut last = None;
        for row in rows.iter().take(page.size as usize) {
            let code: String = row.try_get("code")?;
            let position: i64 = row.try_get("position")?;
            let body: String = row.try_get("body")?;
            items.push(Versioned {
                value: parse(&body, T::WHAT)?,
                key: code.clone(),
                programme: String::new(),
                etag: etag(&body),
            });
            last = Some(Token { q: query.clone(), programme: String::new(), position, code });
        }
        let next_page_token = match last {
            Some(t) if rows.len() > page.size as usize => encode_token(&t)?,
            _ => String::new(),
        };
        Ok(Page { items, next_page_token })
    }

    /// Inserts a partner, sector or programme at the end of its table, in an open transaction.
    async fn insert_top<T: TopLevel>(
        conn: &mut AnyConnection,
        value: &T,
        request_id: Option<&str>,
        extra: Option<&str>,
    ) -> Result<Versioned<T>> {
        let body = value.body()?;
        let done = sqlx::query(&format!(
            "INSERT INTO {t} (code, position, body) VALUES ($1, (SELECT COALESCE(MAX(position) + 1, 0) FROM {t}), $2)
             ON CONFLICT DO NOTHING",
            t = T::TABLE
        ))
        .bind(value.code())
        .bind(&body)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::AlreadyExists { what: T::WHAT, key: value.code().to_owned() });
        }
        if let Some(programme) = extra {
            sqlx::query("UPDATE sectors SET programme = $1 WHERE code = $2")
                .bind(programme)
                .bind(value.code())
                .execute(&mut *conn)
                .await?;
        }
        let result = Versioned {
            value: value.clone(),
            key: value.code().to_owned(),
            programme: String::new(),
            etag: etag(&body),
        };
        remember(conn, request_id, &format!("Create/{}", T::WHAT), &result).await?;
        Ok(result)
    }

    async fn update_top<T: TopLevel>(
        conn: &mut AnyConnection,
        value: &T,
        expected_etag: Option<&str>,
    ) -> Result<Versioned<T>> {
        let current: Versioned<T> = get_top(conn, value.code()).await?;
        check_etag(T::WHAT, value.code(), &current.etag, expected_etag)?;
        let body = value.body()?;
        sqlx::query(&format!("UPDATE {} SET body = $1, revision = revision + 1 WHERE code = $2", T::TABLE))
            .bind(&body)
            .bind(value.code())
            .execute(&mut *conn)
            .await?;
        Ok(Versioned {
            value: value.clone(),
            key: value.code().to_owned(),
            programme: String::new(),
            etag: etag(&body),
        })
    }

    pub async fn create_partner(&self, p: &Partner, request_id: Option<&str>) -> Result<Versioned<Partner>> {
        let mut tx = self.begin_write().await?;
        if let Some(first) = replayed(&mut tx, request_id, "Create/partner").await? {
            return Ok(first);
        }
        let result = Self::insert_top(&mut tx, p, request_id, None).await?;
        tx.commit().await?;
        Ok(result)
    }

    pub async fn update_partner(&self, p: &Partner, expected_etag: Option<&str>) -> Result<Versioned<Partner>> {
        let mut tx = self.begin_write().await?;
        let result = Self::update_top(&mut tx, p, expected_etag).await?;
        tx.commit().await?;
        Ok(result)
    }

    /// Deletes a partner that nothing uses; one that a programme or a record names is kept
    /// (FAILED_PRECONDITION, naming the programmes).
    pub async fn delete_partner(&self, code: &str, expected_etag: Option<&str>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let current: Versioned<Partner> = get_top(&mut tx, code).await?;
        check_etag("partner", code, &current.etag, expected_etag)?;
        let json = |key| sql::json_text(self.backend, "body", key);
        let users: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT programme FROM programme_partners WHERE partner = $1
             UNION
             SELECT programme FROM records WHERE kind IN ('activity', 'project', 'contribution') AND (
                 {} = $1 OR {} = $1 OR {} = $1 OR {})
             ORDER BY 1",
            json("organiser"),
            json("from"),
            json("to"),
            sql::json_array_has(self.backend, "records.body", "partners", "$1"),
        ))
        .bind(code)
        .fetch_all(&mut *tx)
        .await?;
        if !users.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "partner {code:?} is still used by programme {}; remove it there first",
                users.join(", ")
            )));
        }
        sqlx::query("DELETE FROM partners WHERE code = $1").bind(code).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_sector(&self, s: &Sector, request_id: Option<&str>) -> Result<Versioned<Sector>> {
        let mut tx = self.begin_write().await?;
        if let Some(first) = replayed(&mut tx, request_id, "Create/sector").await? {
            return Ok(first);
        }
        if let Some(p) = &s.programme {
            programme_exists(&mut tx, p)
                .await
                .map_err(|_| invalid("sector.programme", format!("no programme has code {p:?}")))?;
        }
        let result = Self::insert_top(&mut tx, s, request_id, s.programme.as_deref()).await?;
        tx.commit().await?;
        Ok(result)
    }

    pub async fn update_sector(&self, s: &Sector, expected_etag: Option<&str>) -> Result<Versioned<Sector>> {
        let mut tx = self.begin_write().await?;
        let current: Versioned<Sector> = get_top(&mut tx, &s.code).await?;
        if current.value.programme != s.programme {
            return Err(invalid("sector.programme", "cannot change: delete the sector and create it again"));
        }
        let result = Self::update_top(&mut tx, s, expected_etag).await?;
        tx.commit().await?;
        Ok(result)
    }

    pub async fn delete_sector(&self, code: &str, expected_etag: Option<&str>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let current: Versioned<Sector> = get_top(&mut tx, code).await?;
        check_etag("sector", code, &current.etag, expected_etag)?;
        let users: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT programme FROM records WHERE sector = $1 ORDER BY 1")
                .bind(code)
                .fetch_all(&mut *tx)
                .await?;
        if !users.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "sector {code:?} is still used by records of programme {}; change them first",
                users.join(", ")
            )));
        }
        sqlx::query("DELETE FROM sectors WHERE code = $1").bind(code).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates a programme without records (they are created one by one, or imported).
    pub async fn create_programme(&self, p: &Programme, request_id: Option<&str>) -> Result<Versioned<Programme>> {
        let mut tx = self.begin_write().await?;
        if let Some(first) = replayed(&mut tx, request_id, "Create/programme").await? {
            return Ok(first);
        }
        let p = header(p);
        check_programme_partners(&mut tx, &p).await?;
        let result = Self::insert_top(&mut tx, &p, request_id, None).await?;
        write_programme_partners(&mut tx, &p).await?;
        tx.commit().await?;
        Ok(result)
    }

    /// Replaces a programme's header (title, partners, phases …); its records stay as they are.
    pub async fn update_programme(&self, p: &Programme, expected_etag: Option<&str>) -> Result<Versioned<Programme>> {
        let mut tx = self.begin_write().await?;
        check_programme_partners(&mut tx, p).await?;
        let result = Self::update_top(&mut tx, &header(p), expected_etag).await?;
        write_programme_partners(&mut tx, p).await?;
        tx.commit().await?;
        drop(result);
        self.get_programme(&p.code).await
    }

    /// Deletes a programme with its records and its own sectors; refused while reports of it exist.
    pub async fn delete_programme(&self, code: &str, expected_etag: Option<&str>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let current: Versioned<Programme> = get_top(&mut tx, code).await?;
        check_etag("programme", code, &current.etag, expected_etag)?;
        let reports: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports WHERE programme = $1")
            .bind(code)
            .fetch_one(&mut *tx)
            .await?;
        if reports > 0 {
            return Err(Error::FailedPrecondition(format!(
                "programme {code:?} has {reports} report(s); the briefings it produced keep it"
            )));
        }
        sqlx::query("DELETE FROM records WHERE programme = $1").bind(code).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM programme_partners WHERE programme = $1").bind(code).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM programmes WHERE code = $1").bind(code).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM sectors WHERE programme = $1").bind(code).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn check_programme_partners(conn: &mut AnyConnection, p: &Programme) -> Result<()> {
    for (j, pp) in p.partners.iter().enumerate() {
        let found: Option<String> = sqlx::query_scalar("SELECT code FROM partners WHERE code = $1")
            .bind(&pp.partner)
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            return Err(invalid(
                format!("programme.partners[{j}].partner"),
                format!("no partner has code {:?}", pp.partner),
            ));
        }
    }
    Ok(())
}

pub(crate) async fn write_programme_partners(conn: &mut AnyConnection, p: &Programme) -> Result<()> {
    sqlx::query("DELETE FROM programme_partners WHERE programme = $1").bind(&p.code).execute(&mut *conn).await?;
    for (j, pp) in p.partners.iter().enumerate() {
        sqlx::query("INSERT INTO programme_partners (programme, partner, position) VALUES ($1, $2, $3)")
            .bind(&p.code)
            .bind(&pp.partner)
            .bind(j as i64)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDb;
    use coopbrief_domain::Text;
    use coopbrief_domain::dataset::{ActivityKind, Dataset, PartnerKind};

    fn activity(code: &str) -> Activity {
        Activity {
            code: code.into(),
            sector: Some("culture".into()),
            period: "2020".parse().unwrap(),
            kind: ActivityKind::Workshop,
            title: Text::vi("Hội thảo"),
            description: None,
            location: None,
            organiser: Some("hanam".into()),
            occurrences: None,
            participants: None,
            enterprises: None,
            products: None,
        }
    }

    fn page(size: u32, token: &str) -> PageRequest {
        PageRequest { size, token: Some(token.to_owned()).filter(|t| !t.is_empty()) }
    }

    async fn keyset_pages_survive_inserts(db: &TestDb) {
        let store = db.seeded().await;
        let filter = Filter { programme: Some("hanoi-hanam".into()), ..Filter::default() };
        let mut token = String::new();
        let mut seen = Vec::new();
        for i in 0.. {
            let p = store.list_records::<Activity>(&filter, &page(4, &token)).await.unwrap();
            seen.extend(p.items.into_iter().map(|v| v.key));
            store.create_record("hanoi-hanam", &activity(&format!("new-{i}")), None).await.unwrap();
            if p.next_page_token.is_empty() {
                break;
            }
            token = p.next_page_token;
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "{seen:?}");
        assert!(seen.starts_with(&["cooperation-forums".to_owned()]));
        assert!(seen.contains(&"party-building-exchange".to_owned()));
        let other = Filter { sector: Some("agriculture".into()), ..filter.clone() };
        let first = store.list_records::<Activity>(&filter, &page(1, "")).await.unwrap();
        let err = store.list_records::<Activity>(&other, &page(1, &first.next_page_token)).await.unwrap_err();
        assert!(matches!(&err, Error::Invalid(e) if e.field() == Some("page_token")), "{err}");
    }

    async fn request_ids_make_creates_idempotent(db: &TestDb) {
        let store = db.seeded().await;
        let first = store.create_record("hanoi-hanam", &activity("a"), Some("r1")).await.unwrap();
        let mut changed = activity("a");
        changed.title = Text::vi("Khác");
        let again = store.create_record("hanoi-hanam", &changed, Some("r1")).await.unwrap();
        assert_eq!(again, first, "the first result, not a second write");
        let err = store.create_record("hanoi-hanam", &activity("a"), None).await.unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { what: "activity", .. }), "{err}");
        let p = Partner { code: "x".into(), name: Text::vi("X"), kind: PartnerKind::Other };
        let err = store.create_partner(&p, Some("r1")).await.unwrap_err();
        assert!(matches!(&err, Error::Invalid(e) if e.field() == Some("request_id")), "{err}");
    }

    async fn stale_etags_are_refused_and_nothing_changes(db: &TestDb) {
        let store = db.seeded().await;
        let v = store.get_record::<Activity>("hanoi-hanam", "product-fairs").await.unwrap();
        let mut a = v.value.clone();
        a.occurrences = Some(16);
        let updated = store.update_record("hanoi-hanam", "product-fairs", &a, Some(&v.etag)).await.unwrap();
        assert_ne!(updated.etag, v.etag);
        a.occurrences = Some(17);
        let err = store.update_record("hanoi-hanam", "product-fairs", &a, Some(&v.etag)).await.unwrap_err();
        assert!(matches!(err, Error::Aborted(_)), "{err}");
        let err = store.delete_record::<Activity>("hanoi-hanam", "product-fairs", Some(&v.etag)).await.unwrap_err();
        assert!(matches!(err, Error::Aborted(_)), "{err}");
        let now = store.get_record::<Activity>("hanoi-hanam", "product-fairs").await.unwrap();
        assert_eq!(now.value.occurrences, Some(16));
    }

    async fn used_partners_and_sectors_are_not_deleted(db: &TestDb) {
        let store = db.seeded().await;
        for code in ["hanoi", "hoabinh"] {
            let err = store.delete_partner(code, None).await.unwrap_err();
            assert!(matches!(err, Error::FailedPrecondition(_)), "{err}");
        }
        let err = store.delete_sector("transport", None).await.unwrap_err();
        assert!(matches!(err, Error::FailedPrecondition(_)), "{err}");
        store.delete_sector("tourism", None).await.unwrap();
        assert_eq!(store.partners().await.unwrap().len(), 3);
        // A programme without reports goes with its records and its own sectors; then its
        // partners are free to go.
        let own = Sector { code: "weaving".into(), name: Text::vi("Dệt"), programme: Some("hanoi-hanam".into()) };
        store.create_sector(&own, None).await.unwrap();
        let head = store.get_programme("hanoi-hanam").await.unwrap();
        store.delete_programme("hanoi-hanam", Some(&head.etag)).await.unwrap();
        assert!(store.is_empty().await.unwrap());
        assert!(matches!(store.get_sector("weaving").await.unwrap_err(), Error::NotFound { .. }));
        let filter = Filter::default();
        assert!(store.list_records::<Activity>(&filter, &page(10, "")).await.unwrap().items.is_empty());
        store.delete_partner("hoabinh", None).await.unwrap();
    }

    async fn export_and_import_round_trip_and_report(db: &TestDb) {
        let store = db.seeded().await;
        let exported = store.export("hanoi-hanam").await.unwrap();
        assert_eq!(exported, Dataset::bundled().unwrap());
        let report = store.import(&exported, false).await.unwrap();
        assert!(report.created.is_empty() && report.changed.is_empty() && report.deleted.is_empty());
        let mut edited = exported.clone();
        edited.programmes[0].activities.remove(0);
        edited.partners[0].name.en = Some("Ha Noi".into());
        let dry = store.import(&edited, true).await.unwrap();
        assert_eq!(dry.deleted, ["hanoi-hanam/activity/cooperation-forums"]);
        assert_eq!(dry.changed, ["partner/hanoi"]);
        assert_eq!(store.export("hanoi-hanam").await.unwrap(), exported, "a dry run writes nothing");
        store.import(&edited, false).await.unwrap();
        assert_eq!(store.export("hanoi-hanam").await.unwrap(), edited);
    }

    crate::on_both_backends!(
        keyset_pages_survive_inserts,
        request_ids_make_creates_idempotent,
        stale_etags_are_refused_and_nothing_changes,
        used_partners_and_sectors_are_not_deleted,
        export_and_import_round_trip_and_report,
    );
}
