//! Section 4 (end to end) and the workers' part of section 6: the closed loop at 1 in flight and
//! saturation with 1 and 2 worker processes, each interleaved round by round with the bare render
//! loop it is compared with (ratios per round, medians reported); where the time goes — the
//! workers' own stage timings and the CPU each process spent per report; RSS.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use coopbrief_proto::v1;
use coopbrief_render::{RenderOptions, Renderer};
use futures::StreamExt;

use crate::harness::{Clients, Measured, Plan, bare_loop, rss_row, sample_peak, wait_done, wait_done_every};
use crate::proc::{self, Service};
use crate::render::{self, mib};
use crate::stats::{Row, Samples, ms};

/// A bench worker renders one job at a time (whatever it holds), so that n workers compare
/// with n bare render threads.
const RENDERS: &str = "1";
/// Periods the worker has not rendered before its first-job comparison (the bench renders 2019).
const FRESH_PERIODS: &[&str] = &["2019-Q1", "2019-H2", "2020"];
/// Reports created at once when a saturation batch is queued.
const CREATE_IN_FLIGHT: usize = 8;

/// What the end-to-end runs need from the gRPC set-up.
pub struct Ctx<'a> {
    pub clients: Clients,
    pub create: v1::CreateReportRequest,
    pub endpoint: &'a str,
    pub queue_name: &'a str,
    pub worker_bin: &'a Path,
    pub dir: &'a Path,
    pub data: &'a mut Service,
}

/// A worker's account of one report (its `report succeeded` log line), in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
struct Stages {
    start: f64,
    data: f64,
    wait: f64,
    render: f64,
    upload: f64,
    ack: f64,
}

impl Stages {
    /// The job as the worker saw it, delivery to ack.
    fn total(&self) -> f64 {
        self.start + self.data + self.wait + self.render + self.upload + self.ack
    }
}

/// CPU nanoseconds of the processes that take part in a report.
#[derive(Clone, Copy, Debug, Default)]
struct Cpu {
    workers: u64,
    data: u64,
    broker: u64,
    bench: u64,
}

fn cpu_now(workers: &[u32], data: u32, broker: Option<u32>) -> Cpu {
    Cpu {
        workers: workers.iter().filter_map(|p| proc::cpu_ns(*p)).sum(),
        data: proc::cpu_ns(data).unwrap_or(0),
        broker: broker.and_then(proc::cpu_ns).unwrap_or(0),
        bench: proc::cpu_ns(std::process::id()).unwrap_or(0),
    }
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, o: Cpu) -> Cpu {
        Cpu {
            workers: self.workers.saturating_sub(o.workers),
            data: self.data.saturating_sub(o.data),
            broker: self.broker.saturating_sub(o.broker),
            bench: self.bench.saturating_sub(o.bench),
        }
    }
}

impl std::ops::AddAssign for Cpu {
    fn add_assign(&mut self, o: Cpu) {
        self.workers += o.workers;
        self.data += o.data;
        self.broker += o.broker;
        self.bench += o.bench;
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[(v.len() - 1) / 2] }
}

