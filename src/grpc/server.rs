//! The ext_authz `Authorization` service as a tower service of our own, in
//! place of envoy-types' generated server: its codec can send a response
//! that was encoded once and kept with the token (see `Allow::reusable`),
//! which the generated server's prost codec cannot.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use envoy_types::pb::envoy::service::auth::v3::{CheckRequest, CheckResponse};
use prost::Message;
use tonic::body::Body;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{Service, http};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

use super::CheckService;
use super::check::Reply;

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
        let check = CheckMethod(self.service.clone());
        Box::pin(async move { Ok(Grpc::new(CheckCodec).unary(check, request).await) })
    }
}

/// `Check`, as tonic's unary handler calls it.
struct CheckMethod(Arc<CheckService>);

impl UnaryService<CheckRequest> for CheckMethod {
    type Response = Reply;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Reply>, Status>> + Send>>;

    fn call(&mut self, request: Request<CheckRequest>) -> Self::Future {
        let service = self.0.clone();
        Box::pin(async move { Ok(Response::new(service.reply(&request).await)) })
    }
}

/// Protobuf `CheckRequest` in; a `CheckResponse` or its bytes out.
struct CheckCodec;

impl Codec for CheckCodec {
    type Encode = Reply;
    type Decode = CheckRequest;
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
    type Item = CheckRequest;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<CheckRequest>, Status> {
        // A request that is not protobuf is a broken call, not a denial.
        CheckRequest::decode(buf)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}
