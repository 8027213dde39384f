//! Traces, end to end: the data service and a worker run as processes with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at an OTLP receiver this test serves; one report made
//! through them arrives there as one trace, from both services, with its parent links intact
//! across the AMQP hop and both ways across gRPC. The exporters' batches are held back (a
//! minute's delay): the spans arrive because each process flushes them when it stops.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use coopbrief_proto::v1;
use coopbrief_tests::{AMQP_URL, Process, TEST_RETRY_DELAYS, free_port, rabbitmq, workspace_binary};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tonic::{Request, Response, Status};

/// A span as received, with the service that sent it.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    name: String,
    kind: i32,
    trace: String,
    id: String,
    parent: String,
    attributes: HashMap<String, String>,
}

/// The OTLP trace service: keeps every span it is sent.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Received>>>);

impl Receiver {
    fn spans(&self) -> Vec<Received> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(n)) => n.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut received = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_spans.resource.map(|r| r.attributes).unwrap_or_default();
            let service = resource.iter().find(|kv| kv.key == "service.name").map(|kv| text(kv.value.as_ref()));
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                received.push(Received {
                    service: service.clone().unwrap_or_default(),
                    name: span.name,
                    kind: span.kind,
                    trace: hex::encode(span.trace_id),
                    id: hex::encode(span.span_id),
                    parent: hex::encode(span.parent_span_id),
                    attributes: span.attributes.iter().map(|kv| (kv.key.clone(), text(kv.value.as_ref()))).collect(),
                });
            }
        }
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend(received);
        Ok(Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

/// Serves the receiver on a loopback port; its endpoint.
async fn serve(receiver: Receiver) -> String {
    let incoming = tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().expect("address")).expect("bind");
    let addr = incoming.local_addr().expect("bound");
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver))
            .serve_with_incoming(incoming)
            .await
            .expect("the OTLP receiver runs");
    });
    format!("http://{addr}")
}

