//! `coopbrief-worker`: parses settings, loads the renderer once, and consumes jobs until SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use coopbrief_queue::AmqpQueue;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = coopbrief_worker::Settings::parse();
    coopbrief_runtime::init_tracing(&settings.log_format);
    let renderer = Arc::new(coopbrief_render::Renderer::new().context("failed to load the renderer")?);
    let worker = coopbrief_worker::Worker::with_config(&settings.data_endpoint, renderer, settings.config())?;
    // Lazy: the supervisor loop in `run` connects, and reconnects, with backoff.
    let queue = AmqpQueue::lazy(settings.amqp());
    coopbrief_worker::run(Arc::new(queue), worker, settings.prefetch.into(), coopbrief_runtime::shutdown_signal())
        .await?;
    Ok(())
}
