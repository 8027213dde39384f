//! The connection to the data service that every command shares, and gRPC statuses as people read them.

use anyhow::Context;
use coopbrief_proto::{AccessServiceClient, CooperationServiceClient, ReportServiceClient, ScheduleServiceClient};
use coopbrief_runtime::{ClientArgs, GrpcChannel};
use tonic::Status;
use tonic::codegen::http::uri::PathAndQuery;

/// A connection to the data service (TLS for an https:// endpoint, the token on every call).
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) reports: ReportServiceClient<GrpcChannel>,
    pub(crate) data: CooperationServiceClient<GrpcChannel>,
    pub(crate) schedules: ScheduleServiceClient<GrpcChannel>,
    pub(crate) access: AccessServiceClient<GrpcChannel>,
    channel: GrpcChannel,
}

/// Makes `call` again while the data service answers `UNAVAILABLE` (its database or PDF store
/// briefly away, the service restarting), five times with growing pauses (about 8 s in all).
/// Only for calls that are safe to repeat: reads, and creates that carry a request id.
pub(crate) async fn retrying<T, F>(mut call: impl FnMut() -> F) -> Result<T, Status>
where
    F: std::future::Future<Output = Result<T, Status>>,
{
    let mut pause = std::time::Duration::from_millis(250);
    for _ in 0..5 {
        match call().await {
            Err(s) if s.code() == tonic::Code::Unavailable => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            done => return done,
        }
    }
    call().await
}

/// A gRPC status as a person reads it: `NOT_FOUND: programme "x" not found`.
pub(crate) fn status(s: Status) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", code_name(s.code()), s.message())
}

fn code_name(code: tonic::Code) -> String {
    let debug = format!("{code:?}");
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

impl Client {
    /// Connects without a token or CA file (a data service with access control off).
    pub async fn connect(endpoint: &str) -> anyhow::Result<Client> {
        Client::connect_with(endpoint, &ClientArgs::default()).await
    }

    /// Connects with a token and, for an https:// endpoint, the CA file.
    pub async fn connect_with(endpoint: &str, args: &ClientArgs) -> anyhow::Result<Client> {
        let channel = coopbrief_runtime::client::connect(endpoint, args)
            .await
            .context("set --endpoint or COOPBRIEF_ENDPOINT (and --ca-file for https://)")?;
        Ok(Client {
            reports: ReportServiceClient::new(channel.clone()),
            // An import goes out and an export comes back as large as the domain lets them be.
            data: CooperationServiceClient::new(channel.clone())
                .max_decoding_message_size(coopbrief_domain::limits::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(coopbrief_domain::limits::MAX_MESSAGE_BYTES),
            schedules: ScheduleServiceClient::new(channel.clone()),
            access: AccessServiceClient::new(channel.clone()),
            channel,
        })
    }

    /// A unary call by its path, for generic callers (the resources' standard methods).
    pub async fn call<Req, Resp>(&self, path: PathAndQuery, request: Req) -> Result<Resp, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
        let codec = tonic_prost::ProstCodec::default();
        Ok(grpc.unary(tonic::Request::new(request), path, codec).await?.into_inner())
    }
}

/// How much of a list to fetch: `--limit N` items (the first page, or more pages up to N), or
/// `--all` of them.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct Limit {
    /// Show at most this many (fetched in pages of up to 500).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Follow the pages to the end, however many there are.
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
}

/// Largest page the service gives.
const MAX_PAGE: u32 = 500;

/// Items of a paged list, fetched page after page by `fetch(page_size, page_token)` (which
/// returns a page's items and its next token) until `limit` is met or the list ends. Says on
/// stderr when more are left.
pub(crate) async fn pages<T, F, Fut>(limit: Limit, mut fetch: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(i32, String) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, String), Status>>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let want = if limit.all { MAX_PAGE } else { (limit.limit - items.len() as u32).min(MAX_PAGE) };
        let (page, next) = retrying(|| fetch(want as i32, token.clone())).await.map_err(status)?;
        items.extend(page);
        if next.is_empty() {
            return Ok(items);
        }
        if !limit.all && items.len() as u32 >= limit.limit {
            eprintln!("more: raise --limit, or --all");
            return Ok(items);
        }
        token = next;
    }
}
