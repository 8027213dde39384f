//! `coopbrief-soak`: creates many reports at once through a `coopbrief-data` process and
//! `--workers` `coopbrief-worker` processes on the real RabbitMQ, optionally with chaos (a
//! worker SIGKILLed and the broker restarted mid-run), then counts what came out. It prints
//! a table — created / succeeded / failed / lost / duplicated — and exits non-zero if any
//! report was lost or duplicated.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use coopbrief_cli::Client;
use coopbrief_domain::ReportState;
use coopbrief_store::Store;
use futures::StreamExt;

#[derive(Debug, Parser)]
#[command(name = "coopbrief-soak", about = "Soak test: many reports, several workers, optional chaos")]
struct Args {
    /// Reports to create, all at once.
    #[arg(long, default_value_t = 1000)]
    reports: usize,
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Kill a worker (SIGKILL) and restart RabbitMQ in the middle of the run.
    #[arg(long)]
    chaos: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    #[arg(long, default_value = coopbrief_queue::DEFAULT_AMQP_URL)]
    amqp_url: String,
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("no directory for the soak binary")?.join(name);
    if !path.exists() {
        bail!("{} is not built; run `cargo build -p coopbrief-data -p coopbrief-worker` first", path.display());
    }
    Ok(path)
}

struct Setup {
    dir: tempfile::TempDir,
    queue: String,
    endpoint: String,
    amqp_url: String,
}

impl Setup {
    fn log(&self, name: &str) -> anyhow::Result<std::fs::File> {
        Ok(std::fs::File::create(self.dir.path().join(format!("{name}.log")))?)
    }

    fn common(&self, cmd: &mut Command) {
        cmd.env("COOPBRIEF_AMQP_URL", &self.amqp_url)
            .env("COOPBRIEF_QUEUE", &self.queue)
            .env("COOPBRIEF_RETRY_DELAYS", "0.5,1,2")
            .env("COOPBRIEF_AMQP_HEARTBEAT", "5")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
    }

    fn data(&self, listen: &str) -> anyhow::Result<Proc> {
        let mut cmd = Command::new(binary("coopbrief-data")?);
        self.common(&mut cmd);
        // Loopback, so access control may be off: the soak tests the job pipeline.
        cmd.env("COOPBRIEF_LISTEN", listen)
            .env("COOPBRIEF_AUTH", "off")
            .env("COOPBRIEF_DATABASE_URL", self.db_url())
            .env("COOPBRIEF_ARTIFACTS", self.dir.path().join("pdf"))
            .stdout(Stdio::null())
            .stderr(self.log("data")?);
        Ok(Proc(cmd.spawn().context("failed to start coopbrief-data")?))
    }

    fn worker(&self, n: usize) -> anyhow::Result<Proc> {
        let mut cmd = Command::new(binary("coopbrief-worker")?);
        self.common(&mut cmd);
        cmd.env("COOPBRIEF_DATA_ENDPOINT", &self.endpoint)
            .env("COOPBRIEF_PREFETCH", "2")
            .env("COOPBRIEF_MAX_ATTEMPTS", "10")
            .stdout(Stdio::null())
            .stderr(self.log(&format!("worker-{n}"))?);
        Ok(Proc(cmd.spawn().context("failed to start coopbrief-worker")?))
    }

    fn db_url(&self) -> String {
        format!("sqlite://{}/coopbrief.db", self.dir.path().display())
    }
}

fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("rabbitmqctl").args(args).stdout(Stdio::null()).status()?;
    if !status.success() {
        bail!("rabbitmqctl {args:?} failed");
    }
    Ok(())
}

