//! The ext_authz `Authorization` service as a tower service of our own, in
//! place of envoy-types' generated server: its codec can send a response
//! that was encoded once and kept with the token (see `Allow::reusable`),
//! which the generated server's prost codec cannot.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use envoy_types::pb::envoy::service::auth::v3::CheckResponse;
use prost::Message;
use prost::bytes::Buf;
use tonic::body::Body;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{Service, http};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

use http_body_util::{BodyExt, Full};
use tonic::codegen::Bytes;

use super::CheckService;
use super::check::Reply;
use super::wire::CheckMessage;
use crate::decision::DenyReason;

/// Where a gRPC error answer carries its code.
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// The one method Envoy calls.
const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

/// `envoy.service.auth.v3.Authorization`, answering `Check` with `service`.
#[derive(Clone)]
pub struct CheckServer {
    service: Arc<CheckService>,
}

impl CheckServer {
    /// Serves `service`.
    pub fn new(service: CheckService) -> Self {
        Self {
            service: Arc::new(service),
        }
    }
}

impl NamedService for CheckServer {
    const NAME: &'static str = super::AUTHORIZATION_SERVICE;
}

type Answer = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

impl Service<http::Request<Body>> for CheckServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Answer {
        if request.uri().path() != CHECK_PATH {
            return Box::pin(async { Ok(Status::unimplemented("").into_http()) });
        }
        let service = self.service.clone();
        let check = CheckMethod(service.clone());
        Box::pin(async move {
            let response = Grpc::new(CheckCodec).unary(check, request).await;
            // tonic answers some calls with an error before any code of
            // ours reads them, and Envoy would hand such an error to
            // `failure_mode_allow`: each is a denial instead. OUT_OF_RANGE
            // is a message over tonic's limit (4 MiB; a large
            // `with_request_body` makes one); any other is a call it could
            // not frame (a message cut short or missing, a compression
            // flag), which only a direct caller sends. Only such an error
            // carries its status in the headers; an answer carries it in
            // its trailers, so most responses stop at one lookup.
            let headers = response.headers();
            let code = headers
                .contains_key(GRPC_STATUS)
                .then(|| Status::from_header_map(headers))
                .flatten()
                .map(|s| s.code());
            let refused = match code {
                None | Some(tonic::Code::Ok) => return Ok(response),
                Some(tonic::Code::OutOfRange) => DenyReason::RequestTooLarge,
                Some(_) => DenyReason::UnreadableRequest,
            };
            Ok(answered(&service.refuse(refused)))
        })
    }
}

/// `response` as a whole gRPC answer: one length-prefixed message, then
/// `grpc-status: 0`.
fn answered(response: &CheckResponse) -> http::Response<Body> {
    let message = response.encode_to_vec();
    let Ok(length) = u32::try_from(message.len()) else {
        return Status::internal("the answer is too large to send").into_http();
    };
    let mut framed = Vec::with_capacity(5 + message.len());
    framed.push(0); // not compressed
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(&message);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let body = Full::new(Bytes::from(framed)).with_trailers(async move { Some(Ok(trailers)) });
    let mut answer = http::Response::new(Body::new(body));
    answer.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    answer
}

/// `Check`, as tonic's unary handler calls it.
struct CheckMethod(Arc<CheckService>);

impl UnaryService<CheckMessage> for CheckMethod {
    type Response = Reply;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Reply>, Status>> + Send>>;

    fn call(&mut self, request: Request<CheckMessage>) -> Self::Future {
        let service = self.0.clone();
        Box::pin(async move { Ok(Response::new(service.reply(&request).await)) })
    }
}

/// Protobuf `CheckRequest` in, read in place; a `CheckResponse` or its
/// bytes out.
struct CheckCodec;

impl Codec for CheckCodec {
    type Encode = Reply;
    type Decode = CheckMessage;
    type Encoder = ReplyEncoder;
    type Decoder = RequestDecoder;

    fn encoder(&mut self) -> ReplyEncoder {
        ReplyEncoder
    }

    fn decoder(&mut self) -> RequestDecoder {
        RequestDecoder
    }
}

struct ReplyEncoder;

impl Encoder for ReplyEncoder {
    type Item = Reply;
    type Error = Status;

    fn encode(&mut self, reply: Reply, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        match reply {
            Reply::Message(response) => encode(&response, buf),
            Reply::Written(bytes) => {
                prost::bytes::BufMut::put_slice(buf, &bytes);
                Ok(())
            }
            Reply::Encoded(bytes) => {
                prost::bytes::BufMut::put_slice(buf, &bytes);
                Ok(())
            }
            Reply::Kept(claims) => match Reply::kept_bytes(&claims) {
                Ok(bytes) => {
                    prost::bytes::BufMut::put_slice(buf, bytes);
                    Ok(())
                }
                Err(denial) => encode(&denial, buf),
            },
        }
    }
}

/// Encodes into tonic's buffer, which grows as needed.
fn encode(response: &CheckResponse, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
    response
        .encode(buf)
        .map_err(|e| Status::internal(format!("encoding the response: {e}")))
}

struct RequestDecoder;

impl Decoder for RequestDecoder {
    type Item = CheckMessage;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<CheckMessage>, Status> {
        // Taken out of tonic's buffer without a copy; the fields read are
        // slices of it.
        let message = buf.copy_to_bytes(buf.remaining());
        // Bytes that are not a CheckRequest are decided on too: a denial.
        Ok(Some(CheckMessage::decode(message)))
    }
}
