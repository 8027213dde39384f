//! `coopbrief-worker`: parses settings, loads the renderer once, and consumes jobs until SIGTERM;
//! `coopbrief-worker healthcheck` answers a container's health probe.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use coopbrief_queue::AmqpQueue;
use coopbrief_worker::Consumer;

/// mimalloc rather than glibc's malloc: the gRPC, protobuf and typst paths allocate and free
/// many small objects per request (a quarter less CPU per report; the README's "Performance"
/// section has the figures). Deployments set `MIMALLOC_PURGE_DELAY=0` (deploy/Dockerfile) so
/// that freed memory goes back to the system at once.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How often a running worker writes its heartbeat file, and how old it may be when probed.
const HEARTBEAT: Duration = Duration::from_secs(10);
const HEARTBEAT_STALE: Duration = Duration::from_secs(30);
/// What the heartbeat file says while a consumer is open on the job queue.
const CONSUMING: &str = "consuming";

#[derive(clap::Parser)]
#[command(name = "coopbrief-worker", version, about = "The Coopbrief worker: renders report jobs from RabbitMQ")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: coopbrief_worker::Settings,
    /// File the running worker writes every 10 s and whenever it starts or stops taking jobs,
    /// for `healthcheck` (images carry no probe tool).
    #[arg(long, env = "COOPBRIEF_HEARTBEAT_FILE", global = true)]
    heartbeat_file: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Exit 0 if the worker in this container is taking jobs (its heartbeat file says so and is
    /// under 30 s old); else say why and exit 1.
    Healthcheck,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Every secret may come from a file (`COOPBRIEF_…_FILE`, Docker secrets).
    let cli: Cli = coopbrief_runtime::secrets::parse();
    let heartbeat = cli.heartbeat_file.unwrap_or_else(|| std::env::temp_dir().join("coopbrief-worker.alive"));
    if let Some(Command::Healthcheck) = cli.command {
        return healthcheck(&heartbeat);
    }
    let settings = cli.settings;
    // Held to the end of `main`: dropping it flushes the traces.
    let _telemetry = coopbrief_runtime::init_tracing(&settings.log_format);
    settings.metrics.serve()?;
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
    tokio::spawn(beat(heartbeat, worker.consumer()));
    // Lazy: the supervisor loop in `run` connects, and reconnects, with backoff.
    let queue = AmqpQueue::lazy(settings.amqp()?);
    coopbrief_worker::run(Arc::new(queue), worker, settings.prefetch.into(), coopbrief_runtime::shutdown_signal())
        .await?;
    Ok(())
}

/// Writes whether the worker takes jobs to the heartbeat file: every [`HEARTBEAT`] while the
/// runtime is responsive, and at once when it changes.
async fn beat(path: PathBuf, mut consumer: tokio::sync::watch::Receiver<Consumer>) {
    let mut every = tokio::time::interval(HEARTBEAT);
    loop {
        let line = match &*consumer.borrow_and_update() {
            Consumer::Consuming => CONSUMING.to_owned(),
            Consumer::Starting => "starting".to_owned(),
            Consumer::Held(reason) => format!("not taking jobs: {reason}"),
            Consumer::Stopped => "stopped".to_owned(),
        };
        if let Err(e) = tokio::fs::write(&path, format!("{line}\n")).await {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the heartbeat file");
        }
        tokio::select! {
            _ = every.tick() => {}
            changed = consumer.changed() => if changed.is_err() { return },
        }
    }
}

/// The reason may quote the data service: control and bidi characters are shown escaped,
/// never obeyed by the terminal.
fn terminal_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            let bidi =
                matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}');
            if c.is_control() || bidi { c.escape_unicode().to_string() } else { c.to_string() }
        })
        .collect()
}

fn healthcheck(path: &Path) -> anyhow::Result<()> {
    let read = || -> std::io::Result<(SystemTime, String)> {
        Ok((std::fs::metadata(path)?.modified()?, std::fs::read_to_string(path)?))
    };
    let (modified, said) =
        read().with_context(|| format!("no heartbeat at {}: is the worker running?", path.display()))?;
    let age = SystemTime::now().duration_since(modified).unwrap_or_default();
    anyhow::ensure!(age <= HEARTBEAT_STALE, "the last heartbeat is {} s old", age.as_secs());
    let said = said.trim();
    anyhow::ensure!(said == CONSUMING, "the worker is {}", terminal_safe(said));
    println!("worker taking jobs (heartbeat {} s ago)", age.as_secs());
    Ok(())
}
