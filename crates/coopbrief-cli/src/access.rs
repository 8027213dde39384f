//! `coopbrief token create|list|revoke` and `coopbrief audit list`: access control, for admins.

use clap::Subcommand;
use coopbrief_proto::v1;

use crate::connection::{Client, Limit, pages, status};
use crate::escape::escape;
use crate::output::{self, Output};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it once: only its SHA-256 is kept.
    Create {
        /// Who holds it (letters, digits, '.', '_', '-' and '@'); `token revoke` takes it.
        #[arg(long)]
        name: String,
        /// viewer, editor, admin or worker.
        #[arg(long)]
        role: String,
    },
    /// List tokens (never the tokens themselves).
    List {
        /// Revoked tokens too.
        #[arg(long)]
        revoked: bool,
        #[command(flatten)]
        limit: Limit,
    },
    /// Revoke the live token of this name; calls with it fail from then on.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Changes, newest first.
    List {
        /// Entries to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue after a previous page (the token it printed).
        #[arg(long)]
        page_token: Option<String>,
    },
}

fn time(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

pub(crate) async fn token(cmd: TokenCommand, client: &Client, out: Output) -> anyhow::Result<()> {
    let mut access = client.access.clone();
    match cmd {
        TokenCommand::Create { name, role } => {
            let r = access.create_token(v1::CreateTokenRequest { name, role }).await.map_err(status)?.into_inner();
            if let Some(doc) = output::document(&r, out)? {
                print!("{doc}");
                return Ok(());
            }
            let token = r.token.unwrap_or_default();
            // The token alone on stdout (for `TOKEN=$(…)`); the words on stderr.
            println!("{}", escape(&r.secret));
            eprintln!(
                "created {} token \"{}\"; it is shown only this once: keep it secret (pass it as --token or COOPBRIEF_TOKEN)",
                escape(&token.role),
                escape(&token.name)
            );
        }
        TokenCommand::List { revoked, limit } => {
            let tokens = pages(limit, |page_size, page_token| {
                let mut access = access.clone();
                async move {
                    let req = v1::ListTokensRequest { show_revoked: revoked, page_size, page_token };
                    let r = access.list_tokens(req).await?.into_inner();
                    Ok::<_, tonic::Status>((r.tokens, r.next_page_token))
                }
            })
            .await?;
            output::print_list(&tokens, out, |tokens| {
                println!("{:<24}  {:<7}  {:<19}  {:<19}  CREATED BY", "NAME", "ROLE", "CREATED", "REVOKED");
                for t in tokens {
                    println!(
                        "{:<24}  {:<7}  {:<19}  {:<19}  {}",
                        escape(&t.name),
                        escape(&t.role),
                        time(t.create_time.as_ref()),
                        time(t.revoke_time.as_ref()),
                        escape(&t.created_by)
                    );
                }
            })?;
        }
        TokenCommand::Revoke { name } => {
            let t = access.revoke_token(v1::RevokeTokenRequest { name }).await.map_err(status)?.into_inner();
            output::print(&t, out, |t| eprintln!("revoked {} token \"{}\"", escape(&t.role), escape(&t.name)))?;
        }
    }
    Ok(())
}

pub(crate) async fn audit(cmd: AuditCommand, client: &Client, out: Output) -> anyhow::Result<()> {
    let AuditCommand::List { limit, page_token } = cmd;
    let req = v1::ListAuditEntriesRequest {
        page_size: limit.min(i32::MAX as u32) as i32,
        page_token: page_token.unwrap_or_default(),
    };
    let r = client.access.clone().list_audit_entries(req).await.map_err(status)?.into_inner();
    if out != Output::Table {
        output::print_list(&r.entries, out, |_| ())?;
        if !r.next_page_token.is_empty() {
            eprintln!("more: --page-token {}", escape(&r.next_page_token));
        }
        return Ok(());
    }
    println!("{:<19}  {:<16}  {:<6}  {:<18}  {:<46}  CHANGES", "TIME", "WHO", "ROLE", "METHOD", "RESOURCE");
    for e in r.entries {
        println!(
            "{:<19}  {:<16}  {:<6}  {:<18}  {:<46}  {}",
            time(e.time.as_ref()),
            escape(&e.actor),
            escape(&e.role),
            escape(&e.method),
            escape(&e.resource),
            escape(&e.changes)
        );
    }
    if !r.next_page_token.is_empty() {
        eprintln!("more: --page-token {}", escape(&r.next_page_token));
    }
    Ok(())
}
