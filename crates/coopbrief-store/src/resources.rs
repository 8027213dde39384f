//! Standard methods (AIP-131..135) on every cooperation [`Resource`]: get, list in keyset pages,
//! create (idempotent with a request id), update and delete guarded by etags. One generic
//! implementation serves all nine; what differs between them is in their [`Resource`]
//! description and in the few `match R::KIND` arms below, which hold their SQL.
//!
//! Partners, sectors and programmes have tables of their own; the records of a programme
//! (indicators, activities, projects, contributions, assessments, directions) share `records`,
//! told apart by `kind`. Every write runs in a write transaction (SQLite `BEGIN IMMEDIATE`,
//! PostgreSQL's advisory lock), so a check and the write it guards see the same data.

use std::any::Any;

use coopbrief_domain::dataset::Programme;
use coopbrief_domain::resource::{Kind, Resource};
use coopbrief_domain::{Code, Period};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use crate::access::insert_audit;
use crate::sql::{self, Sql};
use crate::{Backend, Error, NewAuditEntry, Result, Store};

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

/// One page of a list of things that carry no etag (reports, schedules, tokens).
#[derive(Clone, Debug, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// Empty on the last page.
    pub next_page_token: String,
}

impl PageRequest {
    /// The size to ask the database for: one more than the page, to know whether another follows.
    pub(crate) fn probe(&self) -> i64 {
        i64::from(self.size.max(1)) + 1
    }

    /// The page from rows read with [`PageRequest::probe`]: at most `size` items, and a token
    /// made from the last one kept (by `position`) when more followed.
    pub(crate) fn cut<T>(&self, mut items: Vec<T>, position: impl Fn(&T) -> Token) -> Result<Paged<T>> {
        let size = self.size.max(1) as usize;
        let more = items.len() > size;
        items.truncate(size);
        let next_page_token = match items.last() {
            Some(last) if more => position(last).encode()?,
            _ => String::new(),
        };
        Ok(Paged { items, next_page_token })
    }
}

/// What a list is narrowed to; every field optional, each used by the resources that have it.
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

/// The position after which the next page starts, with the query it belongs to: the one page
/// token of the store, for every keyset list (resources, reports, schedules, tokens). A list
/// fills the fields its order has and leaves the others empty.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Token {
    /// The list and its filters: a token is only good for the query that issued it.
    pub(crate) q: String,
    pub(crate) programme: String,
    pub(crate) position: i64,
    pub(crate) code: String,
}

impl Token {
    /// The opaque form a client sends back.
    pub(crate) fn encode(&self) -> Result<String> {
        Ok(hex::encode(json(self)?))
    }
}

fn etag(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..8])
}

/// A short digest of the list and its filters: a token is only good for the query that issued it.
pub(crate) fn fingerprint(list: &str, f: &impl std::fmt::Debug) -> String {
    hex::encode(&Sha256::digest(format!("{list}|{f:?}").as_bytes())[..6])
}

pub(crate) fn decode_token(token: &str, query: &str) -> Result<Token> {
    let bad = || invalid("page_token", "is not a page token of this service");
    let bytes = hex::decode(token).map_err(|_| bad())?;
    let t: Token = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if t.q != query {
        return Err(invalid("page_token", "was issued for a different list or filter"));
    }
    Ok(t)
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Invalid(coopbrief_domain::Error::invalid(field, message))
}

pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt { what: "value", message: e.to_string() })
}

pub(crate) fn parse<T: DeserializeOwned>(body: &str, what: &'static str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| Error::Corrupt { what, message: e.to_string() })
}

/// The table a resource is kept in.
fn table<R: Resource>() -> &'static str {
    if R::KIND == Kind::Record { "records" } else { R::PLURAL }
}

/// `sql` with the condition that finds one resource by its key.
fn keyed<R: Resource>(sql: &str, programme: &str, code: &str) -> Sql {
    let mut q = Sql::new(sql);
    where_key::<R>(&mut q, programme, code);
    q
}

