//! The data service's settings: each one a flag and a `COOPBRIEF_<NAME>` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Settings of `coopbrief-data`.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "coopbrief-data", version, about = "The Coopbrief data service (gRPC)")]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "COOPBRIEF_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Database URL; the default is an embedded SQLite file.
    #[arg(long, env = "COOPBRIEF_DATABASE_URL", default_value = "sqlite://var/coopbrief.db")]
    pub database_url: String,
    /// RabbitMQ URL for report jobs.
    #[arg(long, env = "COOPBRIEF_AMQP_URL", default_value = coopbrief_queue::DEFAULT_AMQP_URL, hide_env_values = true)]
    pub amqp_url: String,
    /// Name of the durable job queue.
    #[arg(long, env = "COOPBRIEF_QUEUE", default_value = coopbrief_queue::DEFAULT_QUEUE)]
    pub queue: String,
    /// Directory where finished PDFs are kept.
    #[arg(long, env = "COOPBRIEF_ARTIFACT_DIR", default_value = "var/pdf")]
    pub artifact_dir: PathBuf,
    /// Load this dataset file or directory at start (upsert by codes). Without it, an empty
    /// database is seeded with the bundled Hà Nội–Hà Nam dataset.
    #[arg(long, env = "COOPBRIEF_SEED")]
    pub seed: Option<PathBuf>,
    /// Heartbeat with the broker, in seconds: a silent connection is noticed in about twice this.
    #[arg(long, env = "COOPBRIEF_AMQP_HEARTBEAT", default_value_t = 10)]
    pub amqp_heartbeat: u16,
    /// Deliveries of one job without an ack before RabbitMQ dead-letters it (x-delivery-limit).
    #[arg(long, env = "COOPBRIEF_DELIVERY_LIMIT", default_value_t = 5)]
    pub delivery_limit: u32,
    /// Waits between attempts of a job that failed transiently, in seconds, comma-separated.
    #[arg(long, env = "COOPBRIEF_RETRY_DELAYS", default_value = "2,10,60", value_delimiter = ',')]
    pub retry_delays: Vec<f64>,
    /// Seconds between two passes of the report scheduler over the schedules.
    #[arg(long, env = "COOPBRIEF_SCHEDULER_INTERVAL", default_value_t = 30.0)]
    pub scheduler_interval: f64,
    /// Most reports one schedule makes in one pass when catching up after downtime.
    #[arg(long, env = "COOPBRIEF_SCHEDULER_CATCH_UP", default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..))]
    pub scheduler_catch_up: u32,
    /// Log format: `text` or `json`.
    #[arg(long, env = "COOPBRIEF_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

impl Settings {
    /// The broker settings these make.
    pub fn amqp(&self) -> coopbrief_queue::AmqpSettings {
        coopbrief_queue::AmqpSettings::from_flags(
            &self.amqp_url,
            &self.queue,
            1,
            self.amqp_heartbeat,
            self.delivery_limit,
            &self.retry_delays,
        )
    }
}
