//! `CooperationService`: the standard methods (AIP-131..135) of every cooperation resource,
//! import and export of whole programmes, and the one call a worker makes.
//!
//! The standard methods are five generic handlers over [`WireResource`]; the table at the
//! bottom binds each resource's RPCs to them, one line per resource. Updates merge the request
//! into the stored resource on the wire, field by field as the mask says (no mask: every field
//! an update may set), and parse the result as a whole.

use coopbrief_domain::dataset::{Activity, Assessment, Contribution, Direction, Indicator, Partner};
use coopbrief_domain::dataset::{Programme, Project, Sector};
use coopbrief_domain::resource::{Kind, PROGRAMME_RECORDS};
use coopbrief_domain::{Code, exchange};
use coopbrief_proto::resource::{Key, WireResource};
use coopbrief_proto::{convert, v1};
use coopbrief_store::{Filter, Versioned};
use tonic::{Request, Response, Status};

use super::audit::{self, caller};
use super::{App, MAX_IMPORTS, invalid, page, request_id, required};
use crate::error::{Error, Result};

/// An optional filter that is a code: empty is none, anything else must be a code.
fn code_filter(value: &str, field: &str) -> Result<Option<String>> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    Ok(Some(Code::parse(v, field)?.into()))
}

/// An optional filter that must be one of `allowed`; a resource without such a filter (none
/// allowed) refuses any value.
fn choice_filter<R: WireResource>(value: &str, field: &str, allowed: &[&str]) -> Result<Option<String>> {
    let v = value.trim();
    match v {
        "" => Ok(None),
        _ if allowed.is_empty() => Err(invalid(field, format!("a {} has no {field}", R::NAME))),
        _ if allowed.contains(&v) => Ok(Some(v.to_owned())),
        _ => Err(invalid(field, format!("{v:?} is not one of {}", allowed.join(", ")))),
    }
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

/// The programme (of a record) and code a request names; fields are named under `at`.
fn ids<R: WireResource>(key: &Key, at: &str) -> Result<(String, String)> {
    let field = |name: &str| if at.is_empty() { name.to_owned() } else { format!("{at}.{name}") };
    let programme = match R::KIND {
        Kind::Record => required(&key.programme, &field("programme"))?.to_owned(),
        _ => String::new(),
    };
    Ok((programme, required(&key.code, &field("code"))?.to_owned()))
}

fn wire<R: WireResource>(v: &Versioned<R>) -> R::Wire {
    let key = Key { programme: v.programme.clone(), code: v.key.clone(), etag: v.etag.clone() };
    R::to_wire(&v.value, &key)
}

/// The audit log's name of a resource: `partners/hanoi`, `programmes/hanoi-hanam/indicators/gdp`.
fn resource_name<R: WireResource>(programme: &str, code: &str) -> String {
    match R::KIND {
        Kind::Record => format!("programmes/{programme}/{}/{code}", R::PLURAL),
        _ => format!("{}/{code}", R::PLURAL),
    }
}

/// What a delete was asked to match, for the audit log.
fn deleted(etag: Option<&str>) -> serde_json::Value {
    match etag {
        Some(etag) => serde_json::json!({ "deleted": true, "etag": etag }),
        None => serde_json::json!({ "deleted": true }),
    }
}

impl App {
    async fn list_resources<R: WireResource>(&self, req: Request<R::List>) -> Result<Response<R::Page>> {
        let q = R::list_query(req.into_inner());
        let filter = Filter {
            programme: code_filter(&q.programme, "programme")?,
            sector: code_filter(&q.sector, "sector")?,
            period: Some(q.period.trim())
                .filter(|p| !p.is_empty())
                .map(|p| convert::period(p, "period"))
                .transpose()?,
            status: choice_filter::<R>(&q.status, "status", R::STATUSES)?,
            kind: choice_filter::<R>(&q.kind, "kind", R::KINDS)?,
            partner: code_filter(&q.partner, "partner")?,
        };
        let p = self.store.list::<R>(&filter, &page(q.page_size, &q.page_token)?).await?;
        Ok(Response::new(R::page(p.items.iter().map(wire).collect(), p.next_page_token)))
    }

    async fn get_resource<R: WireResource>(&self, req: Request<R::Get>) -> Result<Response<R::Wire>> {
        let (programme, code) = ids::<R>(&R::get_key(req.into_inner()), "")?;
        Ok(Response::new(wire(&self.store.get::<R>(&programme, &code).await?)))
    }

    async fn create_resource<R: WireResource>(&self, req: Request<R::Create>) -> Result<Response<R::Wire>> {
        let caller = caller(&req);
        let (w, rid) = R::create_parts(req.into_inner());
        let w = w.ok_or_else(|| invalid::<Error>(R::NAME, "is required"))?;
        let rid = request_id(&rid)?;
        let (programme, code) = ids::<R>(&R::key(&w), R::NAME)?;
        let value = R::from_wire(w)?;
        let (resource, changes) = (resource_name::<R>(&programme, &code), audit::created(&value).to_string());
        let entry = audit::entry(&caller, &resource, &changes);
        let v = self.store.create(&programme, &value, rid.as_deref(), Some(&entry)).await?;
        Ok(Response::new(wire(&v)))
    }

    async fn update_resource<R: WireResource>(&self, req: Request<R::Update>) -> Result<Response<R::Wire>> {
        let caller = caller(&req);
        let (patch, mask) = R::update_parts(req.into_inner());
        let patch = patch.ok_or_else(|| invalid::<Error>(R::NAME, "is required"))?;
        let key = R::key(&patch);
        let (programme, code) = ids::<R>(&key, R::NAME)?;
        let given = etag(&key.etag).map(str::to_owned);
        let paths = mask_paths(mask);
        if let Some(path) = paths.iter().find(|p| FIXED.contains(&p.as_str())) {
            return Err(invalid("update_mask", format!("{path:?} cannot be changed; it identifies the resource")));
        }
        let fields: Vec<&str> =
            if paths.is_empty() { R::FIELDS.to_vec() } else { paths.iter().map(|p| &**p).collect() };
        // Without an etag from the client, the read this update merges into guards the write
        // with its own etag: a concurrent write in between makes it read and merge again.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let current = self.store.get::<R>(&programme, &code).await?;
            let (mut merged, mut patch) = (wire(&current), patch.clone());
            for path in &fields {
                if !R::merge(&mut merged, &mut patch, path) {
                    let message = format!("{path:?} is not a field of {} that can be updated", R::NAME);
                    return Err(invalid("update_mask", message));
                }
            }
            let value = R::from_wire(merged)?;
            let expected = given.clone().unwrap_or(current.etag);
            let skip = if R::KIND == Kind::Programme { PROGRAMME_RECORDS } else { &[] };
            let (resource, changes) = (resource_name::<R>(&programme, &code), audit::updated(&value, &paths, skip));
            let changes = changes.to_string();
            let entry = audit::entry(&caller, &resource, &changes);
            match self.store.update(&programme, &code, &value, Some(&expected), Some(&entry)).await {
                Err(coopbrief_store::Error::Aborted(_)) if given.is_none() && attempts < 3 => continue,
                result => return Ok(Response::new(wire(&result?))),
            }
        }
    }

    async fn delete_resource<R: WireResource>(&self, req: Request<R::Delete>) -> Result<Response<()>> {
        let caller = caller(&req);
        let key = R::delete_key(req.into_inner());
        let (programme, code) = ids::<R>(&key, "")?;
        let (resource, changes) = (resource_name::<R>(&programme, &code), deleted(etag(&key.etag)).to_string());
        let entry = audit::entry(&caller, &resource, &changes);
        self.store.delete::<R>(&programme, &code, etag(&key.etag), Some(&entry)).await?;
        Ok(Response::new(()))
    }

    async fn export(&self, req: Request<v1::ExportProgrammeRequest>) -> Result<Response<v1::ExportProgrammeResponse>> {
        let code = required(&req.get_ref().programme, "programme")?;
        let yaml = exchange::to_yaml(&self.store.export(code).await?)?;
        Ok(Response::new(v1::ExportProgrammeResponse { yaml }))
    }

    async fn import(&self, req: Request<v1::ImportProgrammeRequest>) -> Result<Response<v1::ImportProgrammeResponse>> {
        let caller = caller(&req);
        let r = req.into_inner();
        if r.yaml.trim().is_empty() {
            return Err(invalid("yaml", "is empty"));
        }
        let busy = || Error::Busy(format!("{MAX_IMPORTS} imports are running; try again when one has finished"));
        // The turn is held until the import is written, and by the parse until it ends: one
        // whose caller went away still counts until its work is done.
        let turn = std::sync::Arc::new(self.imports.clone().try_acquire_owned().map_err(|_| busy())?);
        // Parsing and checking a document is CPU work: off the executor, so that other calls
        // (health checks) are answered meanwhile.
        let parsing = turn.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            let _turn = parsing;
            exchange::from_yaml(&r.yaml)
        })
        .await
        .map_err(|e| Error::Internal(format!("the import's parse failed: {e}")))?;
        let dataset = parsed.map_err(|e| match e {
            // A syntax error: say which field of the request it is in.
            coopbrief_domain::Error::Dataset { message, .. } => invalid("yaml", message),
            other => Error::from(other),
        })?;
        let codes: Vec<&str> = dataset.programmes.iter().map(|p| p.code.as_str()).collect();
        let resource = format!("programmes/{}", codes.join(","));
        let entry = audit::entry(&caller, &resource, "");
        let audit = (!r.validate_only).then_some(&entry);
        let report = self.store.import(&dataset, r.validate_only, audit).await?;
        drop(turn);
        tracing::info!(
            created = report.created.len(),
            changed = report.changed.len(),
            unchanged = report.unchanged.len(),
            deleted = report.deleted.len(),
            dry_run = r.validate_only,
            "programme imported"
        );
        Ok(Response::new(v1::ImportProgrammeResponse {
            created: report.created,
            changed: report.changed,
            unchanged: report.unchanged,
            deleted: report.deleted,
        }))
    }

    async fn briefing_data(&self, req: Request<v1::GetBriefingDataRequest>) -> Result<Response<v1::BriefingData>> {
        let req = req.into_inner();
        let programme = required(&req.programme, "programme")?;
        let period = convert::period(required(&req.period, "period")?, "period")?;
        let data = self.store.briefing_data(programme, period).await?;
        Ok(Response::new(convert::briefing(&data)))
    }
}