fn where_key<R: Resource>(q: &mut Sql, programme: &str, code: &str) {
    if R::KIND == Kind::Record {
        q.push(" WHERE programme = ").bind(programme.to_owned()).push(" AND kind = ").bind(R::NAME);
        q.push(" AND code = ").bind(code.to_owned());
    } else {
        q.push(" WHERE code = ").bind(code.to_owned());
    }
}

/// How a resource is named in messages: `hanoi-hanam/fairs` for a record, `hanoi` otherwise.
fn key_of(programme: &str, code: &str) -> String {
    if programme.is_empty() { code.to_owned() } else { format!("{programme}/{code}") }
}

/// The columns of `records` that queries filter on, pulled out of a record.
pub(crate) struct Columns {
    pub sector: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub status: Option<&'static str>,
}

pub(crate) fn columns<R: Resource>(r: &R) -> Columns {
    let period = r.period();
    let sector = r.refs().into_iter().find(|x| x.to == Kind::Sector).map(|x| x.code.to_owned());
    Columns {
        sector,
        start: period.map(|p| p.start().to_string()),
        end: period.map(|p| p.end().to_string()),
        status: r.status(),
    }
}

/// Checks that what a resource names exists: partners, sectors (a programme-specific one only
/// from its own programme) and programmes.
async fn check_refs<R: Resource>(conn: &mut AnyConnection, programme: &str, value: &R) -> Result<()> {
    for r in value.refs() {
        let field = format!("{}.{}", R::NAME, r.field);
        let (what, table) = match r.to {
            Kind::Partner => ("partner", "partners"),
            Kind::Sector => ("sector", "sectors"),
            Kind::Programme | Kind::Record => ("programme", "programmes"),
        };
        let found: Option<(String,)> = sqlx::query_as(&format!("SELECT code FROM {table} WHERE code = $1"))
            .bind(r.code)
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            return Err(invalid(field, format!("no {what} has code {:?}", r.code)));
        }
        if r.to == Kind::Sector {
            let owner: Option<String> = sqlx::query_scalar("SELECT programme FROM sectors WHERE code = $1")
                .bind(r.code)
                .fetch_one(&mut *conn)
                .await?;
            if let Some(owner) = owner.filter(|o| o != programme) {
                return Err(invalid(field, format!("sector {:?} belongs to programme {owner:?}", r.code)));
            }
        }
    }
    Ok(())
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

async fn read<R: Resource>(conn: &mut AnyConnection, programme: &str, code: &str) -> Result<Versioned<R>> {
    let mut q = keyed::<R>(&format!("SELECT body FROM {}", table::<R>()), programme, code);
    let row = q.query().fetch_optional(&mut *conn).await?;
    let row = row.ok_or_else(|| Error::NotFound { what: R::NAME, key: key_of(programme, code) })?;
    let body: String = row.try_get("body")?;
    Ok(Versioned {
        value: parse(&body, R::NAME)?,
        key: code.to_owned(),
        programme: programme.to_owned(),
        etag: etag(&body),
    })
}

/// Narrows a list by the filters the resource has.
fn narrow<R: Resource>(q: &mut Sql, f: &Filter, backend: Backend) {
    let json = |key| sql::json_text(backend, "body", key);
    match R::KIND {
        Kind::Record => {
            if let Some(p) = &f.programme {
                q.push(" AND programme = ").bind(p.clone());
            }
            if let Some(s) = &f.sector {
                q.push(" AND sector = ").bind(s.clone());
            }
            if let Some(p) = &f.period {
                q.push(" AND period_start <= ").bind(p.end().to_string());
                q.push(" AND period_end >= ").bind(p.start().to_string());
            }
            if let Some(s) = &f.status {
                q.push(" AND status = ").bind(s.clone());
            }
        }
        Kind::Sector => {
            if let Some(p) = &f.programme {
                q.push(" AND (programme IS NULL OR programme = ").bind(p.clone()).push(")");
            }
        }
        Kind::Partner | Kind::Programme => {
            // A partner list narrows by programme and kind, a programme list by partner and status.
            let (linked, field) = match R::KIND {
                Kind::Partner => {
                    (f.programme.as_ref().map(|p| ("partner", "programme", p)), f.kind.as_ref().map(|k| ("kind", k)))
                }
                _ => {
                    (f.partner.as_ref().map(|p| ("programme", "partner", p)), f.status.as_ref().map(|s| ("status", s)))
                }
            };
            if let Some((this, other, code)) = linked {
                q.push(&format!(" AND code IN (SELECT {this} FROM programme_partners WHERE {other} = "));
                q.bind(code.clone()).push(")");
            }
            if let Some((key, value)) = field {
                q.push(&format!(" AND {} = ", json(key))).bind(value.clone());
            }
        }
    }
}

