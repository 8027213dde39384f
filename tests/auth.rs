//! Access control and TLS, end to end: the real data service (`Server::build`) with tokens on,
//! called over gRPC by role, and over TLS with the CA file. No report is made, so RabbitMQ is
//! not needed.

use std::path::PathBuf;

use coopbrief_data::AuthMode;
use coopbrief_domain::Role;
use coopbrief_proto::v1;
use coopbrief_proto::{AccessServiceClient, CooperationServiceClient, ReportServiceClient, WorkerServiceClient};
use coopbrief_runtime::{ClientArgs, GrpcChannel};
use coopbrief_store::Store;
use coopbrief_tests::{Running, data_settings, start_data, workspace_binary};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/tls").join(name)
}

/// A data service with access control on, and a second handle on its database for tokens.
struct Secured {
    endpoint: String,
    port: u16,
    store: Store,
    settings: coopbrief_data::Settings,
    running: Running,
    _dir: tempfile::TempDir,
}

async fn start(tls: bool) -> Secured {
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = format!("coopbrief.test.{}", uuid::Uuid::now_v7());
    let mut settings = data_settings(dir.path(), &queue, "127.0.0.1:0".parse().expect("address"));
    settings.auth = AuthMode::Tokens;
    if tls {
        settings.tls_cert = Some(fixture("server.pem"));
        settings.tls_key = Some(fixture("server.key"));
    }
    let (plain, running) = start_data(&settings).await;
    let port: u16 = plain.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port");
    settings.listen.set_port(port);
    let endpoint = if tls { format!("https://localhost:{port}") } else { plain };
    let store = Store::connect(&settings.database_url).await.expect("the database opens");
    Secured { endpoint, port, store, settings, running, _dir: dir }
}

impl Secured {
    async fn token(&self, name: &str, role: Role) -> String {
        coopbrief_data::auth::create_token(&self.store, name, role, "test").await.expect("token made").1
    }

    fn args(&self, token: Option<&str>) -> ClientArgs {
        let ca_file = self.endpoint.starts_with("https").then(|| fixture("ca.pem"));
        ClientArgs { token: token.map(str::to_owned), ca_file }
    }

    async fn channel(&self, token: Option<&str>) -> GrpcChannel {
        coopbrief_runtime::client::connect(&self.endpoint, &self.args(token)).await.expect("connects")
    }

    async fn data(&self, token: Option<&str>) -> CooperationServiceClient<GrpcChannel> {
        CooperationServiceClient::new(self.channel(token).await)
    }

    async fn access(&self, token: Option<&str>) -> AccessServiceClient<GrpcChannel> {
        AccessServiceClient::new(self.channel(token).await)
    }

    async fn stop(self) {
        self.running.stop().await;
    }
}

fn list_partners() -> v1::ListPartnersRequest {
    v1::ListPartnersRequest::default()
}

fn rename_partner(code: &str, name: &str) -> v1::UpdatePartnerRequest {
    v1::UpdatePartnerRequest {
        partner: Some(v1::Partner {
            code: code.into(),
            name: Some(v1::LocalizedText { vi: name.into(), en: None }),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["name".into()] }),
    }
}

#[tokio::test]
async fn a_call_without_a_valid_token_is_unauthenticated() {
    let app = start(false).await;
    let none = app.data(None).await.list_partners(list_partners()).await.expect_err("no token");
    assert_eq!(none.code(), Code::Unauthenticated, "{none:?}");
    assert!(none.message().contains("authorization: Bearer"), "{}", none.message());

    // Well formed but unknown, and not even well formed.
    let unknown = format!("cb_{}", "0".repeat(64));
    for token in [unknown.as_str(), "hunter2"] {
        let err = app.data(Some(token)).await.list_partners(list_partners()).await.expect_err("bad token");
        assert_eq!(err.code(), Code::Unauthenticated, "{token}: {err:?}");
        assert_eq!(err.message(), "the bearer token is not valid");
    }

    // Revoked (by an admin, over gRPC): refused from the next call on.
    let admin = app.token("ops", Role::Admin).await;
    let viewer = app.token("vera", Role::Viewer).await;
    let mut data = app.data(Some(&viewer)).await;
    data.list_partners(list_partners()).await.expect("a live viewer token reads partners");
    let revoked = app
        .access(Some(&admin))
        .await
        .revoke_token(v1::RevokeTokenRequest { name: "vera".into() })
        .await
        .expect("the admin revokes it")
        .into_inner();
    assert!(revoked.revoke_time.is_some());
    let err = data.list_partners(list_partners()).await.expect_err("revoked");
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert_eq!(err.message(), "the bearer token \"vera\" was revoked");
    app.stop().await;
}

