//! The web page's listener (`--web-listen`): the page's static files, embedded in the binary,
//! and gRPC-Web for the same gRPC services through the same layers as the gRPC listener.
//!
//! A request whose content type is gRPC or gRPC-Web goes on to tonic-web's `GrpcWebLayer`,
//! then to the metrics, answers and access layers and the services, exactly as on `--listen`:
//! the browser holds a bearer token like any client and is refused like any client. Anything
//! else is a request for a file of the page: `GET`/`HEAD` of a known path, answered with a
//! Content-Security-Policy that allows scripts, styles and connections to this origin only (no
//! inline script, no framing) and `nosniff`. No CORS: the page and its API share one origin,
//! and a foreign origin's preflight finds no `Access-Control-Allow-*` answer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;
use tonic::body::Body;
use tonic::codegen::{Service, http};

/// The page's Content-Security-Policy: everything from this origin only, no inline script or
/// style, no plugins, no framing; downloads are `blob:` URLs made by the page.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// One file of the page.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// Every file the page is made of; `/` is `index.html`. The descriptor set is the one
/// reflection serves: the page's protobuf codec reads every message's fields from it.
const ASSETS: [Asset; 8] = [
    Asset { path: "/index.html", content_type: "text/html; charset=utf-8", bytes: include_bytes!("../web/index.html") },
    Asset { path: "/style.css", content_type: "text/css; charset=utf-8", bytes: include_bytes!("../web/style.css") },
    Asset { path: "/app.js", content_type: "text/javascript; charset=utf-8", bytes: include_bytes!("../web/app.js") },
    Asset { path: "/grpc.js", content_type: "text/javascript; charset=utf-8", bytes: include_bytes!("../web/grpc.js") },
    Asset {
        path: "/protobuf.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../web/protobuf.js"),
    },
    Asset { path: "/i18n.js", content_type: "text/javascript; charset=utf-8", bytes: include_bytes!("../web/i18n.js") },
    Asset { path: "/favicon.svg", content_type: "image/svg+xml", bytes: include_bytes!("../web/favicon.svg") },
    Asset {
        path: "/descriptor.binpb",
        content_type: "application/octet-stream",
        bytes: coopbrief_proto::FILE_DESCRIPTOR_SET,
    },
];

/// The layer in front of the web listener's gRPC-Web stack; see the module's note.
#[derive(Clone, Copy, Debug, Default)]
pub struct PageLayer;

impl<S> tower_layer::Layer<S> for PageLayer {
    type Service = Page<S>;
    fn layer(&self, inner: S) -> Page<S> {
        Page(inner)
    }
}

/// Serves the page's files; passes gRPC and gRPC-Web calls on.
#[derive(Clone, Debug)]
pub struct Page<S>(S);

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> Service<http::Request<B>> for Page<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<http::Response<Body>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if is_grpc(req.headers()) {
            let answer = self.0.call(req);
            return Box::pin(async move {
                let mut response = answer.await?;
                response.headers_mut().insert(http::header::X_CONTENT_TYPE_OPTIONS, nosniff());
                Ok(response)
            });
        }
        let response = file(req.method(), req.uri().path());
        Box::pin(async move { Ok(response) })
    }
}

/// Whether a request is a gRPC or gRPC-Web call (by its content type, as tonic-web decides).
fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

fn nosniff() -> http::HeaderValue {
    http::HeaderValue::from_static("nosniff")
}

/// The answer to a request for one of the page's files.
fn file(method: &http::Method, path: &str) -> http::Response<Body> {
    if method != http::Method::GET && method != http::Method::HEAD {
        let mut response = plain(http::StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let path = if path == "/" { "/index.html" } else { path };
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return plain(http::StatusCode::NOT_FOUND, "not found\n");
    };
    let body = if method == http::Method::HEAD { Bytes::new() } else { Bytes::from_static(asset.bytes) };
    let mut response = http::Response::new(Body::new(Full::new(body)));
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(asset.content_type));
    headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(asset.bytes.len()));
    // The files change with the binary: always revalidated, never served stale after an upgrade.
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-cache"));
    secure(headers);
    response
}

/// A short plain-text answer (an error), with the same protective headers as the page.
fn plain(status: http::StatusCode, text: &'static str) -> http::Response<Body> {
    let mut response = http::Response::new(Body::new(Full::new(Bytes::from_static(text.as_bytes()))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    secure(headers);
    response
}

/// The headers every file of the page carries.
fn secure(headers: &mut http::HeaderMap) {
    headers.insert(http::header::CONTENT_SECURITY_POLICY, http::HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(http::header::X_CONTENT_TYPE_OPTIONS, nosniff());
    headers.insert(http::header::X_FRAME_OPTIONS, http::HeaderValue::from_static("DENY"));
    headers.insert(http::header::REFERRER_POLICY, http::HeaderValue::from_static("no-referrer"));
}

/// Makes any response body a `tonic::body::Body`, which tonic-web's layer takes from the
/// service it wraps (the metrics and answers layers wrap the body in their own types).
#[derive(Clone, Copy, Debug, Default)]
pub struct BoxBodyLayer;

impl<S> tower_layer::Layer<S> for BoxBodyLayer {
    type Service = BoxBody<S>;
    fn layer(&self, inner: S) -> BoxBody<S> {
        BoxBody(inner)
    }
}

#[derive(Clone, Debug)]
pub struct BoxBody<S>(S);

impl<S, Req, B> Service<Req> for BoxBody<S>
where
    S: Service<Req, Response = http::Response<B>>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<http::Response<Body>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let answer = self.0.call(req);
        Box::pin(async move { Ok(answer.await?.map(Body::new)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_served_with_its_type_and_the_protective_headers() {
        for asset in &ASSETS {
            let response = file(&http::Method::GET, asset.path);
            assert_eq!(response.status(), http::StatusCode::OK, "{}", asset.path);
            let h = response.headers();
            assert_eq!(h[http::header::CONTENT_TYPE], asset.content_type);
            assert_eq!(h[http::header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
            assert_eq!(h[http::header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(h[http::header::X_FRAME_OPTIONS], "DENY");
        }
        assert_eq!(file(&http::Method::GET, "/").headers()[http::header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(file(&http::Method::GET, "/../Cargo.toml").status(), http::StatusCode::NOT_FOUND);
        assert_eq!(file(&http::Method::POST, "/").status(), http::StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(file(&http::Method::OPTIONS, "/app.js").status(), http::StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let index = std::str::from_utf8(ASSETS[0].bytes).unwrap();
        assert!(!index.contains("<script>"), "inline script in index.html");
        assert!(!index.contains("style="), "inline style in index.html");
        assert!(!index.contains("onclick"), "inline handler in index.html");
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let js = std::str::from_utf8(asset.bytes).unwrap();
            assert!(!js.contains("innerHTML"), "{} sets innerHTML", asset.path);
            assert!(!js.contains("eval("), "{} calls eval", asset.path);
        }
    }

    #[test]
    fn only_grpc_content_types_reach_the_services() {
        let headers = |ct: &'static str| {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(ct));
            h
        };
        assert!(is_grpc(&headers("application/grpc-web+proto")));
        assert!(is_grpc(&headers("application/grpc")));
        assert!(!is_grpc(&headers("text/html")));
        assert!(!is_grpc(&http::HeaderMap::new()));
    }
}
