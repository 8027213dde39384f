//! The worker's settings: each one a flag and a `COOPBRIEF_<NAME>` environment variable.

/// Settings of `coopbrief-worker`.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "coopbrief-worker", version, about = "The Coopbrief worker: renders report jobs into PDFs")]
pub struct Settings {
    /// gRPC endpoint of the data service.
    #[arg(long, env = "COOPBRIEF_DATA_ENDPOINT", default_value = "http://127.0.0.1:50051")]
    pub data_endpoint: String,
    /// The worker's bearer token (a `worker` token) and, for an https:// endpoint, the CA file.
    #[command(flatten)]
    pub connection: coopbrief_runtime::ClientArgs,
    #[command(flatten)]
    pub broker: coopbrief_runtime::BrokerArgs,
    /// Jobs held at once (the broker's prefetch): rendering, or fetching data and uploading
    /// around the renders. More than `--renders`, so a render slot never waits on the network.
    #[arg(long, env = "COOPBRIEF_PREFETCH", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub prefetch: u16,
    /// Jobs rendered at once (CPU-bound); one per CPU core if unset. At most `--prefetch`.
    #[arg(long, env = "COOPBRIEF_RENDERS", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub renders: Option<u16>,
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
    #[cfg(feature = "faults")]
    #[arg(long, env = "COOPBRIEF_DEBUG_RENDER_DELAY_MS", default_value_t = 0, hide = true)]
    pub debug_render_delay_ms: u64,
    /// Fault injection for the fault tests: jobs of reports for this period fail transiently.
    #[cfg(feature = "faults")]
    #[arg(long, env = "COOPBRIEF_DEBUG_FAIL_PERIOD", hide = true)]
    pub debug_fail_period: Option<String>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "COOPBRIEF_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

impl Settings {
    /// The broker settings these make.
    pub fn amqp(&self) -> coopbrief_queue::AmqpSettings {
        self.broker.settings(self.prefetch)
    }

    /// The channel to the data service: TLS for an https:// endpoint, the token on every call;
    /// it connects on first use, so the data service may start later.
    pub fn data_channel(&self) -> Result<coopbrief_runtime::GrpcChannel, coopbrief_runtime::ClientError> {
        coopbrief_runtime::client::connect_lazy(&self.data_endpoint, &self.connection)
    }

    /// How the worker handles jobs.
    pub fn config(&self) -> crate::WorkerConfig {
        let secs = |s: f64| std::time::Duration::from_secs_f64(s.clamp(0.0, 86_400.0));
        crate::WorkerConfig {
            max_attempts: self.max_attempts,
            render_deadline: secs(self.render_deadline),
            shutdown_grace: secs(self.shutdown_grace),
            #[cfg(feature = "faults")]
            render_delay: std::time::Duration::from_millis(self.debug_render_delay_ms),
            #[cfg(feature = "faults")]
            fail_period: self.debug_fail_period.clone(),
            render_slots: self.renders.map_or_else(crate::cores, usize::from).min(usize::from(self.prefetch)).max(1),
        }
    }
}
