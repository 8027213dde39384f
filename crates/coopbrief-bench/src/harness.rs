//! What the gRPC and end-to-end sections share: the plan, the measurements, the clients of the
//! data service, RSS sampling, the bare render loop and waiting for a report.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use coopbrief_proto::ReportServiceClient;
use coopbrief_proto::v1;
use coopbrief_render::Renderer;
use tonic::transport::Channel;

use crate::proc;
use crate::render::mib;
use crate::stats::Row;

/// How long and how much each part runs.
pub struct Plan {
    pub grpc_rounds: usize,
    pub grpc_window: Duration,
    pub concurrency: Vec<usize>,
    pub queue_messages: usize,
    pub queue_rounds: usize,
    pub e2e_closed: usize,
    pub e2e_saturation: usize,
    /// Rounds the end-to-end runs alternate with their bare render loop.
    pub e2e_rounds: usize,
    pub bare_window: Duration,
    /// `--prefetch` of the benchmarked workers.
    pub worker_prefetch: u16,
}

/// Numbers the targets are checked against.
#[derive(Debug, Default)]
pub struct Measured {
    /// (concurrency, call, req/s, p99 ms) including "echo".
    pub grpc: Vec<(usize, String, f64, f64)>,
    pub e2e_p50: Option<f64>,
    pub bare_p50: Option<f64>,
    /// (workers, reports/s, bare loop docs/s with as many threads, median per-round ratio).
    pub saturation: Vec<(usize, f64, f64, f64)>,
    /// (workers, CPU ms per report summed over all processes, CPU ms per bare render).
    pub cpu: Vec<(usize, f64, f64)>,
    pub worker_rest_mib: Option<f64>,
    pub data_rest_mib: Option<f64>,
    /// The worker's own time for its first job, and for later jobs of content it had not
    /// rendered yet (p50): set-up on the per-job path would show as a slower first job.
    pub first_job_ms: Option<f64>,
    pub fresh_job_ms: Option<f64>,
}

#[derive(Clone)]
pub struct Clients {
    /// For the gRPC section's load, which counts replies rather than decoding them.
    pub channel: Channel,
    pub reports: ReportServiceClient<Channel>,
}

impl Clients {
    pub async fn connect(endpoint: &str) -> anyhow::Result<Clients> {
        let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())?
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await?;
        Ok(Clients { reports: ReportServiceClient::new(channel.clone()), channel })
    }
}

/// Samples a process's RSS every 50 ms until stopped; the peak in KiB.
pub fn sample_peak(pids: Vec<u32>) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut peak = 0;
        while !flag.load(Ordering::Relaxed) {
            let sum: u64 = pids.iter().filter_map(|p| proc::status(*p)).map(|m| m.rss_kib).sum();
            peak = peak.max(sum);
            std::thread::sleep(Duration::from_millis(50));
        }
        peak
    });
    (stop, handle)
}

pub fn rss_row(case: &str, variant: &str, kib: Option<u64>, note: &str) -> Row {
    let mut r = Row::new("rss", case, variant);
    r.rss_mib = kib.map(mib);
    r.note = note.into();
    r
}

/// Renders on `threads` threads for `window`; documents per second and documents.
pub async fn bare_loop(
    renderer: &Arc<Renderer>,
    seed: &Arc<coopbrief_domain::BriefingData>,
    opts: &coopbrief_render::RenderOptions,
    threads: usize,
    window: Duration,
) -> anyhow::Result<(f64, u64)> {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + window;
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..threads {
        let (r, s, o, d) = (renderer.clone(), seed.clone(), opts.clone(), done.clone());
        handles.push(tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            while Instant::now() < deadline {
                r.render(&s, &o)?;
                d.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    for h in handles {
        h.await??;
    }
    let docs = done.load(Ordering::Relaxed);
    Ok((docs as f64 / started.elapsed().as_secs_f64(), docs))
}

pub async fn wait_done(c: &mut Clients, id: &str, timeout: Duration) -> anyhow::Result<()> {
    wait_done_every(c, id, timeout, Duration::from_millis(2)).await
}

pub async fn wait_done_every(c: &mut Clients, id: &str, timeout: Duration, every: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let r = c.reports.get_report(v1::GetReportRequest { id: id.into() }).await?.into_inner();
        match v1::ReportState::try_from(r.state) {
            Ok(v1::ReportState::Succeeded) => return Ok(()),
            Ok(v1::ReportState::Failed | v1::ReportState::Cancelled) => bail!("report {id} ended {:?}", r.state),
            _ => {}
        }
        if started.elapsed() > timeout {
            bail!("report {id} not done after {} s", timeout.as_secs());
        }
        tokio::time::sleep(every).await;
    }
}
