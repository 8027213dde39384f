//! Access control, in one place: a tower layer in front of every service checks the bearer
//! token of each call against [`RULES`], the lowest role allowed per gRPC method, and hands the
//! caller's identity to the handlers as a request extension ([`Caller`]).
//!
//! A token is `cb_` and 64 hex digits (32 bytes from the OS's random source). Only its SHA-256
//! is stored; a call's token is hashed, looked up by that hash, and the stored hash compared
//! in constant time. Missing, malformed, unknown or revoked: `UNAUTHENTICATED`. Valid without
//! the role: `PERMISSION_DENIED`. Health and reflection are open; a method missing from the
//! table is refused to everyone (a test checks that the table covers every RPC).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use coopbrief_domain::Role;
use coopbrief_store::Store;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Status;
use tonic::codegen::{BoxFuture, Service, http};

use crate::error::Error;

/// Who may call a method: people from a role up, and/or workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The lowest people's role allowed; `None`: no person.
    pub people: Option<Role>,
    /// Whether a worker token may call it.
    pub worker: bool,
}

const VIEWER: Rule = Rule { people: Some(Role::Viewer), worker: false };
const EDITOR: Rule = Rule { people: Some(Role::Editor), worker: false };
const ADMIN: Rule = Rule { people: Some(Role::Admin), worker: false };
/// Issuing a briefing: approvers and admins.
const APPROVER: Rule = Rule { people: Some(Role::Approver), worker: false };
/// Worker-facing RPCs: never open to people's roles, admin included.
const WORKER: Rule = Rule { people: None, worker: true };
/// Read by people, and by the worker for the report it renders.
const VIEWER_AND_WORKER: Rule = Rule { people: Some(Role::Viewer), worker: true };

impl Rule {
    pub fn allows(&self, role: Role) -> bool {
        match role {
            Role::Worker => self.worker,
            person => self.people.is_some_and(|need| person.includes(need)),
        }
    }
}

/// Services anyone may call: probes and tools need them without a token.
pub const OPEN_SERVICES: [&str; 3] =
    ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];

/// The reflection methods, in both versions served.
pub const REFLECTION_METHODS: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Every method of every Coopbrief service with who may call it: `(service, method, rule)`,
/// besides the standard methods of the cooperation resources ([`rules`] adds those: people
/// read from viewer up and change from editor up).
#[rustfmt::skip]
pub const RULES: &[(&str, &str, Rule)] = &[
    ("CooperationService", "ExportProgramme", VIEWER),
    ("CooperationService", "ImportProgramme", EDITOR),
    ("CooperationService", "GetBriefingData", VIEWER_AND_WORKER),
    ("ReportService", "CreateReport", VIEWER),
    ("ReportService", "GetReport", VIEWER),
    ("ReportService", "ListReports", VIEWER),
    ("ReportService", "DownloadReport", VIEWER),
    ("ReportService", "GetLatestReport", VIEWER),
    ("ReportService", "CancelReport", EDITOR),
    ("ReportService", "RetryReport", EDITOR),
    ("ReportService", "IssueReport", APPROVER),
    ("ReportService", "VerifyDocument", VIEWER),
    ("ReportService", "WatchReport", VIEWER),
    ("ReportService", "DeleteReport", ADMIN),
    ("ReportService", "RetryNotification", EDITOR),
    ("WorkerService", "CheckIn", WORKER),
    ("WorkerService", "StartReport", WORKER),
    ("WorkerService", "CompleteReport", WORKER),
    ("WorkerService", "FailReport", WORKER),
    ("ScheduleService", "GetSchedule", VIEWER),
    ("ScheduleService", "ListSchedules", VIEWER),
    ("ScheduleService", "CreateSchedule", ADMIN),
    ("ScheduleService", "UpdateSchedule", ADMIN),
    ("ScheduleService", "DeleteSchedule", ADMIN),
    ("ScheduleService", "PauseSchedule", ADMIN),
    ("ScheduleService", "ResumeSchedule", ADMIN),
    ("DiagnosticsService", "Echo", VIEWER),
    ("AccessService", "CreateToken", ADMIN),
    ("AccessService", "ListTokens", ADMIN),
    ("AccessService", "RevokeToken", ADMIN),
    ("AccessService", "ListAuditEntries", ADMIN),
];

/// The package of every Coopbrief service.
const PACKAGE: &str = "coopbrief.v1";

/// Every method with its rule: [`RULES`] and the resources' standard methods.
pub fn rules() -> Vec<(&'static str, String, Rule)> {
    use coopbrief_proto::resource::{SERVICE, rpcs};
    let standard = rpcs().into_iter().map(|(rpc, m)| (SERVICE, rpc, if m.reads() { VIEWER } else { EDITOR }));
    RULES.iter().map(|(service, method, rule)| (*service, (*method).to_owned(), *rule)).chain(standard).collect()
}

/// [`rules`] by request path (`/coopbrief.v1.CooperationService/GetPartner`).
static BY_PATH: LazyLock<HashMap<String, Rule>> = LazyLock::new(|| {
    rules().into_iter().map(|(service, method, rule)| (format!("/{PACKAGE}.{service}/{method}"), rule)).collect()
});

