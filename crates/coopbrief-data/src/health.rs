//! The data service's gRPC health: SERVING only while its database answers, NOT_SERVING
//! while it does not and from the moment shutdown begins.

use std::time::Duration;

use coopbrief_proto::{
    AccessServiceServer, CooperationServiceServer, DiagnosticsServiceServer, ReportServiceServer,
    ScheduleServiceServer, WorkerServiceServer,
};
use coopbrief_store::Store;
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{info, warn};

use crate::App;

/// How often the database is probed, and how long one probe may take.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The names a health check may ask about: the whole service (`""`) and each gRPC service.
/// Every one of them needs the database.
const SERVICES: [&str; 7] = [
    "",
    <CooperationServiceServer<App> as NamedService>::NAME,
    <ReportServiceServer<App> as NamedService>::NAME,
    <WorkerServiceServer<App> as NamedService>::NAME,
    <ScheduleServiceServer<App> as NamedService>::NAME,
    <DiagnosticsServiceServer<App> as NamedService>::NAME,
    <AccessServiceServer<App> as NamedService>::NAME,
];

/// Sets every service's status at once.
pub async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    for name in SERVICES {
        reporter.set_service_status(name, status).await;
    }
}

/// Probes the database every [`PROBE_EVERY`] until `stop` resolves, and says SERVING or
/// NOT_SERVING by what it finds; logs each change once.
pub async fn watch(store: Store, reporter: HealthReporter, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut serving = true;
    let mut every = tokio::time::interval(PROBE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = &mut stop => return,
        }
        let answer = match tokio::time::timeout(PROBE_TIMEOUT, store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
        };
        match (answer, serving) {
            (Ok(()), false) => {
                info!("the database answers again: SERVING");
                set_all(&reporter, ServingStatus::Serving).await;
                serving = true;
            }
            (Err(error), true) => {
                warn!(%error, "the database does not answer: NOT_SERVING");
                set_all(&reporter, ServingStatus::NotServing).await;
                serving = false;
            }
            _ => {}
        }
    }
}
