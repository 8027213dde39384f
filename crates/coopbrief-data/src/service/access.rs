//! `AccessService`: admins create, list and revoke tokens and read the audit log.

use coopbrief_domain::Role;
use coopbrief_proto::v1;
use coopbrief_store::{AuditEntry, TokenRecord};
use serde_json::json;
use tonic::{Request, Response, Status};
use tracing::info;

use super::audit::caller;
use super::{App, invalid, page, required};
use crate::auth::create_token;
use crate::error::{Error, Result};

/// Audit entries per page when the request gives no size.
const DEFAULT_AUDIT_PAGE: u32 = 50;

/// A token's name: what `token revoke` and the audit log call its holder.
pub fn token_name(value: &str) -> Result<&str> {
    let name = required(value, "name")?;
    let ok = name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if !ok {
        let message = format!("{name:?} is not a token name (up to 64 letters, digits, '.', '_', '-' and '@')");
        return Err(coopbrief_domain::Error::invalid("name", message).into());
    }
    Ok(name)
}

fn ts(t: jiff::Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.as_second(), nanos: t.subsec_nanosecond() }
}

pub(crate) fn token_wire(t: &TokenRecord) -> v1::AccessToken {
    v1::AccessToken {
        name: t.name.clone(),
        role: t.role.as_str().to_owned(),
        created_by: t.created_by.clone(),
        create_time: Some(ts(t.created_at)),
        revoke_time: t.revoked_at.map(ts),
    }
}

fn entry_wire(e: AuditEntry) -> v1::AuditEntry {
    v1::AuditEntry {
        id: e.id,
        time: Some(ts(e.at)),
        actor: e.actor,
        role: e.role,
        method: e.method,
        resource: e.resource,
        changes: e.changes,
    }
}

#[tonic::async_trait]
impl coopbrief_proto::AccessService for App {
    async fn create_token(
        &self,
        req: Request<v1::CreateTokenRequest>,
    ) -> Result<Response<v1::CreateTokenResponse>, Status> {
        let caller = caller(&req);
        let r = req.into_inner();
        let name = token_name(&r.name)?;
        let role: Role = required(&r.role, "role")?.parse().map_err(Error::from)?;
        let (token, secret) = create_token(&self.store, name, role, &caller.name).await?;
        self.audit(&caller, &format!("tokens/{name}"), json!({ "role": role })).await;
        Ok(Response::new(v1::CreateTokenResponse { token: Some(token_wire(&token)), secret }))
    }

    async fn list_tokens(
        &self,
        req: Request<v1::ListTokensRequest>,
    ) -> Result<Response<v1::ListTokensResponse>, Status> {
        let r = req.into_inner();
        let page = page(r.page_size, &r.page_token)?;
        let listed = self.store.tokens_page(r.show_revoked, &page).await.map_err(Error::from)?;
        Ok(Response::new(v1::ListTokensResponse {
            tokens: listed.items.iter().map(token_wire).collect(),
            next_page_token: listed.next_page_token,
        }))
    }

    async fn revoke_token(&self, req: Request<v1::RevokeTokenRequest>) -> Result<Response<v1::AccessToken>, Status> {
        let caller = caller(&req);
        let name = token_name(&req.get_ref().name)?;
        let token = self.store.revoke_token(name).await.map_err(Error::from)?;
        info!(name, by = %caller.name, "token revoked");
        self.audit(&caller, &format!("tokens/{name}"), json!({ "revoked": true })).await;
        Ok(Response::new(token_wire(&token)))
    }

    async fn list_audit_entries(
        &self,
        req: Request<v1::ListAuditEntriesRequest>,
    ) -> Result<Response<v1::ListAuditEntriesResponse>, Status> {
        let r = req.into_inner();
        let size = match r.page_size {
            n if n < 0 => return Err(invalid("page_size", "must not be negative")),
            0 => DEFAULT_AUDIT_PAGE,
            n => n as u32,
        };
        let before = match r.page_token.trim() {
            "" => None,
            t => Some(t.parse::<i64>().map_err(|_| invalid::<Status>("page_token", "is not a page token"))?),
        };
        let (entries, next) = self.store.audit_entries(size, before).await.map_err(Error::from)?;
        Ok(Response::new(v1::ListAuditEntriesResponse {
            entries: entries.into_iter().map(entry_wire).collect(),
            next_page_token: next.map(|n| n.to_string()).unwrap_or_default(),
        }))
    }
}