impl Store {
    /// One resource; a programme comes with its records, its etag that of the programme itself.
    pub async fn get<R: Resource>(&self, programme: &str, code: &str) -> Result<Versioned<R>> {
        let mut v: Versioned<R> = read(&mut *self.pool.acquire().await?, programme, code).await?;
        if let Some(p) = (&mut v.value as &mut dyn Any).downcast_mut::<Programme>() {
            *p = self.programme(code).await?;
        }
        Ok(v)
    }

    /// One page, in the order the resources were created (records: by programme first).
    pub async fn list<R: Resource>(&self, filter: &Filter, page: &PageRequest) -> Result<Page<R>> {
        let query = fingerprint(R::PLURAL, filter);
        let records = R::KIND == Kind::Record;
        let mut q = if records {
            let mut q = Sql::new("SELECT programme, code, position, body FROM records WHERE kind = ");
            q.bind(R::NAME);
            q
        } else {
            Sql::new(format!("SELECT '' AS programme, code, position, body FROM {} WHERE 1 = 1", R::PLURAL))
        };
        narrow::<R>(&mut q, filter, self.backend);
        if let Some(token) = &page.token {
            let t = decode_token(token, &query)?;
            if records {
                q.push(" AND (programme, position, code) > (").bind(t.programme).push(", ");
            } else {
                q.push(" AND (position, code) > (");
            }
            q.bind(t.position).push(", ").bind(t.code).push(")");
        }
        q.push(if records { " ORDER BY programme, position, code" } else { " ORDER BY position, code" });
        q.push(" LIMIT ").bind(i64::from(page.size) + 1);
        let rows = q.query().fetch_all(&self.pool).await?;
        let mut items = Vec::new();
        let mut last = None;
        for row in rows.iter().take(page.size as usize) {
            let (programme, code): (String, String) = (row.try_get("programme")?, row.try_get("code")?);
            let body: String = row.try_get("body")?;
            let value = parse(&body, R::NAME)?;
            items.push(Versioned { value, key: code.clone(), programme: programme.clone(), etag: etag(&body) });
            last = Some(Token { q: query.clone(), programme, position: row.try_get("position")?, code });
        }
        let next_page_token = match last {
            Some(t) if rows.len() > page.size as usize => t.encode()?,
            _ => String::new(),
        };
        Ok(Page { items, next_page_token })
    }

