//! `coopbrief-data`: parses settings and runs the data service until SIGTERM, or runs one of
//! its commands (`token …`, `healthcheck`).

use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: the gRPC, protobuf and typst paths allocate and free
/// many small objects per request (a quarter less CPU per report; the README's "Performance"
/// section has the figures). Deployments set `MIMALLOC_PURGE_DELAY=0` (deploy/Dockerfile) so
/// that freed memory goes back to the system at once.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    // Every secret may come from a file (`COOPBRIEF_…_FILE`, Docker secrets).
    let settings: coopbrief_data::Settings = coopbrief_runtime::secrets::parse();
    // Held to the end of `main`: dropping it flushes the traces.
    let _telemetry = coopbrief_runtime::init_tracing(&settings.log_format);
    if let Some(command) = &settings.command {
        return coopbrief_data::commands::run(&settings, command).await;
    }
    let server = coopbrief_data::Server::build(&settings).await?;
    server.run_until_stopped(coopbrief_runtime::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
