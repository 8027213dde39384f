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
    /// Heartbeat with the broker, in seconds: a silent connection is noticed in about twice this.
    #[arg(long, env = "COOPBRIEF_AMQP_HEARTBEAT", default_value_t = 10)]
    pub amqp_heartbeat: u16,
    /// Deliveries of one job without an ack before RabbitMQ dead-letters it (x-delivery-limit).
    #[arg(long, env = "COOPBRIEF_DELIVERY_LIMIT", default_value_t = 5)]
    pub delivery_limit: u32,
    /// Waits between attempts of a job that failed transiently, in seconds, comma-separated.
    #[arg(long, env = "COOPBRIEF_RETRY_DELAYS", default_value = "2,10,60", value_delimiter = ',')]
    pub retry_delays: Vec<f64>,
    /// Attempts of a job that keeps failing transiently before the report is FAILED.
    #[arg(long, env = "COOPBRIEF_MAX_ATTEMPTS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,
    /// Longest a render may take, in seconds; well under RabbitMQ's consumer timeout (30 min).
    #[arg(long, env = "COOPBRIEF_RENDER_DEADLINE", default_value_t = 120.0)]
    pub render_deadline: f64,
    /// On SIGTERM, how long in-flight jobs may take to finish before they are handed back.
    #[arg(long, env = "COOPBRIEF_SHUTDOWN_GRACE", default_value_t = 30.0)]
    pub shutdown_grace: f64,
    /// A directory with the operator's own `briefing.typ` (and the files it includes), read
    /// once at start; the data still reaches it as JSON only. The built-in template if unset.
    #[arg(long, env = "COOPBRIEF_TEMPLATE_DIR")]
    pub template_dir: Option<std::path::PathBuf>,
    /// Fault injection for the fault tests: sleep this long before each render.
    #[arg(long, env = "COOPBRIEF_DEBUG_RENDER_DELAY_MS", default_value_t = 0, hide = true)]
    pub debug_render_delay_ms: u64,
    /// Fault injection for the fault tests: jobs of reports for this period fail transiently.
    #[arg(long, env = "COOPBRIEF_DEBUG_FAIL_PERIOD", hide = true)]
    pub debug_fail_period: Option<String>,
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
            self.prefetch,
            self.amqp_heartbeat,
            self.delivery_limit,
            &self.retry_delays,
        )
    }

    /// How the worker handles jobs.
    pub fn config(&self) -> crate::WorkerConfig {
        let secs = |s: f64| std::time::Duration::from_secs_f64(s.clamp(0.0, 86_400.0));
        crate::WorkerConfig {
            max_attempts: self.max_attempts,
            render_deadline: secs(self.render_deadline),
            shutdown_grace: secs(self.shutdown_grace),
            render_delay: std::time::Duration::from_millis(self.debug_render_delay_ms),
            fail_period: self.debug_fail_period.clone(),
        }
    }
}
