//! Sections 2, 3 and 6: gRPC against the Echo baseline, the queue through the real RabbitMQ, and
//! the services' RSS; the data service they and the end-to-end runs (`e2e.rs`, run from here) use.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use coopbrief_proto::v1;
use coopbrief_queue::{AmqpQueue, AmqpSettings, Job, JobQueue};
use futures::StreamExt;
use tonic::transport::Channel;

use crate::harness::{Clients, Measured, Plan, rss_row, sample_peak};
use crate::proc::{self, Service};
use crate::render::mib;
use crate::stats::{Row, Samples};

pub const AMQP_URL: &str = coopbrief_queue::DEFAULT_AMQP_URL;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Echo,
    BriefingData,
    ListActivities,
    GetReport,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Echo => "Echo (baseline)",
            Call::BriefingData => "GetBriefingData",
            Call::ListActivities => "ListActivities (50)",
            Call::GetReport => "GetReport",
        }
    }
}

struct Fixture {
    programme: String,
    report_id: String,
}

/// One call of `kind`; the size of its reply in bytes.
async fn call(c: &Clients, kind: Call, f: &Fixture) -> Result<usize, tonic::Status> {
    let ch = &c.channel;
    match kind {
        Call::Echo => {
            counted(ch, "/coopbrief.v1.DiagnosticsService/Echo", v1::EchoRequest { payload: Vec::new() }).await
        }
        Call::BriefingData => {
            let req = v1::GetBriefingDataRequest { programme: f.programme.clone(), period: "2019".into() };
            counted(ch, "/coopbrief.v1.CooperationService/GetBriefingData", req).await
        }
        Call::ListActivities => {
            let req = v1::ListActivitiesRequest { programme: f.programme.clone(), page_size: 50, ..Default::default() };
            counted(ch, "/coopbrief.v1.CooperationService/ListActivities", req).await
        }
        Call::GetReport => {
            counted(ch, "/coopbrief.v1.ReportService/GetReport", v1::GetReportRequest { id: f.report_id.clone() }).await
        }
    }
}

/// A unary call whose reply is counted, not decoded: the load generator shares the machine's
/// two cores with the data service, and decoding (allocating every string of a programme) would
/// charge the service for the client's work. All four calls, echo included, go this way.
async fn counted<T: prost::Message + Send + Sync + 'static>(
    channel: &Channel,
    path: &'static str,
    request: T,
) -> Result<usize, tonic::Status> {
    // Sized like the worker's client: a programme's briefing data may pass tonic's 4 MiB.
    let mut grpc = tonic::client::Grpc::new(channel.clone())
        .max_decoding_message_size(coopbrief_domain::limits::MAX_MESSAGE_BYTES);
    grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    let codec = CountReplies(std::marker::PhantomData);
    Ok(grpc.unary(tonic::Request::new(request), path, codec).await?.into_inner())
}

/// Encodes requests of type `T` with prost; a reply decodes to its length.
struct CountReplies<T>(std::marker::PhantomData<T>);

impl<T: prost::Message + Send + 'static> tonic::codec::Codec for CountReplies<T> {
    type Encode = T;
    type Decode = usize;
    type Encoder = tonic_prost::ProstEncoder<T>;
    type Decoder = ReplyLength;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::new(tonic::codec::BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ReplyLength
    }
}

struct ReplyLength;

impl tonic::codec::Decoder for ReplyLength {
    type Item = usize;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<usize>, tonic::Status> {
        use bytes::Buf;
        let n = src.remaining();
        src.advance(n);
        Ok(Some(n))
    }
}

