//! The Coopbrief data service: owns cooperation data and report requests, serves them over
//! gRPC (with health and reflection), publishes report jobs and keeps the finished PDFs.
//!
//! Startup follows `build → local_addr → run_until_stopped(shutdown)` so tests bind port 0.
//! Every call passes the access layer (`auth.rs`) first; with a certificate, only TLS is spoken.
//! With `--web-listen`, a second listener serves the web page and gRPC-Web (`web.rs`) for the
//! same services through the same layers.

pub mod answers;
pub mod auth;
pub mod bootstrap;
pub mod commands;
pub mod error;
pub mod health;
pub mod issuance;
pub mod metrics;
pub mod relay;
pub mod retention;
pub mod scheduler;
pub mod service;
pub mod settings;
pub mod watch;
pub mod web;
pub mod webhooks;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use coopbrief_domain::dataset::Dataset;
use coopbrief_domain::limits::MAX_MESSAGE_BYTES;
use coopbrief_proto::AccessServiceServer;
use coopbrief_proto::DiagnosticsServiceServer;
use coopbrief_proto::ScheduleServiceServer;
use coopbrief_proto::{CooperationServiceServer, ReportServiceServer, WorkerServiceServer};
use coopbrief_queue::{AmqpQueue, JobQueue};
use coopbrief_store::{ArtifactStore, Store};
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Identity, ServerTlsConfig};
use tonic_health::ServingStatus;
use tracing::{info, warn};

pub use auth::{AuthLayer, AuthMode, Caller};
pub use service::App;
pub use settings::{Seed, Settings};

/// A bound, ready-to-run data service.
pub struct Server {
    listener: TcpListener,
    /// The web page and gRPC-Web (`--web-listen`), if on.
    web: Option<TcpListener>,
    app: App,
    /// How often the report scheduler ticks, and its catch-up limit per schedule and tick.
    scheduler: (std::time::Duration, u32),
    /// Checks every call; tokens unless [`Server::with_auth`] turned it off (loopback only).
    auth: AuthLayer,
    /// With a certificate, the service speaks TLS only.
    tls: Option<ServerTlsConfig>,
    /// Whether metrics are served (`--metrics-listen`): then calls are measured and the
    /// backlog is read for them.
    metrics: bool,
    /// Which finished reports the retention sweep deletes (none by default), and how often.
    retention: (coopbrief_store::Retention, std::time::Duration),
    /// How the webhook sender paces its attempts (it runs only with a webhook key).
    webhooks: webhooks::SenderConfig,
}

