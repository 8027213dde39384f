//! `coopbrief demo`: the whole product in one process on embedded defaults.
//!
//! SQLite seeded from the bundled dataset, a local PDF directory, the data service on a free
//! loopback port, and the same worker code calling it over gRPC. Jobs go through an
//! in-process channel fed from the reports the database holds unfinished (so nothing is lost
//! across a restart), or through RabbitMQ with `--amqp`. Access control is off: the data
//! service listens on loopback only, and the demo says so. With `--web ADDR` it serves the web
//! page there too (loopback as well) and stays up after the PDF is written, until Ctrl-C.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use coopbrief_proto::v1;
use coopbrief_queue::{AmqpQueue, AmqpSettings, InProcessQueue, Job, JobQueue};
use coopbrief_store::ArtifactStore;
use tokio::net::TcpListener;
use tracing::info;

use crate::DemoArgs;
use crate::connection::Client;
use crate::reports::finish;

/// Runs the demo and returns the finished report.
pub async fn run(args: DemoArgs) -> anyhow::Result<v1::Report> {
    let started = Instant::now();
    let db = format!("sqlite://{}/coopbrief.db", args.dir.display());
    let store = coopbrief_data::open_store(&db, None).await?;
    let artifacts = ArtifactStore::local(args.dir.join("pdf")).context("failed to open the demo's PDF directory")?;
    let queue: Arc<dyn JobQueue> = match &args.amqp {
        Some(url) => Arc::new(
            AmqpQueue::connect(AmqpSettings { prefetch: 2, ..AmqpSettings::new(url.clone(), args.queue.clone()) })
                .await
                .context("failed to connect to RabbitMQ (--amqp)")?,
        ),
        None => {
            let queue = InProcessQueue::new();
            // Jobs handed to an in-process channel die with the process; what the database
            // holds unfinished is queued again (the outbox covers only unpublished jobs).
            let unfinished = store.unfinished_reports().await?;
            if !unfinished.is_empty() {
                info!(count = unfinished.len(), "replaying unfinished reports from the database");
            }
            for id in unfinished {
                queue.publish(Job::new(id.to_string())).await?;
            }
            Arc::new(queue)
        }
    };

    let listener = TcpListener::bind("127.0.0.1:0").await.context("failed to bind a loopback port")?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let web = match args.web {
        Some(addr) => {
            Some(TcpListener::bind(addr).await.with_context(|| format!("failed to listen on {addr} (--web)"))?)
        }
        None => None,
    };
    // The worker stops first (finishing the jobs it holds), then the data service it talks to.
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = coopbrief_data::Server::from_parts(listener, store, artifacts, queue.clone())
        .with_web(web)
        .with_auth(coopbrief_data::AuthMode::Off)?;
    let web = server.web_addr().transpose()?;
    if args.issue {
        server = server.with_issuer(&demo_key(&args.dir)?);
    }
    eprintln!("access control is off: loopback only (the demo's data service listens on {endpoint} without tokens)");
    let server = tokio::spawn(server.run_until_stopped(async {
        let _ = server_stopped.await;
    }));
    let renderer = Arc::new(coopbrief_render::Renderer::new().context("failed to load the renderer")?);
    let worker = coopbrief_worker::Worker::new(&endpoint, renderer)?;
    let worker = tokio::spawn(coopbrief_worker::run(queue, worker, 2, async {
        let _ = worker_stopped.await;
    }));
    info!(%endpoint, "demo data service and worker running");

    let result = async {
        let client = Client::connect(&endpoint).await?;
        let mut o = args.report.clone();
        let letterhead_file;
        if args.issue && o.letterhead.is_none() {
            letterhead_file = args.dir.join("demo-letterhead.yaml");
            std::fs::write(&letterhead_file, DEMO_LETTERHEAD)
                .with_context(|| format!("cannot write {}", letterhead_file.display()))?;
            o.letterhead = Some(letterhead_file.clone());
        }
        let report = client.create_report(&o, None).await?;
        let e = |s: &str| crate::escape::escape(s).into_owned();
        eprintln!(
            "requested report {} ({} {} {})",
            e(&report.id),
            e(&report.programme),
            e(&report.period),
            e(&report.lang)
        );
        let report = client.wait(&report.id, Duration::from_secs(300)).await?;
        if !args.issue {
            finish(&client, &report, Some(&args.out), crate::output::Output::Table).await?;
            return Ok::<_, anyhow::Error>(report);
        }
        finish(&client, &report, None, crate::output::Output::Table).await?;
        client.issue(&report.id, Some(&args.out), crate::output::Output::Table).await?;
        client.report(&report.id).await
    }
    .await;

    if let (Some(web), Ok(report)) = (web, &result) {
        eprintln!(
            "the web page: http://{web}/#/reports/{} — access control is off in the demo: sign in with an \
             empty token. Ctrl-C stops the demo.",
            crate::escape::escape(&report.id)
        );
        coopbrief_runtime::shutdown_signal().await;
    }
    let _ = stop_worker.send(());
    let _ = worker.await;
    let _ = stop_server.send(());
    let _ = server.await;
    eprintln!("demo finished in {:.1}s", started.elapsed().as_secs_f64());
    result
}

/// The signer and recipients of the demo's issued briefing (the seed names the office only).
const DEMO_LETTERHEAD: &str = "\
signer:
  authority: tm
  on_behalf_of: { vi: \"Ủy ban nhân dân\", en: \"People's Committee\" }
  title: { vi: \"Chủ tịch\", en: \"Chairman\" }
  name: \"Nguyễn Văn A\"
recipients:
  - { vi: \"Thường trực Thành ủy Hà Nội\", en: \"Standing Board of the Hanoi Party Committee\" }
  - { vi: \"Ủy ban nhân dân tỉnh Hà Nam\", en: \"Ha Nam People's Committee\" }
";

/// A throwaway self-signed office certificate and key, made now for the demo (its subject
/// says so), written under the demo's directory for the data service to read.
fn demo_key(dir: &std::path::Path) -> anyhow::Result<coopbrief_data::issuance::IssuerSettings> {
    let (cert, key) = coopbrief_sign::demo_identity_pem("Ủy ban nhân dân thành phố Hà Nội")?;
    let keys = dir.join("demo-signing");
    std::fs::create_dir_all(&keys).with_context(|| format!("cannot make {}", keys.display()))?;
    let (cert_path, key_path) = (keys.join("certificate.pem"), keys.join("key.pem"));
    std::fs::write(&cert_path, cert).with_context(|| format!("cannot write {}", cert_path.display()))?;
    write_private(&key_path, key.as_bytes())?;
    eprintln!("made a throwaway demo certificate (self-signed, not for real use) in {}", keys.display());
    Ok(coopbrief_data::issuance::IssuerSettings { key: Some(key_path), cert: Some(cert_path), ..Default::default() })
}

/// Writes a file only its owner may read.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
