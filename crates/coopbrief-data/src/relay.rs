//! The outbox relay: publishes the report jobs the database holds, with publisher confirms.
//!
//! `CreateReport` writes the report and its job in one transaction and returns; this loop
//! publishes pending jobs and marks one sent only when the broker has acked it (not returned
//! it). With the broker down, jobs wait in the outbox and go out once it is back. Several
//! relays (replicas) may publish the same job; workers treat duplicates as done.

use std::sync::Arc;
use std::time::Duration;

use coopbrief_queue::{Job, JobQueue};
use coopbrief_store::Store;
use tokio::sync::Notify;
use tracing::{debug, info, warn};

/// How often the outbox is read when nobody wakes the relay (other replicas' jobs, retries).
const POLL: Duration = Duration::from_secs(1);
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const BATCH: u32 = 100;

/// Publishes pending jobs until `stop` resolves. `wake` is notified when a job is written.
pub async fn run(
    store: Store,
    queue: Arc<dyn JobQueue>,
    wake: Arc<Notify>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut backoff = MIN_BACKOFF;
    loop {
        let wait = match publish_pending(&store, queue.as_ref()).await {
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
            Some(wait) => tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut stop => break,
            },
            None => tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = &mut stop => break,
            },
        }
    }
    info!("outbox relay stopped");
}

/// Publishes pending jobs in order; stops at the first failure so order is kept.
async fn publish_pending(store: &Store, queue: &dyn JobQueue) -> Result<usize, String> {
    let mut sent = 0;
    loop {
        let jobs = store.claim_jobs(BATCH).await.map_err(|e| e.to_string())?;
        let full = jobs.len() == BATCH as usize;
        for (i, job) in jobs.iter().enumerate() {
            match queue.publish(Job::new(job.report_id.to_string())).await {
                Ok(()) => {
                    store.job_sent(job.id).await.map_err(|e| e.to_string())?;
                    sent += 1;
                }
                Err(e) => {
                    let error = e.to_string();
                    let _ = store.job_not_sent(job.id, &error).await;
                    let rest: Vec<i64> = jobs[i + 1..].iter().map(|j| j.id).collect();
                    let _ = store.release_jobs(&rest).await;
                    return Err(format!("report {}: {error}", job.report_id));
                }
            }
        }
        if !full {
            return Ok(sent);
        }
    }
}
