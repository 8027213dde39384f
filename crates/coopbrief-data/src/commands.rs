//! `coopbrief-data token …` (tokens made directly in the database, for the first admin) and
//! `coopbrief-data healthcheck` (a gRPC health check for containers, which carry no probe).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use coopbrief_runtime::ClientArgs;
use coopbrief_store::NewAuditEntry;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::settings::{Command, HealthcheckArgs, Settings, TokenCommand};

/// Who made a token on the server's command line, in the token list and the audit log.
pub const LOCAL_ACTOR: &str = "coopbrief-data";

/// Runs a subcommand of `coopbrief-data`.
pub async fn run(settings: &Settings, command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Token(cmd) => token(settings, cmd).await.map(|()| ExitCode::SUCCESS),
        Command::Healthcheck(args) => Ok(healthcheck(settings, args).await),
    }
}

async fn token(settings: &Settings, cmd: &TokenCommand) -> anyhow::Result<()> {
    let store = crate::connect(&settings.database()?).await?;
    let audit = |method: &'static str, resource: String, changes: serde_json::Value| {
        let store = store.clone();
        async move {
            let changes = changes.to_string();
            let entry =
                NewAuditEntry { actor: LOCAL_ACTOR, role: "admin", method, resource: &resource, changes: &changes };
            store.add_audit_entry(&entry).await.context("failed to write the audit entry")
        }
    };
    match cmd {
        TokenCommand::Create { name, role } => {
            let name = crate::service::token_name(name).map_err(|e| anyhow::anyhow!("{e}"))?;
            let (token, secret) = crate::auth::create_token(&store, name, *role, LOCAL_ACTOR)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            audit("CreateToken", format!("tokens/{name}"), serde_json::json!({ "role": role })).await?;
            // The token alone on stdout (for `TOKEN=$(…)`); the words on stderr.
            println!("{secret}");
            eprintln!(
                "created {} token {:?}; it is shown only this once: keep it secret (pass it as --token or COOPBRIEF_TOKEN)",
                token.role, token.name
            );
        }
        TokenCommand::List { all } => {
            print_tokens(&store.tokens(*all).await?);
        }
        TokenCommand::Revoke { name } => {
            let token = store.revoke_token(name).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            audit("RevokeToken", format!("tokens/{name}"), serde_json::json!({ "revoked": true })).await?;
            eprintln!("revoked {} token {:?}", token.role, token.name);
        }
    }
    store.close().await;
    Ok(())
}

fn print_tokens(tokens: &[coopbrief_store::TokenRecord]) {
    println!("{:<24}  {:<7}  {:<20}  {:<20}  {:<20}", "NAME", "ROLE", "CREATED", "REVOKED", "CREATED BY");
    let day = |t: jiff::Timestamp| t.strftime("%Y-%m-%d %H:%M:%S").to_string();
    for t in tokens {
        let revoked = t.revoked_at.map(day).unwrap_or_else(|| "-".into());
        println!("{:<24}  {:<7}  {:<20}  {:<20}  {:<20}", t.name, t.role, day(t.created_at), revoked, t.created_by);
    }
}

/// Checks the service's overall health (`grpc.health.v1.Health/Check` of ""): SERVING is
/// exit 0, anything else (refused, TLS failure, timeout, NOT_SERVING) exit 1.
pub async fn healthcheck(settings: &Settings, args: &HealthcheckArgs) -> ExitCode {
    let endpoint = args.endpoint.clone().unwrap_or_else(|| settings.loopback_endpoint());
    let client = ClientArgs { token: None, ca_file: args.ca_file.clone().or_else(|| settings.tls_cert.clone()) };
    let timeout = Duration::from_secs_f64(args.timeout.clamp(0.1, 600.0));
    let check = async {
        let channel = coopbrief_runtime::client::connect(&endpoint, &client).await?;
        let req = HealthCheckRequest { service: String::new() };
        let status = HealthClient::new(channel).check(req).await?.into_inner().status;
        anyhow::Ok(status)
    };
    match tokio::time::timeout(timeout, check).await {
        Ok(Ok(status)) if status == ServingStatus::Serving as i32 => {
            println!("SERVING ({endpoint})");
            ExitCode::SUCCESS
        }
        Ok(Ok(status)) => {
            let name = ServingStatus::try_from(status).map(|s| s.as_str_name()).unwrap_or("UNKNOWN");
            eprintln!("{name} ({endpoint})");
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("unhealthy: {e:#}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("unhealthy: no answer from {endpoint} within {:.1}s", timeout.as_secs_f64());
            ExitCode::FAILURE
        }
    }
}
