//! Traces with OpenTelemetry: exported over OTLP (gRPC) when the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, off otherwise;
//! and the W3C trace context (`traceparent`) carried across gRPC calls, the outbox and AMQP.
//!
//! Off, nothing is created: no span of ours, no header, no column value ([`enabled`] is false).
//! On, the spans of Coopbrief's own crates at `INFO` and above go to a batch exporter, whose
//! queue is bounded (`OTEL_BSP_MAX_QUEUE_SIZE`, 2,048 spans; more are dropped, never waited for)
//! and which exports on a thread of its own. The [`Telemetry`] guard flushes it on drop.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tonic::codegen::Service;
use tonic::codegen::http;
use tracing::instrument::{Instrument, Instrumented};
use tracing::{Span, info_span, warn};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header (gRPC metadata, AMQP message header) and outbox column holding the context.
pub const TRACEPARENT: &str = "traceparent";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether this process exports traces (its subscriber has the OpenTelemetry layer).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Flushes the spans not yet exported when dropped; held by `main` for the life of the process.
#[must_use = "dropping the guard shuts the exporter down"]
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is buffered and stops the exporter (also done on drop).
    pub fn shutdown(&mut self) {
        if let Some(provider) = self.provider.take() {
            ENABLED.store(false, Ordering::Relaxed);
            if let Err(e) = provider.shutdown() {
                eprintln!("traces: the last spans could not be exported: {e}");
            }
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The OTLP endpoint the environment names, if traces are to be exported.
pub(crate) fn configured_endpoint() -> Option<String> {
    if std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return None;
    }
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
}

/// `OTEL_SERVICE_NAME`, else the name of the running binary (`coopbrief-data` …).
pub(crate) fn service_name() -> String {
    std::env::var("OTEL_SERVICE_NAME").ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).unwrap_or_else(
        || {
            std::env::args_os()
                .next()
                .and_then(|a| std::path::Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "coopbrief".to_owned())
        },
    )
}

/// A tracer provider exporting to the OTLP endpoint of the environment, in batches. Needs a
/// Tokio runtime (the gRPC client's connection task runs on it).
pub(crate) fn provider(service: String) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic().build().map_err(|e| e.to_string())?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service).build();
    Ok(SdkTracerProvider::builder().with_resource(resource).with_batch_exporter(exporter).build())
}

/// The layer exporting Coopbrief's spans (`INFO` and above of its crates) to `provider`'s tracer.
pub(crate) fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    let ours = tracing_subscriber::filter::Targets::new().with_target("coopbrief", tracing::Level::INFO);
    tracing_opentelemetry::layer().with_tracer(provider.tracer("coopbrief")).with_filter(ours)
}

/// Marks the process as exporting (the subscriber with [`layer`] is installed) and returns the guard.
pub(crate) fn installed(provider: SdkTracerProvider, endpoint: &str, service: &str) -> Telemetry {
    ENABLED.store(true, Ordering::Relaxed);
    tracing::info!(endpoint, service, "exporting traces over OTLP");
    Telemetry { provider: Some(provider) }
}

/// Logs that the exporter could not be built; the process runs without traces.
pub(crate) fn not_installed(endpoint: &str, error: &str) {
    warn!(endpoint, error, "cannot export traces over OTLP; running without them");
}

/// The W3C `traceparent` of `span`, to carry its trace across a process boundary. `None` when
/// traces are off (or the span is not sampled by the layer).
pub fn traceparent(span: &Span) -> Option<String> {
    if !enabled() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes `span` (not yet entered) a child of the remote span `traceparent` names. Nothing
/// happens when traces are off or the value is absent or malformed (`span` then starts a trace).
pub fn set_parent(span: &Span, traceparent: Option<&str>) {
    let Some(value) = traceparent.filter(|_| enabled()) else { return };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), value.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    // An error says only that the span has started already or is disabled: it keeps its own trace.
    let _ = span.set_parent(cx);
}

/// The span of a gRPC call served (`SERVER`), a child of the caller's span when the request
/// carries a `traceparent`. Health checks get none, nor does anything while traces are off.
pub fn grpc_server_span<B>(request: &http::Request<B>) -> Span {
    let path = request.uri().path();
    if !enabled() || path.starts_with("/grpc.health.v1.Health/") {
        return Span::none();
    }
    let (service, method) = rpc_names(path);
    let span = info_span!(
        "grpc request",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
    );
    let parent = request.headers().get(TRACEPARENT).and_then(|v| v.to_str().ok());
    set_parent(&span, parent);
    span
}

/// `/pkg.Service/Method` → (`pkg.Service`, `Method`).
fn rpc_names(path: &str) -> (&str, &str) {
    path.trim_start_matches('/').split_once('/').unwrap_or(("", path))
}

/// A client channel that opens a `CLIENT` span around each call, a child of the caller's
/// current span, and sends its context as `traceparent` metadata. Passes through while
/// traces are off.
#[derive(Clone, Debug)]
pub struct Traced<S>(pub S);

impl<S, B> Service<http::Request<B>> for Traced<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if !enabled() {
            return self.0.call(request).instrument(Span::none());
        }
        let path = request.uri().path().to_owned();
        let (service, method) = rpc_names(&path);
        let span = info_span!(
            "grpc call",
            otel.name = %path.trim_start_matches('/'),
            otel.kind = "client",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
        );
        if let Some(value) = traceparent(&span).and_then(|v| http::HeaderValue::from_str(&v).ok()) {
            request.headers_mut().insert(TRACEPARENT, value);
        }
        self.0.call(request).instrument(span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_names_split_the_path() {
        assert_eq!(
            rpc_names("/coopbrief.v1.WorkerService/CompleteReport"),
            ("coopbrief.v1.WorkerService", "CompleteReport")
        );
        assert_eq!(rpc_names("odd"), ("", "odd"));
    }

    #[test]
    fn off_nothing_is_made_or_carried() {
        assert!(!enabled());
        let span = info_span!("x");
        assert_eq!(traceparent(&span), None);
        set_parent(&span, Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
        let request = http::Request::builder().uri("/coopbrief.v1.ReportService/CreateReport").body(()).unwrap();
        assert!(grpc_server_span(&request).is_none());
    }
}
