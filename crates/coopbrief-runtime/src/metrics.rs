//! Prometheus metrics, in one place: the name, help text and histogram buckets of every metric
//! the binaries record, and [`serve`], which installs the recorder and its `/metrics` listener.
//!
//! Labels take values from small fixed sets only (an outcome, a state, an RPC path the server
//! knows, a gRPC code name): never an id, a programme or any text a user wrote.

use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// Reports finished, by `outcome` (data service, where the report finishes).
pub const REPORTS_FINISHED: &str = "coopbrief_reports_finished_total";
/// Seconds from a report's creation to its finish, by `outcome` (data service).
pub const REPORT_DURATION: &str = "coopbrief_report_duration_seconds";
/// Reports not finished yet, by `state` (data service, read from the store).
pub const REPORTS_UNFINISHED: &str = "coopbrief_reports_unfinished";
/// Jobs in the outbox not yet published (data service, read from the store).
pub const OUTBOX_PENDING: &str = "coopbrief_outbox_pending_jobs";
/// Age of the oldest job in the outbox not yet published (data service, read from the store).
pub const OUTBOX_OLDEST_AGE: &str = "coopbrief_outbox_oldest_pending_age_seconds";
/// gRPC calls answered, by `method` and `code` (data service).
pub const GRPC_REQUESTS: &str = "coopbrief_grpc_requests_total";
/// Seconds from a gRPC call's arrival to its status, by `method` (data service).
pub const GRPC_DURATION: &str = "coopbrief_grpc_request_duration_seconds";
/// Jobs handled by a worker, by `outcome` (worker).
pub const JOBS_HANDLED: &str = "coopbrief_worker_jobs_total";
/// Jobs a worker holds now (worker).
pub const JOBS_IN_FLIGHT: &str = "coopbrief_worker_jobs_in_flight";
/// Seconds one render took on its render thread (worker).
pub const RENDER_DURATION: &str = "coopbrief_render_duration_seconds";
/// Jobs republished to a delay queue after a transient failure (worker).
pub const JOB_RETRIES: &str = "coopbrief_job_retries_total";
/// Jobs set aside in the dead-letter queue (worker).
pub const JOBS_DEAD_LETTERED: &str = "coopbrief_jobs_dead_lettered_total";

/// Bucket bounds, in seconds, of each histogram.
pub const BUCKETS: [(&str, &[f64]); 3] = [
    (RENDER_DURATION, &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0]),
    (REPORT_DURATION, &[0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0]),
    (GRPC_DURATION, &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
];

/// Says what each metric means; the exporter prints it as the metric's `# HELP`.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(REPORTS_FINISHED, "Reports finished, by outcome: succeeded, failed or cancelled.");
    describe_histogram!(REPORT_DURATION, "Seconds from a report's creation to its finish, by outcome.");
    describe_gauge!(
        REPORTS_UNFINISHED,
        "Reports not finished, by state (queued, running); every replica reads the same store."
    );
    describe_gauge!(OUTBOX_PENDING, "Report jobs in the outbox not yet published to the broker.");
    describe_gauge!(OUTBOX_OLDEST_AGE, "Seconds since the oldest unpublished job was written (0 when none waits).");
    describe_counter!(GRPC_REQUESTS, "gRPC calls answered by the data service, by method and status code.");
    describe_histogram!(GRPC_DURATION, "Seconds from a gRPC call's arrival to its status, by method.");
    describe_counter!(
        JOBS_HANDLED,
        "Jobs a worker handled, by outcome: succeeded, failed, duplicate, rejected or retried."
    );
    describe_gauge!(JOBS_IN_FLIGHT, "Jobs a worker holds now: started and not yet acked or handed back.");
    describe_histogram!(RENDER_DURATION, "Seconds one briefing took to render, on its render thread.");
    describe_counter!(JOB_RETRIES, "Jobs republished to a delay queue after a transient failure.");
    describe_counter!(JOBS_DEAD_LETTERED, "Jobs a worker set aside in the dead-letter queue (their report failed).");
}

/// The metrics could not be served.
#[derive(Debug, thiserror::Error)]
#[error("--metrics-listen (COOPBRIEF_METRICS_LISTEN) {addr}: {source}")]
pub struct MetricsError {
    addr: SocketAddr,
    #[source]
    source: metrics_exporter_prometheus::BuildError,
}

/// The `--metrics-listen` flag both binaries take.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics over HTTP on this address (any path answers); off if unset.
    #[arg(long, env = "COOPBRIEF_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

impl MetricsArgs {
    /// Serves the metrics if asked to; whether they are served. Call it inside the runtime.
    pub fn serve(&self) -> Result<bool, MetricsError> {
        let Some(addr) = self.metrics_listen else { return Ok(false) };
        serve(addr)?;
        Ok(true)
    }
}

/// Installs the process's metrics recorder and serves its Prometheus text on `addr`, from a
/// task on the current Tokio runtime. The listener is bound before this returns, so a port in
/// use stops the start. Once per process: the recorder is global.
pub fn serve(addr: SocketAddr) -> Result<(), MetricsError> {
    let fail = |source| MetricsError { addr, source };
    let mut builder = PrometheusBuilder::new().with_http_listener(addr);
    for (name, bounds) in BUCKETS {
        builder = builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), bounds).map_err(fail)?;
    }
    builder.install().map_err(fail)?;
    describe();
    tracing::info!(%addr, "serving metrics");
    Ok(())
}