#[tokio::test]
async fn roles_decide_what_a_valid_token_may_call() {
    let app = start(false).await;
    let viewer = app.token("vera", Role::Viewer).await;
    let editor = app.token("eddie", Role::Editor).await;

    let err = app.data(Some(&viewer)).await.update_partner(rename_partner("hanoi", "Viewer's name")).await;
    let err = err.expect_err("a viewer cannot change data");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert_eq!(err.message(), "UpdatePartner needs the editor role or above; the token \"vera\" has the viewer role");

    let updated = app
        .data(Some(&editor))
        .await
        .update_partner(rename_partner("hanoi", "Thủ đô Hà Nội"))
        .await
        .expect("an editor changes data")
        .into_inner();
    assert_eq!(updated.name.map(|n| n.vi).as_deref(), Some("Thủ đô Hà Nội"));
    let read = app.data(Some(&viewer)).await.get_partner(v1::GetPartnerRequest { code: "hanoi".into() }).await;
    assert_eq!(read.expect("a viewer reads").into_inner().name.map(|n| n.vi).as_deref(), Some("Thủ đô Hà Nội"));

    // An editor is not an admin.
    let err = app.access(Some(&editor)).await.list_tokens(v1::ListTokensRequest::default()).await;
    assert_eq!(err.expect_err("editor lists tokens").code(), Code::PermissionDenied);
    app.stop().await;
}

#[tokio::test]
async fn worker_rpcs_are_for_worker_tokens_only_and_worker_tokens_only_for_them() {
    let app = start(false).await;
    let start = || v1::StartReportRequest { id: uuid::Uuid::now_v7().to_string() };
    for (name, role) in [("vera", Role::Viewer), ("eddie", Role::Editor), ("ops", Role::Admin)] {
        let token = app.token(name, role).await;
        let mut workers = WorkerServiceClient::new(app.channel(Some(&token)).await);
        let err = workers.start_report(start()).await.expect_err("people cannot call the worker's RPCs");
        assert_eq!(err.code(), Code::PermissionDenied, "{role}: {err:?}");
        assert!(err.message().starts_with("StartReport needs a worker token"), "{}", err.message());
        let fail = v1::FailReportRequest { id: start().id, error: "x".into() };
        assert_eq!(workers.fail_report(fail).await.expect_err("fail").code(), Code::PermissionDenied, "{role}");
    }

    let worker = app.token("worker-1", Role::Worker).await;
    let err = app.data(Some(&worker)).await.list_partners(list_partners()).await.expect_err("worker reads partners");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert_eq!(err.message(), "ListPartners needs a person's role; the token \"worker-1\" has the worker role");
    let mut reports = ReportServiceClient::new(app.channel(Some(&worker)).await);
    let list = v1::ListReportsRequest { page_size: 1, ..Default::default() };
    assert_eq!(reports.list_reports(list).await.expect_err("worker lists reports").code(), Code::PermissionDenied);

    // What a worker does call passes the layer: the briefing data, and StartReport (an unknown
    // report is NOT_FOUND from the handler, not a refusal).
    let data = v1::GetBriefingDataRequest { programme: "hanoi-hanam".into(), period: "2019".into() };
    app.data(Some(&worker)).await.get_briefing_data(data).await.expect("a worker reads briefing data");
    let mut workers = WorkerServiceClient::new(app.channel(Some(&worker)).await);
    let err = workers.start_report(start()).await.expect_err("no such report");
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    app.stop().await;
}

#[tokio::test]
async fn health_answers_without_a_token() {
    let app = start(false).await;
    let mut health = HealthClient::new(app.channel(None).await);
    let status = health.check(HealthCheckRequest { service: String::new() }).await.expect("health is open");
    assert_eq!(status.into_inner().status, ServingStatus::Serving as i32);
    let named = HealthCheckRequest { service: "coopbrief.v1.AccessService".into() };
    assert_eq!(health.check(named).await.expect("health").into_inner().status, ServingStatus::Serving as i32);
    app.stop().await;
}

