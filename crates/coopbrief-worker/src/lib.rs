//! The Coopbrief worker: a loop around one testable function, [`Worker::handle`].
//!
//! For each job (a report id) it marks the report running, pulls the briefing data from the
//! data service over gRPC in one call, renders it with typst on a blocking thread, streams the
//! PDF back, and only then acks. Render and data errors fail the report and ack the job;
//! an unreachable data service hands the job back to the queue.

pub mod settings;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use coopbrief_proto::v1::{self, complete_report_request::Part};
use coopbrief_proto::{CooperationServiceClient, WorkerServiceClient, convert, report as wire_report};
use coopbrief_queue::{Delivery, Job, JobQueue};
use coopbrief_render::{PdfStandard, RenderOptions, Renderer};
use coopbrief_runtime::GrpcChannel;
use futures::{FutureExt, StreamExt};
use sha2::{Digest, Sha256};
use tonic::{Code, Status};
use tracing::{error, info, warn};

pub use settings::Settings;

/// How handling one job ended; decides ack or requeue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded {
        pages: u32,
        bytes: u64,
    },
    /// The report is FAILED with this reason; the job is done.
    Failed(String),
    /// The report was already finished: a duplicate delivery, acked as done.
    Duplicate,
    /// The job cannot be acted on (unknown or malformed report id); acked and logged.
    Rejected(String),
    /// A transient failure (data service unreachable): hand the job back to the queue.
    Retry(String),
}

/// Errors setting the worker up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid data endpoint {endpoint:?}: {message}")]
    Endpoint { endpoint: String, message: String },
    #[error("failed to load the renderer: {0}")]
    Render(#[from] coopbrief_render::Error),
    #[error("job queue: {0}")]
    Queue(#[from] coopbrief_queue::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a worker handles jobs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Attempts of a transiently failing job before its report is FAILED and dead-lettered.
    pub max_attempts: u32,
    /// Longest one render may take; past it the attempt fails (and is retried).
    pub render_deadline: Duration,
    /// On shutdown, how long in-flight jobs may take before they are handed back.
    pub shutdown_grace: Duration,
    /// Fault injection for tests: a pause before each render (zero in production).
    pub render_delay: Duration,
    /// Fault injection for tests: reports for this period fail transiently, every time
    /// (a poison job). `None` in production.
    pub fail_period: Option<String>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            max_attempts: 4,
            render_deadline: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(30),
            render_delay: Duration::ZERO,
            fail_period: None,
        }
    }
}

/// Pause before a job is handed back to the broker when even that is all we can do.
const REQUEUE_DELAY: Duration = Duration::from_secs(1);
/// Reconnection backoff of the consumer.
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Renders report jobs. Cheap to clone; the renderer (fonts, templates) is loaded once.
#[derive(Clone)]
pub struct Worker {
    data: CooperationServiceClient<GrpcChannel>,
    reports: WorkerServiceClient<GrpcChannel>,
    renderer: Arc<Renderer>,
    config: WorkerConfig,
}

impl Worker {
    /// A worker that talks to the data service at `endpoint` (connecting lazily, so the
    /// data service may start later) and renders with `renderer`.
    pub fn new(endpoint: &str, renderer: Arc<Renderer>) -> Result<Worker> {
        Worker::with_config(endpoint, renderer, WorkerConfig::default())
    }

    /// A worker with its own handling settings, without a token (open data service on loopback).
    pub fn with_config(endpoint: &str, renderer: Arc<Renderer>, config: WorkerConfig) -> Result<Worker> {
        let channel = coopbrief_runtime::client::connect_lazy(endpoint, &coopbrief_runtime::ClientArgs::default())
            .map_err(|e| Error::Endpoint { endpoint: endpoint.to_owned(), message: e.to_string() })?;
        Ok(Worker::with_channel(channel, renderer, config))
    }

    /// A worker on a channel set up elsewhere (TLS, the worker's token: see `Settings::data_channel`).
    pub fn with_channel(channel: GrpcChannel, renderer: Arc<Renderer>, config: WorkerConfig) -> Worker {
        Worker {
            data: CooperationServiceClient::new(channel.clone()),
            reports: WorkerServiceClient::new(channel),
            renderer,
            config,
        }
    }

