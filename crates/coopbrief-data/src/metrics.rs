//! What the data service records for Prometheus (names and help in `coopbrief_runtime::metrics`):
//! every gRPC call by method and code with its latency (a tower layer outermost around the
//! server, so it counts what callers are told), each report's finish and its time from creation,
//! and the backlog read from the store every few seconds.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use coopbrief_domain::{Report, ReportState};
use coopbrief_runtime::metrics::{
    GRPC_DURATION, GRPC_REQUESTS, OUTBOX_OLDEST_AGE, OUTBOX_PENDING, REPORT_DURATION, REPORTS_FINISHED,
    REPORTS_UNFINISHED,
};
use coopbrief_store::Store;
use http_body::{Body, Frame, SizeHint};
use tonic::Code;
use tonic::codegen::http::{HeaderMap, Response};
use tonic::codegen::{Bytes, Service};

/// How often the backlog gauges are read from the store.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

/// Records that this call finished `report` (not an earlier call): its outcome, and its time
/// from creation to finish by the store's clock.
pub fn report_finished(report: &Report) {
    let outcome = match report.state {
        ReportState::Succeeded => "succeeded",
        ReportState::Failed => "failed",
        ReportState::Cancelled => "cancelled",
        ReportState::Queued | ReportState::Running => return,
    };
    metrics::counter!(REPORTS_FINISHED, "outcome" => outcome).increment(1);
    let took = report.updated_at.duration_since(report.created_at).as_secs_f64().max(0.0);
    metrics::histogram!(REPORT_DURATION, "outcome" => outcome).record(took);
}

/// Reads the backlog into its gauges every few seconds until `stop` resolves. The values are
/// the store's, so every replica shows the same.
pub async fn refresh_backlog(store: Store, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut every = tokio::time::interval(BACKLOG_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = &mut stop => return,
        }
        match store.backlog().await {
            Ok(b) => {
                metrics::gauge!(REPORTS_UNFINISHED, "state" => "queued").set(b.queued as f64);
                metrics::gauge!(REPORTS_UNFINISHED, "state" => "running").set(b.running as f64);
                metrics::gauge!(OUTBOX_PENDING).set(b.outbox_pending as f64);
                let age =
                    b.outbox_oldest.map_or(0.0, |t| jiff::Timestamp::now().duration_since(t).as_secs_f64().max(0.0));
                metrics::gauge!(OUTBOX_OLDEST_AGE).set(age);
            }
            Err(error) => tracing::warn!(%error, "could not read the backlog for the metrics"),
        }
    }
}

/// The method paths a label may name: every Coopbrief RPC, health's and reflection's. Any other
/// path (a caller may send anything) is counted as `other`, so labels stay few.
static METHODS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    let ours = coopbrief_proto::method_paths().unwrap_or_default();
    let open = ["/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"]
        .into_iter()
        .chain(crate::auth::REFLECTION_METHODS);
    // Leaked once: a fixed set of label values for the life of the process.
    ours.into_iter().map(|p| &*Box::leak(p.into_boxed_str())).chain(open).collect()
});

/// The label of a request path.
fn method_label(path: &str) -> &'static str {
    METHODS.get(path).copied().unwrap_or("other")
}

/// A gRPC code's canonical name (`OK`, `NOT_FOUND` …), as the gRPC documentation spells it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// One call being measured; recorded once, when its status is known.
#[derive(Debug)]
struct Call {
    method: &'static str,
    started: Instant,
    recorded: bool,
}

impl Call {
    fn record(&mut self, code: Code) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        metrics::counter!(GRPC_REQUESTS, "method" => self.method, "code" => code_name(code)).increment(1);
        metrics::histogram!(GRPC_DURATION, "method" => self.method).record(self.started.elapsed());
    }

    /// Records the status in `headers`, if they carry one; whether they did.
    fn record_from(&mut self, headers: &HeaderMap) -> bool {
        let Some(status) = tonic::Status::from_header_map(headers) else { return false };
        self.record(status.code());
        true
    }
}

impl Drop for Call {
    /// A stream dropped before its status: the caller went away.
    fn drop(&mut self) {
        self.record(Code::Cancelled);
    }
}

/// The layer; see the module's note. Off, it passes calls through untouched.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcMetricsLayer {
    pub enabled: bool,
}

impl<S> tower_layer::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;
    fn layer(&self, inner: S) -> GrpcMetrics<S> {
        GrpcMetrics { inner, enabled: self.enabled }
    }
}

#[derive(Clone, Debug)]
pub struct GrpcMetrics<S> {
    inner: S,
    enabled: bool,
}

impl<S, ReqBody, B> Service<tonic::codegen::http::Request<ReqBody>> for GrpcMetrics<S>
where
    S: Service<tonic::codegen::http::Request<ReqBody>, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = Response<Measured<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: tonic::codegen::http::Request<ReqBody>) -> Self::Future {
        let mut call = self.enabled.then(|| Call {
            method: method_label(req.uri().path()),
            started: Instant::now(),
            recorded: false,
        });
        let answer = self.inner.call(req);
        Box::pin(async move {
            let response = match answer.await {
                Ok(response) => response,
                Err(e) => {
                    if let Some(mut call) = call {
                        call.record(Code::Internal);
                    }
                    return Err(e);
                }
            };
            // A trailers-only answer carries its status in the headers; a streamed one, in
            // its trailers.
            if let Some(c) = &mut call
                && c.record_from(response.headers())
            {
                call = None;
            }
            Ok(response.map(|body| Measured { body, call }))
        })
    }
}

/// A response body that records its call when the trailers pass (or it is dropped first).
#[derive(Debug)]
pub struct Measured<B> {
    body: B,
    call: Option<Call>,
}

impl<B: Body<Data = Bytes> + Unpin> Body for Measured<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(frame))), Some(call)) = (&polled, &mut this.call)
            && let Some(trailers) = frame.trailers_ref()
        {
            call.record_from(trailers);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_fixed_sets() {
        assert_eq!(
            method_label("/coopbrief.v1.ReportService/CreateReport"),
            "/coopbrief.v1.ReportService/CreateReport"
        );
        assert_eq!(method_label("/grpc.health.v1.Health/Check"), "/grpc.health.v1.Health/Check");
        assert_eq!(method_label("/coopbrief.v1.ReportService/hanoi-hanam"), "other");
        assert_eq!(method_label("/anything at all"), "other");
        assert_eq!(code_name(Code::Ok), "OK");
        assert_eq!(code_name(Code::ResourceExhausted), "RESOURCE_EXHAUSTED");
    }
}
