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
    /// Log format: `text` or `json`.
    #[arg(long, env = "COOPBRIEF_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}