fn spread(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

fn start_worker(ctx: &Ctx<'_>, plan: &Plan, n: usize) -> anyhow::Result<Service> {
    let prefetch = plan.worker_prefetch.to_string();
    let args: Vec<String> =
        ["--data-endpoint", ctx.endpoint, "--queue", ctx.queue_name, "--prefetch", &prefetch, "--log-format", "json"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
    // Info from the worker itself: its readiness and one line per report with its stage
    // timings. The render slots as a variable, which a worker without them ignores.
    let env = [("RUST_LOG", "warn,coopbrief_worker=info"), ("COOPBRIEF_RENDERS", RENDERS)];
    Service::start_with_env(&format!("coopbrief-worker-{n}"), ctx.worker_bin, &args, ctx.dir, &env)
}

/// Waits until the worker logs that it consumes (renderer loaded and warmed up, broker connected).
async fn wait_ready(worker: &mut Service, log: &Path, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("worker waiting for jobs") {
            return Ok(());
        }
        if !worker.alive() {
            bail!("{} exited at start-up; see {}", worker.name, log.display());
        }
        if started.elapsed() > timeout {
            bail!("{} not consuming after {} s; see {}", worker.name, timeout.as_secs(), log.display());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The workers' `report succeeded` lines, by report id, in log order.
fn stages_from_logs(logs: &[PathBuf]) -> Vec<(String, Stages)> {
    let mut out = Vec::new();
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let f = &v["fields"];
            // A worker that does not time its stages says only that the report succeeded.
            if f["message"] != "report succeeded" || f.get("render_ms").is_none() {
                continue;
            }
            let n = |k: &str| f[k].as_f64().unwrap_or(0.0);
            let stages = Stages {
                start: n("start_ms"),
                data: n("data_ms"),
                wait: n("wait_ms"),
                render: n("render_ms"),
                upload: n("upload_ms"),
                ack: n("ack_ms"),
            };
            out.push((f["report_id"].as_str().unwrap_or_default().to_owned(), stages));
        }
    }
    out
}

/// One row with the p50 of each stage of these reports.
fn stages_row(case: &str, variant: &str, all: &[(String, Stages)], ids: &[String]) -> Row {
    let picked: Vec<Stages> = all.iter().filter(|(id, _)| ids.contains(id)).map(|(_, s)| *s).collect();
    let p50 = |f: &dyn Fn(&Stages) -> f64| median(&picked.iter().map(f).collect::<Vec<_>>());
    let mut r = Row::new("e2e", case, variant);
    r.runs = picked.len();
    if picked.is_empty() {
        r.note = "not logged by this worker".into();
        return r;
    }
    r.p50_ms = Some(p50(&Stages::total));
    r.unit = "ms".into();
    r.note = format!(
        "StartReport {:.1} · GetBriefingData {:.1} · slot wait {:.1} · render {:.1} · CompleteReport {:.1} · ack {:.1}",
        p50(&|s| s.start),
        p50(&|s| s.data),
        p50(&|s| s.wait),
        p50(&|s| s.render),
        p50(&|s| s.upload),
        p50(&|s| s.ack)
    );
    r
}

/// Creates `n` reports, `CREATE_IN_FLIGHT` at a time; their ids.
async fn create_batch(ctx: &Ctx<'_>, n: usize) -> anyhow::Result<Vec<String>> {
    let results: Vec<Result<String, tonic::Status>> = futures::stream::iter(0..n)
        .map(|_| {
            let mut reports = ctx.clients.reports.clone();
            let create = ctx.create.clone();
            async move { Ok(reports.create_report(create).await?.into_inner().id) }
        })
        .buffer_unordered(CREATE_IN_FLIGHT)
        .collect()
        .await;
    results.into_iter().map(|r| r.context("CreateReport failed")).collect()
}

pub async fn run(
    plan: &Plan,
    ctx: &mut Ctx<'_>,
    first_id: &str,
    rows: &mut Vec<Row>,
    m: &mut Measured,
) -> anyhow::Result<()> {
    let log1 = Service::log_path(ctx.dir, "coopbrief-worker-1");
    let spawned = Instant::now();
    let mut w1 = start_worker(ctx, plan, 1)?;
    wait_ready(&mut w1, &log1, Duration::from_secs(120)).await?;
    let startup = ms(spawned.elapsed());
    // The report made for the gRPC fixture waits in the queue: the worker's first job.
    let mut clients = ctx.clients.clone();
    wait_done(&mut clients, first_id, Duration::from_secs(120)).await?;
    let mut r = Row::new("e2e", "worker start-up", "process start → consuming (renderer warmed up)");
    r.runs = 1;
    r.p50_ms = Some(startup);
    r.note = "set-up paid once per process, before the first job".into();
    rows.push(r);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let w_rest = w1.mem();
    m.worker_rest_mib = w_rest.map(|r| mib(r.rss_kib));
    rows.push(rss_row("worker", "at rest (after its first job)", w_rest.map(|r| r.rss_kib), "VmRSS"));
    if !w1.alive() {
        bail!("the worker exited; see its log in {}", ctx.dir.display());
    }

    // The bare render loop of the same input the worker renders, interleaved with the closed loop.
    let renderer = Arc::new(Renderer::new()?);
    let seed = Arc::new(render::seed()?);
    let opts = RenderOptions::new(coopbrief_domain::Lang::Vi, jiff::civil::date(2026, 11, 26));
    renderer.render(&seed, &opts)?;
    let mut closed = Samples::default();
    let mut bare = Samples::default();
    let mut closed_ids = Vec::new();
    let rounds = plan.e2e_rounds.max(1);
    let per_round = plan.e2e_closed.div_ceil(rounds);
    for _ in 0..rounds {
        for _ in 0..per_round {
            let t = Instant::now();
            renderer.render(&seed, &opts)?;
            bare.push(t.elapsed());
        }
        for _ in 0..per_round {
            let t = Instant::now();
            let r = clients.reports.create_report(ctx.create.clone()).await?.into_inner();
            wait_done(&mut clients, &r.id, Duration::from_secs(60)).await?;
            closed.push(t.elapsed());
            closed_ids.push(r.id);
        }
    }
    m.e2e_p50 = Some(closed.pct_ms(50.0));
    m.bare_p50 = Some(bare.pct_ms(50.0));
    let case = "seed 2019, 1 in flight";
    let mut r = Row::new("e2e", case, "bare render loop (same input)").with_samples(&bare, "docs/s");
    r.ratio = Some("baseline".into());
    rows.push(r);
    let mut r = Row::new("e2e", case, "CreateReport → SUCCEEDED").with_samples(&closed, "reports/s");
    r.ratio = Some(format!("+{:.1} ms over bare p50", closed.pct_ms(50.0) - bare.pct_ms(50.0)));
    r.note = format!(
        "1 worker (prefetch {}, {RENDERS} render slot); {rounds} rounds alternating with the bare loop; \
         completion seen by polling GetReport every 2 ms",
        plan.worker_prefetch
    );
    rows.push(r);
    // typst memoizes: the repeats above render from its caches, while a report whose content
    // the worker has not laid out yet (another period) costs a full layout. Those are what the
    // first job is compared with: set-up left on the per-job path (a renderer built per job,
    // fonts or templates loaded on first use) would make the first job slower than they are.
    let mut fresh_ids = Vec::new();
    for period in FRESH_PERIODS {
        let create = v1::CreateReportRequest { period: (*period).to_owned(), ..ctx.create.clone() };
        let r = clients.reports.create_report(create).await?.into_inner();
        wait_done(&mut clients, &r.id, Duration::from_secs(60)).await?;
        fresh_ids.push(r.id);
    }
    let logs = [log1.clone()];
    let all = stages_from_logs(&logs);
    let total_of = |ids: &[String]| -> Vec<f64> {
        all.iter().filter(|(id, _)| ids.contains(id)).map(|(_, s)| s.total()).collect()
    };
    let first = total_of(&[first_id.to_owned()]).first().copied();
    let fresh = total_of(&fresh_ids);
    m.first_job_ms = first;
    m.fresh_job_ms = (!fresh.is_empty()).then(|| median(&fresh));
    rows.push(stages_row(case, "worker's own stage timings (p50)", &all, &closed_ids));
    let mut r = stages_row("new content", "worker's first job (its own timings)", &all, &[first_id.to_owned()]);
    r.ratio = first.zip(m.fresh_job_ms).map(|(f, p)| format!("{:.2}× later new content", f / p.max(1e-9)));
    rows.push(r);
    let mut r = stages_row("new content", "later jobs of unseen periods (p50)", &all, &fresh_ids);
    r.note = format!("{} · periods {}", r.note, FRESH_PERIODS.join(", "));
    rows.push(r);

    // Saturation: with 1 worker, then 2, each round a bare loop on as many threads then a batch
    // of reports queued at once, so that the machine's noise hits both alike.
    let broker = proc::find_by_comm("beam.smp");
    let mut workers = vec![w1];
    let mut logs = vec![log1];
    for n in 1..=2usize {
        if n == 2 {
            let log2 = Service::log_path(ctx.dir, "coopbrief-worker-2");
            let mut w2 = start_worker(ctx, plan, 2)?;
            wait_ready(&mut w2, &log2, Duration::from_secs(120)).await?;
            // Its first job warms its connections.
            let r = clients.reports.create_report(ctx.create.clone()).await?.into_inner();
            wait_done(&mut clients, &r.id, Duration::from_secs(120)).await?;
            workers.push(w2);
            logs.push(log2);
        }
        let pids: Vec<u32> = workers.iter().map(Service::pid).collect();
        let (stop, peak) = sample_peak(pids.clone());
        let (mut rates, mut bares, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let mut cpu = Cpu::default();
        let mut bare_cpu = 0u64;
        let mut bare_docs = 0u64;
        let mut ids = Vec::new();
        for _ in 0..rounds {
            let before = proc::cpu_ns(std::process::id()).unwrap_or(0);
            let (bare_rate, docs) = bare_loop(&renderer, &seed, &opts, n, plan.bare_window).await?;
            bare_cpu += proc::cpu_ns(std::process::id()).unwrap_or(0).saturating_sub(before);
            bare_docs += docs;

            let before = cpu_now(&pids, ctx.data.pid(), broker);
            let started = Instant::now();
            let batch = create_batch(ctx, plan.e2e_saturation).await?;
            for id in &batch {
                wait_done_every(&mut clients, id, Duration::from_secs(300), Duration::from_millis(10)).await?;
            }
            let rate = batch.len() as f64 / started.elapsed().as_secs_f64();
            cpu += cpu_now(&pids, ctx.data.pid(), broker) - before;
            ids.extend(batch);
            rates.push(rate);
            bares.push(bare_rate);
            ratios.push(rate / bare_rate.max(1e-9));
        }
        stop.store(true, Ordering::Relaxed);
        let peak = peak.join().unwrap_or(0);
        let (rate, bare_rate, ratio) = (median(&rates), median(&bares), median(&ratios));
        m.saturation.push((n, rate, bare_rate, ratio));
        let case = format!("saturation, {n} worker(s)");
        let (lo, hi) = spread(&bares);
        let mut r = Row::new("e2e", &case, &format!("bare render loop, {n} thread(s)"));
        r.runs = bare_docs as usize;
        r.rate = Some(bare_rate);
        r.unit = "docs/s".into();
        r.ratio = Some("baseline".into());
        r.note =
            format!("median of {rounds} rounds of {:.1} s, {lo:.0}–{hi:.0} docs/s", plan.bare_window.as_secs_f64());
        rows.push(r);
        let (lo, hi) = spread(&ratios);
        let mut r = Row::new("e2e", &case, &format!("{} reports queued at once", plan.e2e_saturation));
        r.runs = ids.len();
        r.rate = Some(rate);
        r.unit = "reports/s".into();
        r.ratio = Some(format!("{:.0}% of bare", 100.0 * ratio));
        r.note = format!(
            "median of {rounds} rounds (ratio per round {:.0}–{:.0}%); prefetch {}, {RENDERS} render slot per worker; \
             data service, RabbitMQ and bench share the cores",
            100.0 * lo,
            100.0 * hi,
            plan.worker_prefetch
        );
        rows.push(r);
        let per = |ns: u64| ns as f64 / 1e6 / ids.len().max(1) as f64;
        let bare_per_doc = bare_cpu as f64 / 1e6 / bare_docs.max(1) as f64;
        let total = per(cpu.workers) + per(cpu.data) + per(cpu.broker) + per(cpu.bench);
        let mut r = Row::new("e2e", &case, "CPU per report, all processes");
        r.runs = ids.len();
        r.p50_ms = Some(total);
        r.unit = "cpu ms".into();
        r.ratio = Some(format!("{:.2}× bare render", total / bare_per_doc.max(1e-9)));
        r.note = format!(
            "worker(s) {:.1} · data service {:.1} · RabbitMQ {:.1} (shared broker) · bench client {:.1}; bare render {bare_per_doc:.1} per doc",
            per(cpu.workers),
            per(cpu.data),
            per(cpu.broker),
            per(cpu.bench)
        );
        rows.push(r);
        m.cpu.push((n, total, bare_per_doc));
        let all = stages_from_logs(&logs);
        rows.push(stages_row(&case, "worker's own stage timings (p50)", &all, &ids));
        rows.push(rss_row(
            "worker",
            &format!("under load, {n} worker(s) (peak summed VmRSS)"),
            Some(peak),
            "sampled every 50 ms",
        ));
    }
    for w in &workers {
        rows.push(rss_row("worker", &format!("{} peak (VmHWM)", w.name), w.mem().map(|x| x.hwm_kib), "since start"));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for w in &workers {
        rows.push(rss_row("worker", &format!("{} at rest after load", w.name), w.mem().map(|x| x.rss_kib), "VmRSS"));
    }
    rows.push(rss_row("data service", "peak (VmHWM)", ctx.data.mem().map(|x| x.hwm_kib), "since start"));
    rows.push(rss_row("data service", "at rest after load", ctx.data.mem().map(|x| x.rss_kib), "VmRSS"));
    Ok(())
}
