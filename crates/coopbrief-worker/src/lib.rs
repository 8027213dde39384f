//! The Coopbrief worker: a loop around one testable function, [`Worker::handle`].
//!
//! For each job (a report id) it marks the report running, pulls the briefing data from the
//! data service over gRPC in one call, renders it with typst on a blocking thread, streams the
//! PDF back, and only then acks. Render and data errors fail the report and ack the job;
//! an unreachable data service hands the job back to the queue.
//!
//! Jobs are pipelined: up to `prefetch` are held at once, but only `render_slots` render at
//! once (one per core by default). The others meanwhile do their I/O — `StartReport`,
//! `GetBriefingData`, the upload, the ack — so a render slot does not sit idle while a job
//! waits on the network. Each slot is a long-lived render thread: a render lands on a thread
//! whose caches (typst's thread-local ones, the CPU's) the previous render left warm.

pub mod settings;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coopbrief_proto::v1::{self, complete_report_request::Part};
use coopbrief_proto::{CooperationServiceClient, WorkerServiceClient, convert, report as wire_report};
use coopbrief_queue::{Delivery, Job, JobQueue};
use coopbrief_render::{RenderOptions, Renderer};
use coopbrief_runtime::metrics::{JOB_RETRIES, JOBS_DEAD_LETTERED, JOBS_HANDLED, JOBS_IN_FLIGHT, RENDER_DURATION};
use coopbrief_runtime::{GrpcChannel, telemetry};
use futures::{FutureExt, StreamExt};
use sha2::{Digest, Sha256};
use tonic::{Code, Status};
use tracing::{Instrument, Span, error, info, info_span, warn};

pub use settings::Settings;

/// How handling one job ended; decides ack or requeue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded {
        pages: u32,
        bytes: u64,
        /// Where the job's time went.
        stages: Stages,
    },
    /// The report is FAILED with this reason; the job is done.
    Failed(String),
    /// The report was already finished: a duplicate delivery, acked as done.
    Duplicate,
    /// The job cannot be acted on (unknown or malformed report id); acked and logged.
    Rejected(String),
    /// A transient failure (data service unreachable): hand the job back to the queue.
    Retry(String),
    /// The data service refused this worker's token: the job goes back to the queue as it
    /// came (no attempt used) and the worker stops consuming until its token is accepted.
    Refused(String),
}

/// Whether the worker is taking jobs, for its health check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consumer {
    /// Warming up, checking in, or connecting to the broker.
    Starting,
    /// A consumer is open on the job queue.
    Consuming,
    /// Not taking jobs, and why: the data service refused the token or cannot be reached.
    Held(String),
    /// Shutting down.
    Stopped,
}

impl Outcome {
    /// One word for the outcome: a span's `outcome`, the `outcome` label of the jobs metric.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Succeeded { .. } => "succeeded",
            Outcome::Failed(_) => "failed",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected(_) => "rejected",
            Outcome::Retry(_) => "retried",
            Outcome::Refused(_) => "refused",
        }
    }
}

/// Where one successful job's time went, stage by stage (logged with the outcome).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stages {
    /// `StartReport`: the report marked RUNNING.
    pub start: Duration,
    /// `GetBriefingData`.
    pub data: Duration,
    /// Waiting for a render slot (other jobs rendering).
    pub wait: Duration,
    /// On the blocking thread: the data converted, the PDF rendered and hashed.
    pub render: Duration,
    /// `CompleteReport`: the PDF streamed and stored, the report SUCCEEDED.
    pub upload: Duration,
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
    /// Fault injection for tests: a pause before each render.
    #[cfg(feature = "faults")]
    pub render_delay: Duration,
    /// Fault injection for tests: reports for this period fail transiently, every time
    /// (a poison job).
    #[cfg(feature = "faults")]
    pub fail_period: Option<String>,
    /// Renders at once: the CPU-bound stage, so one per core. Jobs held beyond it fetch their
    /// data or upload their PDF meanwhile instead of leaving a core idle.
    pub render_slots: usize,
    /// The most memory, in bytes, one render may take; a briefing estimated above it fails
    /// its report at once (a permanent error saying so) instead of taking the worker down.
    /// `None`: no limit.
    pub render_memory_budget: Option<u64>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            max_attempts: 4,
            render_deadline: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(30),
            #[cfg(feature = "faults")]
            render_delay: Duration::ZERO,
            #[cfg(feature = "faults")]
            fail_period: None,
            render_slots: cores(),
            render_memory_budget: None,
        }
    }
}

