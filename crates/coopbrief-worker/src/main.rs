//! `coopbrief-worker`: parses settings, loads the renderer once, and consumes jobs until SIGTERM;
//! `coopbrief-worker healthcheck` answers a container's health probe.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Parser;
use coopbrief_queue::AmqpQueue;

/// mimalloc rather than glibc's malloc: the gRPC, protobuf and typst paths allocate and free
/// many small objects per request (a quarter less CPU per report; the README's "Performance"
/// section has the figures). Deployments set `MIMALLOC_PURGE_DELAY=0` (deploy/Dockerfile) so
/// that freed memory goes back to the system at once.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How often a running worker touches its heartbeat file, and how old it may be when probed.
const HEARTBEAT: Duration = Duration::from_secs(10);
const HEARTBEAT_STALE: Duration = Duration::from_secs(60);

#[derive(Parser)]
#[command(name = "coopbrief-worker", version, about = "The Coopbrief worker: renders report jobs from RabbitMQ")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: coopbrief_worker::Settings,
    /// File the running worker touches every 10 s, for `healthcheck` (images carry no probe tool).
    #[arg(long, env = "COOPBRIEF_HEARTBEAT_FILE", global = true)]
    heartbeat_file: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Exit 0 if the worker in this container touched its heartbeat file in the last minute.
    Healthcheck,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let heartbeat = cli.heartbeat_file.unwrap_or_else(|| std::env::temp_dir().join("coopbrief-worker.alive"));
    if let Some(Command::Healthcheck) = cli.command {
        return healthcheck(&heartbeat);
    }
    let settings = cli.settings;
    // Held to the end of `main`: dropping it flushes the traces.
    let _telemetry = coopbrief_runtime::init_tracing(&settings.log_format);
    let renderer = match &settings.template_dir {
        Some(dir) => coopbrief_render::Renderer::with_template_dir(dir)
            .with_context(|| format!("failed to load the templates in {}", dir.display()))?,
        None => coopbrief_render::Renderer::new().context("failed to load the renderer")?,
    };
    let renderer = Arc::new(renderer);
    // Lazy: the data service may start later; the token goes with every call.
    let channel = settings.data_channel().context("failed to set up the connection to the data service")?;
    let config = settings.config();
    match config.render_memory_budget {
        Some(bytes) => tracing::info!(budget_mib = bytes >> 20, "each render's memory budget"),
        None => tracing::info!("renders have no memory budget (no --render-memory-budget, no container limit)"),
    }
    let worker = coopbrief_worker::Worker::with_channel(channel, renderer, config);
    tokio::spawn(beat(heartbeat));
    // Lazy: the supervisor loop in `run` connects, and reconnects, with backoff.
    let queue = AmqpQueue::lazy(settings.amqp());
    coopbrief_worker::run(Arc::new(queue), worker, settings.prefetch.into(), coopbrief_runtime::shutdown_signal())
        .await?;
    Ok(())
}

/// Touches the heartbeat file while the worker's runtime is responsive.
async fn beat(path: PathBuf) {
    let mut every = tokio::time::interval(HEARTBEAT);
    loop {
        every.tick().await;
        if let Err(e) = tokio::fs::write(&path, b"alive\n").await {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the heartbeat file");
        }
    }
}

fn healthcheck(path: &Path) -> anyhow::Result<()> {
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .with_context(|| format!("no heartbeat at {}: is the worker running?", path.display()))?;
    let age = SystemTime::now().duration_since(modified).unwrap_or_default();
    anyhow::ensure!(age <= HEARTBEAT_STALE, "the last heartbeat is {} s old", age.as_secs());
    println!("worker alive (heartbeat {} s ago)", age.as_secs());
    Ok(())
}
