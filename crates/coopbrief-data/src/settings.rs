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
    #[command(flatten)]
    pub broker: coopbrief_runtime::BrokerArgs,
    /// Where finished PDFs are kept: a directory, or `s3://bucket/prefix` for S3 and
    /// S3-compatible stores (credentials and endpoint from the `AWS_*` environment variables).
    #[arg(long, alias = "artifact-dir", env = "COOPBRIEF_ARTIFACTS", default_value = "var/pdf")]
    pub artifacts: String,
    /// Load this dataset file or directory at start (upsert by codes). Without it, an empty
    /// database is seeded with the bundled Hà Nội–Hà Nam dataset.
    #[arg(long, env = "COOPBRIEF_SEED")]
    pub seed: Option<PathBuf>,
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
        self.broker.settings(1)
    }
}
