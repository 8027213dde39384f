//! `coopbrief-worker`: parses settings, loads the renderer once, and consumes jobs until SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use coopbrief_queue::AmqpQueue;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = coopbrief_worker::Settings::parse();
    coopbrief_runtime::init_tracing(&settings.log_format);
    let renderer = match &settings.template_dir {
        Some(dir) => coopbrief_render::Renderer::with_template_dir(dir)
            .with_context(|| format!("failed to load the templates in {}", dir.display()))?,
        None => coopbrief_render::Renderer::new().context("failed to load the renderer")?,
    };
    let renderer = Arc::new(renderer);
    let worker = coopbrief_worker::Worker::with_config(&settings.data_endpoint, renderer, settings.config())?;
    // Lazy: the supervisor loop in `run` connects, and reconnects, with backoff.
    let queue = AmqpQueue::lazy(settings.amqp());
    coopbrief_worker::run(Arc::new(queue), worker, settings.prefetch.into(), coopbrief_runtime::shutdown_signal())
        .await?;
    Ok(())
}
