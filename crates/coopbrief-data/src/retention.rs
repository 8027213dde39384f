//! Retention: finished reports that an operator's policy lets go are deleted, with their PDFs,
//! by a task that runs once at start and then every [`INTERVAL`]. Off unless set.
//!
//! Safe on any number of replicas at once: each deletion is one conditional `DELETE` (a report
//! deleted by another replica, or queued again meanwhile, is skipped), and removing a file
//! that is gone already is not an error. Batches are bounded, so a first sweep over years of
//! reports does not hold the database for long; it logs counts, never report data.

use std::time::Duration;

use coopbrief_domain::ReportId;
use coopbrief_store::{ArtifactStore, PdfCopy, Retention, Store};
use tracing::{info, warn};

/// How often the sweep runs.
pub const INTERVAL: Duration = Duration::from_secs(600);
/// Reports looked at per batch.
const BATCH: u32 = 200;
/// Batches per sweep at most; the rest waits for the next one.
const MAX_BATCHES: u32 = 50;

/// The retention settings of `coopbrief-data` (all off by default).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct RetentionArgs {
    /// Delete finished reports (and their PDFs) whose last change is older than this many days.
    #[arg(long, env = "COOPBRIEF_RETAIN_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub retain_days: Option<u32>,
    /// Keep only the newest this many finished reports of each schedule (reports requested by
    /// hand are not counted); older ones are deleted with their PDFs.
    #[arg(long, env = "COOPBRIEF_RETAIN_LATEST", value_parser = clap::value_parser!(u32).range(1..))]
    pub retain_latest: Option<u32>,
    /// Let retention delete issued (numbered, signed) reports too; without it they are kept.
    #[arg(long, env = "COOPBRIEF_RETAIN_DELETES_ISSUED")]
    pub retain_deletes_issued: bool,
}

impl RetentionArgs {
    /// The policy these settings make.
    pub fn policy(&self) -> Retention {
        Retention {
            max_age: self.retain_days.map(|d| jiff::SignedDuration::from_hours(24 * i64::from(d))),
            keep_latest: self.retain_latest,
            issued_too: self.retain_deletes_issued,
        }
    }
}

/// Removes both PDFs of a deleted report; a failure is logged, never fatal (the report is gone
/// already: the file is an orphan an operator may remove).
pub async fn remove_pdfs(artifacts: &ArtifactStore, id: ReportId) {
    for copy in [PdfCopy::Draft, PdfCopy::Issued] {
        if let Err(error) = artifacts.delete(id, copy).await {
            warn!(report_id = %id, ?copy, %error, "the pdf of a deleted report could not be removed");
        }
    }
}

/// One sweep: deletes what `policy` lets go at this moment, in bounded batches; how many
/// reports it deleted.
pub async fn sweep(store: &Store, artifacts: &ArtifactStore, policy: &Retention) -> coopbrief_store::Result<usize> {
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let expired = store.expired_reports(policy, jiff::Timestamp::now(), BATCH).await?;
        let deleted = store.delete_expired(&expired, policy.issued_too).await?;
        for &id in &deleted {
            remove_pdfs(artifacts, id).await;
        }
        total += deleted.len();
        // A short batch was the last; one where nothing could be deleted would repeat itself.
        if expired.len() < BATCH as usize || deleted.is_empty() {
            break;
        }
    }
    Ok(total)
}

/// Sweeps at start and every `interval` until `stop` resolves; does nothing with the policy off.
pub async fn run(
    store: Store,
    artifacts: ArtifactStore,
    policy: Retention,
    interval: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    if policy.is_off() {
        return;
    }
    tokio::pin!(stop);
    loop {
        match sweep(&store, &artifacts, &policy).await {
            Ok(0) => {}
            Ok(deleted) => info!(deleted, "retention deleted finished reports"),
            Err(error) => warn!(%error, "the retention sweep failed; trying again at the next one"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = &mut stop => break,
        }
    }
}