fn pdf_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).filter(|e| e.path().extension().is_some_and(|x| x == "pdf")).count())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let setup = Setup {
        dir: tempfile::tempdir()?,
        queue: format!("coopbrief.soak.{}", uuid::Uuid::now_v7()),
        endpoint: format!("http://127.0.0.1:{port}"),
        amqp_url: args.amqp_url.clone(),
    };
    let _data = setup.data(&format!("127.0.0.1:{port}"))?;
    let client = connect(&setup.endpoint).await?;
    let mut workers: Vec<Proc> = (0..args.workers).map(|n| setup.worker(n)).collect::<anyhow::Result<_>>()?;
    eprintln!(
        "soak: {} reports, {} workers{}, logs in {}",
        args.reports,
        args.workers,
        if args.chaos { ", chaos" } else { "" },
        setup.dir.path().display()
    );

    let started = Instant::now();
    let periods = ["2019", "2019-H1", "2019-H2", "2019-Q1", "2019-Q2", "2019-Q3", "2019-Q4", "2019-07"];
    let created: Vec<String> = futures::stream::iter(0..args.reports)
        .map(|i| {
            let client = client.clone();
            async move {
                let lang = if i % 2 == 0 { "vi" } else { "en" };
                client.request("hanoi-hanam", periods[i % periods.len()], lang).await.map(|r| r.id)
            }
        })
        .buffer_unordered(32)
        .filter_map(|r| async move { r.map_err(|e| eprintln!("soak: create failed: {e:#}")).ok() })
        .collect()
        .await;
    eprintln!("soak: created {} in {:.1}s", created.len(), started.elapsed().as_secs_f64());

    let store = Store::connect(&setup.db_url()).await?;
    let deadline = started + Duration::from_secs(args.timeout);
    let (mut killed, mut restarted) = (false, false);
    let chaos_log = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    loop {
        let done = (store.count_reports(Some(ReportState::Succeeded)).await?
            + store.count_reports(Some(ReportState::Failed)).await?) as usize;
        if args.chaos && !killed && done >= created.len() / 4 {
            if let Some(mut victim) = workers.pop() {
                let _ = victim.0.kill();
                let _ = victim.0.wait();
            }
            workers.push(setup.worker(args.workers)?);
            killed = true;
            chaos_log
                .lock()
                .map(|mut l| {
                    l.push(format!("{:.1}s: SIGKILL worker, started a new one", started.elapsed().as_secs_f64()))
                })
                .ok();
        }
        if args.chaos && killed && !restarted && done >= created.len() / 2 {
            rabbitmqctl(&["stop_app"])?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            rabbitmqctl(&["start_app"])?;
            restarted = true;
            chaos_log
                .lock()
                .map(|mut l| l.push(format!("{:.1}s: RabbitMQ stop_app / start_app", started.elapsed().as_secs_f64())))
                .ok();
        }
        if done >= created.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(workers);

    // Count what came out.
    let all = store.all_reports().await?;
    let succeeded = all.iter().filter(|r| r.state == ReportState::Succeeded).count();
    let failed = all.iter().filter(|r| r.state == ReportState::Failed).count();
    let lost = created.len().saturating_sub(succeeded + failed);
    let pdfs = pdf_count(&setup.dir.path().join("pdf"));
    // Duplicated: reports nobody asked for, or more PDFs than succeeded reports.
    let duplicated = all.len().saturating_sub(created.len()) + pdfs.saturating_sub(succeeded);
    let deliveries: u64 = all.iter().map(|r| u64::from(r.attempt)).sum();
    let uploads = store.total_uploads().await?;
    for line in chaos_log.lock().map(|l| l.clone()).unwrap_or_default() {
        println!("chaos  {line}");
    }
    println!();
    println!(
        "| created | succeeded | failed | lost | duplicated | deliveries | uploads | pdfs | seconds | reports/s |"
    );
    println!(
        "|--------:|----------:|-------:|-----:|-----------:|-----------:|--------:|-----:|--------:|----------:|"
    );
    println!(
        "| {:>7} | {:>9} | {:>6} | {:>4} | {:>10} | {:>10} | {:>7} | {:>4} | {:>7.1} | {:>9.1} |",
        created.len(),
        succeeded,
        failed,
        lost,
        duplicated,
        deliveries,
        uploads,
        pdfs,
        elapsed,
        succeeded as f64 / elapsed
    );
    let queue = coopbrief_queue::AmqpQueue::lazy(coopbrief_queue::AmqpSettings::from_flags(
        &setup.amqp_url,
        &setup.queue,
        1,
        5,
        5,
        &[0.5, 1.0, 2.0],
    ));
    let _ = queue.delete_queue().await;
    if lost > 0 || duplicated > 0 || created.len() < args.reports {
        bail!("{lost} lost, {duplicated} duplicated, {} of {} created", created.len(), args.reports);
    }
    Ok(())
}

async fn connect(endpoint: &str) -> anyhow::Result<Client> {
    let started = Instant::now();
    loop {
        match Client::connect(endpoint).await {
            Ok(c) => return Ok(c),
            Err(e) if started.elapsed() > Duration::from_secs(30) => {
                return Err(e.context("the data service did not start"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
