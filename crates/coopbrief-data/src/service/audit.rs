//! The audit log: each successful change is recorded with who made it (from the [`Caller`]
//! the access layer put in the request), the RPC, the resource and what changed, as JSON.
//!
//! A change to cooperation data hands its [`entry`] to the store, which writes it in the
//! change's own transaction: a committed change always has exactly one. Reports, schedules and
//! tokens record theirs with [`App::audit`] after the change has been committed: a crash or a
//! database failure in between loses the entry (the failure is logged at ERROR with the entry's
//! content), never the change, and a change is never refused for want of its entry.

use coopbrief_domain::schedule::ScheduleSpec;
use coopbrief_store::NewAuditEntry;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tonic::Request;

use super::App;
use crate::auth::Caller;

/// The caller of a request, as the access layer recorded it.
pub(crate) fn caller<T>(req: &Request<T>) -> Caller {
    req.extensions().get::<Caller>().cloned().unwrap_or_else(Caller::unknown)
}

/// What a create wrote: the whole value.
pub(crate) fn created(value: &impl Serialize) -> Value {
    json!({ "value": to_json(value) })
}

/// What an update wrote: the fields of its mask with their new values (a field now empty is
/// `null`), or every field (`"*"`) for a full replacement. `skip` names fields that an update
/// never changes (a programme's records).
pub(crate) fn updated(value: &impl Serialize, paths: &[String], skip: &[&str]) -> Value {
    let Value::Object(all) = to_json(value) else { return json!({ "fields": paths, "value": to_json(value) }) };
    if paths.is_empty() {
        let value: Map<String, Value> = all.into_iter().filter(|(k, _)| !skip.contains(&k.as_str())).collect();
        return json!({ "fields": "*", "value": value });
    }
    let value: Map<String, Value> =
        paths.iter().map(|p| (p.clone(), all.get(p.as_str()).cloned().unwrap_or(Value::Null))).collect();
    json!({ "fields": paths, "value": value })
}

/// What a create or update of a schedule wrote: its settable fields (those of the mask, or all
/// when the mask is empty or `*`), as the wire names them.
pub(crate) fn schedule_changes(spec: &ScheduleSpec, mask: &[String]) -> Value {
    let all = json!({
        "programme": spec.programme(),
        "cadence": spec.cadence().as_str(),
        "time_zone": spec.time_zone().name(),
        "lang": spec.lang().code(),
        "template": spec.template(),
        "pdf_standard": spec.pdf_standard().code(),
        "first_period": spec.first_period().to_string(),
        "grace": format!("{}s", spec.grace().as_secs()),
        "enabled": spec.enabled(),
        "letterhead": to_json(spec.letterhead()),
        "issue": spec.issue().code(),
    });
    let paths: Vec<String> = mask.iter().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect();
    if paths.is_empty() || paths.iter().any(|p| p == "*") {
        return json!({ "fields": "*", "value": all });
    }
    let value: Map<String, Value> =
        paths.iter().map(|p| (p.clone(), all.get(p).cloned().unwrap_or(Value::Null))).collect();
    json!({ "fields": paths, "value": value })
}

fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| json!({ "unserialisable": e.to_string() }))
}

/// The entry of a change by `caller`, for the store to write in the change's transaction.
pub(crate) fn entry<'a>(caller: &'a Caller, resource: &'a str, changes: &'a str) -> NewAuditEntry<'a> {
    NewAuditEntry { actor: &caller.name, role: caller.role_name(), method: &caller.method, resource, changes }
}

impl App {
    /// Records a change that has been made. Never fails the call: see the module's note.
    pub(crate) async fn audit(&self, caller: &Caller, resource: &str, changes: Value) {
        let changes = changes.to_string();
        let entry = entry(caller, resource, &changes);
        if let Err(e) = self.store.add_audit_entry(&entry).await {
            tracing::error!(
                error = %e, actor = %caller.name, role = caller.role_name(), method = %caller.method, resource,
                changes = %changes, "failed to write the audit entry of a change that was made"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Partner {
        code: &'static str,
        name: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        kind: Option<&'static str>,
        records: Vec<u8>,
    }

    const P: Partner = Partner { code: "hn", name: "Hà Nội", kind: None, records: Vec::new() };

    #[test]
    fn an_update_records_the_masked_fields_or_everything_but_the_skipped() {
        let masked = updated(&P, &["name".into(), "kind".into()], &[]);
        assert_eq!(masked, json!({ "fields": ["name", "kind"], "value": { "name": "Hà Nội", "kind": null } }));
        let full = updated(&P, &[], &["records"]);
        assert_eq!(full, json!({ "fields": "*", "value": { "code": "hn", "name": "Hà Nội" } }));
        assert_eq!(created(&P)["value"]["name"], "Hà Nội");
    }

    #[test]
    fn a_schedule_change_names_its_fields_as_the_wire_does() {
        use std::str::FromStr;

        use coopbrief_domain::schedule::ScheduleDraft;
        let quarterly = coopbrief_domain::schedule::Cadence::from_str("quarterly").unwrap();
        let draft = ScheduleDraft::new("hanoi-hanam", quarterly, "2026-Q1".parse().unwrap());
        let spec = ScheduleSpec::new(ScheduleDraft { grace: std::time::Duration::from_secs(3600), ..draft }).unwrap();
        let masked = schedule_changes(&spec, &["grace".into(), "enabled".into()]);
        assert_eq!(masked, json!({ "fields": ["grace", "enabled"], "value": { "grace": "3600s", "enabled": true } }));
        let all = schedule_changes(&spec, &[]);
        assert_eq!(all["fields"], "*");
        assert_eq!(all["value"]["cadence"], "quarterly");
        assert_eq!(all["value"]["first_period"], "2026-Q1");
    }
}