/// Who is calling, for the handlers (a request extension): the token's name and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The token's name; `anonymous` with access control off.
    pub name: String,
    /// `None` with access control off.
    pub role: Option<Role>,
    /// The RPC called, e.g. `UpdatePartner`.
    pub method: String,
}

impl Caller {
    /// The caller of a request that did not pass the layer (a handler called directly).
    pub fn unknown() -> Caller {
        Caller { name: "unknown".into(), role: None, method: "unknown".into() }
    }

    pub fn role_name(&self) -> &'static str {
        self.role.map_or("none", |r| r.as_str())
    }
}

/// Access control may be off only on a loopback address: refuses `--auth off` on any other.
pub fn refuse_off_unless_loopback(addr: std::net::SocketAddr) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        anyhow::bail!(
            "--auth off (COOPBRIEF_AUTH=off) is refused: the data service listens on {addr}, and \
             access control may be off only on a loopback address (127.0.0.1, ::1)"
        );
    }
    Ok(())
}

/// Whether calls need a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Every call carries a bearer token with a role that allows it.
    Tokens,
    /// No checks at all: only for a data service listening on loopback (the demo, tests).
    Off,
}

/// How tokens are made: `cb_` and 64 hex digits.
pub const TOKEN_PREFIX: &str = "cb_";

/// A new random token (32 bytes from the OS).
pub fn new_token() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("no random bytes from the OS: {e}")))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// What is stored of a token: its SHA-256, lowercase hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Makes a token and stores its hash; returns it with the token itself, which exists nowhere
/// else from then on. `created_by` names the admin's token, or `coopbrief-data` on the server.
pub async fn create_token(
    store: &Store,
    name: &str,
    role: Role,
    created_by: &str,
) -> Result<(coopbrief_store::TokenRecord, String), Error> {
    let secret = new_token()?;
    let token = store.create_token(name, role, &token_hash(&secret), created_by).await?;
    tracing::info!(name, %role, created_by, "token created");
    Ok((token, secret))
}

/// Whether `token` has the form of a token: `cb_` and 64 hex digits.
pub(crate) fn well_formed(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The layer that checks every call; [`AuthLayer::off`] lets everything through (loopback only,
/// which `Server` enforces).
#[derive(Clone)]
pub struct AuthLayer {
    /// `None`: access control is off.
    store: Option<Store>,
}

impl AuthLayer {
    pub fn tokens(store: Store) -> AuthLayer {
        AuthLayer { store: Some(store) }
    }

    pub fn off() -> AuthLayer {
        AuthLayer { store: None }
    }

    /// Decides a call: `Ok(None)` for an open service, `Ok(Some(caller))` when allowed.
    pub async fn check(&self, path: &str, authorization: Option<&[u8]>) -> Result<Option<Caller>, Error> {
        let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or(("", path));
        if OPEN_SERVICES.contains(&service) {
            return Ok(None);
        }
        let Some(store) = &self.store else {
            return Ok(Some(Caller { name: "anonymous".into(), role: None, method: method.into() }));
        };
        let token = bearer(authorization)?;
        let hash = token_hash(token);
        let stored = store.token_by_hash(&hash).await?;
        let Some(stored) = stored.filter(|s| bool::from(s.token_hash.as_bytes().ct_eq(hash.as_bytes()))) else {
            return Err(Error::Unauthenticated("the bearer token is not valid".into()));
        };
        if stored.token.revoked_at.is_some() {
            return Err(Error::Unauthenticated(format!("the bearer token {:?} was revoked", stored.token.name)));
        }
        let (name, role) = (stored.token.name, stored.token.role);
        let Some(rule) = BY_PATH.get(path) else {
            return Err(Error::PermissionDenied(format!("{path} is not in the access table; no role may call it")));
        };
        if !rule.allows(role) {
            let who = match rule.people {
                _ if role == Role::Worker => "a person's role".to_owned(),
                Some(need) => format!("the {need} role or above"),
                None => "a worker token".to_owned(),
            };
            return Err(Error::PermissionDenied(format!(
                "{method} needs {who}; the token {name:?} has the {role} role"
            )));
        }
        Ok(Some(Caller { name, role: Some(role), method: method.into() }))
    }
}

/// The token of an `authorization: Bearer <token>` header, if well formed.
fn bearer(header: Option<&[u8]>) -> Result<&str, Error> {
    let missing = || {
        Error::Unauthenticated(
            "no bearer token: send `authorization: Bearer <token>` (coopbrief --token or COOPBRIEF_TOKEN)".into(),
        )
    };
    let value = std::str::from_utf8(header.ok_or_else(missing)?).map_err(|_| missing())?.trim();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(Error::Unauthenticated("the authorization header is not `Bearer <token>`".into())),
    };
    if !well_formed(token) {
        return Err(Error::Unauthenticated("the bearer token is not valid".into()));
    }
    Ok(token)
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth { inner, layer: Arc::new(self.clone()) }
    }
}

