//! `CooperationService`: standard methods (AIP-131..135) on every cooperation resource,
//! import and export of whole programmes, and the one call a worker makes.
//!
//! Each handler parses its request into domain types (errors name the field), then calls the
//! store. Records of a programme share one set of generic handlers ([`WireRecord`]); partners,
//! sectors and programmes have their own. Updates merge the request into the stored resource
//! on the wire, field by field as the mask says, and parse the result as a whole.

use coopbrief_domain::dataset::{
    self as d, Activity, Assessment, Contribution, Direction, Indicator, Partner, Programme, Project, Sector,
};
use coopbrief_domain::{Period, exchange};
use coopbrief_proto::convert;
use coopbrief_proto::v1;
use coopbrief_store::{Filter, PageRequest, Record, Versioned};
use tonic::{Request, Response, Status};

use super::audit::{self, caller};
use super::{App, required};
use crate::auth::Caller;
use crate::error::Error;

type DResult<T> = coopbrief_domain::Result<T>;

/// Page size when the request gives none (AIP-158).
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page; a larger request gets this many.
pub const MAX_PAGE_SIZE: u32 = 500;

fn bad(field: impl Into<String>, message: impl Into<String>) -> Status {
    Error::from(coopbrief_domain::Error::invalid(field, message)).into()
}

fn store_err(e: coopbrief_store::Error) -> Status {
    Error::from(e).into()
}

fn domain_err(e: coopbrief_domain::Error) -> Status {
    Error::from(e).into()
}

/// AIP-158: 0 is the default, above the maximum is the maximum, negative is an error.
fn page(size: i32, token: &str) -> Result<PageRequest, Status> {
    let size = match size {
        s if s < 0 => return Err(bad("page_size", format!("{s} is negative"))),
        0 => DEFAULT_PAGE_SIZE,
        s => (s as u32).min(MAX_PAGE_SIZE),
    };
    let token = Some(token.trim()).filter(|t| !t.is_empty()).map(str::to_owned);
    Ok(PageRequest { size, token })
}

/// An optional filter that is a code: empty is none, anything else must be a code.
fn code_filter(value: &str, field: &str) -> Result<Option<String>, Status> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    d::check_code(v, field).map_err(domain_err)?;
    Ok(Some(v.to_owned()))
}

/// An optional filter that must be one of `allowed`.
fn choice_filter(value: &str, field: &str, allowed: &[&str]) -> Result<Option<String>, Status> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if allowed.contains(&v) {
        Ok(Some(v.to_owned()))
    } else {
        Err(bad(field, format!("{v:?} is not one of {}", allowed.join(", "))))
    }
}

fn period_filter(value: &str) -> Result<Option<Period>, Status> {
    let v = value.trim();
    if v.is_empty() { Ok(None) } else { convert::period(v, "period").map(Some).map_err(domain_err) }
}

/// AIP-155: a request id is a UUID; empty means the client does not ask for idempotency.
fn request_id(value: &str) -> Result<Option<String>, Status> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    uuid::Uuid::parse_str(v).map_err(|_| bad("request_id", format!("{v:?} is not a UUID")))?;
    Ok(Some(v.to_ascii_lowercase()))
}

fn etag(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|e| !e.is_empty())
}

/// The paths of an update mask; none, or `*`, means every field (a full replacement).
fn mask_paths(mask: Option<prost_types::FieldMask>) -> Vec<String> {
    let paths: Vec<String> =
        mask.map(|m| m.paths).unwrap_or_default().into_iter().map(|p| p.trim().to_owned()).collect();
    if paths.is_empty() || paths.iter().any(|p| p == "*") { Vec::new() } else { paths }
}

/// Fields that identify a resource or are computed: never set by an update.
const FIXED: &[&str] = &["code", "programme", "etag"];

fn check_path(path: &str) -> Result<(), Status> {
    if FIXED.contains(&path) {
        return Err(bad("update_mask", format!("{path:?} cannot be changed; it identifies the resource")));
    }
    Ok(())
}

/// Copies the masked fields of `patch` into `current`; an unknown path is an error naming it.
macro_rules! merge_fields {
    ($current:expr, $patch:expr, $path:expr, $what:literal, [$($f:ident),* $(,)?]) => {
        match $path {
            $(stringify!($f) => $current.$f = std::mem::take(&mut $patch.$f),)*
            other => {
                return Err(bad("update_mask", format!("{other:?} is not a field of {} that can be updated", $what)))
            }
        }
    };
}