/// The CPU cores this process may use (1 if unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Pause before a job is handed back to the broker when even that is all we can do.
const REQUEUE_DELAY: Duration = Duration::from_secs(1);
/// Reconnection backoff of the consumer.
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Longest wait between two check-ins while the data service refuses the token or is away.
const MAX_CHECK_IN_BACKOFF: Duration = Duration::from_secs(30);

/// Renders report jobs. Cheap to clone; the renderer (fonts, templates) is loaded once.
#[derive(Clone)]
pub struct Worker {
    data: CooperationServiceClient<GrpcChannel>,
    reports: WorkerServiceClient<GrpcChannel>,
    renderer: Arc<Renderer>,
    /// The render slots; a render holds its thread until it really ends (even past its deadline).
    threads: RenderThreads,
    config: WorkerConfig,
    /// Whether jobs are being taken (see [`Worker::consumer`]).
    consumer: Arc<tokio::sync::watch::Sender<Consumer>>,
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
            // A programme's briefing data may be as large as the domain lets a programme be.
            data: CooperationServiceClient::new(channel.clone())
                .max_decoding_message_size(coopbrief_domain::limits::MAX_MESSAGE_BYTES),
            reports: WorkerServiceClient::new(channel),
            renderer,
            threads: RenderThreads::new(config.render_slots.max(1)),
            config,
            consumer: Arc::new(tokio::sync::watch::Sender::new(Consumer::Starting)),
        }
    }

    /// Follows whether the worker is taking jobs (its health check writes it down).
    pub fn consumer(&self) -> tokio::sync::watch::Receiver<Consumer> {
        self.consumer.subscribe()
    }

    /// Asks the data service whether it takes this worker's token, and waits (with backoff,
    /// logging each new reason once) until it does; `false` if `shutdown` came first. A data
    /// service too old to know the question counts as a yes.
    pub async fn check_in(&self, shutdown: impl Future<Output = ()>) -> bool {
        tokio::pin!(shutdown);
        let mut backoff = MIN_BACKOFF;
        loop {
            let held = match self.reports.clone().check_in(v1::CheckInRequest {}).await {
                Ok(_) => return true,
                Err(s) if s.code() == Code::Unimplemented => return true,
                Err(s) if matches!(s.code(), Code::Unauthenticated | Code::PermissionDenied) => {
                    format!("the data service refused this worker's token ({:?}): {}", s.code(), s.message())
                }
                Err(s) => format!("the data service cannot be reached ({:?}): {}", s.code(), s.message()),
            };
            let changed = self.consumer.send_if_modified(|state| {
                let new = Consumer::Held(held.clone());
                (*state != new).then(|| *state = new).is_some()
            });
            if changed {
                error!(reason = %held, "not taking jobs; checking in again with backoff");
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = &mut shutdown => return false,
            }
            backoff = (backoff * 2).min(MAX_CHECK_IN_BACKOFF);
        }
    }

    /// Handles one job from start to finish and says how it ended.
    pub async fn handle(&self, job: &Job) -> Outcome {
        let id = job.report_id.as_str();
        let started = Instant::now();
        let start = match self.reports.clone().start_report(v1::StartReportRequest { id: id.to_owned() }).await {
            Ok(r) => r.into_inner(),
            Err(s) if matches!(s.code(), Code::Unauthenticated | Code::PermissionDenied) => {
                return Outcome::Refused(format!(
                    "the data service refused this worker's token ({:?}): {}",
                    s.code(),
                    s.message()
                ));
            }
            Err(s) if transient(&s) => return Outcome::Retry(format!("data service: {}", s.message())),
            Err(s) => return Outcome::Rejected(format!("cannot start report {id}: {}", s.message())),
        };
        let Some(report) = start.report.filter(|_| start.proceed) else {
            return Outcome::Duplicate;
        };
        match self.produce(&report, started.elapsed()).await {
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

    async fn produce(&self, report: &v1::Report, start: Duration) -> Result<Outcome, Failure> {
        let mut stages = Stages { start, ..Stages::default() };
        let t = Instant::now();
        let req = v1::GetBriefingDataRequest { programme: report.programme.clone(), period: report.period.clone() };
        let data =
            self.data.clone().get_briefing_data(req).await.map_err(|s| Failure::from_status("briefing data", &s))?;
        stages.data = t.elapsed();
        let data = data.into_inner();
        let lang = wire_report::lang(&report.lang).map_err(|e| Failure::Permanent(e.to_string()))?;
        let standard =
            wire_report::pdf_standard(&report.pdf_standard).map_err(|e| Failure::Permanent(e.to_string()))?;
        // The request's date, used only if the data service does not date the data snapshot.
        let requested_on = local_date(report.create_time.as_ref());

        #[cfg(feature = "faults")]
        {
            if self.config.fail_period.as_deref() == Some(report.period.as_str()) {
                return Err(Failure::Transient(format!("injected failure for period {}", report.period)));
            }
            if !self.config.render_delay.is_zero() {
                tokio::time::sleep(self.config.render_delay).await;
            }
        }
        let letterhead = convert::to_letterhead(report.letterhead.clone(), "letterhead")
            .map_err(|e| Failure::Permanent(format!("the report's letterhead is invalid: {e}")))?;
        let renderer = self.renderer.clone();
        let budget = self.config.render_memory_budget;
        let queued = Instant::now();
        let render = self.threads.run(move || {
            let began = Instant::now();
            // Converting and hashing are CPU work too: here, not on the async runtime.
            let mut data = convert::to_briefing(data)
                .map_err(|e| Failure::Permanent(format!("the briefing data is invalid: {e}")))?;
            data.override_letterhead(&letterhead);
            // The date of the data snapshot, so equal data renders to equal bytes.
            let date = data.as_of.unwrap_or(requested_on);
            let options = RenderOptions::new(lang, date).with_pdf_standard(standard).with_memory_budget(budget);
            let pdf =
                renderer.render(&data, &options).map_err(|e| Failure::Permanent(format!("rendering failed: {e}")))?;
            let sha256 = hex::encode(Sha256::digest(&pdf.bytes));
            Ok::<_, Failure>((pdf, sha256, began))
        });
        // A render past the deadline fails this attempt; its thread finishes it on its own
        // (typst cannot be interrupted) and the result is dropped.
        let deadline = self.config.render_deadline;
        let span = if telemetry::enabled() {
            info_span!("render", report_id = %report.id, pages = tracing::field::Empty)
        } else {
            Span::none()
        };
        let (pdf, sha256, began) = tokio::time::timeout(deadline, render)
            .instrument(span.clone())
            .await
            .map_err(|_| Failure::Transient(format!("rendering took longer than {}s", deadline.as_secs_f64())))?
            .map_err(|_| Failure::Transient("the renderer crashed".into()))??;
        span.record("pages", pdf.pages);
        stages.wait = began.duration_since(queued);
        stages.render = began.elapsed();
        metrics::histogram!(RENDER_DURATION).record(stages.render);

        let t = Instant::now();
        let header = v1::CompleteReportHeader {
            id: report.id.clone(),
            page_count: pdf.pages,
            byte_size: pdf.bytes.len() as u64,
            sha256,
            template_version: self.renderer.template_version().to_owned(),
            data_hash: pdf.data_hash,
        };
        let (pages, bytes) = (pdf.pages, pdf.bytes.len() as u64);
        let mut parts = Vec::with_capacity(1 + pdf.bytes.len().div_ceil(coopbrief_proto::CHUNK_SIZE));
        parts.push(v1::CompleteReportRequest { part: Some(Part::Header(header)) });
        parts.extend(
            pdf.bytes
                .chunks(coopbrief_proto::CHUNK_SIZE)
                .map(|c| v1::CompleteReportRequest { part: Some(Part::Chunk(c.to_vec())) }),
        );
        drop(pdf.bytes);
        let stored = self
            .reports
            .clone()
            .complete_report(futures::stream::iter(parts))
            .await
            .map_err(|s| Failure::from_status("upload", &s))?
            .into_inner();
        stages.upload = t.elapsed();
        if stored.state != v1::ReportState::Succeeded as i32 {
            // Cancelled (or finished by a duplicate) while we rendered: nothing more to do.
            return Ok(Outcome::Duplicate);
        }
        Ok(Outcome::Succeeded { pages, bytes, stages })
    }
}

/// The render slots: long-lived threads taking closures from one queue, so that renders do
/// not wander over the runtime's blocking pool. They end when the last [`Worker`] clone goes.
#[derive(Clone)]
struct RenderThreads {
    queue: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
    /// How many threads run.
    count: usize,
}

impl RenderThreads {
    fn new(count: usize) -> RenderThreads {
        let (queue, jobs) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let jobs = Arc::new(std::sync::Mutex::new(jobs));
        let mut started = 0;
        for i in 0..count {
            let jobs = jobs.clone();
            let spawned = std::thread::Builder::new().name(format!("render-{i}")).spawn(move || {
                loop {
                    // The lock is held only while waiting for the next job, not while rendering.
                    let job = match jobs.lock() {
                        Ok(jobs) => jobs.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => error!(error = %e, "could not start a render thread"),
            }
        }
        RenderThreads { queue, count: started }
    }

    /// Runs `f` on the next free render thread. The error: the thread panicked (or none runs).
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = Result<T, tokio::sync::oneshot::error::RecvError>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // A panic drops `tx`, which the caller sees as an error; the thread itself goes on.
        let job = Box::new(move || {
            if let Ok(out) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                let _ = tx.send(out);
            }
        });
        let _ = self.queue.send(job);
        rx
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

/// The calendar date in the office's zone (Hà Nội) when the report was requested: the
/// briefing's date, fixed for the report so a re-render gives the same document.
fn local_date(t: Option<&prost_types::Timestamp>) -> jiff::civil::Date {
    let ts = t.and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok()).unwrap_or_else(jiff::Timestamp::now);
    coopbrief_domain::schedule::default_time_zone().to_datetime(ts).date()
}

/// Consumes jobs until `shutdown` resolves, holding up to `concurrency` at once (of which the
/// worker's render slots render, the others do their I/O); each job is acked only after its
/// outcome is recorded.
///
/// Before the first job the renderer is warmed up (a sample briefing rendered and dropped), so
/// typst's one-time set-up is not paid by a job.
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
    let t = Instant::now();
    // On every render thread, so that each has laid the template out once: a thread that has
    // warmed up waits for the others, so none takes two warm-ups.
    let all_warm = Arc::new(std::sync::Barrier::new(worker.threads.count));
    let warm_ups = (0..worker.threads.count).map(|_| {
        let (renderer, all_warm) = (worker.renderer.clone(), all_warm.clone());
        worker.threads.run(move || {
            // Even a warm-up that panics reaches the barrier, lest the others wait for ever.
            let warmed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| renderer.warm_up()));
            all_warm.wait();
            warmed
        })
    });
    for warmed in futures::future::join_all(warm_ups).await {
        match warmed {
            Ok(Ok(Ok(()))) => {}
            // Not fatal: a job shows the same error, with its report, if it is real.
            Ok(Ok(Err(e))) => warn!(error = %e, "renderer warm-up failed"),
            Ok(Err(_)) | Err(_) => warn!("renderer warm-up crashed"),
        }
    }
    info!(ms = t.elapsed().as_millis() as u64, threads = worker.threads.count, "renderer warmed up");
    let mut backoff = MIN_BACKOFF;
    loop {
        // No job is taken while the data service refuses this worker's token: the queue keeps
        // them for the workers it accepts.
        if !worker.check_in(shutdown.clone()).await {
            break;
        }
        let deliveries = tokio::select! {
            d = queue.consume() => d,
            () = shutdown.clone() => break,
        };
        let deliveries = match deliveries {
            Ok(d) => {
                backoff = MIN_BACKOFF;
                info!(concurrency, render_slots = worker.config.render_slots.max(1), "worker waiting for jobs");
                worker.consumer.send_replace(Consumer::Consuming);
                d
            }
            Err(e) => {
                worker.consumer.send_replace(Consumer::Held(format!("cannot consume jobs: {e}")));
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
            // A refused token (see `Outcome::Refused`) ends this consumer: back to checking in.
            .take_until(refused(worker.consumer()))
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
            () = &mut work => {
                worker.consumer.send_if_modified(|state| {
                    let was = *state == Consumer::Consuming;
                    if was {
                        *state = Consumer::Held("the job stream broke; reconnecting".into());
                    }
                    was
                });
            }
            () = stopping => {
                warn!(grace_s = grace.as_secs_f64(), "jobs still running after the grace period; handing them back");
                break;
            }
        }
        if shutdown.peek().is_some() {
            break;
        }
    }
    worker.consumer.send_replace(Consumer::Stopped);
    info!("worker stopped");
    Ok(())
}

/// Resolves when the worker's consumer is held because its token was refused.
async fn refused(mut consumer: tokio::sync::watch::Receiver<Consumer>) {
    if consumer.wait_for(|state| matches!(state, Consumer::Held(_))).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Counts a job held, from its delivery until it is settled (or dropped at shutdown).
struct InFlight;

impl InFlight {
    fn new() -> InFlight {
        metrics::gauge!(JOBS_IN_FLIGHT).increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(JOBS_IN_FLIGHT).decrement(1.0);
    }
}

/// The span of one delivery (`CONSUMER`), a child of the span that published it, when traces
/// are on: everything the job does — its calls, the render, the ack — happens inside it.
fn job_span(delivery: &Delivery) -> Span {
    if !telemetry::enabled() {
        return Span::none();
    }
    let job = &delivery.job;
    let span = info_span!(
        "report job",
        otel.kind = "consumer",
        report_id = %job.report_id,
        attempt = job.attempt,
        redelivered = delivery.redelivered,
        outcome = tracing::field::Empty,
    );
    telemetry::set_parent(&span, job.traceparent.as_deref());
    span
}

async fn process(worker: &Worker, queue: &dyn JobQueue, delivery: Delivery) {
    let span = job_span(&delivery);
    settle(worker, queue, delivery).instrument(span).await
}

/// Handles the delivery's job and settles the delivery by its outcome.
async fn settle(worker: &Worker, queue: &dyn JobQueue, delivery: Delivery) {
    let _held = InFlight::new();
    let job = delivery.job.clone();
    let outcome = worker.handle(&job).await;
    metrics::counter!(JOBS_HANDLED, "outcome" => outcome.name()).increment(1);
    Span::current().record("outcome", outcome.name());
    let report_id = job.report_id.as_str();
    let attempt = job.attempt;
    let settled = match &outcome {
        Outcome::Succeeded { pages, bytes, stages } => {
            let t = Instant::now();
            let acked = delivery.ack().await;
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            info!(
                report_id,
                attempt,
                pages,
                bytes,
                start_ms = ms(stages.start),
                data_ms = ms(stages.data),
                wait_ms = ms(stages.wait),
                render_ms = ms(stages.render),
                upload_ms = ms(stages.upload),
                ack_ms = ms(t.elapsed()),
                "report succeeded"
            );
            acked
        }
        Outcome::Failed(reason) => {
            warn!(report_id, attempt, reason, "report failed; job dead-lettered");
            match queue.dead_letter(job.clone(), reason).await {
                Ok(()) => {
                    metrics::counter!(JOBS_DEAD_LETTERED).increment(1);
                    delivery.ack().await
                }
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
        Outcome::Refused(reason) => {
            error!(report_id, attempt, reason, "token refused; job handed back, taking no more");
            worker.consumer.send_replace(Consumer::Held(reason.clone()));
            delivery.nack(true).await
        }
        Outcome::Retry(reason) => {
            warn!(report_id, attempt, reason, "transient failure; retrying after a backoff");
            match queue.retry(job.clone()).await {
                Ok(()) => {
                    metrics::counter!(JOB_RETRIES).increment(1);
                    delivery.ack().await
                }
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
