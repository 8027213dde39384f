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
use coopbrief_render::{RenderOptions, Renderer};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tonic::transport::{Channel, Endpoint};
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
    #[error("invalid data endpoint {endpoint:?}: {source}")]
    Endpoint { endpoint: String, source: tonic::transport::Error },
    #[error("failed to load the renderer: {0}")]
    Render(#[from] coopbrief_render::Error),
    #[error("job queue: {0}")]
    Queue(#[from] coopbrief_queue::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Pause before a job that failed transiently goes back to the queue.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Renders report jobs. Cheap to clone; the renderer (fonts, templates) is loaded once.
#[derive(Clone)]
pub struct Worker {
    data: CooperationServiceClient<Channel>,
    reports: WorkerServiceClient<Channel>,
    renderer: Arc<Renderer>,
}

impl Worker {
    /// A worker that talks to the data service at `endpoint` (connecting lazily, so the
    /// data service may start later) and renders with `renderer`.
    pub fn new(endpoint: &str, renderer: Arc<Renderer>) -> Result<Worker> {
        let channel = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|source| Error::Endpoint { endpoint: endpoint.to_owned(), source })?
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy();
        Ok(Worker {
            data: CooperationServiceClient::new(channel.clone()),
            reports: WorkerServiceClient::new(channel),
            renderer,
        })
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
            Err(Failure::Transient(reason)) => Outcome::Retry(reason),
            Err(Failure::Permanent(reason)) => {
                let req = v1::FailReportRequest { id: id.to_owned(), error: reason.clone() };
                match self.reports.clone().fail_report(req).await {
                    Ok(_) => Outcome::Failed(reason),
                    Err(s) if transient(&s) => Outcome::Retry(format!("could not record the failure: {}", s.message())),
                    Err(s) => Outcome::Rejected(format!("could not record the failure: {}", s.message())),
                }
            }
        }
    }

    async fn produce(&self, report: &v1::Report) -> Result<Outcome, Failure> {
        let req = v1::GetBriefingDataRequest { programme: report.programme.clone(), period: report.period.clone() };
        let data =
            self.data.clone().get_briefing_data(req).await.map_err(|s| Failure::from_status("briefing data", &s))?;
        let data = convert::to_briefing(data.into_inner())
            .map_err(|e| Failure::Permanent(format!("the briefing data is invalid: {e}")))?;
        let lang = wire_report::lang(&report.lang).map_err(|e| Failure::Permanent(e.to_string()))?;
        let options = RenderOptions::new(lang, local_date(report.create_time.as_ref()));

        let renderer = self.renderer.clone();
        let started = std::time::Instant::now();
        let pdf = tokio::task::spawn_blocking(move || renderer.render(&data, &options))
            .await
            .map_err(|e| Failure::Permanent(format!("the renderer crashed: {e}")))?
            .map_err(|e| Failure::Permanent(format!("rendering failed: {e}")))?;
        info!(report_id = %report.id, pages = pdf.pages, bytes = pdf.bytes.len(), ms = started.elapsed().as_millis() as u64, "rendered briefing");

        let header = v1::CompleteReportHeader {
            id: report.id.clone(),
            page_count: pdf.pages,
            byte_size: pdf.bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&pdf.bytes)),
            template_version: coopbrief_render::TEMPLATE_VERSION.to_owned(),
        };
        let (pages, bytes) = (pdf.pages, pdf.bytes.len() as u64);
        let mut parts = vec![v1::CompleteReportRequest { part: Some(Part::Header(header)) }];
        parts.extend(
            pdf.bytes
                .chunks(coopbrief_proto::CHUNK_SIZE)
                .map(|c| v1::CompleteReportRequest { part: Some(Part::Chunk(c.to_vec())) }),
        );
        self.reports
            .clone()
            .complete_report(futures::stream::iter(parts))
            .await
            .map_err(|s| Failure::from_status("upload", &s))?;
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
pub async fn run(
    queue: Arc<dyn JobQueue>,
    worker: Worker,
    concurrency: usize,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let deliveries = queue.consume().await?;
    info!(concurrency, "worker waiting for jobs");
    deliveries
        .take_until(shutdown)
        .for_each_concurrent(concurrency.max(1), |delivery| {
            let worker = worker.clone();
            async move {
                match delivery {
                    Ok(d) => process(&worker, d).await,
                    Err(e) => error!(error = %e, "receiving a job failed"),
                }
            }
        })
        .await;
    info!("worker stopped");
    Ok(())
}

async fn process(worker: &Worker, delivery: Delivery) {
    let job = delivery.job.clone();
    let outcome = worker.handle(&job).await;
    let report_id = job.report_id.as_str();
    let settled = match &outcome {
        Outcome::Succeeded { pages, bytes } => {
            info!(report_id, pages, bytes, "report succeeded");
            delivery.ack().await
        }
        Outcome::Failed(reason) => {
            warn!(report_id, reason, "report failed");
            delivery.ack().await
        }
        Outcome::Duplicate => {
            info!(report_id, "report already finished; duplicate job acked");
            delivery.ack().await
        }
        Outcome::Rejected(reason) => {
            error!(report_id, reason, "job rejected");
            delivery.ack().await
        }
        Outcome::Retry(reason) => {
            warn!(report_id, reason, "transient failure; job goes back to the queue");
            tokio::time::sleep(RETRY_DELAY).await;
            delivery.nack(true).await
        }
    };
    if let Err(e) = settled {
        // The broker will redeliver it; the report's state makes the second run harmless.
        error!(report_id, error = %e, "could not settle the job");
    }
}