/// A record kind with its wire type and the conversions between them.
trait WireRecord: Record + Sized {
    type W: Clone + Default + Send + Sync + 'static;
    fn clone_wire(w: &Self::W) -> Self::W {
        w.clone()
    }
    /// The request field that carries it, e.g. `activity`.
    const FIELD: &'static str;
    fn to_wire(v: &Versioned<Self>) -> Self::W;
    fn from_wire(w: Self::W) -> DResult<Self>;
    fn merge(current: &mut Self::W, patch: &mut Self::W, path: &str) -> Result<(), Status>;
    fn ids(w: &Self::W) -> (&str, &str);
    fn etag(w: &Self::W) -> &str;
    /// Allowed values of the `status` filter; none when the kind has no status.
    const STATUSES: &'static [&'static str] = &[];
}

macro_rules! wire_record {
    ($dom:ty, $wire:ty, $field:literal, $to:expr, $from:path, [$($f:ident),* $(,)?] $(, statuses = $st:expr)?) => {
        impl WireRecord for $dom {
            type W = $wire;
            const FIELD: &'static str = $field;
            $(const STATUSES: &'static [&'static str] = $st;)?
            fn to_wire(v: &Versioned<Self>) -> $wire {
                let mut w: $wire = $to(&v.value);
                w.code = v.key.clone();
                w.programme = v.programme.clone();
                w.etag = v.etag.clone();
                w
            }
            fn from_wire(w: $wire) -> DResult<Self> {
                $from(w, $field)
            }
            fn merge(current: &mut $wire, patch: &mut $wire, path: &str) -> Result<(), Status> {
                merge_fields!(current, patch, path, $field, [$($f),*]);
                Ok(())
            }
            fn ids(w: &$wire) -> (&str, &str) {
                (&w.programme, &w.code)
            }
            fn etag(w: &$wire) -> &str {
                &w.etag
            }
        }
    };
}

wire_record!(
    Indicator,
    v1::Indicator,
    "indicator",
    convert::indicator,
    convert::to_indicator,
    [name, unit, sector, aggregation, base_date, higher_is_better, headline, baseline, target, values]
);
wire_record!(
    Activity,
    v1::Activity,
    "activity",
    convert::activity,
    convert::to_activity,
    [sector, period, kind, title, description, location, organiser, occurrences, participants, enterprises, products]
);
wire_record!(
    Project,
    v1::Project,
    "project",
    convert::project,
    convert::to_project,
    [sector, name, partners, location, status, progress, budget_vnd, period, description, milestones],
    statuses = &["planned", "in_progress", "completed", "suspended"]
);
wire_record!(
    Contribution,
    v1::Contribution,
    "contribution",
    convert::contribution,
    convert::to_contribution,
    [from, to, amount_vnd, sector, purpose, period, date, currency, amount]
);
wire_record!(
    Assessment,
    v1::Assessment,
    "assessment",
    |a: &Assessment| convert::assessment(a, ""),
    convert::to_assessment,
    [period, kind, sector, text]
);
wire_record!(
    Direction,
    v1::Direction,
    "direction",
    |x: &Direction| convert::direction(x, ""),
    convert::to_direction,
    [period, sector, text]
);

/// The audit log's name of a record: `programmes/hanoi-hanam/indicators/gdp`.
fn record_resource<R: WireRecord>(programme: &str, code: &str) -> String {
    let collection = match R::FIELD {
        "activity" => "activities",
        field => return format!("programmes/{programme}/{field}s/{code}"),
    };
    format!("programmes/{programme}/{collection}/{code}")
}

/// What a delete was asked to match, for the audit log.
fn deleted(etag: Option<&str>) -> serde_json::Value {
    match etag {
        Some(etag) => serde_json::json!({ "deleted": true, "etag": etag }),
        None => serde_json::json!({ "deleted": true }),
    }
}

/// A programme's records have methods of their own: an update of the programme never
/// changes them, and its audit entry leaves them out.
const PROGRAMME_RECORDS: &[&str] =
    &["indicators", "activities", "projects", "contributions", "assessments", "directions"];

/// The filters and page of a List request of records.
struct RecordList<'a> {
    programme: &'a str,
    sector: &'a str,
    period: &'a str,
    status: &'a str,
    page_size: i32,
    page_token: &'a str,
}