#[tokio::test]
async fn the_token_list_never_shows_tokens_or_their_hashes() {
    let app = start(false).await;
    let admin = app.token("ops", Role::Admin).await;
    let created = app
        .access(Some(&admin))
        .await
        .create_token(v1::CreateTokenRequest { name: "alice".into(), role: "editor".into() })
        .await
        .expect("an admin makes a token")
        .into_inner();
    let secret = created.secret;
    assert!(secret.starts_with("cb_") && secret.len() == 67, "{secret}");
    assert_eq!(
        created.token.as_ref().map(|t| (t.name.as_str(), t.role.as_str(), t.created_by.as_str())),
        Some(("alice", "editor", "ops"))
    );
    // The new token works at once.
    app.data(Some(&secret)).await.update_partner(rename_partner("hanam", "Hà Nam")).await.expect("alice edits");

    let hashes = [coopbrief_data::auth::token_hash(&secret), coopbrief_data::auth::token_hash(&admin)];
    let list = app
        .access(Some(&admin))
        .await
        .list_tokens(v1::ListTokensRequest { show_revoked: true, ..Default::default() })
        .await
        .expect("an admin lists tokens")
        .into_inner();
    assert_eq!(list.tokens.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["alice", "ops"]);
    let wire = format!("{list:?}");
    for needle in [&secret, &admin, &hashes[0], &hashes[1]] {
        assert!(!wire.contains(needle.as_str()), "ListTokens shows {needle}: {wire}");
    }

    // The CLI's table neither.
    let out = tokio::process::Command::new(workspace_binary("coopbrief"))
        .args(["--endpoint", &app.endpoint, "token", "list", "--revoked", "--all"])
        .env("COOPBRIEF_TOKEN", &admin)
        .output()
        .await
        .expect("coopbrief runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("alice") && table.contains("editor"), "{table}");
    for needle in [&secret, &admin, &hashes[0], &hashes[1]] {
        assert!(!table.contains(needle.as_str()), "`token list` shows {needle}: {table}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_change_is_audited_with_who_and_what_and_only_admins_read_the_log() {
    let app = start(false).await;
    let admin = app.token("ops", Role::Admin).await;
    let editor = app.token("alice", Role::Editor).await;
    app.data(Some(&editor)).await.update_partner(rename_partner("hanoi", "Hà Nội mới")).await.expect("update");
    let delete = v1::DeletePartnerRequest { code: "nowhere".into(), etag: String::new() };
    let failed = app.data(Some(&editor)).await.delete_partner(delete).await.expect_err("no such partner");
    assert_eq!(failed.code(), Code::NotFound);

    let mut access = app.access(Some(&admin)).await;
    let page = access
        .list_audit_entries(v1::ListAuditEntriesRequest { page_size: 10, page_token: String::new() })
        .await
        .expect("an admin reads the audit log")
        .into_inner();
    // Only the successful change: the failed delete left no entry.
    assert_eq!(page.entries.len(), 1, "{:?}", page.entries);
    let e = &page.entries[0];
    assert_eq!(
        (e.actor.as_str(), e.role.as_str(), e.method.as_str(), e.resource.as_str()),
        ("alice", "editor", "UpdatePartner", "partners/hanoi")
    );
    let changes: serde_json::Value = serde_json::from_str(&e.changes).expect("changes are JSON");
    assert_eq!(changes, serde_json::json!({ "fields": ["name"], "value": { "name": { "vi": "Hà Nội mới" } } }));
    let age = jiff::Timestamp::now().as_second() - e.time.as_ref().map_or(0, |t| t.seconds);
    assert!((0..60).contains(&age), "the entry is dated now, not {age}s ago");

    // Token changes are audited too, newest first.
    access.create_token(v1::CreateTokenRequest { name: "bob".into(), role: "viewer".into() }).await.expect("made");
    let page = access.list_audit_entries(v1::ListAuditEntriesRequest::default()).await.expect("read").into_inner();
    let first = &page.entries[0];
    assert_eq!(
        (first.actor.as_str(), first.method.as_str(), first.resource.as_str()),
        ("ops", "CreateToken", "tokens/bob")
    );
    assert_eq!(first.changes, r#"{"role":"viewer"}"#);

    let err = app.access(Some(&editor)).await.list_audit_entries(v1::ListAuditEntriesRequest::default()).await;
    let err = err.expect_err("an editor cannot read the audit log");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    app.stop().await;
}

#[tokio::test]
async fn access_control_can_be_off_only_on_loopback() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = data_settings(dir.path(), "coopbrief.test.unused", "0.0.0.0:0".parse().expect("address"));
    settings.auth = AuthMode::Off;
    let err = coopbrief_data::Server::build(&settings).await.err().expect("auth off on 0.0.0.0 is refused");
    let message = format!("{err:#}");
    assert!(message.contains("--auth off (COOPBRIEF_AUTH=off) is refused"), "{message}");
    assert!(message.contains("loopback"), "{message}");
    // Refused before anything was touched.
    assert!(!dir.path().join("coopbrief.db").exists(), "the database was created");
    assert!(!dir.path().join("pdf").exists(), "the artifact directory was created");

    // A TLS file that cannot be read stops the start the same way.
    let mut tls = data_settings(dir.path(), "coopbrief.test.unused", "127.0.0.1:0".parse().expect("address"));
    (tls.tls_cert, tls.tls_key) = (Some(dir.path().join("missing.pem")), Some(dir.path().join("missing.key")));
    let err = coopbrief_data::Server::build(&tls).await.err().expect("a missing certificate is refused");
    assert!(format!("{err:#}").contains("--tls-cert"), "{err:#}");
    assert!(!dir.path().join("coopbrief.db").exists(), "the database was created");

    // The binary says the same and exits non-zero.
    let out = tokio::process::Command::new(workspace_binary("coopbrief-data"))
        .args(["--listen", "0.0.0.0:0", "--auth", "off"])
        .arg("--database-url")
        .arg(format!("sqlite://{}/bin.db", dir.path().display()))
        .output()
        .await
        .expect("coopbrief-data runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("bin.db").exists(), "the binary created the database");
}

#[tokio::test]
async fn the_first_admin_token_is_made_on_the_server_and_makes_the_others() {
    let app = start(false).await;
    let out = tokio::process::Command::new(workspace_binary("coopbrief-data"))
        .args(["--database-url", &app.settings.database_url, "token", "create", "--name", "root", "--role", "admin"])
        .output()
        .await
        .expect("coopbrief-data runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(admin.starts_with("cb_"), "stdout holds the token alone: {admin:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown only this once"));

    let out = tokio::process::Command::new(workspace_binary("coopbrief"))
        .args([
            "--endpoint",
            &app.endpoint,
            "--token",
            &admin,
            "token",
            "create",
            "--name",
            "alice",
            "--role",
            "editor",
        ])
        .output()
        .await
        .expect("coopbrief runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let alice = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    app.data(Some(&alice)).await.update_partner(rename_partner("hanoi", "Hà Nội")).await.expect("alice edits");

    let out = tokio::process::Command::new(workspace_binary("coopbrief"))
        .args(["--endpoint", &app.endpoint, "audit", "list"])
        .env("COOPBRIEF_TOKEN", &admin)
        .output()
        .await
        .expect("coopbrief runs");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for needle in ["alice", "UpdatePartner", "partners/hanoi", "root", "CreateToken", "tokens/alice", "coopbrief-data"]
    {
        assert!(log.contains(needle), "`audit list` lacks {needle}:\n{log}");
    }
    app.stop().await;
}

#[tokio::test]
async fn over_tls_clients_with_the_ca_get_in_and_plain_text_does_not() {
    let app = start(true).await;
    let viewer = app.token("vera", Role::Viewer).await;
    let partners = app.data(Some(&viewer)).await.list_partners(list_partners()).await.expect("a call over TLS");
    assert!(partners.into_inner().partners.iter().any(|p| p.code == "hanoi"));

    // The CLI, over https with --ca-file.
    let out = tokio::process::Command::new(workspace_binary("coopbrief"))
        .args(["--endpoint", &app.endpoint, "--token", &viewer, "partner", "list"])
        .arg("--ca-file")
        .arg(fixture("ca.pem"))
        .output()
        .await
        .expect("coopbrief runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("hanoi"));

    // Plain text to the TLS port gets nowhere.
    let plain = format!("http://127.0.0.1:{}", app.port);
    let args = ClientArgs { token: Some(viewer.clone()), ca_file: None };
    let refused = match coopbrief_runtime::client::connect(&plain, &args).await {
        Err(e) => e.to_string(),
        Ok(channel) => {
            let err = CooperationServiceClient::new(channel).list_partners(list_partners()).await;
            let err = err.expect_err("a plain-text call to a TLS port fails");
            assert!(matches!(err.code(), Code::Unavailable | Code::Unknown | Code::Internal), "{err:?}");
            err.to_string()
        }
    };
    assert!(!refused.is_empty());
    // Without the CA file, https:// trusts the system's CA certificates, which do not know the
    // test CA: the handshake refuses the certificate, and the error says where to give a CA.
    let no_ca = ClientArgs { token: Some(viewer), ca_file: None };
    let err = coopbrief_runtime::client::connect(&app.endpoint, &no_ca).await.err().map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.contains("UnknownIssuer") && e.contains("system's CA certificates")),
        "{err:?}"
    );

    // The container health check, TLS-aware: exit 0 against it, 1 against nothing.
    // Processes are awaited, not waited for: the service under test runs on this thread.
    let healthcheck = |listen: String| {
        tokio::process::Command::new(workspace_binary("coopbrief-data"))
            .args(["--listen", &listen, "--tls-cert"])
            .arg(fixture("server.pem"))
            .arg("--tls-key")
            .arg(fixture("server.key"))
            .env("COOPBRIEF_CA_FILE", fixture("ca.pem"))
            .arg("healthcheck")
            .output()
    };
    let ok = healthcheck(format!("0.0.0.0:{}", app.port)).await.expect("coopbrief-data runs");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("SERVING"));
    let down = healthcheck(format!("127.0.0.1:{}", coopbrief_tests::free_port())).await.expect("coopbrief-data runs");
    assert_eq!(down.status.code(), Some(1), "{}", String::from_utf8_lossy(&down.stderr));
    app.stop().await;
}