    /// Handles one job from start to finish and says how it ended.
    pub async fn handle(&self, job: &Job) -> Outcome {
        let id = job.report_id.as_str();
        let start = match self.reports.clone().start_report(v1::StartReportRequest { id: id.to_owned() }).await {
            Ok(r) => r.into_inner(),
            Err(s) if transient(&s) => return Outcome::Retry(format!("data service: {}", s.message())),
            Err(s) => return Outcome::Rejected(format!("cannot start report {id}: {}", s.message())),
        };
        let Some(report) = start.report.filter(|_| start.proceed) else {
            return Outcome::Duplicate;
        };
        match self.produce(&report).await {
            Ok(outcome) => outcome,
            Err(Failure::Transient(reason)) if job.attempt < self.config.max_attempts => Outcome::Retry(reason),
            Err(Failure::Transient(reason)) => {
                self.fail(id, format!("gave up after {} attempts; last error: {reason}", job.attempt)).await
            }
            Err(Failure::Permanent(reason)) => self.fail(id, reason).await,
        }
    }

    /// Records the report as FAILED with `reason`.
    async fn fail(&self, id: &str, reason: String) -> Outcome {
        let req = v1::FailReportRequest { id: id.to_owned(), error: reason.clone() };
        match self.reports.clone().fail_report(req).await {
            Ok(_) => Outcome::Failed(reason),
            Err(s) if transient(&s) => Outcome::Retry(format!("could not record the failure: {}", s.message())),
            Err(s) => Outcome::Rejected(format!("could not record the failure: {}", s.message())),
        }
    }

    async fn produce(&self, report: &v1::Report) -> Result<Outcome, Failure> {
        let req = v1::GetBriefingDataRequest { programme: report.programme.clone(), period: report.period.clone() };
        let data =
            self.data.clone().get_briefing_data(req).await.map_err(|s| Failure::from_status("briefing data", &s))?;
        let data = convert::to_briefing(data.into_inner())
            .map_err(|e| Failure::Permanent(format!("the briefing data is invalid: {e}")))?;
        let lang = wire_report::lang(&report.lang).map_err(|e| Failure::Permanent(e.to_string()))?;
        let standard = match wire_report::pdf_standard(&report.pdf_standard) {
            Ok(coopbrief_domain::PdfStandard::A2b) => PdfStandard::A2b,
            Ok(coopbrief_domain::PdfStandard::None) => PdfStandard::None,
            Err(e) => return Err(Failure::Permanent(e.to_string())),
        };
        // The date of the data snapshot, so equal data renders to equal bytes; the request's
        // date only for a data service that does not say.
        let date = data.as_of.unwrap_or_else(|| local_date(report.create_time.as_ref()));
        let options = RenderOptions::new(lang, date).with_pdf_standard(standard);

        if self.config.fail_period.as_deref() == Some(report.period.as_str()) {
            return Err(Failure::Transient(format!("injected failure for period {}", report.period)));
        }
        if !self.config.render_delay.is_zero() {
            tokio::time::sleep(self.config.render_delay).await;
        }
        let renderer = self.renderer.clone();
        let started = std::time::Instant::now();
        let render = tokio::task::spawn_blocking(move || renderer.render(&data, &options));
        // A render past the deadline fails this attempt; typst cannot be interrupted, so the
        // blocking thread finishes on its own and its result is dropped.
        let deadline = self.config.render_deadline;
        let pdf = tokio::time::timeout(deadline, render)
            .await
            .map_err(|_| Failure::Transient(format!("rendering took longer than {}s", deadline.as_secs_f64())))?
            .map_err(|e| Failure::Transient(format!("the renderer crashed: {e}")))?
            .map_err(|e| Failure::Permanent(format!("rendering failed: {e}")))?;
        info!(report_id = %report.id, pages = pdf.pages, bytes = pdf.bytes.len(), ms = started.elapsed().as_millis() as u64, "rendered briefing");

        let header = v1::CompleteReportHeader {
            id: report.id.clone(),
            page_count: pdf.pages,
            byte_size: pdf.bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&pdf.bytes)),
            template_version: self.renderer.template_version().to_owned(),
            data_hash: pdf.data_hash.clone(),
        };
        let (pages, bytes) = (pdf.pages, pdf.bytes.len() as u64);
        let mut parts = vec![v1::CompleteReportRequest { part: Some(Part::Header(header)) }];
        parts.extend(
            pdf.bytes
                .chunks(coopbrief_proto::CHUNK_SIZE)
                .map(|c| v1::CompleteReportRequest { part: Some(Part::Chunk(c.to_vec())) }),
        );
        let stored = self
            .reports
            .clone()
            .complete_report(futures::stream::iter(parts))
            .await
            .map_err(|s| Failure::from_status("upload", &s))?
            .into_inner();
        if stored.state != v1::ReportState::Succeeded as i32 {
            // Cancelled (or finished by a duplicate) while we rendered: nothing more to do.
            return Ok(Outcome::Duplicate);
        }
        Ok(Outcome::Succeeded { pages, bytes })
    }
}

enum Failure {
    Transient(String),
    Permanent(String),
}

impl Failure {
    fn from_status(what: &str, s: &Status) -> Failure {
        let msg = format!("{what}: {} ({:?})", s.message(), s.code());
        if transient(s) { Failure::Transient(msg) } else { Failure::Permanent(msg) }
    }
}

