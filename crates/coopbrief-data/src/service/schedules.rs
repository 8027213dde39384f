//! `ScheduleService`: schedules that make each closed period's briefing once.
//!
//! Wire schedules are parsed here, at the top of each handler, into a checked
//! [`ScheduleSpec`]; the store and the scheduler never re-check.

use std::str::FromStr;
use std::time::Duration;

use coopbrief_domain::schedule::{
    Cadence, IssueMode, Schedule, ScheduleDraft, ScheduleId, ScheduleSpec, Timestamp, Zone, grace, template_name,
};
use coopbrief_domain::{Lang, PdfStandard};
use coopbrief_proto::convert;
use coopbrief_proto::v1;
use tonic::{Request, Response, Status};
use tracing::info;

use super::audit::schedule_changes;
use super::{App, caller, invalid, page, required};
use crate::error::{Error, Result};

/// The fields a person sets, in the order an empty update mask replaces them.
const SETTABLE: [&str; 11] = [
    "programme",
    "cadence",
    "time_zone",
    "lang",
    "template",
    "pdf_standard",
    "first_period",
    "grace",
    "enabled",
    "letterhead",
    "issue",
];

pub(crate) fn schedule_id(value: &str) -> Result<ScheduleId> {
    Ok(ScheduleId::from_str(required(value, "id")?)?)
}

/// The wire form of a schedule, with its next due time.
pub(crate) fn to_wire(s: &Schedule) -> v1::ReportSchedule {
    v1::ReportSchedule {
        name: format!("schedules/{}", s.id),
        id: s.id.to_string(),
        programme: s.spec.programme().to_owned(),
        cadence: s.spec.cadence().as_str().to_owned(),
        time_zone: s.spec.time_zone().name().to_owned(),
        lang: s.spec.lang().code().to_owned(),
        template: s.spec.template().to_owned(),
        pdf_standard: s.spec.pdf_standard().code().to_owned(),
        first_period: s.spec.first_period().to_string(),
        grace: Some(prost_types::Duration { seconds: s.spec.grace().as_secs() as i64, nanos: 0 }),
        enabled: Some(s.spec.enabled()),
        next_period: s.next_period.to_string(),
        next_run_time: s.spec.due_at(&s.next_period).ok().map(ts),
        last_run_period: s.last_run_period.map(|p| p.to_string()).unwrap_or_default(),
        last_run_time: s.last_run_at.map(ts),
        caught_up: s.caught_up,
        backlog: s.backlog,
        create_time: Some(ts(s.created_at)),
        update_time: Some(ts(s.updated_at)),
        letterhead: (!s.spec.letterhead().is_empty()).then(|| convert::letterhead(s.spec.letterhead())),
        issue: s.spec.issue().code().to_owned(),
        // The URL only: the secret is input only, never returned.
        notify: s.notify_url.as_ref().map(|url| v1::NotifyTarget { url: url.to_string(), secret: String::new() }),
    }
}

fn ts(t: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.as_second(), nanos: t.subsec_nanosecond() }
}

fn to_grace(d: Option<prost_types::Duration>) -> Result<Duration> {
    let Some(d) = d else { return Ok(Duration::ZERO) };
    if d.seconds < 0 || d.nanos < 0 {
        return Err(coopbrief_domain::Error::invalid("grace", "must not be negative").into());
    }
    Ok(grace(Duration::from_secs(d.seconds as u64))?)
}

/// Sets one field of `spec` from the wire schedule; the path names it.
fn apply(spec: &mut ScheduleDraft, w: &v1::ReportSchedule, path: &str) -> Result<()> {
    match path {
        "programme" => spec.programme = required(&w.programme, "programme")?.to_owned(),
        "cadence" => spec.cadence = Cadence::from_str(&w.cadence)?,
        "time_zone" => spec.time_zone = Zone::from_str(&w.time_zone)?,
        "lang" => spec.lang = Lang::from_str(&w.lang)?,
        "template" => spec.template = template_name(&w.template)?,
        "pdf_standard" => spec.pdf_standard = PdfStandard::from_str(&w.pdf_standard)?,
        "first_period" => {
            spec.first_period = convert::period(required(&w.first_period, "first_period")?, "first_period")?
        }
        "grace" => spec.grace = to_grace(w.grace)?,
        "enabled" => spec.enabled = w.enabled.unwrap_or(true),
        "letterhead" => spec.letterhead = convert::to_letterhead(w.letterhead.clone(), "letterhead")?,
        "issue" => spec.issue = IssueMode::from_str(&w.issue)?,
        other => {
            return Err(coopbrief_domain::Error::invalid(
                "update_mask",
                format!("{other:?} is not a field of a schedule that can be updated; use {}", SETTABLE.join(", ")),
            )
            .into());
        }
    }
    Ok(())
}

/// Parses a new schedule: every settable field, defaults for the empty ones.
fn to_spec(w: &v1::ReportSchedule) -> Result<ScheduleSpec> {
    let programme = required(&w.programme, "programme")?.to_owned();
    let cadence = Cadence::from_str(&w.cadence)?;
    let first_period = convert::period(required(&w.first_period, "first_period")?, "first_period")?;
    let mut spec = ScheduleDraft::new(programme, cadence, first_period);
    for path in &SETTABLE[2..] {
        apply(&mut spec, w, path)?;
    }
    Ok(ScheduleSpec::new(spec)?)
}