    /// Stores a new resource (a record: in `programme`). Its code must be new; with a request id
    /// that was seen before, returns the first result instead.
    pub async fn create<R: Resource>(
        &self,
        programme: &str,
        value: &R,
        request_id: Option<&str>,
        audit: Option<&NewAuditEntry<'_>>,
    ) -> Result<Versioned<R>> {
        let method = format!("Create/{}", R::NAME);
        let mut tx = self.begin_write().await?;
        if let Some(first) = replayed(&mut tx, request_id, &method).await? {
            return Ok(first);
        }
        value.check_new()?;
        if R::KIND == Kind::Record {
            programme_exists(&mut tx, programme).await?;
        }
        let code = value.code().ok_or_else(|| invalid(format!("{}.code", R::NAME), "is required"))?.to_owned();
        check_refs(&mut tx, programme, value).await?;
        // What the renderer takes (and an import would refuse) is the most there may be.
        let count: i64 = if R::KIND == Kind::Record {
            let sql = "SELECT COUNT(*) FROM records WHERE programme = $1 AND kind = $2";
            sqlx::query_scalar(sql).bind(programme).bind(R::NAME).fetch_one(&mut *tx).await?
        } else {
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", R::PLURAL)).fetch_one(&mut *tx).await?
        };
        if usize::try_from(count).unwrap_or(usize::MAX) >= R::MAX_COUNT {
            let whose = if programme.is_empty() { String::new() } else { format!(" in programme {programme:?}") };
            let (plural, max) = (R::PLURAL, R::MAX_COUNT);
            return Err(Error::FailedPrecondition(format!(
                "there are {count} {plural}{whose} already; the limit is {max}"
            )));
        }
        let body = json(&*value.header())?;
        let t = table::<R>();
        let mut q = if R::KIND == Kind::Record {
            let c = columns(value);
            let mut q = Sql::new(
                "INSERT INTO records (programme, kind, code, position, sector, period_start, period_end, status, body) VALUES (",
            );
            q.bind(programme.to_owned()).push(", ").bind(R::NAME).push(", ").bind(code.clone());
            q.push(", (SELECT COALESCE(MAX(position) + 1, 0) FROM records WHERE programme = ")
                .bind(programme.to_owned());
            q.push("), ").bind(c.sector).push(", ").bind(c.start).push(", ").bind(c.end).push(", ").bind(c.status);
            q
        } else {
            let mut q = Sql::new(format!("INSERT INTO {t} (code, position, body) VALUES ("));
            q.bind(code.clone()).push(&format!(", (SELECT COALESCE(MAX(position) + 1, 0) FROM {t})"));
            q
        };
        q.push(", ").bind(body.clone()).push(") ON CONFLICT DO NOTHING");
        if q.query().execute(&mut *tx).await?.rows_affected() == 0 {
            return Err(Error::AlreadyExists { what: R::NAME, key: key_of(programme, &code) });
        }
        written(&mut tx, &code, value).await?;
        let result = Versioned { value: value.clone(), key: code, programme: programme.to_owned(), etag: etag(&body) };
        remember(&mut tx, request_id, &method, &result).await?;
        audited(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(result)
    }

    /// Replaces a resource (a programme: its header; its records stay as they are), if
    /// `expected_etag` (when given) is still its etag.
    pub async fn update<R: Resource>(
        &self,
        programme: &str,
        code: &str,
        value: &R,
        expected_etag: Option<&str>,
        audit: Option<&NewAuditEntry<'_>>,
    ) -> Result<Versioned<R>> {
        let mut tx = self.begin_write().await?;
        let current: Versioned<R> = read(&mut tx, programme, code).await?;
        check_etag(R::NAME, code, &current.etag, expected_etag)?;
        if current.value.owner() != value.owner() {
            let again = format!("cannot change: delete the {} and create it again", R::NAME);
            return Err(invalid(format!("{}.programme", R::NAME), again));
        }
        check_refs(&mut tx, programme, value).await?;
        let body = json(&*value.header())?;
        let mut q = Sql::new(format!("UPDATE {} SET ", table::<R>()));
        if R::KIND == Kind::Record {
            let c = columns(value);
            q.push("sector = ").bind(c.sector).push(", period_start = ").bind(c.start);
            q.push(", period_end = ").bind(c.end).push(", status = ").bind(c.status).push(", ");
        }
        q.push("body = ").bind(body.clone()).push(", revision = revision + 1");
        where_key::<R>(&mut q, programme, code);
        q.query().execute(&mut *tx).await?;
        written(&mut tx, code, value).await?;
        audited(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Versioned { value: value.clone(), key: code.to_owned(), programme: programme.to_owned(), etag: etag(&body) })
    }

    /// Deletes a resource that nothing uses (FAILED_PRECONDITION naming what still does); a
    /// programme goes with its records and its own sectors, unless reports of it exist.
    pub async fn delete<R: Resource>(
        &self,
        programme: &str,
        code: &str,
        expected_etag: Option<&str>,
        audit: Option<&NewAuditEntry<'_>>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let current: Versioned<R> = read(&mut tx, programme, code).await?;
        check_etag(R::NAME, code, &current.etag, expected_etag)?;
        let users: Vec<String> = match R::KIND {
            Kind::Partner => {
                let json = |key| sql::json_text(self.backend, "body", key);
                let has = sql::json_array_has(self.backend, "records.body", "partners", "$1");
                sqlx::query_scalar(&format!(
                    "SELECT programme FROM programme_partners WHERE partner = $1
                     UNION
                     SELECT programme FROM records WHERE kind IN ('activity', 'project', 'contribution') AND (
                         {} = $1 OR {} = $1 OR {} = $1 OR {has})
                     ORDER BY 1",
                    json("organiser"),
                    json("from"),
                    json("to"),
                ))
                .bind(code)
                .fetch_all(&mut *tx)
                .await?
            }
            Kind::Sector => {
                sqlx::query_scalar("SELECT DISTINCT programme FROM records WHERE sector = $1 ORDER BY 1")
                    .bind(code)
                    .fetch_all(&mut *tx)
                    .await?
            }
            Kind::Programme => {
                let reports: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports WHERE programme = $1")
                    .bind(code)
                    .fetch_one(&mut *tx)
                    .await?;
                if reports > 0 {
                    return Err(Error::FailedPrecondition(format!(
                        "programme {code:?} has {reports} report(s); the briefings it produced keep it"
                    )));
                }
                for t in ["records", "programme_partners", "sectors"] {
                    sqlx::query(&format!("DELETE FROM {t} WHERE programme = $1")).bind(code).execute(&mut *tx).await?;
                }
                Vec::new()
            }
            Kind::Record => Vec::new(),
        };
        if !users.is_empty() {
            let (what, fix) = match R::KIND {
                Kind::Sector => ("records of programme", "change them first"),
                _ => ("programme", "remove it there first"),
            };
            return Err(Error::FailedPrecondition(format!(
                "{} {code:?} is still used by {what} {}; {fix}",
                R::NAME,
                users.join(", ")
            )));
        }
        keyed::<R>(&format!("DELETE FROM {}", table::<R>()), programme, code).query().execute(&mut *tx).await?;
        audited(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A programme with all its records.
    pub async fn programme(&self, code: &str) -> Result<Programme> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM programmes WHERE code = $1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        let body = body.ok_or_else(|| Error::NotFound { what: "programme", key: code.to_owned() })?;
        let mut p: Programme = parse(&body, "programme")?;
        let rows = sqlx::query("SELECT kind, code, body FROM records WHERE programme = $1 ORDER BY position")
            .bind(code)
            .fetch_all(&self.pool)
            .await?;
        for row in rows {
            let kind: String = row.try_get("kind")?;
            let body: String = row.try_get("body")?;
            let code: String = row.try_get("code")?;
            // A record keyed by its place keeps that key only while it stays in that place.
            let keep = |place: String| -> Result<Option<Code>> {
                if place == code { Ok(None) } else { Ok(Some(Code::parse(code.clone(), "code")?)) }
            };
            match kind.as_str() {
                "indicator" => p.indicators.push(parse(&body, "indicator")?),
                "activity" => p.activities.push(parse(&body, "activity")?),
                "project" => p.projects.push(parse(&body, "project")?),
                "contribution" => p.contributions.push(parse(&body, "contribution")?),
                "assessment" => {
                    let mut a: coopbrief_domain::dataset::Assessment = parse(&body, "assessment")?;
                    if a.code.is_none() {
                        a.code = keep(format!("assessment-{}", p.assessments.len() + 1))?;
                    }
                    p.assessments.push(a);
                }
                "direction" => {
                    let mut d: coopbrief_domain::dataset::Direction = parse(&body, "direction")?;
                    if d.code.is_none() {
                        d.code = keep(format!("direction-{}", p.directions.len() + 1))?;
                    }
                    p.directions.push(d);
                }
                other => return Err(Error::Corrupt { what: "record", message: format!("unknown kind {other:?}") }),
            }
        }
        Ok(p)
    }
}

/// The change's audit entry, in its transaction.
pub(crate) async fn audited(conn: &mut AnyConnection, audit: Option<&NewAuditEntry<'_>>) -> Result<()> {
    if let Some(entry) = audit {
        insert_audit(conn, entry).await?;
    }
    Ok(())
}

/// What follows a write in the same transaction: a sector's programme, a programme's partners.
pub(crate) async fn written<R: Resource>(conn: &mut AnyConnection, code: &str, value: &R) -> Result<()> {
    if let Some(owner) = value.owner() {
        let sql = format!("UPDATE {} SET programme = $1 WHERE code = $2", table::<R>());
        sqlx::query(&sql).bind(owner).bind(code).execute(&mut *conn).await?;
    }
    if R::KIND == Kind::Programme {
        let partners: Vec<&str> = value.refs().into_iter().filter(|r| r.to == Kind::Partner).map(|r| r.code).collect();
        write_programme_partners(conn, code, &partners).await?;
    }
    Ok(())
}

async fn write_programme_partners(conn: &mut AnyConnection, programme: &str, partners: &[&str]) -> Result<()> {
    sqlx::query("DELETE FROM programme_partners WHERE programme = $1").bind(programme).execute(&mut *conn).await?;
    for (j, partner) in partners.iter().enumerate() {
        sqlx::query("INSERT INTO programme_partners (programme, partner, position) VALUES ($1, $2, $3)")
            .bind(programme)
            .bind(*partner)
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
    use coopbrief_domain::dataset::{Activity, ActivityKind, Dataset, Indicator, Partner, PartnerKind, Sector};

    fn activity(code: &str) -> Activity {
        Activity {
            code: code.parse().unwrap(),
            sector: Some("culture".parse().unwrap()),
            period: "2020".parse().unwrap(),
            kind: ActivityKind::Workshop,
            title: Text::vi("Hội thảo"),
            description: None,
            location: None,
            organiser: Some("hanam".parse().unwrap()),
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
            let p = store.list::<Activity>(&filter, &page(4, &token)).await.unwrap();
            seen.extend(p.items.into_iter().map(|v| v.key));
            store.create("hanoi-hanam", &activity(&format!("new-{i}")), None, None).await.unwrap();
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
        let first = store.list::<Activity>(&filter, &page(1, "")).await.unwrap();
        let err = store.list::<Activity>(&other, &page(1, &first.next_page_token)).await.unwrap_err();
        assert!(matches!(&err, Error::Invalid(e) if e.field() == Some("page_token")), "{err}");
    }

    async fn request_ids_make_creates_idempotent(db: &TestDb) {
        let store = db.seeded().await;
        let first = store.create("hanoi-hanam", &activity("a"), Some("r1"), None).await.unwrap();
        let mut changed = activity("a");
        changed.title = Text::vi("Khác");
        let again = store.create("hanoi-hanam", &changed, Some("r1"), None).await.unwrap();
        assert_eq!(again, first, "the first result, not a second write");
        let err = store.create("hanoi-hanam", &activity("a"), None, None).await.unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { what: "activity", .. }), "{err}");
        let p = Partner { code: "x".parse().unwrap(), name: Text::vi("X"), kind: PartnerKind::Other };
        let err = store.create("", &p, Some("r1"), None).await.unwrap_err();
        assert!(matches!(&err, Error::Invalid(e) if e.field() == Some("request_id")), "{err}");
    }

    async fn stale_etags_are_refused_and_nothing_changes(db: &TestDb) {
        let store = db.seeded().await;
        let v = store.get::<Activity>("hanoi-hanam", "product-fairs").await.unwrap();
        let mut a = v.value.clone();
        a.occurrences = Some(16);
        let updated = store.update("hanoi-hanam", "product-fairs", &a, Some(&v.etag), None).await.unwrap();
        assert_ne!(updated.etag, v.etag);
        a.occurrences = Some(17);
        let err = store.update("hanoi-hanam", "product-fairs", &a, Some(&v.etag), None).await.unwrap_err();
        assert!(matches!(err, Error::Aborted(_)), "{err}");
        let err = store.delete::<Activity>("hanoi-hanam", "product-fairs", Some(&v.etag), None).await.unwrap_err();
        assert!(matches!(err, Error::Aborted(_)), "{err}");
        let now = store.get::<Activity>("hanoi-hanam", "product-fairs").await.unwrap();
        assert_eq!(now.value.occurrences, Some(16));
    }

    /// One more record than the renderer takes is refused, as an import of it would be.
    async fn a_programme_holds_no_more_records_than_the_renderer_takes(db: &TestDb) {
        let store = db.seeded().await;
        let mut ds = Dataset::bundled().unwrap();
        let template = ds.programmes[0].indicators[0].clone();
        let indicators = (0..coopbrief_domain::limits::MAX_INDICATORS).map(|i| Indicator {
            code: format!("i-{i}").parse().unwrap(),
            values: Vec::new(),
            ..template.clone()
        });
        ds.programmes[0].indicators = indicators.collect();
        store.import(&ds, false, None).await.unwrap();
        let one_more = Indicator { code: "one-more".parse().unwrap(), ..template };
        let err = store.create("hanoi-hanam", &one_more, None, None).await.unwrap_err();
        assert!(matches!(&err, Error::FailedPrecondition(m) if m.contains("the limit is 1000")), "{err}");
    }

    async fn used_partners_and_sectors_are_not_deleted(db: &TestDb) {
        let store = db.seeded().await;
        for code in ["hanoi", "hoabinh"] {
            let err = store.delete::<Partner>("", code, None, None).await.unwrap_err();
            assert!(matches!(err, Error::FailedPrecondition(_)), "{err}");
        }
        let err = store.delete::<Sector>("", "transport", None, None).await.unwrap_err();
        assert!(matches!(err, Error::FailedPrecondition(_)), "{err}");
        store.delete::<Sector>("", "tourism", None, None).await.unwrap();
        assert_eq!(store.partners().await.unwrap().len(), 3);
        // A programme without reports goes with its records and its own sectors; then its
        // partners are free to go.
        let own = Sector {
            code: "weaving".parse().unwrap(),
            name: Text::vi("Dệt"),
            programme: Some("hanoi-hanam".parse().unwrap()),
        };
        store.create("", &own, None, None).await.unwrap();
        let head = store.get::<Programme>("", "hanoi-hanam").await.unwrap();
        store.delete::<Programme>("", "hanoi-hanam", Some(&head.etag), None).await.unwrap();
        assert!(store.is_empty().await.unwrap());
        assert!(matches!(store.get::<Sector>("", "weaving").await.unwrap_err(), Error::NotFound { .. }));
        let filter = Filter::default();
        assert!(store.list::<Activity>(&filter, &page(10, "")).await.unwrap().items.is_empty());
        store.delete::<Partner>("", "hoabinh", None, None).await.unwrap();
    }

    async fn export_and_import_round_trip_and_report(db: &TestDb) {
        let store = db.seeded().await;
        let exported = store.export("hanoi-hanam").await.unwrap();
        assert_eq!(exported, Dataset::bundled().unwrap());
        let report = store.import(&exported, false, None).await.unwrap();
        assert!(report.created.is_empty() && report.changed.is_empty() && report.deleted.is_empty());
        let mut edited = exported.clone();
        edited.programmes[0].activities.remove(0);
        edited.partners[0].name.en = Some("Ha Noi".into());
        let dry = store.import(&edited, true, None).await.unwrap();
        assert_eq!(dry.deleted, ["hanoi-hanam/activity/cooperation-forums"]);
        assert_eq!(dry.changed, ["partner/hanoi"]);
        assert_eq!(store.export("hanoi-hanam").await.unwrap(), exported, "a dry run writes nothing");
        store.import(&edited, false, None).await.unwrap();
        assert_eq!(store.export("hanoi-hanam").await.unwrap(), edited);
    }

    crate::on_both_backends!(
        keyset_pages_survive_inserts,
        request_ids_make_creates_idempotent,
        a_programme_holds_no_more_records_than_the_renderer_takes,
        stale_etags_are_refused_and_nothing_changes,
        used_partners_and_sectors_are_not_deleted,
        export_and_import_round_trip_and_report,
    );
}
