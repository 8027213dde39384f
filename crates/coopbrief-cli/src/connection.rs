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
