//! What every caller is told, whichever service answers (ours, health, reflection, or tonic
//! itself before a handler runs): a request that does not decode is `INVALID_ARGUMENT`, not
//! tonic's `INTERNAL`; one over the size limit is `RESOURCE_EXHAUSTED` naming the limit, not
//! `OUT_OF_RANGE`; and no status message is longer than [`MAX_MESSAGE_BYTES`] — common clients
//! drop larger trailers and then report another code than the one sent.
//!
//! A tower layer outermost around the server: it rewrites the status in the headers of a
//! trailers-only answer and in the trailers of a streamed one.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use tonic::codegen::http::{HeaderMap, Response};
use tonic::codegen::{Bytes, Service};
use tonic::{Code, Status};

/// The longest status message sent.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// The status a caller should see instead of `status`, if it differs.
pub(crate) fn corrected(status: &Status) -> Option<Status> {
    let message = status.message();
    let fixed = match status.code() {
        Code::Internal if message.starts_with("failed to decode Protobuf message") => {
            Status::invalid_argument("the request could not be decoded as the method's message")
        }
        Code::OutOfRange if message.contains("message length too large") => {
            let limit =
                message.rsplit("the limit is: ").next().filter(|l| l.ends_with(" bytes")).unwrap_or("its limit");
            Status::resource_exhausted(format!("the message is larger than the limit of {limit}"))
        }
        _ if message.len() > MAX_MESSAGE_BYTES => {
            Status::with_details(status.code(), shorten(message, MAX_MESSAGE_BYTES), Bytes::new())
        }
        _ => return None,
    };
    Some(fixed)
}

/// `text` cut to at most `max` bytes on a character boundary, with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn correct_headers(headers: &mut HeaderMap) {
    if let Some(fixed) = Status::from_header_map(headers).as_ref().and_then(corrected) {
        headers.remove("grpc-status-details-bin");
        if let Err(e) = fixed.add_header(headers) {
            tracing::error!(error = %e, "a corrected status could not be written");
        }
    }
}

/// The layer; see the module's note.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnswersLayer;

impl<S> tower_layer::Layer<S> for AnswersLayer {
    type Service = Answers<S>;
    fn layer(&self, inner: S) -> Answers<S> {
        Answers(inner)
    }
}

#[derive(Clone, Debug)]
pub struct Answers<S>(S);

impl<S, Req, B> Service<Req> for Answers<S>
where
    S: Service<Req, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = Response<Corrected<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let answer = self.0.call(req);
        Box::pin(async move {
            let mut response = answer.await?;
            correct_headers(response.headers_mut());
            Ok(response.map(Corrected))
        })
    }
}

/// A response body whose trailers carry a corrected status.
#[derive(Debug)]
pub struct Corrected<B>(B);

impl<B: Body<Data = Bytes> + Unpin> Body for Corrected<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.0).poll_frame(cx).map(|frame| {
            frame.map(|f| {
                f.map(|f| match f.into_trailers() {
                    Ok(mut trailers) => {
                        correct_headers(&mut trailers);
                        Frame::trailers(trailers)
                    }
                    Err(f) => f,
                })
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonic_s_own_answers_are_corrected() {
        let undecodable = Status::internal("failed to decode Protobuf message: invalid wire type value: 7");
        assert_eq!(corrected(&undecodable).map(|s| s.code()), Some(Code::InvalidArgument));
        let big = Status::out_of_range(
            "Error, decoded message length too large: found 5242880 bytes, the limit is: 4194304 bytes",
        );
        let fixed = corrected(&big).unwrap();
        assert_eq!(fixed.code(), Code::ResourceExhausted);
        assert!(fixed.message().contains("4194304 bytes"), "{}", fixed.message());
        let long = Status::not_found(format!("symbol '{}' not found", "a".repeat(5000)));
        let fixed = corrected(&long).unwrap();
        assert_eq!(fixed.code(), Code::NotFound);
        assert!(fixed.message().len() <= MAX_MESSAGE_BYTES);
        assert!(corrected(&Status::not_found("programme \"x\" not found")).is_none());
        assert_eq!(shorten("Hà Nội", 4), "H…");
    }
}
