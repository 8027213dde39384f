//! The outbox relay: publishes the report jobs the database holds, with publisher confirms.
//!
//! `CreateReport` writes the report and its job in one transaction and returns; this loop
//! publishes pending jobs and marks one sent only when the broker has acked it (not returned
//! it). With the broker down, jobs wait in the outbox and go out once it is back. Several
//! relays (replicas) may publish the same job; workers treat duplicates as done.
//!
//! A job this replica has just written comes already claimed, through the [`Handoff`], and is
//! published without reading the outbox again; the others (schedules, retries, other
//! replicas' jobs whose lease ran out) are claimed from the outbox — when one was written
//! unclaimed, after a failure, and on every poll, not on each hand-over. Sent jobs are marked
//! in one statement per batch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use coopbrief_queue::{Job, JobQueue};
use coopbrief_runtime::telemetry;
use coopbrief_store::{OutboxJob, Store};
use tokio::sync::Notify;
use tracing::{Instrument, debug, info, info_span, warn};

/// How often the outbox is read when nobody wakes the relay (other replicas' jobs, retries).
const POLL: Duration = Duration::from_secs(1);
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const BATCH: u32 = 100;

/// How the service reaches the relay: jobs it wrote and claimed for it, and a wake-up for
/// jobs written unclaimed.
#[derive(Debug)]
pub struct Handoff {
    claimed: Mutex<Vec<OutboxJob>>,
    /// Jobs may wait unclaimed in the outbox: the next pass claims from it.
    outbox: AtomicBool,
    wake: Notify,
}

impl Default for Handoff {
    fn default() -> Self {
        // At start, the outbox may hold jobs from before.
        Handoff { claimed: Mutex::default(), outbox: AtomicBool::new(true), wake: Notify::new() }
    }
}

impl Handoff {
    /// A job written and claimed for this relay: it goes out on the relay's next pass.
    pub fn claimed(&self, job: OutboxJob) {
        self.claimed.lock().unwrap_or_else(PoisonError::into_inner).push(job);
        self.wake.notify_one();
    }

    /// Jobs were written to the outbox unclaimed (schedules, retries): read it now.
    pub fn notify(&self) {
        self.outbox.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn take(&self) -> Vec<OutboxJob> {
        std::mem::take(&mut *self.claimed.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Publishes pending jobs until `stop` resolves.
pub async fn run(
    store: Store,
    queue: Arc<dyn JobQueue>,
    handoff: Arc<Handoff>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut backoff = MIN_BACKOFF;
    loop {
        let wait = match publish_pending(&store, queue.as_ref(), &handoff).await {
            Ok(sent) => {
                if sent > 0 {
                    debug!(sent, "published report jobs");
                }
                backoff = MIN_BACKOFF;
                None
            }
            Err(error) => {
                warn!(%error, retry_in_ms = backoff.as_millis() as u64, "publishing report jobs failed; they stay in the outbox");
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                Some(wait)
            }
        };
        match wait {
            // Failing: back off; new jobs wait in the outbox meanwhile.
            Some(wait) => {
                handoff.outbox.store(true, Ordering::SeqCst);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = &mut stop => break,
                }
            }
            None => tokio::select! {
                _ = handoff.wake.notified() => {}
                // Other replicas' jobs whose lease ran out, and anything missed.
                _ = tokio::time::sleep(POLL) => handoff.outbox.store(true, Ordering::SeqCst),
                _ = &mut stop => break,
            },
        }
    }
    // Jobs handed over since the last pass go back to the outbox for the next relay, at once
    // rather than when their lease runs out.
    let left: Vec<i64> = handoff.take().iter().map(|j| j.id).collect();
    if let Err(error) = store.release_jobs(&left).await {
        warn!(%error, jobs = left.len(), "could not release handed-over jobs; they go out when their lease runs out");
    }
    info!("outbox relay stopped");
}

/// Publishes the jobs handed over, then those waiting in the outbox, in order; stops at the
/// first failure.
async fn publish_pending(store: &Store, queue: &dyn JobQueue, handoff: &Handoff) -> Result<usize, String> {
    let mut sent = 0;
    loop {
        let handed = handoff.take();
        if handed.is_empty() {
            break;
        }
        sent += publish_batch(store, queue, &handed).await?;
    }
    if !handoff.outbox.swap(false, Ordering::SeqCst) {
        return Ok(sent);
    }
    loop {
        let jobs = store.claim_jobs(BATCH).await.map_err(|e| e.to_string())?;
        sent += publish_batch(store, queue, &jobs).await?;
        if jobs.len() < BATCH as usize {
            return Ok(sent);
        }
    }
}

/// Publishes one job, in the trace its outbox row names (when traces are on): the message
/// carries the context of this `publish job` span, whose parent is the request or schedule.
async fn publish(queue: &dyn JobQueue, job: &OutboxJob) -> coopbrief_queue::Result<()> {
    let report_id = job.report_id.to_string();
    if !telemetry::enabled() {
        return queue.publish(Job::new(report_id)).await;
    }
    let span = info_span!("publish job", otel.kind = "producer", report_id = %report_id, outbox_id = job.id, tries = job.tries);
    telemetry::set_parent(&span, job.traceparent.as_deref());
    let traced = Job::new(report_id).with_traceparent(telemetry::traceparent(&span));
    queue.publish(traced).instrument(span).await
}

/// Publishes claimed jobs one after another, each confirmed by the broker, and marks those
/// sent in one statement. On a failure the rest of the batch is released for the next pass.
async fn publish_batch(store: &Store, queue: &dyn JobQueue, jobs: &[OutboxJob]) -> Result<usize, String> {
    let mut sent = Vec::with_capacity(jobs.len());
    let mut failed = None;
    for job in jobs {
        match publish(queue, job).await {
            Ok(()) => sent.push(job.id),
            Err(e) => {
                failed = Some((job, e.to_string()));
                break;
            }
        }
    }
    let marked = store.jobs_sent(&sent).await.map_err(|e| e.to_string());
    if let Some((job, error)) = failed {
        let _ = store.job_not_sent(job.id, &error).await;
        let rest: Vec<i64> = jobs[sent.len() + 1..].iter().map(|j| j.id).collect();
        let _ = store.release_jobs(&rest).await;
        return Err(format!("report {}: {error}", job.report_id));
    }
    marked?;
    Ok(sent.len())
}