fn transient(s: &Status) -> bool {
    if matches!(s.code(), Code::Unauthenticated | Code::PermissionDenied) {
        // A missing, revoked or wrong-role token is the operator's to fix: keep the job (it
        // comes back after the retry delays) rather than drop it as rejected.
        error!(code = ?s.code(), reason = s.message(), "the data service refused the worker's token");
        return true;
    }
    matches!(s.code(), Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Aborted)
}

/// The calendar date in Hà Nội (UTC+7, no daylight saving) when the report was requested:
/// the briefing's date, fixed for the report so a re-render gives the same document.
fn local_date(t: Option<&prost_types::Timestamp>) -> jiff::civil::Date {
    let ts = t.and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok()).unwrap_or_else(jiff::Timestamp::now);
    jiff::tz::offset(7).to_datetime(ts).date()
}

/// Consumes jobs until `shutdown` resolves, handling up to `concurrency` at once; each job
/// is acked only after its outcome is recorded.
///
/// A supervisor loop: when the broker connection is lost the consumer is started again
/// (reconnecting, re-declaring the topology and the prefetch) with backoff. On shutdown no
/// new job is taken; jobs in flight get `shutdown_grace` to finish, after which they are
/// dropped unacked and the broker hands them to another worker.
pub async fn run(
    queue: Arc<dyn JobQueue>,
    worker: Worker,
    concurrency: usize,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let shutdown = shutdown.boxed().shared();
    let grace = worker.config.shutdown_grace;
    let mut backoff = MIN_BACKOFF;
    loop {
        let deliveries = tokio::select! {
            d = queue.consume() => d,
            () = shutdown.clone() => break,
        };
        let deliveries = match deliveries {
            Ok(d) => {
                backoff = MIN_BACKOFF;
                info!(concurrency, "worker waiting for jobs");
                d
            }
            Err(e) => {
                warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot consume jobs; retrying");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.clone() => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        // Ends at the first transport error (the connection is gone) or at shutdown.
        let work = deliveries
            .take_while(|d| {
                if let Err(e) = d {
                    warn!(error = %e, "the job stream broke; reconnecting");
                }
                futures::future::ready(d.is_ok())
            })
            .filter_map(|d| futures::future::ready(d.ok()))
            .take_until(shutdown.clone())
            .for_each_concurrent(concurrency.max(1), |delivery| {
                let worker = worker.clone();
                let queue = queue.clone();
                async move { process(&worker, queue.as_ref(), delivery).await }
            });
        tokio::pin!(work);
        let stopping = async {
            shutdown.clone().await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            () = &mut work => {}
            () = stopping => {
                warn!(grace_s = grace.as_secs_f64(), "jobs still running after the grace period; handing them back");
                break;
            }
        }
        if shutdown.peek().is_some() {
            break;
        }
    }
    info!("worker stopped");
    Ok(())
}

async fn process(worker: &Worker, queue: &dyn JobQueue, delivery: Delivery) {
    let job = delivery.job.clone();
    let outcome = worker.handle(&job).await;
    let report_id = job.report_id.as_str();
    let attempt = job.attempt;
    let settled = match &outcome {
        Outcome::Succeeded { pages, bytes } => {
            info!(report_id, attempt, pages, bytes, "report succeeded");
            delivery.ack().await
        }
        Outcome::Failed(reason) => {
            warn!(report_id, attempt, reason, "report failed; job dead-lettered");
            match queue.dead_letter(job.clone(), reason).await {
                Ok(()) => delivery.ack().await,
                Err(e) => {
                    error!(report_id, error = %e, "could not dead-letter the job; rejecting it");
                    delivery.nack(false).await
                }
            }
        }
        Outcome::Duplicate => {
            info!(report_id, attempt, "report already finished; duplicate job acked");
            delivery.ack().await
        }
        Outcome::Rejected(reason) => {
            error!(report_id, attempt, reason, "job rejected");
            delivery.ack().await
        }
        Outcome::Retry(reason) => {
            warn!(report_id, attempt, reason, "transient failure; retrying after a backoff");
            match queue.retry(job.clone()).await {
                Ok(()) => delivery.ack().await,
                Err(e) => {
                    // Cannot even schedule the retry: hand it back; the delivery limit bounds this.
                    warn!(report_id, error = %e, "could not schedule the retry; requeueing");
                    tokio::time::sleep(REQUEUE_DELAY).await;
                    delivery.nack(true).await
                }
            }
        }
    };
    if let Err(e) = settled {
        // The broker will redeliver it; the report's state makes the second run harmless.
        error!(report_id, error = %e, "could not settle the job");
    }
}