impl App {
    async fn get_record<R: WireRecord>(&self, programme: &str, code: &str) -> Result<Response<R::W>, Status> {
        let programme = required(programme, "programme")?;
        let code = required(code, "code")?;
        let v = self.store.get_record::<R>(programme, code).await.map_err(store_err)?;
        Ok(Response::new(R::to_wire(&v)))
    }

    async fn list_records<R: WireRecord>(&self, l: RecordList<'_>) -> Result<(Vec<R::W>, String), Status> {
        let status = if R::STATUSES.is_empty() {
            if !l.status.trim().is_empty() {
                return Err(bad("status", format!("a {} has no status", R::FIELD)));
            }
            None
        } else {
            choice_filter(l.status, "status", R::STATUSES)?
        };
        let filter = Filter {
            programme: code_filter(l.programme, "programme")?,
            sector: code_filter(l.sector, "sector")?,
            period: period_filter(l.period)?,
            status,
            ..Filter::default()
        };
        let page = page(l.page_size, l.page_token)?;
        let p = self.store.list_records::<R>(&filter, &page).await.map_err(store_err)?;
        Ok((p.items.iter().map(R::to_wire).collect(), p.next_page_token))
    }

    async fn create_record<R: WireRecord>(
        &self,
        caller: &Caller,
        w: Option<R::W>,
        rid: &str,
    ) -> Result<Response<R::W>, Status> {
        let w = w.ok_or_else(|| bad(R::FIELD, "is required"))?;
        let rid = request_id(rid)?;
        let (programme, code) = R::ids(&w);
        let programme = required(programme, &format!("{}.programme", R::FIELD))?.to_owned();
        let code = required(code, &format!("{}.code", R::FIELD))?.to_owned();
        let value = R::from_wire(w).map_err(domain_err)?;
        let v = self.store.create_record(&programme, &value, rid.as_deref()).await.map_err(store_err)?;
        self.audit(caller, &record_resource::<R>(&programme, &code), audit::created(&value)).await;
        Ok(Response::new(R::to_wire(&v)))
    }

    async fn update_record<R: WireRecord>(
        &self,
        caller: &Caller,
        w: Option<R::W>,
        mask: Option<prost_types::FieldMask>,
    ) -> Result<Response<R::W>, Status> {
        let patch = w.ok_or_else(|| bad(R::FIELD, "is required"))?;
        let (programme, code) = R::ids(&patch);
        let programme = required(programme, &format!("{}.programme", R::FIELD))?.to_owned();
        let code = required(code, &format!("{}.code", R::FIELD))?.to_owned();
        let given = etag(R::etag(&patch)).map(str::to_owned);
        let paths = mask_paths(mask);
        // Without an etag from the client, the read this update merges into is guarded by its
        // own etag: a concurrent write in between makes it read and merge again.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let current = self.store.get_record::<R>(&programme, &code).await.map_err(store_err)?;
            let mut merged = R::to_wire(&current);
            let mut patch = R::clone_wire(&patch);
            if paths.is_empty() {
                merged = patch;
            } else {
                for path in &paths {
                    check_path(path)?;
                    R::merge(&mut merged, &mut patch, path)?;
                }
            }
            let mut value = R::from_wire(merged).map_err(domain_err)?;
            // The code identifies the record: whatever the patch said, it keeps its own.
            if value.code() != Some(code.as_str()) {
                if value.code().is_some() && current.value.code().is_some() {
                    return Err(bad(format!("{}.code", R::FIELD), "cannot be changed; it identifies the resource"));
                }
                value.set_code(current.value.code().map(str::to_owned));
            }
            let expected = given.clone().unwrap_or(current.etag);
            match self.store.update_record(&programme, &code, &value, Some(&expected)).await {
                Err(coopbrief_store::Error::Aborted(_)) if given.is_none() && attempts < 3 => continue,
                result => {
                    let v = result.map_err(store_err)?;
                    let changes = audit::updated(&value, &paths, &[]);
                    self.audit(caller, &record_resource::<R>(&programme, &code), changes).await;
                    return Ok(Response::new(R::to_wire(&v)));
                }
            }
        }
    }

    async fn delete_record<R: WireRecord>(
        &self,
        caller: &Caller,
        programme: &str,
        code: &str,
        tag: &str,
    ) -> Result<Response<()>, Status> {
        let programme = required(programme, "programme")?;
        let code = required(code, "code")?;
        self.store.delete_record::<R>(programme, code, etag(tag)).await.map_err(store_err)?;
        self.audit(caller, &record_resource::<R>(programme, code), deleted(etag(tag))).await;
        Ok(Response::new(()))
    }
}

