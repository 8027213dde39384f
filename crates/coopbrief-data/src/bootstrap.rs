//! Tokens given at start, from files (Docker secrets): the first admin's and the workers',
//! registered in the store by their hash, once, so that a deployment needs no one-off
//! `token create` before it works.
//!
//! A token stored already is left as it is: a restart, or replicas starting together, change
//! nothing, and a token an admin revoked stays revoked. A different token in the file is a
//! rotation: the live token of that name is revoked and the new one takes its place.

use std::path::{Path, PathBuf};

use anyhow::Context;
use coopbrief_domain::Role;
use coopbrief_store::{Bootstrapped, NewAuditEntry, Store};
use tracing::{info, warn};

use crate::commands::LOCAL_ACTOR;

/// The token name of the first admin's token given at start.
pub const ADMIN_NAME: &str = "admin";
/// The token name of the workers' token given at start.
pub const WORKERS_NAME: &str = "workers";

/// Token files read at start.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct BootstrapArgs {
    /// A file holding the first admin's token (`cb_` and 64 hex digits), registered at start
    /// as the token `admin`; a different token in the file later replaces (revokes) it.
    #[arg(long, env = "COOPBRIEF_BOOTSTRAP_ADMIN_TOKEN_FILE")]
    pub bootstrap_admin_token_file: Option<PathBuf>,
    /// A file holding the workers' token (the one they read as COOPBRIEF_TOKEN_FILE),
    /// registered at start as the token `workers` with the worker role.
    #[arg(long, env = "COOPBRIEF_BOOTSTRAP_WORKER_TOKEN_FILE")]
    pub bootstrap_worker_token_file: Option<PathBuf>,
}

/// A token read from its file, well formed; never shown (`Debug` hides it).
pub struct GivenToken {
    name: &'static str,
    role: Role,
    secret: String,
}

impl std::fmt::Debug for GivenToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GivenToken({}, {}, <redacted>)", self.name, self.role)
    }
}

impl BootstrapArgs {
    /// The tokens the files hold, read and checked before anything is opened.
    pub fn tokens(&self) -> anyhow::Result<Vec<GivenToken>> {
        let files = [
            (&self.bootstrap_admin_token_file, ADMIN_NAME, Role::Admin, "COOPBRIEF_BOOTSTRAP_ADMIN_TOKEN_FILE"),
            (&self.bootstrap_worker_token_file, WORKERS_NAME, Role::Worker, "COOPBRIEF_BOOTSTRAP_WORKER_TOKEN_FILE"),
        ];
        let mut tokens: Vec<GivenToken> = Vec::new();
        for (path, name, role, variable) in files {
            let Some(path) = path else { continue };
            let secret = read_token(path).with_context(|| format!("{variable}: {}", path.display()))?;
            if tokens.iter().any(|t| t.secret == secret) {
                anyhow::bail!("{variable}: holds the same token as the admin's; give the workers their own");
            }
            tokens.push(GivenToken { name, role, secret });
        }
        Ok(tokens)
    }
}

/// The token in `path`: one line, `cb_` and 64 hex digits (`openssl rand -hex 32` after `cb_`).
fn read_token(path: &Path) -> anyhow::Result<String> {
    let text = coopbrief_runtime::secrets::read_secret(path).context("cannot read the file")?;
    let token = text.trim();
    anyhow::ensure!(
        crate::auth::well_formed(token),
        "not a token: a token is `cb_` and 64 hex digits (make one with: printf 'cb_%s\\n' \"$(openssl rand -hex 32)\")"
    );
    Ok(token.to_owned())
}

/// Registers the given tokens (see the module's documentation); says what it did, never the token.
pub async fn register(store: &Store, tokens: &[GivenToken]) -> anyhow::Result<()> {
    for token in tokens {
        let (name, role) = (token.name, token.role);
        let hash = crate::auth::token_hash(&token.secret);
        let outcome = store
            .bootstrap_token(name, role, &hash, LOCAL_ACTOR)
            .await
            .with_context(|| format!("failed to register the {role} token {name:?} given at start"))?;
        match outcome {
            Bootstrapped::Present => info!(name, %role, "token given at start is registered already"),
            Bootstrapped::Revoked => {
                warn!(name, %role, "token given at start was revoked and stays revoked: put a new token in its file")
            }
            Bootstrapped::Created | Bootstrapped::Rotated => {
                let rotated = outcome == Bootstrapped::Rotated;
                info!(name, %role, rotated, "token given at start registered");
                let changes = serde_json::json!({ "role": role, "given_at_start": true, "replaced": rotated });
                let entry = NewAuditEntry {
                    actor: LOCAL_ACTOR,
                    role: "admin",
                    method: "CreateToken",
                    resource: &format!("tokens/{name}"),
                    changes: &changes.to_string(),
                };
                // As for tokens made through the API: the change stands if its entry is lost.
                if let Err(e) = store.add_audit_entry(&entry).await {
                    warn!(name, error = %e, "failed to write the audit entry of a token given at start");
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_are_read_with_their_newline_and_checked_never_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            Some(path)
        };
        let admin = format!("cb_{}", "a".repeat(64));
        let args = BootstrapArgs {
            bootstrap_admin_token_file: write("admin", &format!("{admin}\n")),
            bootstrap_worker_token_file: write("worker", &format!("cb_{}\r\n", "b".repeat(64))),
        };
        let tokens = args.tokens().unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].secret, admin);
        assert_eq!((tokens[1].name, tokens[1].role), (WORKERS_NAME, Role::Worker));
        assert!(!format!("{tokens:?}").contains(&admin), "Debug hides the token");

        let bad = BootstrapArgs { bootstrap_admin_token_file: write("bad", "cb_secret-but-short\n"), ..args.clone() };
        let err = format!("{:#}", bad.tokens().unwrap_err());
        assert!(err.starts_with("COOPBRIEF_BOOTSTRAP_ADMIN_TOKEN_FILE") && err.contains("not a token"), "{err}");
        assert!(!err.contains("secret-but-short"), "the file's text is never echoed: {err}");
        let same = BootstrapArgs { bootstrap_worker_token_file: args.bootstrap_admin_token_file.clone(), ..args };
        assert!(format!("{:#}", same.tokens().unwrap_err()).contains("the same token"));
    }
}
