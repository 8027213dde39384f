//! The client side of a connection to the data service, shared by the CLI, the worker and
//! `coopbrief-data healthcheck`: the endpoint (TLS when it is `https://`, trusting the CA file,
//! or the system's CA certificates without one) and the bearer token sent with every call.

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
    /// PEM file of the CA that signed the data service's certificate, for an https:// endpoint
    /// with a private CA; without it, the system's CA certificates are trusted.
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
    #[error("cannot read the CA file {path}: {source}")]
    CaFile { path: String, source: std::io::Error },
    #[error("the token is not valid in a header (set --token or COOPBRIEF_TOKEN to what `token create` printed)")]
    Token,
    #[error("cannot reach the data service at {endpoint}: {message}{hint}")]
    Connect { endpoint: String, message: String, hint: &'static str },
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

/// The endpoint for `url`: for `https`, TLS trusting `ca_file`, or without one the system's
/// CA certificates (a publicly trusted certificate needs no CA file).
pub fn endpoint(url: &str, ca_file: Option<&Path>) -> Result<Endpoint, ClientError> {
    let invalid = |message: String| ClientError::Endpoint { endpoint: url.to_owned(), message };
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|e| invalid(e.to_string()))?;
    let endpoint = endpoint.connect_timeout(Duration::from_secs(5)).tcp_nodelay(true);
    if endpoint.uri().scheme_str() != Some("https") {
        return Ok(endpoint);
    }
    let mut tls = match ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|source| ClientError::CaFile { path: path.display().to_string(), source })?;
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem))
        }
        None => ClientTlsConfig::new().with_native_roots(),
    };
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
    let endpoint = endpoint(url, args.ca_file.as_deref())?;
    let system_roots = endpoint.uri().scheme_str() == Some("https") && args.ca_file.is_none();
    let hint = if system_roots {
        " (the certificate was checked against the system's CA certificates; --ca-file or COOPBRIEF_CA_FILE names a private CA)"
    } else {
        ""
    };
    let channel = endpoint.connect().await.map_err(|e| ClientError::Connect {
        endpoint: url.to_owned(),
        message: error_chain(&e),
        hint,
    })?;
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
    fn an_https_endpoint_without_a_ca_file_trusts_the_systems_ca_certificates() {
        // Building the TLS connector loads the system's roots (tonic fails it when there are none).
        let system = endpoint("https://coopbrief.example.org", None);
        assert!(system.is_ok(), "{:?}", system.err());
        assert!(endpoint("http://127.0.0.1:50051", None).is_ok());
        let missing = endpoint("https://localhost:1", Some(Path::new("/nonexistent/ca.pem"))).err();
        assert!(matches!(missing, Some(ClientError::CaFile { .. })), "{missing:?}");
    }
}
