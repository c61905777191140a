//! The gRPC port as one hyper service: `Check` is read, decided and
//! answered here, and everything else (health, reflection, unknown
//! methods) goes to tonic's routes.
//!
//! `Check` skips tonic's server stack. Its layers and router box the body
//! and the future of every call several times over and read headers no
//! `Check` needs; on the cached path they cost as much as the decision.
//! What they did for `Check` is done in `unary`: one message in, one out.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::service::auth::v3::CheckResponse;
use http_body_util::Either;
use hyper::body::Incoming;
use prost::Message;
use tokio::sync::Semaphore;
use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::service::Routes;

use super::CheckService;
use super::check::Reply;
use super::unary::{Answer, READ_BUDGET, answer_buffer, arrival_cost, read_message};
use super::wire::CheckMessage;
use crate::decision::DenyReason;

/// The one method Envoy calls.
const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

/// What the port answers: a `Check` answer, or whatever tonic's routes
/// send.
pub type PortBody = Either<Answer, Body>;

type Answering = Pin<Box<dyn Future<Output = Result<http::Response<PortBody>, Infallible>> + Send>>;

/// Every call on the gRPC port.
#[derive(Clone)]
pub struct GrpcPort {
    check: Arc<CheckService>,
    others: Routes,
    /// Room for the calls being read and decided (`unary::READ_BUDGET`).
    budget: Arc<Semaphore>,
    /// How long a call's message may take to arrive. Envoy sends it at
    /// once and gives up on its own deadline far sooner; a caller that
    /// trickles a body, or never ends it, holds a stream and its bytes no
    /// longer.
    read_timeout: Duration,
}

impl GrpcPort {
    /// `check` answers `Check`, reading each call for at most
    /// `read_timeout`; `others` answer every other path.
    pub fn new(check: CheckService, others: Routes, read_timeout: Duration) -> Self {
        Self {
            check: Arc::new(check),
            others: others.prepare(),
            budget: Arc::new(Semaphore::new(READ_BUDGET)),
            read_timeout,
        }
    }
}

impl hyper::service::Service<http::Request<Incoming>> for GrpcPort {
    type Response = http::Response<PortBody>;
    type Error = Infallible;
    type Future = Answering;

    fn call(&self, request: http::Request<Incoming>) -> Answering {
        if request.uri().path() == CHECK_PATH {
            let (service, budget) = (self.check.clone(), self.budget.clone());
            let read_timeout = self.read_timeout;
            return Box::pin(
                async move { Ok(check(&service, &budget, read_timeout, request).await) },
            );
        }
        let mut others = self.others.clone();
        Box::pin(async move {
            let Ok(response) = others.call(request.map(Body::new)).await;
            Ok(response.map(Either::Right))
        })
    }
}

/// One `Check` call, answered: never a gRPC error, which Envoy would hand
/// to `failure_mode_allow`. A call that cannot be read is a denial.
async fn check(
    service: &CheckService,
    budget: &Semaphore,
    read_timeout: Duration,
    request: http::Request<Incoming>,
) -> http::Response<PortBody> {
    // Held until the answer is built: the headers and the message live
    // that long. No room is a denial at once, not a wait.
    let share = u32::try_from(arrival_cost(request.headers()))
        .ok()
        .and_then(|cost| budget.try_acquire_many(cost).ok());
    let (parts, body) = request.into_parts();
    let read = match &share {
        None => Err(DenyReason::Busy),
        Some(_) => tokio::time::timeout(read_timeout, read_message(body, budget))
            .await
            .unwrap_or(Err(DenyReason::UnreadableRequest)),
    };
    let reply = match read {
        Ok(message) => {
            let request = tonic::Request::from_http(http::Request::from_parts(
                parts,
                CheckMessage::decode(message),
            ));
            service.reply(&request).await
        }
        Err(refused) => Reply::Message(Box::new(service.refuse(refused))),
    };
    // Only an answer over 4 GiB (a Rego denial body) has no gRPC prefix:
    // it is the denial of a service that cannot answer instead.
    let answer = Answer::framed(written(reply)).or_else(|| {
        tracing::error!("an answer too large to frame; denied");
        Answer::framed(encoded(&Reply::unanswerable()))
    });
    match answer {
        Some(answer) => answer.map(Either::Left),
        // That denial is a few dozen bytes; not framing it is a failure of
        // the service itself.
        None => tonic::Status::internal("no answer could be framed")
            .into_http()
            .map(Either::Right),
    }
}

/// `reply` written after room for its gRPC prefix.
fn written(reply: Reply) -> Vec<u8> {
    match reply {
        Reply::Message(response) => encoded(&response),
        Reply::Written(bytes) => copied(&bytes),
        Reply::Encoded(bytes) => copied(&bytes),
        Reply::Kept(claims) => match Reply::kept_bytes(&claims) {
            Ok(bytes) => copied(bytes),
            Err(denial) => encoded(&denial),
        },
    }
}

fn encoded(response: &CheckResponse) -> Vec<u8> {
    let mut buffer = answer_buffer(response.encoded_len());
    // A Vec grows as needed: encoding into one cannot fail.
    let _ = response.encode(&mut buffer);
    buffer
}

fn copied(bytes: &[u8]) -> Vec<u8> {
    let mut buffer = answer_buffer(bytes.len());
    buffer.extend_from_slice(bytes);
    buffer
}
