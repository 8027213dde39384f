//! Process plumbing shared by the Coopbrief binaries: the broker settings they share, the
//! client connection to the data service (TLS, bearer token), secrets from files, `tracing`
//! set-up, the metrics exporter and shutdown signals.

pub mod client;
pub mod metrics;
pub mod secrets;

use tracing::info;

pub use client::{BearerToken, ClientArgs, ClientError, GrpcChannel};
pub use metrics::MetricsArgs;

/// The RabbitMQ settings the data service and the worker share: both declare the same
/// topology, which the broker only accepts if the arguments agree.
#[derive(Clone, Debug, clap::Args)]
pub struct BrokerArgs {
    /// RabbitMQ URL for report jobs: `amqp://`, or `amqps://` for TLS (checked against the
    /// system's CA certificates).
    #[arg(long, env = "COOPBRIEF_AMQP_URL", default_value = coopbrief_queue::DEFAULT_AMQP_URL, hide_env_values = true)]
    pub amqp_url: String,
    /// The broker password, put into --amqp-url (which then names the user but no password).
    #[arg(long, env = "COOPBRIEF_AMQP_PASSWORD", hide_env_values = true)]
    pub amqp_password: Option<String>,
    /// Name of the durable job queue.
    #[arg(long, env = "COOPBRIEF_QUEUE", default_value = coopbrief_queue::DEFAULT_QUEUE)]
    pub queue: String,
    /// Heartbeat with the broker, in seconds: a silent connection is noticed in about twice this.
    #[arg(long, env = "COOPBRIEF_AMQP_HEARTBEAT", default_value_t = 10)]
    pub amqp_heartbeat: u16,
    /// Deliveries of one job without an ack before RabbitMQ dead-letters it (x-delivery-limit).
    #[arg(long, env = "COOPBRIEF_DELIVERY_LIMIT", default_value_t = 5)]
    pub delivery_limit: u32,
    /// Waits between attempts of a job that failed transiently, in seconds, comma-separated.
    #[arg(long, env = "COOPBRIEF_RETRY_DELAYS", default_value = "2,10,60", value_delimiter = ',')]
    pub retry_delays: Vec<f64>,
}

impl BrokerArgs {
    /// The queue settings these make, with `prefetch` unacked deliveries per consumer.
    pub fn settings(&self, prefetch: u16) -> Result<coopbrief_queue::AmqpSettings, secrets::PasswordError> {
        let url = secrets::with_password(&self.amqp_url, self.amqp_password.as_deref(), "COOPBRIEF_AMQP_PASSWORD")?;
        Ok(coopbrief_queue::AmqpSettings::from_flags(
            &url,
            &self.queue,
            prefetch,
            self.amqp_heartbeat,
            self.delivery_limit,
            &self.retry_delays,
        ))
    }
}

/// Sets up `tracing` output on stderr: human-readable text or JSON lines, filtered by
/// `RUST_LOG` (default `info`). Calling it twice is harmless.
pub fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    info!("shutdown requested");
}
