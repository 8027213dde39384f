//! `coopbrief-soak`: creates many reports at once through a `coopbrief-data` process and
//! `--workers` `coopbrief-worker` processes on the real RabbitMQ, on SQLite or (with
//! `--database-url postgres://…`) PostgreSQL, optionally with chaos (a worker SIGKILLed, the
//! broker restarted and, on PostgreSQL, the database restarted mid-run), then counts what came
//! out. It prints a table — created / succeeded / failed / lost / duplicated — and exits non-zero
//! if any report was lost or duplicated.

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
    /// Kill a worker (SIGKILL), restart RabbitMQ and, on PostgreSQL, restart the local
    /// cluster (`pg_ctlcluster … restart`) in the middle of the run.
    #[arg(long)]
    chaos: bool,
    /// The data service's database: an empty PostgreSQL database (`postgres://…`), or by
    /// default a fresh SQLite file in the run's directory.
    #[arg(long)]
    database_url: Option<String>,
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
    database_url: String,
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
            .env("COOPBRIEF_DATABASE_URL", &self.database_url)
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
}

fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("rabbitmqctl").args(args).stdout(Stdio::null()).status()?;
    if !status.success() {
        bail!("rabbitmqctl {args:?} failed");
    }
    Ok(())
}

/// Restarts the local PostgreSQL cluster (`/etc/postgresql/<version>/main`); returns once it
/// has started again.
fn restart_postgres() -> anyhow::Result<()> {
    let version = std::fs::read_dir("/etc/postgresql")
        .context("restarting PostgreSQL needs a local cluster under /etc/postgresql")?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .max()
        .context("no PostgreSQL cluster under /etc/postgresql")?;
    let status = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .stdout(Stdio::null())
        .status()
        .context("pg_ctlcluster (postgresql-common) is needed to restart PostgreSQL")?;
    if !status.success() {
        bail!("pg_ctlcluster {version} main restart failed");
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
    let dir = tempfile::tempdir()?;
    let database_url =
        args.database_url.clone().unwrap_or_else(|| format!("sqlite://{}/coopbrief.db", dir.path().display()));
    let postgres = database_url.starts_with("postgres");
    let setup = Setup {
        dir,
        queue: format!("coopbrief.soak.{}", uuid::Uuid::now_v7()),
        endpoint: format!("http://127.0.0.1:{port}"),
        amqp_url: args.amqp_url.clone(),
        database_url,
    };
    // The counts below assume the run's reports are the only ones.
    let store = Store::connect(&setup.database_url).await?;
    if !store.all_reports().await?.is_empty() {
        bail!(
            "the database {} holds reports already; give the soak an empty one",
            coopbrief_store::redact(&setup.database_url)
        );
    }
    let _data = setup.data(&format!("127.0.0.1:{port}"))?;
    let client = connect(&setup.endpoint).await?;
    let mut workers: Vec<Proc> = (0..args.workers).map(|n| setup.worker(n)).collect::<anyhow::Result<_>>()?;
    eprintln!(
        "soak: {} reports, {} workers, {}{}, logs in {}",
        args.reports,
        args.workers,
        if postgres { "PostgreSQL" } else { "SQLite" },
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

    let deadline = started + Duration::from_secs(args.timeout);
    let (mut killed, mut restarted, mut db_restarted) = (false, false, !postgres);
    let chaos_log = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    loop {
        // The database may be restarting: a count that fails is taken again next round.
        let counted = async {
            Ok::<_, coopbrief_store::Error>(
                (store.count_reports(Some(ReportState::Succeeded)).await?
                    + store.count_reports(Some(ReportState::Failed)).await?) as usize,
            )
        };
        let done = match counted.await {
            Ok(done) => done,
            Err(e) if Instant::now() < deadline => {
                eprintln!("soak: counting failed, again shortly: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
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
        if args.chaos && restarted && !db_restarted && done >= created.len() * 3 / 4 {
            restart_postgres()?;
            db_restarted = true;
            chaos_log
                .lock()
                .map(|mut l| l.push(format!("{:.1}s: PostgreSQL restarted", started.elapsed().as_secs_f64())))
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