/// Sends SIGTERM and waits for a clean exit (which flushes the process's spans).
async fn stop(process: &mut Process, name: &str) {
    let pid = process.0.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(sent.success());
    let started = Instant::now();
    loop {
        if let Some(status) = process.0.try_wait().expect("wait") {
            assert!(status.success(), "{name} exited with {status}");
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{name} did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_report_is_one_trace_across_the_data_service_rabbitmq_and_the_worker() {
    let receiver = Receiver::default();
    let otlp = serve(receiver.clone()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = format!("coopbrief.test.traces.{}", uuid::Uuid::now_v7());
    drop(rabbitmq(&queue, 1).await);
    let common = |cmd: &mut Command| {
        cmd.env("COOPBRIEF_AMQP_URL", AMQP_URL)
            .env("COOPBRIEF_QUEUE", &queue)
            .env("COOPBRIEF_RETRY_DELAYS", TEST_RETRY_DELAYS.map(|d| d.to_string()).join(","))
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp)
            // Nothing is exported before the process stops: the guard's flush is what sends it.
            .env("OTEL_BSP_SCHEDULE_DELAY", "60000")
            .env_remove("OTEL_SERVICE_NAME")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null());
    };

    let listen = format!("127.0.0.1:{}", free_port());
    let endpoint = format!("http://{listen}");
    let mut data = Command::new(workspace_binary("coopbrief-data"));
    common(&mut data);
    data.env("COOPBRIEF_LISTEN", &listen)
        .env("COOPBRIEF_DATABASE_URL", format!("sqlite://{}/coopbrief.db", dir.path().display()))
        .env("COOPBRIEF_ARTIFACTS", dir.path().join("pdf"))
        .env("COOPBRIEF_AUTH", "off");
    let mut data = Process(data.spawn().expect("coopbrief-data starts"));
    let mut worker = Command::new(workspace_binary("coopbrief-worker"));
    common(&mut worker);
    worker.env("COOPBRIEF_DATA_ENDPOINT", &endpoint).env("COOPBRIEF_HEARTBEAT_FILE", dir.path().join("alive"));
    let mut worker = Process(worker.spawn().expect("coopbrief-worker starts"));

    let started = Instant::now();
    let client = loop {
        match coopbrief_cli::Client::connect(&endpoint).await {
            Ok(client) => break client,
            Err(e) => assert!(started.elapsed() < Duration::from_secs(30), "the data service never answered: {e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let report = client.request("hanoi-hanam", "2019", "vi").await.expect("created");
    let done = client.wait(&report.id, Duration::from_secs(120)).await.expect("finished");
    assert_eq!(done.state, v1::ReportState::Succeeded as i32, "error: {}", done.error);
    assert!(receiver.spans().is_empty(), "spans are held back until the processes stop");

    // The worker first, as a deployment stops them; each flushes what it holds.
    stop(&mut worker, "coopbrief-worker").await;
    stop(&mut data, "coopbrief-data").await;
    let _ = rabbitmq(&queue, 1).await.delete_queue().await;

    let spans = receiver.spans();
    let data_service = |s: &&Received| s.service == "coopbrief-data";
    let the_worker = |s: &&Received| s.service == "coopbrief-worker";
    let one = |what: &str, found: Vec<&Received>| -> Received {
        assert_eq!(found.len(), 1, "one {what}, found {found:#?}\nall spans: {spans:#?}");
        found[0].clone()
    };

    // The request starts the trace (the test's client sends no context).
    let create = one(
        "CreateReport server span",
        spans.iter().filter(data_service).filter(|s| s.name == "coopbrief.v1.ReportService/CreateReport").collect(),
    );
    assert_eq!(create.kind, SpanKind::Server as i32);
    assert_eq!(create.parent, "", "the request is the trace's root");
    let trace: Vec<&Received> = spans.iter().filter(|s| s.trace == create.trace).collect();
    let services: HashSet<&str> = trace.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(services, HashSet::from(["coopbrief-data", "coopbrief-worker"]), "{trace:#?}");

    // The relay publishes the job as a child of the request …
    let publish =
        one("publish span", trace.iter().copied().filter(data_service).filter(|s| s.name == "publish job").collect());
    assert_eq!((publish.parent.as_str(), publish.kind), (create.id.as_str(), SpanKind::Producer as i32));
    assert_eq!(publish.attributes.get("report_id"), Some(&report.id));
    // … and across RabbitMQ the worker's job is the publish's child.
    let job = one("job span", trace.iter().copied().filter(the_worker).filter(|s| s.name == "report job").collect());
    assert_eq!((job.parent.as_str(), job.kind), (publish.id.as_str(), SpanKind::Consumer as i32));
    assert_eq!(job.attributes.get("outcome").map(String::as_str), Some("succeeded"));
    let render = one("render span", trace.iter().copied().filter(the_worker).filter(|s| s.name == "render").collect());
    assert_eq!(render.parent, job.id);

    // Each call the worker makes: its client span is the job's child, and the data service's
    // server span is the client span's child.
    for method in ["WorkerService/StartReport", "CooperationService/GetBriefingData", "WorkerService/CompleteReport"] {
        let name = format!("coopbrief.v1.{method}");
        let client = one(
            &format!("{name} client span"),
            trace.iter().copied().filter(the_worker).filter(|s| s.name == name).collect(),
        );
        assert_eq!((client.parent.as_str(), client.kind), (job.id.as_str(), SpanKind::Client as i32), "{name}");
        let server = one(
            &format!("{name} server span"),
            trace.iter().copied().filter(data_service).filter(|s| s.name == name).collect(),
        );
        assert_eq!((server.parent.as_str(), server.kind), (client.id.as_str(), SpanKind::Server as i32), "{name}");
    }

    // No link is broken: the request is the one root, every other parent is in the trace.
    let ids: HashSet<&str> = trace.iter().map(|s| s.id.as_str()).collect();
    let orphans: Vec<_> = trace.iter().filter(|s| s.id != create.id && !ids.contains(s.parent.as_str())).collect();
    assert!(orphans.is_empty(), "spans whose parent is not in the trace: {orphans:#?}");
    println!("one trace {} of {} spans from {services:?}", create.trace, trace.len());
}
