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
    /// The most memory one render may take, in MiB: a briefing estimated to need more fails
    /// its report at once, saying so, instead of taking the worker down. Unset: 90% of the
    /// container's memory limit (cgroup `memory.max`) shared among the render slots, or no
    /// limit where none is set.
    #[arg(long, env = "COOPBRIEF_RENDER_MEMORY_BUDGET", value_parser = clap::value_parser!(u64).range(64..=1 << 20))]
    pub render_memory_budget: Option<u64>,
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
    #[command(flatten)]
    pub metrics: coopbrief_runtime::MetricsArgs,
}

impl Settings {
    /// The broker settings these make.
    pub fn amqp(&self) -> Result<coopbrief_queue::AmqpSettings, coopbrief_runtime::secrets::PasswordError> {
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
            render_slots: self.render_slots(),
            render_memory_budget: self.memory_budget(container_memory_limit()),
        }
    }

    fn render_slots(&self) -> usize {
        self.renders.map_or_else(crate::cores, usize::from).min(usize::from(self.prefetch)).max(1)
    }

    /// The budget of one render, in bytes: the flag's, or a share of the container's limit.
    fn memory_budget(&self, container_limit: Option<u64>) -> Option<u64> {
        if let Some(mib) = self.render_memory_budget {
            return Some(mib << 20);
        }
        let limit = container_limit?;
        Some(limit / 10 * 9 / self.render_slots() as u64)
    }
}

/// The memory limit of the cgroup this process runs in (v2 `memory.max`, else v1's
/// `memory.limit_in_bytes`), if one is set.
fn container_memory_limit() -> Option<u64> {
    ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .find_map(|text| text.trim().parse::<u64>().ok())
        // cgroup v1 writes a huge number for "no limit".
        .filter(|&limit| limit < 1 << 50)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_render_budget_is_the_flags_or_a_share_of_the_containers_limit() {
        let settings = |args: &[&str]| Settings::parse_from([&["coopbrief-worker"], args].concat());
        let two = settings(&["--renders", "2"]);
        assert_eq!(two.memory_budget(None), None, "no limit anywhere: none");
        assert_eq!(two.memory_budget(Some(1000 << 20)), Some((1000u64 << 20) / 10 * 9 / 2));
        let given = settings(&["--renders", "2", "--render-memory-budget", "400"]);
        assert_eq!(given.memory_budget(Some(1000 << 20)), Some(400 << 20), "the flag wins");
        assert!(Settings::try_parse_from(["coopbrief-worker", "--render-memory-budget", "1"]).is_err());
    }
}
