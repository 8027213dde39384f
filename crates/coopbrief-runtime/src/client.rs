//! The client side of a connection to the data service, shared by the CLI, the worker and
//! `coopbrief-data healthcheck`: the endpoint (TLS when it is `https://`, trusting the CA
//! file) and the bearer token sent with every call.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::telemetry::Traced;

/// How a client reaches the data service, besides its endpoint (whose flag differs per binary).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ClientArgs {
    /// Bearer token for the data service (`cb_…`, from `token create`).
    #[arg(long, global = true, env = "COOPBRIEF_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM file of the CA that signed the data service's certificate; needed for an https:// endpoint.
    #[arg(long, global = true, env = "COOPBRIEF_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

/// A channel to the data service that sends the bearer token with every call (and, when traces
/// are exported, opens a client span around each call and sends its `traceparent`).
pub type GrpcChannel = InterceptedService<Traced<Channel>, BearerToken>;

/// Errors setting up a client connection.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid endpoint {endpoint:?}: {message}")]
    Endpoint { endpoint: String, message: String },
    #[error("the endpoint {endpoint} is https:// but no CA file is given (--ca-file or COOPBRIEF_CA_FILE)")]
    NoCaFile { endpoint: String },
    #[error("cannot read the CA file {path}: {source}")]
    CaFile { path: String, source: std::io::Error },
    #[error("the token is not valid in a header (set --token or COOPBRIEF_TOKEN to what `token create` printed)")]
    Token,
    #[error("cannot reach the data service at {endpoint}: {message}")]
    Connect { endpoint: String, message: String },
}

/// Adds `authorization: Bearer <token>` to every call; a token never shows in logs or `Debug`.
#[derive(Clone, Default)]
pub struct BearerToken(Option<AsciiMetadataValue>);

impl BearerToken {
    /// The interceptor for `token`; none sends no header.
    pub fn new(token: Option<&str>) -> Result<BearerToken, ClientError> {
        let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(BearerToken(None)) };
        let mut value: AsciiMetadataValue =
            MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| ClientError::Token)?;
        // Kept out of HPACK tables and out of `Debug` output of the headers.
        value.set_sensitive(true);
        Ok(BearerToken(Some(value)))
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "BearerToken(<redacted>)" } else { "BearerToken(None)" })
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            req.metadata_mut().insert("authorization", value.clone());
        }
        Ok(req)
    }
}

/// The endpoint for `url`: TLS trusting `ca_file` when the scheme is `https`.
pub fn endpoint(url: &str, ca_file: Option<&Path>) -> Result<Endpoint, ClientError> {
    let invalid = |message: String| ClientError::Endpoint { endpoint: url.to_owned(), message };
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|e| invalid(e.to_string()))?;
    let endpoint = endpoint.connect_timeout(Duration::from_secs(5)).tcp_nodelay(true);
    if endpoint.uri().scheme_str() != Some("https") {
        return Ok(endpoint);
    }
    // No system roots are built in (tonic's `tls-ring` alone): the CA is always explicit.
    let path = ca_file.ok_or_else(|| ClientError::NoCaFile { endpoint: url.to_owned() })?;
    let pem = std::fs::read(path).map_err(|source| ClientError::CaFile { path: path.display().to_string(), source })?;
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
    if let Some(host) = endpoint.uri().host() {
        tls = tls.domain_name(host.trim_start_matches('[').trim_end_matches(']'));
    }
    endpoint.tls_config(tls).map_err(|e| invalid(e.to_string()))
}

/// A channel to `url` that connects on first use (so the data service may start later).
pub fn connect_lazy(url: &str, args: &ClientArgs) -> Result<GrpcChannel, ClientError> {
    let channel = endpoint(url, args.ca_file.as_deref())?.connect_lazy();
    Ok(InterceptedService::new(Traced(channel), BearerToken::new(args.token.as_deref())?))
}

/// A channel to `url`, connected now: an unreachable service is an error naming it.
pub async fn connect(url: &str, args: &ClientArgs) -> Result<GrpcChannel, ClientError> {
    let channel = endpoint(url, args.ca_file.as_deref())?
        .connect()
        .await
        .map_err(|e| ClientError::Connect { endpoint: url.to_owned(), message: error_chain(&e) })?;
    Ok(InterceptedService::new(Traced(channel), BearerToken::new(args.token.as_deref())?))
}

/// An error with its sources, `a: b: c` (a transport error alone says only "transport error").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_into_the_authorization_header_and_never_into_debug() {
        let mut token = BearerToken::new(Some(" cb_secret ")).unwrap();
        assert_eq!(format!("{token:?}"), "BearerToken(<redacted>)");
        let req = token.call(tonic::Request::new(())).unwrap();
        let header = req.metadata().get("authorization").unwrap();
        assert_eq!(header.to_str().unwrap(), "Bearer cb_secret");
        assert!(header.is_sensitive());
        let mut none = BearerToken::new(None).unwrap();
        assert!(none.call(tonic::Request::new(())).unwrap().metadata().get("authorization").is_none());
        assert!(matches!(BearerToken::new(Some("bad\ntoken")), Err(ClientError::Token)));
    }

    #[test]
    fn an_https_endpoint_needs_a_ca_file() {
        let err = endpoint("https://localhost:50051", None).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "the endpoint https://localhost:50051 is https:// but no CA file is given (--ca-file or COOPBRIEF_CA_FILE)"
            )
        );
        assert!(endpoint("http://127.0.0.1:50051", None).is_ok());
        let missing = endpoint("https://localhost:1", Some(Path::new("/nonexistent/ca.pem"))).err();
        assert!(matches!(missing, Some(ClientError::CaFile { .. })), "{missing:?}");
    }
}