/// The service [`AuthLayer`] wraps around the server's routes.
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    layer: Arc<AuthLayer>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for Auth<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        // The clone that was made ready by `poll_ready` serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let path = req.uri().path().to_owned();
            let authorization = req.headers().get(http::header::AUTHORIZATION).map(|v| v.as_bytes());
            match layer.check(&path, authorization).await {
                Ok(caller) => {
                    if let Some(caller) = caller {
                        req.extensions_mut().insert(caller);
                    }
                    inner.call(req).await
                }
                Err(e) => {
                    let status = Status::from(e);
                    tracing::info!(path, code = ?status.code(), message = status.message(), "call refused");
                    Ok(status.into_http())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_table_covers_every_rpc_exactly() {
        let rpcs: BTreeSet<String> = coopbrief_proto::method_paths().unwrap().into_iter().collect();
        assert!(rpcs.contains("/coopbrief.v1.WorkerService/StartReport"), "{rpcs:?}");
        let table: BTreeSet<String> = BY_PATH.keys().cloned().collect();
        assert_eq!(table.len(), rules().len(), "a method is listed twice in RULES");
        let open: Vec<_> = rpcs.difference(&table).collect();
        assert!(open.is_empty(), "RPCs without a rule in auth::RULES (nobody may call them): {open:?}");
        let stale: Vec<_> = table.difference(&rpcs).collect();
        assert!(stale.is_empty(), "rules for RPCs that do not exist: {stale:?}");
    }

    #[test]
    fn worker_rpcs_are_for_workers_only_and_people_roles_are_ordered() {
        let rule = |method: &str| rules().into_iter().find(|(_, m, _)| m == method).map(|(_, _, r)| r).unwrap();
        for method in ["StartReport", "CompleteReport", "FailReport"] {
            let allowed: Vec<_> = Role::ALL.into_iter().filter(|r| rule(method).allows(*r)).collect();
            assert_eq!(allowed, [Role::Worker], "{method}");
        }
        let allowed = |method: &str| Role::ALL.into_iter().filter(|r| rule(method).allows(*r)).collect::<Vec<_>>();
        assert_eq!(allowed("GetBriefingData"), [Role::Viewer, Role::Editor, Role::Approver, Role::Admin, Role::Worker]);
        assert_eq!(allowed("ListPartners"), [Role::Viewer, Role::Editor, Role::Approver, Role::Admin]);
        assert_eq!(allowed("IssueReport"), [Role::Approver, Role::Admin]);
        assert_eq!(allowed("UpdatePartner"), [Role::Editor, Role::Admin]);
        assert_eq!(allowed("CreateToken"), [Role::Admin]);
        assert_eq!(allowed("UpdateSchedule"), [Role::Admin]);
    }

    #[test]
    fn tokens_are_random_well_formed_and_stored_as_their_hash() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert!(well_formed(&a), "{a}");
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
        for bad in ["", "cb_", "xx_00", &a[..a.len() - 1], &format!("{a}0"), &a.replace("cb_", "cx_")] {
            assert!(!well_formed(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn probes_pass_without_a_token_and_a_method_off_the_table_is_refused_to_all() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let (_, admin) = create_token(&store, "ops", Role::Admin, "test").await.unwrap();
        let layer = AuthLayer::tokens(store);
        for open in ["/grpc.health.v1.Health/Check"].into_iter().chain(REFLECTION_METHODS) {
            assert_eq!(layer.check(open, None).await.unwrap(), None, "{open}");
        }
        let header = format!("Bearer {admin}");
        let unlisted = layer.check("/coopbrief.v1.CooperationService/DropEverything", Some(header.as_bytes())).await;
        assert!(matches!(unlisted, Err(Error::PermissionDenied(_))), "{unlisted:?}");
        let unlisted = layer.check("/coopbrief.v1.CooperationService/DropEverything", None).await;
        assert!(matches!(unlisted, Err(Error::Unauthenticated(_))), "{unlisted:?}");
        let caller = layer.check("/coopbrief.v1.AccessService/ListTokens", Some(header.as_bytes())).await.unwrap();
        let expected = Caller { name: "ops".into(), role: Some(Role::Admin), method: "ListTokens".into() };
        assert_eq!(caller, Some(expected));

        let off = AuthLayer::off().check("/coopbrief.v1.WorkerService/StartReport", None).await.unwrap();
        assert_eq!(off, Some(Caller { name: "anonymous".into(), role: None, method: "StartReport".into() }));
    }

    #[test]
    fn the_header_must_be_a_bearer_token() {
        let token = new_token().unwrap();
        assert_eq!(bearer(Some(format!("Bearer {token}").as_bytes())).ok(), Some(token.as_str()));
        assert_eq!(bearer(Some(format!("bearer  {token} ").as_bytes())).ok(), Some(token.as_str()));
        for bad in [None, Some("Basic abc".as_bytes()), Some(b"Bearer"), Some(b"Bearer cb_123")] {
            assert!(matches!(bearer(bad), Err(Error::Unauthenticated(_))), "{bad:?}");
        }
    }
}
