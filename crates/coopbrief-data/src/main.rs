//! `coopbrief-data`: parses settings and runs the data service until SIGTERM.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = coopbrief_data::Settings::parse();
    coopbrief_runtime::init_tracing(&settings.log_format);
    let server = coopbrief_data::Server::build(&settings).await?;
    server.run_until_stopped(coopbrief_runtime::shutdown_signal()).await
}
