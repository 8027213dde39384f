//! `coopbrief partner|programme|sector|… list|get|create|update|delete`: cooperation data.

use clap::Subcommand;
use coopbrief_proto::v1;

use crate::client::{Client, status};

/// Commands on cooperation data, flattened into the top level of `coopbrief`.
#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Programmes of cooperation.
    #[command(subcommand)]
    Programme(ProgrammeCommand),
}

#[derive(Debug, Subcommand)]
pub enum ProgrammeCommand {
    /// List the programmes the data service holds.
    List,
}

pub async fn run(cmd: ResourceCommand, client: &Client) -> anyhow::Result<()> {
    match cmd {
        ResourceCommand::Programme(ProgrammeCommand::List) => {
            let list =
                client.data.clone().list_programmes(v1::ListProgrammesRequest {}).await.map_err(status)?.into_inner();
            for p in list.programmes {
                let title = p.title.map(|t| t.vi).unwrap_or_default();
                println!("{:<16}  {}  ({})", p.code, title, p.partners.join(", "));
            }
            Ok(())
        }
    }
}
