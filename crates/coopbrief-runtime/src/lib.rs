//! Process plumbing shared by the Coopbrief binaries: the broker settings they share, the
//! client connection to the data service (TLS, bearer token), secrets from files, `tracing`
//! set-up (logs, and traces over OTLP when configured), the metrics exporter and shutdown
//! signals.

pub mod client;
pub mod metrics;
pub mod secrets;
pub mod telemetry;

use tracing::info;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use client::{BearerToken, ClientArgs, ClientError, GrpcChannel};
pub use metrics::MetricsArgs;
pub use telemetry::Telemetry;

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

/// Sets up `tracing`: logs on stderr, human-readable text or JSON lines, filtered by
/// `RUST_LOG` (default `info`); and, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, traces exported there over OTLP/gRPC as
/// service `OTEL_SERVICE_NAME` (default: the binary's name). Call it inside the Tokio runtime
/// and hold the guard until the end of `main`: dropping it flushes the traces. Calling it
/// twice is harmless (the second call changes nothing).
pub fn init_tracing(format: &str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = if format == "json" { logs.json().boxed() } else { logs.boxed() };
    let logs = logs.with_filter(filter);
    let Some(endpoint) = telemetry::configured_endpoint() else {
        let _ = tracing_subscriber::registry().with(logs).try_init();
        return Telemetry::default();
    };
    let service = telemetry::service_name();
    match telemetry::provider(service.clone()) {
        Ok(provider) => {
            let traces = telemetry::layer(&provider);
            match tracing_subscriber::registry().with(logs).with(traces).try_init() {
                Ok(()) => telemetry::installed(provider, &endpoint, &service),
                Err(_) => {
                    let _ = provider.shutdown();
                    Telemetry::default()
                }
            }
        }
        Err(error) => {
            let _ = tracing_subscriber::registry().with(logs).try_init();
            telemetry::not_installed(&endpoint, &error);
            Telemetry::default()
        }
    }
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