/// `inflight` tasks calling `kind` back to back for `window`; latencies and req/s.
async fn load(
    clients: &Clients,
    kind: Call,
    f: &Arc<Fixture>,
    inflight: usize,
    window: Duration,
) -> anyhow::Result<(Samples, f64)> {
    let deadline = Instant::now() + window;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..inflight {
        let c = clients.clone();
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = Samples::default();
            while Instant::now() < deadline {
                let t = Instant::now();
                call(&c, kind, &f).await?;
                s.push(t.elapsed());
            }
            Ok::<_, tonic::Status>(s)
        }));
    }
    let mut all = Samples::default();
    for t in tasks {
        all.extend(t.await?.with_context(|| format!("{} failed", kind.name()))?);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    Ok((all, rate))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_ready(endpoint: &str, svc: &mut Service) -> anyhow::Result<Clients> {
    let started = Instant::now();
    loop {
        if !svc.alive() {
            bail!("{} exited at start-up; see its log", svc.name);
        }
        if let Ok(c) = Clients::connect(endpoint).await
            && counted(&c.channel, "/coopbrief.v1.DiagnosticsService/Echo", v1::EchoRequest { payload: Vec::new() })
                .await
                .is_ok()
        {
            return Ok(c);
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("{} did not answer within 30 s", svc.name);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sections 2 (gRPC), 3 (queue), 4 (end to end) and 6 (RSS), against real service processes.
pub async fn section(
    plan: &Plan,
    sections: &crate::Sections,
    rows: &mut Vec<Row>,
    skipped: &mut Vec<String>,
) -> anyhow::Result<Measured> {
    let mut m = Measured::default();
    if sections.queue {
        match queue_section(plan, rows).await {
            Ok(()) => {}
            Err(e) => skipped.push(format!("queue: {e:#}")),
        }
    }
    if !(sections.grpc || sections.e2e) {
        return Ok(m);
    }
    let (Some(data_bin), Some(worker_bin)) =
        (proc::sibling_binary("coopbrief-data"), proc::sibling_binary("coopbrief-worker"))
    else {
        skipped.push(
            "grpc, e2e, rss: target/<profile>/coopbrief-data and coopbrief-worker are not built; \
             run `cargo build --release -p coopbrief-data -p coopbrief-worker` first"
                .into(),
        );
        return Ok(m);
    };
    // Fail early, naming RabbitMQ, if it is not there: the data service publishes jobs to it.
    let queue_name = format!("coopbrief.bench.{}", uuid::Uuid::now_v7());
    let probe = AmqpQueue::connect(AmqpSettings::new(AMQP_URL, &queue_name))
        .await
        .context("RabbitMQ is required at 127.0.0.1:5672 (guest/guest)")?;
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let data_args: Vec<String> = [
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--database-url",
        &format!("sqlite://{}/coopbrief.db", dir.path().display()),
        "--queue",
        &queue_name,
        "--artifacts",
        &dir.path().join("pdf").display().to_string(),
        // Loopback: the benchmark measures the pipeline, not token checks.
        "--auth",
        "off",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut data = Service::start("coopbrief-data", &data_bin, &data_args, dir.path())?;
    let result =
        services_with_data(plan, sections, rows, &mut m, &mut data, &endpoint, &worker_bin, &queue_name, dir.path())
            .await;
    drop(data);
    let _ = probe.delete_queue().await;
    let _ = probe.close().await;
    if let Err(e) = result {
        let log = std::fs::read_to_string(dir.path().join("coopbrief-data.log")).unwrap_or_default();
        let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        skipped.push(format!("grpc/e2e/rss stopped early: {e:#} (data service log tail: {tail})"));
    }
    Ok(m)
}

#[allow(clippy::too_many_arguments, reason = "one call site; a struct would only rename the parameters")]
async fn services_with_data(
    plan: &Plan,
    sections: &crate::Sections,
    rows: &mut Vec<Row>,
    m: &mut Measured,
    data: &mut Service,
    endpoint: &str,
    worker_bin: &Path,
    queue_name: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    let mut clients = wait_ready(endpoint, data).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rest = data.mem();
    m.data_rest_mib = rest.map(|r| mib(r.rss_kib));
    rows.push(rss_row("data service", "at rest (after start-up, seeded)", rest.map(|r| r.rss_kib), "VmRSS"));

    let programme = coopbrief_domain::dataset::Dataset::bundled()?
        .programmes
        .first()
        .map(|p| p.code.clone())
        .context("no programme in the bundled dataset")?;
    let create = v1::CreateReportRequest {
        programme: programme.to_string(),
        period: "2019".into(),
        lang: "vi".into(),
        ..Default::default()
    };
    let first = clients.reports.create_report(create.clone()).await?.into_inner();
    let fixture = Arc::new(Fixture { programme: programme.to_string(), report_id: first.id.clone() });

    if sections.grpc {
        let (stop, peak) = sample_peak(vec![data.pid()]);
        let kinds = [Call::Echo, Call::BriefingData, Call::ListActivities, Call::GetReport];
        let mut reply_bytes = Vec::new();
        for k in kinds {
            reply_bytes.push(call(&clients, k, &fixture).await.with_context(|| format!("{} failed", k.name()))?);
        }
        for &c in &plan.concurrency {
            let mut samples: Vec<Samples> = vec![Samples::default(); kinds.len()];
            let mut rates: Vec<f64> = vec![0.0; kinds.len()];
            // Rounds of echo, data calls, echo, data calls …: the machine's noise hits all alike.
            for _ in 0..plan.grpc_rounds {
                for (i, k) in kinds.iter().enumerate() {
                    let (s, rate) = load(&clients, *k, &fixture, c, plan.grpc_window).await?;
                    samples[i].extend(s);
                    rates[i] += rate / plan.grpc_rounds as f64;
                }
            }
            for (i, k) in kinds.iter().enumerate() {
                let mut r = Row::new("grpc", &format!("{c} in flight"), k.name()).with_samples(&samples[i], "req/s");
                r.rate = Some(rates[i]);
                r.ratio = Some(format!("{:.2}× echo", rates[i] / rates[0].max(1e-9)));
                r.note = format!("reply {} bytes, counted by the client, not decoded", reply_bytes[i]);
                rows.push(r);
                m.grpc.push((c, k.name().to_owned(), rates[i], samples[i].pct_ms(99.0)));
            }
        }
        stop.store(true, Ordering::Relaxed);
        let peak = peak.join().unwrap_or(0);
        rows.push(rss_row("data service", "under gRPC load (peak VmRSS sampled)", Some(peak), "sampled every 50 ms"));
    }
    if !sections.e2e {
        return Ok(());
    }

    let mut ctx = crate::e2e::Ctx { clients, create, endpoint, queue_name, worker_bin, dir, data };
    crate::e2e::run(plan, &mut ctx, &first.id, rows, m).await
}

/// Section 3: publish with confirms (1 and 64 in flight) and consume with acks, null handler.
async fn queue_section(plan: &Plan, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let name = format!("coopbrief.bench.queue.{}", uuid::Uuid::now_v7());
    let mut settings = AmqpSettings::new(AMQP_URL, &name);
    settings.prefetch = 64;
    let q = Arc::new(AmqpQueue::connect(settings).await.context("RabbitMQ is required at 127.0.0.1:5672")?);
    let result = queue_rounds(plan, rows, &q).await;
    let _ = q.delete_queue().await;
    let _ = q.close().await;
    result
}

async fn queue_rounds(plan: &Plan, rows: &mut Vec<Row>, q: &Arc<AmqpQueue>) -> anyhow::Result<()> {
    let n = plan.queue_messages;
    let (mut serial, mut parallel, mut consume) = (0.0, 0.0, 0.0);
    let mut deliveries = q.consume().await?;
    // The consumer holds deliveries as they arrive; it is drained after each publish phase, so
    // the publish figures are with a consumer attached, as in production.
    for _ in 0..plan.queue_rounds {
        let t = Instant::now();
        for i in 0..n {
            q.publish(Job::new(format!("s{i}"))).await?;
        }
        serial += n as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        let results: Vec<_> = futures::stream::iter(0..n)
            .map(|i| {
                let q = q.clone();
                async move { q.publish(Job::new(format!("p{i}"))).await }
            })
            .buffer_unordered(64)
            .collect()
            .await;
        for r in results {
            r?;
        }
        parallel += n as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        for _ in 0..2 * n {
            let d = tokio::time::timeout(Duration::from_secs(30), deliveries.next())
                .await
                .context("no delivery within 30 s")?
                .context("the consumer stream ended")??;
            d.ack().await?;
        }
        consume += (2 * n) as f64 / t.elapsed().as_secs_f64();
    }
    let k = plan.queue_rounds as f64;
    for (variant, rate, note) in [
        ("publish with confirm, 1 in flight", serial / k, "each publish waits for its confirm"),
        ("publish with confirm, 64 in flight", parallel / k, ""),
        ("consume + ack, null handler (prefetch 64)", consume / k, "backlog already queued, acked one by one"),
    ] {
        let mut r = Row::new("queue", &format!("{n} msgs × {} rounds", plan.queue_rounds), variant);
        r.runs = n * plan.queue_rounds;
        r.rate = Some(rate);
        r.unit = "msgs/s".into();
        r.ratio = Some(format!("{:.2}× serial publish", rate / (serial / k).max(1e-9)));
        r.note = note.into();
        rows.push(r);
    }
    Ok(())
}
