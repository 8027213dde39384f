//! The worker's settings: each one a flag and a `COOPBRIEF_<NAME>` environment variable.

/// Settings of `coopbrief-worker`.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "coopbrief-worker", version, about = "The Coopbrief worker: renders report jobs into PDFs")]
pub struct Settings {
    /// gRPC endpoint of the data service.
    #[arg(long, env = "COOPBRIEF_DATA_ENDPOINT", default_value = "http://127.0.0.1:50051")]
    pub data_endpoint: String,
    /// RabbitMQ URL for report jobs.
    #[arg(long, env = "COOPBRIEF_AMQP_URL", default_value = coopbrief_queue::DEFAULT_AMQP_URL, hide_env_values = true)]
    pub amqp_url: String,
    /// Name of the durable job queue.
    #[arg(long, env = "COOPBRIEF_QUEUE", default_value = coopbrief_queue::DEFAULT_QUEUE)]
    pub queue: String,
    /// Jobs held (and rendered) at once.
    #[arg(long, env = "COOPBRIEF_PREFETCH", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub prefetch: u16,
    /// Log format: `text` or `json`.
    #[arg(long, env = "COOPBRIEF_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}