impl Server {
    /// Checks the settings, binds the listener and opens the store (seeding it); RabbitMQ is
    /// reached lazily.
    pub async fn build(settings: &Settings) -> anyhow::Result<Server> {
        // Every setting that can be checked is, before the first side effect.
        settings.check()?;
        let tls = settings.tls()?;
        let tokens = settings.bootstrap.tokens()?;
        let webhook_key = settings.webhooks.key()?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("failed to listen on {}", settings.listen))?;
        let web = match settings.web_listen {
            Some(addr) => Some(
                TcpListener::bind(addr).await.with_context(|| format!("failed to listen on {addr} (--web-listen)"))?,
            ),
            None => None,
        };
        let metrics = settings.metrics.serve()?;
        let artifacts = ArtifactStore::open_location(&settings.artifacts)
            .with_context(|| format!("failed to open the artifact store {}", settings.artifacts))?;
        let store = open_store(&settings.database()?, settings.seed.as_ref()).await?;
        bootstrap::register(&store, &tokens).await?;
        // Lazy: the service starts (and takes requests) while the broker is down; the
        // outbox relay connects, and reconnects, when it has jobs to publish.
        let queue = AmqpQueue::lazy(settings.amqp()?);
        let mut server = Server::from_parts(listener, store, artifacts, Arc::new(queue))
            .with_web(web)
            .with_auth(settings.auth)?
            .with_issuer(&settings.issuer())
            .with_webhooks(webhook_key, settings.webhooks.sender());
        let interval = std::time::Duration::from_secs_f64(settings.scheduler_interval.clamp(0.05, 86_400.0));
        server.scheduler = (interval, settings.scheduler_catch_up);
        server.tls = tls;
        server.metrics = metrics;
        server.retention.0 = settings.retention.policy();
        Ok(server)
    }

    /// Sets access control. `AuthMode::Off` is refused unless the service (and its web
    /// listener, if any) listens on a loopback address, and says so in the log.
    pub fn with_auth(mut self, mode: AuthMode) -> anyhow::Result<Server> {
        self.auth = match mode {
            AuthMode::Tokens => AuthLayer::tokens(self.app.store.clone()),
            AuthMode::Off => {
                let addr = self.local_addr()?;
                auth::refuse_off_unless_loopback(addr)?;
                if let Some(web) = self.web_addr() {
                    auth::refuse_off_unless_loopback(web?)?;
                }
                warn!(%addr, "access control is off: loopback only");
                AuthLayer::off()
            }
        };
        Ok(self)
    }

    /// Serves the web page and gRPC-Web on this listener as well (`--web-listen`). Set it
    /// before [`Server::with_auth`], which checks it too.
    pub fn with_web(mut self, listener: Option<TcpListener>) -> Server {
        self.web = listener;
        self
    }

    /// Issues briefings with the office's key these settings name (none: `IssueReport` is refused).
    pub fn with_issuer(mut self, settings: &issuance::IssuerSettings) -> Server {
        self.app.issuer = issuance::Issuer::new(settings).map(Arc::new);
        self
    }

    /// Seals notify secrets with `key` and sends events (none: a request naming a notify
    /// target is refused and nothing is sent).
    pub fn with_webhooks(mut self, key: Option<webhooks::WebhookKey>, config: webhooks::SenderConfig) -> Server {
        self.app.webhook_key = key.map(Arc::new);
        self.webhooks = config;
        self
    }

    /// Serves TLS only, with this PEM certificate chain and key.
    pub fn with_tls(mut self, cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<Server> {
        self.tls = Some(tls_config(cert_pem, key_pem)?);
        Ok(self)
    }

    /// A server around parts built elsewhere (the one-process demo, tests); it asks for
    /// tokens until [`Server::with_auth`] says otherwise.
    pub fn from_parts(
        listener: TcpListener,
        store: Store,
        artifacts: ArtifactStore,
        queue: Arc<dyn JobQueue>,
    ) -> Server {
        Server {
            listener,
            web: None,
            auth: AuthLayer::tokens(store.clone()),
            app: App {
                store,
                artifacts,
                queue,
                relay: Default::default(),
                watch: Default::default(),
                imports: Arc::new(tokio::sync::Semaphore::new(service::MAX_IMPORTS)),
                issuer: None,
                webhook_key: None,
            },
            webhooks: Default::default(),
            scheduler: (scheduler::DEFAULT_INTERVAL, scheduler::DEFAULT_CATCH_UP),
            tls: None,
            metrics: false,
            retention: (coopbrief_store::Retention::default(), retention::INTERVAL),
        }
    }

    /// Deletes the finished reports `policy` lets go, at start and then every `interval`.
    pub fn with_retention(mut self, policy: coopbrief_store::Retention, interval: std::time::Duration) -> Server {
        self.retention = (policy, interval);
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The web listener's address, if it has one (`--web-listen`).
    pub fn web_addr(&self) -> Option<std::io::Result<SocketAddr>> {
        self.web.as_ref().map(TcpListener::local_addr)
    }

    /// Serves until `shutdown` resolves, then finishes in-flight calls and returns.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let (health, health_service) = tonic_health::server::health_reporter();
        // The store answered when it was opened; from now on the probe says.
        health::set_all(&health, ServingStatus::Serving).await;
        let (stop_probe, probe_stopped) = tokio::sync::oneshot::channel::<()>();
        let probe = tokio::spawn(health::watch(self.app.store.clone(), health.clone(), async {
            let _ = probe_stopped.await;
        }));
        // From the moment shutdown begins, health says so (before in-flight calls finish),
        // and open watches end, so that they do not hold the graceful shutdown open.
        let watches = self.app.watch.clone();
        let shutdown = async move {
            shutdown.await;
            health::set_all(&health, ServingStatus::NotServing).await;
            watches.close();
        };
        // Reflection in both versions: grpcurl and newer tools speak v1, grpcio-reflection's
        // Python client and other older tools v1alpha. Each lists both.
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .include_reflection_service(false)
                .register_encoded_file_descriptor_set(coopbrief_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1alpha =
            reflection().build_v1alpha().context("failed to build the reflection service (v1alpha)")?;
        let reflection = reflection().build_v1().context("failed to build the reflection service")?;
        // Every call served gets its span here (when traces are on), the caller's child.
        let builder = || -> anyhow::Result<tonic::transport::Server> {
            let mut builder =
                tonic::transport::Server::builder().trace_fn(coopbrief_runtime::telemetry::grpc_server_span::<()>);
            if let Some(tls) = self.tls.clone() {
                builder = builder.tls_config(tls).context("the TLS certificate or key is not valid")?;
            }
            Ok(builder)
        };
        let addr = self.local_addr()?;
        info!(%addr, tls = self.tls.is_some(), "data service listening");
        if let Some(web) = self.web_addr().transpose()? {
            info!(addr = %web, tls = self.tls.is_some(), "web page listening");
        }
        let (tick_interval, catch_up) = self.scheduler;
        let schedules = scheduler::Scheduler::system(self.app.store.clone(), catch_up, self.app.relay.clone());
        let (stop_relay, relay_stopped) = tokio::sync::oneshot::channel::<()>();
        let relay =
            tokio::spawn(relay::run(self.app.store.clone(), self.app.queue.clone(), self.app.relay.clone(), async {
                let _ = relay_stopped.await;
            }));
        let (stop_backlog, backlog_stopped) = tokio::sync::oneshot::channel::<()>();
        let backlog = self.metrics.then(|| {
            tokio::spawn(metrics::refresh_backlog(self.app.store.clone(), async {
                let _ = backlog_stopped.await;
            }))
        });
        let (stop_webhooks, webhooks_stopped) = tokio::sync::oneshot::channel::<()>();
        let webhooks = self.app.webhook_key.clone().map(|key| {
            tokio::spawn(webhooks::run(self.app.store.clone(), key, self.webhooks, async {
                let _ = webhooks_stopped.await;
            }))
        });
        let (stop_scheduler, scheduler_stopped) = tokio::sync::oneshot::channel::<()>();
        let scheduler = tokio::spawn(scheduler::run(schedules, tick_interval, async {
            let _ = scheduler_stopped.await;
        }));
        let (stop_retention, retention_stopped) = tokio::sync::oneshot::channel::<()>();
        let (policy, every) = self.retention;
        let retention =
            tokio::spawn(retention::run(self.app.store.clone(), self.app.artifacts.clone(), policy, every, async {
                let _ = retention_stopped.await;
            }));
        // One set of services, served on both listeners.
        let routes = tonic::service::Routes::new(health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            // An import document comes in, an export or a programme's briefing data goes out:
            // as large as the domain lets a programme be. The other services keep tonic's 4 MiB.
            .add_service(
                CooperationServiceServer::new(self.app.clone())
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(ReportServiceServer::new(self.app.clone()))
            .add_service(ScheduleServiceServer::new(self.app.clone()))
            .add_service(DiagnosticsServiceServer::new(self.app.clone()))
            .add_service(AccessServiceServer::new(self.app.clone()))
            .add_service(WorkerServiceServer::new(self.app.clone()));
        let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
        let grpc = builder()?
            // Outermost: it counts the status callers are told, refusals included.
            .layer(metrics::GrpcMetricsLayer { enabled: self.metrics })
            .layer(answers::AnswersLayer)
            .layer(self.auth.clone())
            .add_routes(routes.clone())
            .serve_with_incoming_shutdown(incoming(self.listener), shutdown.clone());
        // The web listener: the page's files, and gRPC-Web turned into gRPC before the very
        // same layers (in the same order) and services as above.
        let web = match self.web {
            Some(listener) => Some(
                builder()?
                    .accept_http1(true)
                    .layer(web::PageLayer)
                    .layer(tonic_web::GrpcWebLayer::new())
                    .layer(web::BoxBodyLayer)
                    .layer(metrics::GrpcMetricsLayer { enabled: self.metrics })
                    .layer(answers::AnswersLayer)
                    .layer(self.auth)
                    .add_routes(routes)
                    .serve_with_incoming_shutdown(incoming(listener), shutdown),
            ),
            None => None,
        };
        let served = match web {
            Some(web) => {
                let (grpc, web) = tokio::join!(grpc, web);
                grpc.and(web)
            }
            None => grpc.await,
        }
        .context("the gRPC server failed");
        let _ = stop_probe.send(());
        let _ = probe.await;
        let _ = stop_relay.send(());
        let _ = relay.await;
        let _ = stop_scheduler.send(());
        let _ = scheduler.await;
        let _ = stop_retention.send(());
        let _ = retention.await;
        let _ = stop_webhooks.send(());
        if let Some(webhooks) = webhooks {
            let _ = webhooks.await;
        }
        let _ = stop_backlog.send(());
        if let Some(backlog) = backlog {
            let _ = backlog.await;
        }
        served?;
        info!("data service stopped");
        Ok(())
    }
}

/// A listener's connections, without Nagle: without TCP_NODELAY a reply larger than one
/// segment waits ~40 ms for the client's delayed ACK (tonic's own `tcp_nodelay` does not apply
/// to our own listener).
fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> + Send + 'static {
    TcpListenerStream::new(listener).map(|conn| {
        conn.and_then(|c| {
            c.set_nodelay(true)?;
            Ok(c)
        })
    })
}

/// Opens the database at `url`; an error names it without its password.
pub async fn connect(url: &str) -> anyhow::Result<Store> {
    let shown = coopbrief_queue::redact_url(url);
    Store::connect(url).await.with_context(|| format!("failed to open the database {shown}"))
}

/// The TLS configuration of a PEM certificate chain and key, checked now, so that a bad
/// certificate or key stops the start, not the first call.
pub fn tls_config(cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<ServerTlsConfig> {
    let config = ServerTlsConfig::new().identity(Identity::from_pem(cert_pem, key_pem));
    tonic::transport::Server::builder()
        .tls_config(config.clone())
        .context("the TLS certificate or key (--tls-cert, --tls-key) is not valid")?;
    Ok(config)
}

/// Opens the database and loads data: the dataset `seed` names if any, else (no `seed`) the
/// bundled dataset when the database holds no programme yet.
pub async fn open_store(url: &str, seed: Option<&Seed>) -> anyhow::Result<Store> {
    let store = connect(url).await?;
    let dataset = match seed {
        Some(Seed::Nothing) => None,
        Some(Seed::Dataset(path)) => {
            Some(Dataset::load(path).with_context(|| format!("failed to load the dataset {}", path.display()))?)
        }
        None if store.is_empty().await? => Some(Dataset::bundled().context("the bundled dataset is invalid")?),
        None => None,
    };
    if let Some(dataset) = dataset {
        let summary = store.import_dataset(&dataset).await.context("failed to import the dataset")?;
        info!(%summary, "dataset loaded");
    }
    Ok(store)
}