/// The service: each RPC one line, bound to its generic handler by the resource's row.
macro_rules! cooperation_service {
    ($($R:ty: $list:ident, $get:ident, $create:ident, $update:ident, $delete:ident;)*) => {
        #[tonic::async_trait]
        impl coopbrief_proto::CooperationService for App {
            $(
                async fn $list(&self, r: Request<<$R as WireResource>::List>) -> Reply<<$R as WireResource>::Page> {
                    Ok(self.list_resources::<$R>(r).await?)
                }
                async fn $get(&self, r: Request<<$R as WireResource>::Get>) -> Reply<<$R as WireResource>::Wire> {
                    Ok(self.get_resource::<$R>(r).await?)
                }
                async fn $create(&self, r: Request<<$R as WireResource>::Create>) -> Reply<<$R as WireResource>::Wire> {
                    Ok(self.create_resource::<$R>(r).await?)
                }
                async fn $update(&self, r: Request<<$R as WireResource>::Update>) -> Reply<<$R as WireResource>::Wire> {
                    Ok(self.update_resource::<$R>(r).await?)
                }
                async fn $delete(&self, r: Request<<$R as WireResource>::Delete>) -> Reply<()> {
                    Ok(self.delete_resource::<$R>(r).await?)
                }
            )*
            async fn export_programme(&self, r: Request<v1::ExportProgrammeRequest>) -> Reply<v1::ExportProgrammeResponse> {
                Ok(self.export(r).await?)
            }
            async fn import_programme(&self, r: Request<v1::ImportProgrammeRequest>) -> Reply<v1::ImportProgrammeResponse> {
                Ok(self.import(r).await?)
            }
            async fn get_briefing_data(&self, r: Request<v1::GetBriefingDataRequest>) -> Reply<v1::BriefingData> {
                Ok(self.briefing_data(r).await?)
            }
        }
    };
}

type Reply<T> = std::result::Result<Response<T>, Status>;

cooperation_service! {
    Partner: list_partners, get_partner, create_partner, update_partner, delete_partner;
    Sector: list_sectors, get_sector, create_sector, update_sector, delete_sector;
    Programme: list_programmes, get_programme, create_programme, update_programme, delete_programme;
    Indicator: list_indicators, get_indicator, create_indicator, update_indicator, delete_indicator;
    Activity: list_activities, get_activity, create_activity, update_activity, delete_activity;
    Project: list_projects, get_project, create_project, update_project, delete_project;
    Contribution: list_contributions, get_contribution, create_contribution, update_contribution, delete_contribution;
    Assessment: list_assessments, get_assessment, create_assessment, update_assessment, delete_assessment;
    Direction: list_directions, get_direction, create_direction, update_direction, delete_direction;
}