#[tonic::async_trait]
impl coopbrief_proto::ScheduleService for App {
    async fn create_schedule(
        &self,
        req: Request<v1::CreateScheduleRequest>,
    ) -> Result<Response<v1::ReportSchedule>, Status> {
        let caller = caller(&req);
        let Some(wire) = req.into_inner().schedule else { return Err(invalid("schedule", "is required")) };
        let spec = to_spec(&wire)?;
        let notify = self.notify_target(wire.notify.as_ref())?;
        let s = self.store.create_schedule_notifying(&spec, notify.as_ref()).await.map_err(Error::from)?;
        info!(schedule_id = %s.id, programme = %spec.programme(), cadence = %spec.cadence(),
              first_period = %spec.first_period(), time_zone = %spec.time_zone(), "schedule created");
        self.audit(&caller, &format!("schedules/{}", s.id), schedule_changes(&spec, &[])).await;
        Ok(Response::new(to_wire(&s)))
    }

    async fn get_schedule(&self, req: Request<v1::GetScheduleRequest>) -> Result<Response<v1::ReportSchedule>, Status> {
        let id = schedule_id(&req.get_ref().id)?;
        Ok(Response::new(to_wire(&self.store.schedule(id).await.map_err(Error::from)?)))
    }

    async fn list_schedules(
        &self,
        req: Request<v1::ListSchedulesRequest>,
    ) -> Result<Response<v1::ListSchedulesResponse>, Status> {
        let req = req.into_inner();
        let page = page(req.page_size, &req.page_token)?;
        let programme = Some(req.programme.trim()).filter(|p| !p.is_empty());
        let listed = self.store.list_schedules_page(programme, &page).await.map_err(Error::from)?;
        Ok(Response::new(v1::ListSchedulesResponse {
            schedules: listed.items.iter().map(to_wire).collect(),
            next_page_token: listed.next_page_token,
        }))
    }

    async fn update_schedule(
        &self,
        req: Request<v1::UpdateScheduleRequest>,
    ) -> Result<Response<v1::ReportSchedule>, Status> {
        let caller = caller(&req);
        let req = req.into_inner();
        let Some(wire) = req.schedule else { return Err(invalid("schedule", "is required")) };
        let id = if wire.id.trim().is_empty() { schedule_id(&wire.name)? } else { schedule_id(&wire.id)? };
        let mask: Vec<String> = req.update_mask.map(|m| m.paths).unwrap_or_default();
        let mut paths: Vec<&str> = mask.iter().map(|p| p.trim()).filter(|p| !p.is_empty()).collect();
        // The notify target is kept apart from the rest (its secret sealed): named in the mask,
        // or given with no mask, it is replaced (an empty one removes it).
        let notify_named = paths.contains(&"notify");
        paths.retain(|p| *p != "notify");
        let notify = if notify_named || (mask.is_empty() && wire.notify.is_some()) {
            Some(self.notify_target(wire.notify.as_ref())?)
        } else {
            None
        };
        if notify_named && paths.is_empty() {
            let s = self.store.set_schedule_notify(id, notify.flatten().as_ref()).await.map_err(Error::from)?;
            info!(schedule_id = %id, "schedule's notify target updated");
            self.audit(&caller, &format!("schedules/{id}"), serde_json::json!({ "notify": s.notify_url.is_some() }))
                .await;
            return Ok(Response::new(to_wire(&s)));
        }
        let old = self.store.schedule(id).await.map_err(Error::from)?;
        let spec = if paths.is_empty() || paths.contains(&"*") {
            to_spec(&wire)?
        } else {
            let mut spec = old.spec.into_draft();
            for path in paths {
                apply(&mut spec, &wire, path)?;
            }
            ScheduleSpec::new(spec).map_err(Error::from)?
        };
        let s = self
            .store
            .update_schedule_notifying(id, &spec, notify.as_ref().map(Option::as_ref))
            .await
            .map_err(Error::from)?;
        info!(schedule_id = %id, next_period = %s.next_period, "schedule updated");
        self.audit(&caller, &format!("schedules/{id}"), schedule_changes(&spec, &mask)).await;
        Ok(Response::new(to_wire(&s)))
    }

    async fn delete_schedule(&self, req: Request<v1::DeleteScheduleRequest>) -> Result<Response<()>, Status> {
        let id = schedule_id(&req.get_ref().id)?;
        self.store.delete_schedule(id).await.map_err(Error::from)?;
        info!(schedule_id = %id, "schedule deleted");
        self.audit(&caller(&req), &format!("schedules/{id}"), serde_json::json!({ "deleted": true })).await;
        Ok(Response::new(()))
    }

    async fn pause_schedule(
        &self,
        req: Request<v1::PauseScheduleRequest>,
    ) -> Result<Response<v1::ReportSchedule>, Status> {
        let id = schedule_id(&req.get_ref().id)?;
        let s = self.store.set_schedule_enabled(id, false).await.map_err(Error::from)?;
        info!(schedule_id = %id, "schedule paused");
        self.audit(&caller(&req), &format!("schedules/{id}"), serde_json::json!({ "enabled": false })).await;
        Ok(Response::new(to_wire(&s)))
    }

    async fn resume_schedule(
        &self,
        req: Request<v1::ResumeScheduleRequest>,
    ) -> Result<Response<v1::ReportSchedule>, Status> {
        let id = schedule_id(&req.get_ref().id)?;
        let s = self.store.set_schedule_enabled(id, true).await.map_err(Error::from)?;
        info!(schedule_id = %id, next_period = %s.next_period, "schedule resumed");
        self.audit(&caller(&req), &format!("schedules/{id}"), serde_json::json!({ "enabled": true })).await;
        Ok(Response::new(to_wire(&s)))
    }
}
