//! `DiagnosticsService`: a trivial `Echo` served beside the real RPCs, so a benchmark can tell the
//! cost of the transport (tonic, HTTP/2, the server's runtime) from the cost of a data call.

use coopbrief_proto::v1;
use tonic::{Request, Response, Status};

use super::App;

/// Largest payload `Echo` returns; a baseline needs no more, and it bounds what one call costs.
const MAX_ECHO_BYTES: usize = 64 * 1024;

#[tonic::async_trait]
impl coopbrief_proto::DiagnosticsService for App {
    async fn echo(&self, req: Request<v1::EchoRequest>) -> Result<Response<v1::EchoResponse>, Status> {
        let payload = req.into_inner().payload;
        if payload.len() > MAX_ECHO_BYTES {
            return Err(super::invalid("payload", format!("is {} bytes, more than {MAX_ECHO_BYTES}", payload.len())));
        }
        Ok(Response::new(v1::EchoResponse { payload }))
    }
}