fn partner_wire(v: &Versioned<Partner>) -> v1::Partner {
    v1::Partner { etag: v.etag.clone(), ..convert::partner(&v.value) }
}

fn sector_wire(v: &Versioned<Sector>) -> v1::Sector {
    v1::Sector { etag: v.etag.clone(), ..convert::sector(&v.value) }
}

fn programme_wire(v: &Versioned<Programme>) -> v1::Programme {
    v1::Programme { etag: v.etag.clone(), ..convert::programme(&v.value) }
}

/// A programme from the wire, header and records, checked by itself.
fn to_programme(w: v1::Programme) -> Result<Programme, Status> {
    let p = convert::to_programme(w, "programme").map_err(domain_err)?;
    p.check("programme").map_err(domain_err)?;
    Ok(p)
}

const PARTNER_KINDS: &[&str] = &["city", "province", "central_agency", "other"];
const PROGRAMME_STATUSES: &[&str] = &["planned", "active", "completed", "suspended"];

/// A boxed future as `#[tonic::async_trait]` writes it: that attribute cannot see into the
/// methods a macro writes, so [`record_methods`] writes them in its expanded form.
type Fut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response<T>, Status>> + Send + 'a>>;

macro_rules! record_methods {
    ($R:ty, $W:ty, $field:ident,
     $list:ident, $ListReq:ty, $ListResp:ty,
     $get:ident, $GetReq:ty, $create:ident, $CreateReq:ty, $update:ident, $UpdateReq:ty, $delete:ident, $DeleteReq:ty) => {
        fn $list<'s, 'a>(&'s self, req: Request<$ListReq>) -> Fut<'a, $ListResp>
        where
            's: 'a,
            Self: 'a,
        {
            Box::pin(async move {
                let r = req.into_inner();
                let (items, next_page_token) = self
                    .list_records::<$R>(RecordList {
                        programme: &r.programme,
                        sector: &r.sector,
                        period: &r.period,
                        status: &r.status,
                        page_size: r.page_size,
                        page_token: &r.page_token,
                    })
                    .await?;
                Ok(Response::new(<$ListResp>::from_parts(items, next_page_token)))
            })
        }

        fn $get<'s, 'a>(&'s self, req: Request<$GetReq>) -> Fut<'a, $W>
        where
            's: 'a,
            Self: 'a,
        {
            Box::pin(async move {
                let r = req.into_inner();
                self.get_record::<$R>(&r.programme, &r.code).await
            })
        }

        fn $create<'s, 'a>(&'s self, req: Request<$CreateReq>) -> Fut<'a, $W>
        where
            's: 'a,
            Self: 'a,
        {
            Box::pin(async move {
                let caller = caller(&req);
                let r = req.into_inner();
                self.create_record::<$R>(&caller, r.$field, &r.request_id).await
            })
        }

        fn $update<'s, 'a>(&'s self, req: Request<$UpdateReq>) -> Fut<'a, $W>
        where
            's: 'a,
            Self: 'a,
        {
            Box::pin(async move {
                let caller = caller(&req);
                let r = req.into_inner();
                self.update_record::<$R>(&caller, r.$field, r.update_mask).await
            })
        }

        fn $delete<'s, 'a>(&'s self, req: Request<$DeleteReq>) -> Fut<'a, ()>
        where
            's: 'a,
            Self: 'a,
        {
            Box::pin(async move {
                let caller = caller(&req);
                let r = req.into_inner();
                self.delete_record::<$R>(&caller, &r.programme, &r.code, &r.etag).await
            })
        }
    };
}

/// Builds a List response from its items and the next token.
trait FromParts<T> {
    fn from_parts(items: Vec<T>, next_page_token: String) -> Self;
}

macro_rules! from_parts {
    ($Resp:ty, $W:ty, $items:ident) => {
        impl FromParts<$W> for $Resp {
            fn from_parts($items: Vec<$W>, next_page_token: String) -> Self {
                Self { $items, next_page_token }
            }
        }
    };
}

from_parts!(v1::ListIndicatorsResponse, v1::Indicator, indicators);
from_parts!(v1::ListActivitiesResponse, v1::Activity, activities);
from_parts!(v1::ListProjectsResponse, v1::Project, projects);
from_parts!(v1::ListContributionsResponse, v1::Contribution, contributions);
from_parts!(v1::ListAssessmentsResponse, v1::Assessment, assessments);
from_parts!(v1::ListDirectionsResponse, v1::Direction, directions);

#[tonic::async_trait]
impl coopbrief_proto::CooperationService for App {
    // ---- partners ---------------------------------------------------------------------------

    async fn list_partners(
        &self,
        req: Request<v1::ListPartnersRequest>,
    ) -> Result<Response<v1::ListPartnersResponse>, Status> {
        let r = req.into_inner();
        let filter = Filter {
            programme: code_filter(&r.programme, "programme")?,
            kind: choice_filter(&r.kind, "kind", PARTNER_KINDS)?,
            ..Filter::default()
        };
        let p = self.store.list_partners(&filter, &page(r.page_size, &r.page_token)?).await.map_err(store_err)?;
        Ok(Response::new(v1::ListPartnersResponse {
            partners: p.items.iter().map(partner_wire).collect(),
            next_page_token: p.next_page_token,
        }))
    }

    async fn get_partner(&self, req: Request<v1::GetPartnerRequest>) -> Result<Response<v1::Partner>, Status> {
        let code = required(&req.get_ref().code, "code")?;
        Ok(Response::new(partner_wire(&self.store.get_partner(code).await.map_err(store_err)?)))
    }

    async fn create_partner(&self, req: Request<v1::CreatePartnerRequest>) -> Result<Response<v1::Partner>, Status> {
        let caller = caller(&req);
        let r = req.into_inner();
        let rid = request_id(&r.request_id)?;
        let w = r.partner.ok_or_else(|| bad("partner", "is required"))?;
        let p = convert::to_partner(w, "partner").map_err(domain_err)?;
        let v = self.store.create_partner(&p, rid.as_deref()).await.map_err(store_err)?;
        self.audit(&caller, &format!("partners/{}", p.code), audit::created(&p)).await;
        Ok(Response::new(partner_wire(&v)))
    }

    async fn update_partner(&self, req: Request<v1::UpdatePartnerRequest>) -> Result<Response<v1::Partner>, Status> {
        let caller = caller(&req);
        let r = req.into_inner();
        let mut patch = r.partner.ok_or_else(|| bad("partner", "is required"))?;
        let code = required(&patch.code, "partner.code")?.to_owned();
        // Without the client's etag, the read merged into guards the write: a concurrent change
        // in between gets ABORTED rather than being overwritten.
        let expected = etag(&patch.etag).map(str::to_owned);
        let current = self.store.get_partner(&code).await.map_err(store_err)?;
        let mut merged = partner_wire(&current);
        let paths = mask_paths(r.update_mask);
        if paths.is_empty() {
            merged = patch;
        } else {
            for path in &paths {
                check_path(path)?;
                merge_fields!(merged, patch, path.as_str(), "partner", [name, kind]);
            }
        }
        let p = convert::to_partner(merged, "partner").map_err(domain_err)?;
        let v = self
            .store
            .update_partner(&p, Some(expected.as_deref().unwrap_or(&current.etag)))
            .await
            .map_err(store_err)?;
        self.audit(&caller, &format!("partners/{code}"), audit::updated(&p, &paths, &[])).await;
        Ok(Response::new(partner_wire(&v)))
    }

    async fn delete_partner(&self, req: Request<v1::DeletePartnerRequest>) -> Result<Response<()>, Status> {
        let caller = caller(&req);
        let r = req.into_inner();
        let code = required(&r.code, "code")?;
        self.store.delete_partner(code, etag(&r.etag)).await.map_err(store_err)?;
        self.audit(&caller, &format!("partners/{code}"), deleted(etag(&r.etag))).await;
        Ok(Response::new(()))
    }

    // ---- sectors ----------------------------------------------------------------------------

    async fn list_sectors(
        &self,
        req: Request<v1::ListSectorsRequest>,
    ) -> Result<Response<v1::ListSectorsResponse>, Status> {
        let r = req.into_inner();
        let filter = Filter { programme: code_filter(&r.programme, "programme")?, ..Filter::default() };
        let p = self.store.list_sectors(&filter, &page(r.page_size, &r.page_token)?).await.map_err(store_err)?;
        Ok(Response::new(v1::ListSectorsResponse {
            sectors: p.items.iter().map(sector_wire).collect(),
            next_page_token: p.next_page_token,
        }))
    }

    async fn get_sector(&self, req: Request<v1::GetSectorRequest>) -> Result<Response<v1::Sector>, Status> {
        let code = required(&req.get_ref().code, "code")?;
        Ok(Response::new(sector_wire(&self.store.get_sector(code).await.map_err(store_err)?)))
    }

    async fn create_sector(&self, req: Request<v1::CreateSectorRequest>) -> Result<Response<v1::Sector>, Status> {
        let caller = caller(&req);
        let r = req.into_inner();
        let rid = request_id(&r.request_id)?;
        let w = r.sector.ok_or_else(|| bad("sector", "is required"))?;
        let s = convert::to_sector(w, "sector").map_err(domain_err)?;
        let v = self.store.create_sector(&s, rid.as_deref()).await.map_err(store_err)?;
        self.audit(&caller, &format!("sectors/{}", s.code), audit::created(&s)).await;
        Ok(Response::new(sector_wire(&v)))
    }

    async fn update_sector(&self, req: Request<v1::UpdateSectorRequest>) -> Result<Response<v1::Sector>, Status> {
        let caller = caller(&req);
        let r = req.into_inner();
        let mut patch = r.sector.ok_or_else(|| bad("sector", "is required"))?;
        let code = required(&patch.code, "sector.code")?.to_owned();
        // Without the client's etag, the read merged into guards the write: a concurrent change
        // in between gets ABORTED rather than being overwritten.
        let expected = etag(&patch.etag).map(str::to_owned);
        let current = self.store.get_sector(&code).await.map_err(store_err)?;
        let mut merged = sector_wire(&current);
        let paths = mask_paths(r.update_mask);
        if paths.is_empty() {
            merged = v1::Sector { programme: merged.programme, ..patch };
        } else {
            for path in &paths {
                check_path(path)?;
                merge_fields!(merged, patch, path.as_str(), "sector", [name]);
            }
        }
        let s = convert::to_sector(merged, "sector").map_err(domain_err)?;
        let v = self
            .store
            .update_sector(&s, Some(expected.as_deref().unwrap_or(&current.etag)))
            .await
            .map_err(store_err)?;
        self.audit(&caller, &format!("sectors/{code}"), audit::updated(&s, &paths, &[])).await;
        Ok(Response::new(sector_wire(&v)))
    }

    async fn delete_sector(&self, req: Request<v1::DeleteSectorRequest>) -> Result<Response<()>, Status> {
        let caller = caller(&req);
        let r = req.into_inner();
        let code = required(&r.code, "code")?;
        self.store.delete_sector(code, etag(&r.etag)).await.map_err(store_err)?;
        self.audit(&caller, &format!("sectors/{code}"), deleted(etag(&r.etag))).await;
        Ok(Response::new(()))
    }

    // ---- programmes -------------------------------------------------------------------------

    async fn list_programmes(
        &self,
        _: Request<v1::ListProgrammesRequest>,
    ) -> Result<Response<v1::ListProgrammesResponse>, Status> {
        let mut programmes = Vec::new();
        let mut token = None;
        loop {
            let page = PageRequest { size: MAX_PAGE_SIZE, token };
            let p = self.store.list_programmes(&Filter::default(), &page).await.map_err(store_err)?;
            programmes.extend(p.items.iter().map(programme_wire));
            if p.next_page_token.is_empty() {
                break;
            }
            token = Some(p.next_page_token);
        }
        Ok(Response::new(v1::ListProgrammesResponse { programmes, next_page_token: String::new() }))
    }

    async fn list_programmes_filtered(
        &self,
        req: Request<v1::ListProgrammesFilteredRequest>,
    ) -> Result<Response<v1::ListProgrammesResponse>, Status> {
        let r = req.into_inner();
        let filter = Filter {
            partner: code_filter(&r.partner, "partner")?,
            status: choice_filter(&r.status, "status", PROGRAMME_STATUSES)?,
            ..Filter::default()
        };
        let p = self.store.list_programmes(&filter, &page(r.page_size, &r.page_token)?).await.map_err(store_err)?;
        Ok(Response::new(v1::ListProgrammesResponse {
            programmes: p.items.iter().map(programme_wire).collect(),
            next_page_token: p.next_page_token,
        }))
    }

    async fn get_programme(&self, req: Request<v1::GetProgrammeRequest>) -> Result<Response<v1::Programme>, Status> {
        let code = required(&req.get_ref().code, "code")?;
        Ok(Response::new(programme_wire(&self.store.get_programme(code).await.map_err(store_err)?)))
    }

    async fn create_programme(
        &self,
        req: Request<v1::CreateProgrammeRequest>,
    ) -> Result<Response<v1::Programme>, Status> {
        let caller = caller(&req);
        let r = req.into_inner();
        let rid = request_id(&r.request_id)?;
        let w = r.programme.ok_or_else(|| bad("programme", "is required"))?;
        let p = to_programme(w)?;
        let records = [
            ("indicators", p.indicators.is_empty()),
            ("activities", p.activities.is_empty()),
            ("projects", p.projects.is_empty()),
            ("contributions", p.contributions.is_empty()),
            ("assessments", p.assessments.is_empty()),
            ("directions", p.directions.is_empty()),
        ];
        if let Some((field, _)) = records.iter().find(|(_, empty)| !empty) {
            return Err(bad(
                format!("programme.{field}"),
                "records are created one by one (CreateActivity …) or imported with ImportProgramme",
            ));
        }
        let v = self.store.create_programme(&p, rid.as_deref()).await.map_err(store_err)?;
        self.audit(&caller, &format!("programmes/{}", p.code), audit::created(&p)).await;
        Ok(Response::new(programme_wire(&v)))
    }

    async fn update_programme(
        &self,
        req: Request<v1::UpdateProgrammeRequest>,
    ) -> Result<Response<v1::Programme>, Status> {
        let caller = caller(&req);
        let r = req.into_inner();
        let mut patch = r.programme.ok_or_else(|| bad("programme", "is required"))?;
        let code = required(&patch.code, "programme.code")?.to_owned();
        // Without the client's etag, the read merged into guards the write: a concurrent change
        // in between gets ABORTED rather than being overwritten.
        let expected = etag(&patch.etag).map(str::to_owned);
        let current = self.store.get_programme(&code).await.map_err(store_err)?;
        let mut merged = programme_wire(&current);
        let paths = mask_paths(r.update_mask);
        let header = |merged: &mut v1::Programme, patch: &mut v1::Programme, path: &str| -> Result<(), Status> {
            merge_fields!(
                merged,
                patch,
                path,
                "programme (records have methods of their own)",
                [
                    title,
                    short_name,
                    status,
                    partners,
                    phases,
                    issuer,
                    place,
                    notes,
                    source,
                    agreed_on,
                    signatories,
                    valid
                ]
            );
            Ok(())
        };
        if paths.is_empty() {
            // A full replacement of the header; the records stay as stored.
            for path in [
                "title",
                "short_name",
                "status",
                "partners",
                "phases",
                "issuer",
                "place",
                "notes",
                "source",
                "agreed_on",
                "signatories",
                "valid",
            ] {
                header(&mut merged, &mut patch, path)?;
            }
        } else {
            for path in &paths {
                check_path(path)?;
                header(&mut merged, &mut patch, path)?;
            }
        }
        let p = to_programme(merged)?;
        let v = self
            .store
            .update_programme(&p, Some(expected.as_deref().unwrap_or(&current.etag)))
            .await
            .map_err(store_err)?;
        let changes = audit::updated(&p, &paths, PROGRAMME_RECORDS);
        self.audit(&caller, &format!("programmes/{code}"), changes).await;
        Ok(Response::new(programme_wire(&v)))
    }

    async fn delete_programme(&self, req: Request<v1::DeleteProgrammeRequest>) -> Result<Response<()>, Status> {
        let caller = caller(&req);
        let r = req.into_inner();
        let code = required(&r.code, "code")?;
        self.store.delete_programme(code, etag(&r.etag)).await.map_err(store_err)?;
        self.audit(&caller, &format!("programmes/{code}"), deleted(etag(&r.etag))).await;
        Ok(Response::new(()))
    }

    // ---- records ----------------------------------------------------------------------------

    record_methods!(
        Indicator,
        v1::Indicator,
        indicator,
        list_indicators,
        v1::ListIndicatorsRequest,
        v1::ListIndicatorsResponse,
        get_indicator,
        v1::GetIndicatorRequest,
        create_indicator,
        v1::CreateIndicatorRequest,
        update_indicator,
        v1::UpdateIndicatorRequest,
        delete_indicator,
        v1::DeleteIndicatorRequest
    );
    record_methods!(
        Activity,
        v1::Activity,
        activity,
        list_activities,
        v1::ListActivitiesRequest,
        v1::ListActivitiesResponse,
        get_activity,
        v1::GetActivityRequest,
        create_activity,
        v1::CreateActivityRequest,
        update_activity,
        v1::UpdateActivityRequest,
        delete_activity,
        v1::DeleteActivityRequest
    );
    record_methods!(
        Project,
        v1::Project,
        project,
        list_projects,
        v1::ListProjectsRequest,
        v1::ListProjectsResponse,
        get_project,
        v1::GetProjectRequest,
        create_project,
        v1::CreateProjectRequest,
        update_project,
        v1::UpdateProjectRequest,
        delete_project,
        v1::DeleteProjectRequest
    );
    record_methods!(
        Contribution,
        v1::Contribution,
        contribution,
        list_contributions,
        v1::ListContributionsRequest,
        v1::ListContributionsResponse,
        get_contribution,
        v1::GetContributionRequest,
        create_contribution,
        v1::CreateContributionRequest,
        update_contribution,
        v1::UpdateContributionRequest,
        delete_contribution,
        v1::DeleteContributionRequest
    );
    record_methods!(
        Assessment,
        v1::Assessment,
        assessment,
        list_assessments,
        v1::ListAssessmentsRequest,
        v1::ListAssessmentsResponse,
        get_assessment,
        v1::GetAssessmentRequest,
        create_assessment,
        v1::CreateAssessmentRequest,
        update_assessment,
        v1::UpdateAssessmentRequest,
        delete_assessment,
        v1::DeleteAssessmentRequest
    );
    record_methods!(
        Direction,
        v1::Direction,
        direction,
        list_directions,
        v1::ListDirectionsRequest,
        v1::ListDirectionsResponse,
        get_direction,
        v1::GetDirectionRequest,
        create_direction,
        v1::CreateDirectionRequest,
        update_direction,
        v1::UpdateDirectionRequest,
        delete_direction,
        v1::DeleteDirectionRequest
    );

    // ---- import and export ------------------------------------------------------------------

    async fn export_programme(
        &self,
        req: Request<v1::ExportProgrammeRequest>,
    ) -> Result<Response<v1::ExportProgrammeResponse>, Status> {
        let code = required(&req.get_ref().programme, "programme")?;
        let dataset = self.store.export(code).await.map_err(store_err)?;
        let yaml = exchange::to_yaml(&dataset).map_err(domain_err)?;
        Ok(Response::new(v1::ExportProgrammeResponse { yaml }))
    }

    async fn import_programme(
        &self,
        req: Request<v1::ImportProgrammeRequest>,
    ) -> Result<Response<v1::ImportProgrammeResponse>, Status> {
        let caller = caller(&req);
        let r = req.into_inner();
        if r.yaml.trim().is_empty() {
            return Err(bad("yaml", "is empty"));
        }
        let dataset = exchange::from_yaml(&r.yaml).map_err(|e| match e {
            // A syntax error: say which field of the request it is in.
            coopbrief_domain::Error::Dataset { message, .. } => bad("yaml", message),
            other => domain_err(other),
        })?;
        let report = self.store.import(&dataset, r.validate_only).await.map_err(store_err)?;
        tracing::info!(
            created = report.created.len(),
            changed = report.changed.len(),
            unchanged = report.unchanged.len(),
            deleted = report.deleted.len(),
            dry_run = r.validate_only,
            "programme imported"
        );
        if !r.validate_only {
            let codes: Vec<&str> = dataset.programmes.iter().map(|p| p.code.as_str()).collect();
            let changes = serde_json::json!({
                "created": report.created, "changed": report.changed, "deleted": report.deleted,
                "unchanged": report.unchanged.len(),
            });
            self.audit(&caller, &format!("programmes/{}", codes.join(",")), changes).await;
        }
        Ok(Response::new(v1::ImportProgrammeResponse {
            created: report.created,
            changed: report.changed,
            unchanged: report.unchanged,
            deleted: report.deleted,
        }))
    }

    // ---- the worker's call ------------------------------------------------------------------

    async fn get_briefing_data(
        &self,
        req: Request<v1::GetBriefingDataRequest>,
    ) -> Result<Response<v1::BriefingData>, Status> {
        let req = req.into_inner();
        let programme = required(&req.programme, "programme")?;
        let period = convert::period(required(&req.period, "period")?, "period").map_err(Error::from)?;
        let data = self.store.briefing_data(programme, period).await.map_err(Error::from)?;
        Ok(Response::new(convert::briefing(&data)))
    }
}
