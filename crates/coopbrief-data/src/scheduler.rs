//! The scheduler: every tick, makes the reports of periods that have closed (and whose grace
//! delay has passed) for every enabled schedule, through the same transaction as a manual
//! request (report + outbox job), then wakes the outbox relay.
//!
//! Any number of data-service replicas may run it on one database: the store moves each
//! schedule's cursor by compare-and-set and a unique index allows one report per
//! (schedule, period). Time comes from a [`Clock`], so tests move it instead of sleeping.

use std::sync::Arc;
use std::time::Duration;

use coopbrief_domain::ReportId;
use coopbrief_domain::schedule::{Clock, ScheduleId, SystemClock};
use coopbrief_runtime::telemetry;
use coopbrief_store::{Store, TickSummary};
use tracing::{debug, info, info_span, warn};

use crate::relay::Handoff;

/// Most reports one schedule makes in one tick when catching up after downtime.
pub const DEFAULT_CATCH_UP: u32 = 24;
/// How often the scheduler looks at the schedules.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// One scheduler instance over a store.
#[derive(Clone, Debug)]
pub struct Scheduler {
    store: Store,
    clock: Arc<dyn Clock>,
    /// Caps a catch-up so a long outage does not flood the workers in one go.
    catch_up: u32,
    relay: Arc<Handoff>,
}

impl Scheduler {
    pub fn new(store: Store, clock: Arc<dyn Clock>, catch_up: u32, relay: Arc<Handoff>) -> Scheduler {
        Scheduler { store, clock, catch_up: catch_up.max(1), relay }
    }

    /// With the system clock.
    pub fn system(store: Store, catch_up: u32, relay: Arc<Handoff>) -> Scheduler {
        Scheduler::new(store, Arc::new(SystemClock), catch_up, relay)
    }

    /// One pass over the schedules at the clock's time.
    pub async fn tick(&self) -> coopbrief_store::Result<TickSummary> {
        let now = self.clock.now();
        let summary = self.store.run_schedules_traced(now, self.catch_up, &start_trace).await?;
        if !summary.created.is_empty() {
            self.relay.notify();
            info!(%now, created = summary.created.len(), caught_up = summary.caught_up,
                  backlog = summary.backlog, "scheduled reports queued");
        }
        Ok(summary)
    }
}

/// A new trace for a report the scheduler makes (when traces are on): a root span, ended at
/// once, whose context the report's job carries through the relay to the worker.
fn start_trace(schedule: ScheduleId, report: ReportId) -> Option<String> {
    if !telemetry::enabled() {
        return None;
    }
    let span = info_span!(parent: None, "scheduled report", otel.kind = "producer", schedule_id = %schedule, report_id = %report);
    telemetry::traceparent(&span)
}

/// Ticks every `interval` until `stop` resolves. A failed tick is logged and retried at the
/// next one: nothing is lost, since the cursor only moves with the report it made.
pub async fn run(scheduler: Scheduler, interval: Duration, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        match scheduler.tick().await {
            Ok(summary) if summary.created.is_empty() => debug!("scheduler tick: nothing due"),
            Ok(_) => {}
            Err(error) => warn!(%error, "scheduler tick failed; trying again at the next tick"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = &mut stop => break,
        }
    }
    info!("scheduler stopped");
}
