//! `WatchReport`'s engine: one poll of the store per replica for all the reports watched on it.
//!
//! A report may be changed by any replica (a worker calls whichever data service it reaches),
//! so a watcher cannot wait on this process's memory alone. The [`Hub`] keeps, per watched
//! report, a `tokio::sync::watch` channel holding the report as last seen; while anything is
//! watched, one task reads all those reports every [`POLL_INTERVAL`] in one query per 500 ids
//! and publishes each one whose state, attempt, failure reason or issuance changed. The cost
//! is one query per interval, whatever the number of watchers; with none, no task runs.
//!
//! A watcher is only a receiver: one that goes away (the client hung up, tonic dropped its
//! stream) leaves nothing running, and the next poll forgets a report nobody watches any more.
//! A report that disappears (deleted) closes its channel, which ends its watchers' streams.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use coopbrief_domain::{Report, ReportId};
use coopbrief_store::Store;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::error::{Error, Result};

/// How often the watched reports are read while any is watched: a change shows within this.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Most distinct reports watched at once on one replica; one more is `RESOURCE_EXHAUSTED`.
pub const MAX_WATCHED: usize = 10_000;

/// What a watcher is told about: a change of any of these is sent.
fn key(r: &Report) -> impl PartialEq + use<> {
    (r.state, r.attempt, r.error.clone(), r.issued.as_ref().map(|i| i.number.to_string()))
}

/// The reports watched on this replica and their last seen state.
#[derive(Default)]
pub struct Hub {
    watched: Mutex<Watched>,
}

#[derive(Default)]
struct Watched {
    reports: HashMap<ReportId, watch::Sender<Report>>,
    /// Whether the poll task runs.
    polling: bool,
    /// Shutdown has begun: no new watch, and the open ones were ended.
    closed: bool,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Hub").field("watched", &watched.reports.len()).finish()
    }
}

impl Hub {
    /// A receiver holding `id`'s report as it is now, and each change after. NOT_FOUND for an
    /// unknown report.
    pub async fn subscribe(self: &Arc<Self>, store: &Store, id: ReportId) -> Result<watch::Receiver<Report>> {
        if let Some(rx) = self.existing(id) {
            return Ok(rx);
        }
        let now = store.report(id).await?;
        let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        if watched.closed {
            return Err(Error::ShuttingDown);
        }
        if let Some(tx) = watched.reports.get(&id) {
            return Ok(tx.subscribe());
        }
        if watched.reports.len() >= MAX_WATCHED {
            return Err(Error::Busy(format!(
                "this service watches {MAX_WATCHED} reports already; try again later or poll GetReport"
            )));
        }
        let (tx, rx) = watch::channel(now);
        watched.reports.insert(id, tx);
        if !watched.polling {
            watched.polling = true;
            tokio::spawn(poll(Arc::clone(self), store.clone()));
        }
        Ok(rx)
    }

    /// Shutdown begins: every open watch ends (its stream says UNAVAILABLE, and a client
    /// watches again, on another replica or after the restart), and no new one starts — so
    /// that open streams do not hold the server's graceful shutdown open.
    pub fn close(&self) {
        let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        watched.closed = true;
        watched.reports.clear();
    }

    /// Whether [`Hub::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.watched.lock().unwrap_or_else(PoisonError::into_inner).closed
    }

    fn existing(&self, id: ReportId) -> Option<watch::Receiver<Report>> {
        let watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        watched.reports.get(&id).map(watch::Sender::subscribe)
    }

    /// Forgets reports nobody watches; the ids left, or `None` (and the poll task is to end)
    /// when none is.
    fn still_watched(&self) -> Option<Vec<ReportId>> {
        let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        watched.reports.retain(|_, tx| tx.receiver_count() > 0);
        if watched.reports.is_empty() {
            watched.polling = false;
            return None;
        }
        Some(watched.reports.keys().copied().collect())
    }

    /// Publishes what changed in `found` (the watched reports read now); closes the channels of
    /// watched reports `found` lacks (deleted).
    fn publish(&self, ids: &[ReportId], found: Vec<Report>) {
        let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        if watched.closed {
            return;
        }
        let mut gone: std::collections::HashSet<ReportId> = ids.iter().copied().collect();
        for report in found {
            gone.remove(&report.id);
            if let Some(tx) = watched.reports.get(&report.id) {
                tx.send_if_modified(|seen| {
                    let changed = key(seen) != key(&report);
                    *seen = report;
                    changed
                });
            }
        }
        for id in gone {
            debug!(report_id = %id, "a watched report is gone");
            watched.reports.remove(&id);
        }
    }
}

/// The poll task: runs while anything is watched.
async fn poll(hub: Arc<Hub>, store: Store) {
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(ids) = hub.still_watched() else { return };
        match store.reports_by_ids(&ids).await {
            Ok(found) => hub.publish(&ids, found),
            // The database away: watchers wait; the next tick tries again.
            Err(e) => warn!(error = %e, watched = ids.len(), "reading the watched reports failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use coopbrief_domain::{Lang, Period, ReportState};
    use coopbrief_store::NewReport;

    use super::*;

    async fn store_with_report() -> (Store, Report) {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.import_dataset(&coopbrief_domain::dataset::Dataset::bundled().unwrap()).await.unwrap();
        let period: Period = "2019".parse().unwrap();
        let (report, _) = store.create_report(&NewReport::new("hanoi-hanam", period, Lang::Vi), None).await.unwrap();
        (store, report)
    }

    #[tokio::test]
    async fn a_change_reaches_every_watcher_and_a_watcher_that_leaves_leaves_nothing_running() {
        let (store, report) = store_with_report().await;
        let hub = Arc::new(Hub::default());
        let mut first = hub.subscribe(&store, report.id).await.unwrap();
        let mut second = hub.subscribe(&store, report.id).await.unwrap();
        assert_eq!(first.borrow_and_update().state, ReportState::Queued);
        store.start_report(report.id).await.unwrap();
        for rx in [&mut first, &mut second] {
            tokio::time::timeout(POLL_INTERVAL * 8, rx.changed()).await.unwrap().unwrap();
            assert_eq!((rx.borrow().state, rx.borrow().attempt), (ReportState::Running, 1));
        }
        drop((first, second));
        tokio::time::sleep(POLL_INTERVAL * 3).await;
        let watched = hub.watched.lock().unwrap();
        assert!(watched.reports.is_empty() && !watched.polling, "nothing is watched and no poll runs");
    }

    #[tokio::test]
    async fn an_unknown_report_is_not_found_and_a_deleted_one_closes_its_watchers() {
        let (store, report) = store_with_report().await;
        let hub = Arc::new(Hub::default());
        let unknown = coopbrief_domain::ReportId::new();
        assert!(matches!(
            hub.subscribe(&store, unknown).await,
            Err(Error::Store(coopbrief_store::Error::NotFound { .. }))
        ));
        let mut rx = hub.subscribe(&store, report.id).await.unwrap();
        hub.publish(&[report.id], Vec::new());
        assert!(rx.changed().await.is_err(), "the channel is closed");
    }

    #[tokio::test]
    async fn shutdown_ends_every_watch_and_refuses_new_ones() {
        let (store, report) = store_with_report().await;
        let hub = Arc::new(Hub::default());
        let mut rx = hub.subscribe(&store, report.id).await.unwrap();
        hub.close();
        assert!(rx.changed().await.is_err(), "the open watch ends");
        assert!(hub.is_closed());
        assert!(matches!(hub.subscribe(&store, report.id).await, Err(Error::ShuttingDown)));
    }
}
