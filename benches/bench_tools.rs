//! Helpers for the load scripts (`benches/run.sh`), built with
//! `cargo bench --no-run`:
//!
//! - `noop-server ADDR`: an ext_authz server that allows everything, the
//!   baseline every ratio is measured against;
//! - `noop-server ADDR ANSWER`: the same, answering every Check with the
//!   encoded `CheckResponse` in the file ANSWER (zt-authz's own allow, as
//!   `answer` saves it): what Envoy's handling of that answer costs, with
//!   no decision made;
//! - `verifying-noop-server ADDR JWKS`: the no-op server that first
//!   verifies the RS256 signature of the request's bearer token with the
//!   RSA key in the key set JWKS, as zt-authz verifies it (`VerifyKey`),
//!   and denies a Check whose signature does not verify: the floor of an
//!   uncached Check, at the rate and batching an uncached Check runs at;
//! - `keys DIR`: a dev key set `DIR/jwks.json` and, for each of RS256, ES256
//!   and EdDSA, `DIR/token-ALG` (valid for an hour) and `DIR/check-ALG.bin`
//!   (a gRPC-framed `CheckRequest` carrying it), plus `check-revoked.bin`
//!   (a token with `jti` soak-revoked) and `check-forged.bin` (a bad
//!   signature);
//! - `check ADDR FILE`: sends the framed request in FILE once and prints the
//!   decision, to make sure a load run measures allows;
//! - `answer ADDR FILE OUT`: sends it once and saves the encoded response;
//! - `protoset FILE`: the ext_authz descriptor set, for `ghz --protoset`;
//! - `raw-verify ALG N`: nanoseconds per signature verification as
//!   zt-authz makes it (`VerifyKey::verify`), the floor of the uncached path;
//! - `raw-verify-jsonwebtoken ALG N`: the same through jsonwebtoken's
//!   `crypto::verify`, which rebuilds an RSA key on every call.
//!
//! Without arguments (as under `cargo test`) it checks its own encoding.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use envoy_types::pb::envoy::service::auth::v3::authorization_server::{
    Authorization, AuthorizationServer,
};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{CheckRequest, CheckResponse, OkHttpResponse};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use prost::Message;
use prost::bytes::Bytes;
use tonic::server::NamedService;
use zt_authz::dev::{DevAlg, DevKeys};
use zt_authz::grpc::unary;

struct AllowAll;

#[tonic::async_trait]
impl Authorization for AllowAll {
    async fn check(
        &self,
        _: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        Ok(tonic::Response::new(CheckResponse {
            status: Some(RpcStatus::default()),
            http_response: Some(HttpResponse::OkResponse(OkHttpResponse::default())),
            dynamic_metadata: None,
        }))
    }
}

/// `AllowAll` after the signature check an uncached Check cannot skip, and
/// nothing else: no claims read, no policy, no answer built.
struct VerifyThenAllow(zt_authz::keys::VerifyKey);

#[tonic::async_trait]
impl Authorization for VerifyThenAllow {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let token = request
            .get_ref()
            .attributes
            .as_ref()
            .and_then(|a| a.request.as_ref())
            .and_then(|r| r.http.as_ref())
            .and_then(|h| h.headers.get("authorization"))
            .and_then(|v| v.strip_prefix("Bearer "));
        let verified = token
            .and_then(|t| t.rsplit_once('.'))
            .is_some_and(|(input, signature)| {
                self.0
                    .verify(jsonwebtoken::Algorithm::RS256, input.as_bytes(), signature)
            });
        let answer = if verified {
            HttpResponse::OkResponse(OkHttpResponse::default())
        } else {
            HttpResponse::DeniedResponse(Default::default())
        };
        Ok(tonic::Response::new(CheckResponse {
            status: Some(RpcStatus::default()),
            http_response: Some(answer),
            dynamic_metadata: None,
        }))
    }
}

/// The key of the key set in `file` that verifies RS256.
fn rs256_key(file: &str) -> zt_authz::keys::VerifyKey {
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    set.keys
        .iter()
        .filter_map(zt_authz::keys::VerifyKey::from_jwk)
        .find(|k| k.fits(jsonwebtoken::Algorithm::RS256))
        .expect("an RSA key")
}

/// Every Check gets the same answer, decided and encoded once elsewhere,
/// and sent as those bytes, framed as zt-authz frames its answers: what
/// the answer costs to send, with no decision and no encoding. The request
/// is decoded as the no-op server decodes it.
#[derive(Clone)]
struct Canned(Bytes);

impl NamedService for Canned {
    const NAME: &'static str = "envoy.service.auth.v3.Authorization";
}

impl tonic::codegen::Service<http::Request<tonic::body::Body>> for Canned {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let answer = self.0.clone();
        Box::pin(async move {
            let budget = tokio::sync::Semaphore::new(unary::READ_BUDGET);
            let message = unary::read_message(request.into_body(), &budget).await;
            let decoded = message.ok().and_then(|m| CheckRequest::decode(m).ok());
            assert!(decoded.is_some(), "a CheckRequest");
            let mut buffer = unary::answer_buffer(answer.len());
            buffer.extend_from_slice(&answer);
            let framed = unary::Answer::framed(buffer).expect("a short answer");
            Ok(framed.map(tonic::body::Body::new))
        })
    }
}

/// Serves `service` on `addr` through tonic's server until killed.
fn serve<S>(addr: &str, service: S)
where
    S: tonic::codegen::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            )
            .await
            .unwrap();
    });
}

fn alg(name: &str) -> DevAlg {
    match name {
        "RS256" => DevAlg::RS256,
        "ES256" => DevAlg::ES256,
        "EdDSA" => DevAlg::EdDSA,
        other => panic!("unknown alg {other}"),
    }
}

/// The 5-byte gRPC message prefix (uncompressed, big-endian length) + body.
fn grpc_frame(message: &impl Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut framed = Vec::with_capacity(body.len() + 5);
    framed.push(0);
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(&body);
    framed
}

fn write_keys(dir: &Path) {
    let keys = DevKeys::generate("load").unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("jwks.json"), keys.jwks().to_string()).unwrap();
    for alg in DevAlg::ALL {
        let mut claims = support::claims("load-jti");
        claims["exp"] = serde_json::json!(support::now() + 3600);
        let token = keys.mint(alg, &claims);
        std::fs::write(dir.join(format!("token-{}", alg.name())), &token).unwrap();
        std::fs::write(
            dir.join(format!("check-{}.bin", alg.name())),
            grpc_frame(&support::request(&token)),
        )
        .unwrap();
    }
    // For the soak: a token to be revoked, and a forged one.
    let mut claims = support::claims("soak-revoked");
    claims["exp"] = serde_json::json!(support::now() + 3600);
    let revoked = keys.mint(DevAlg::RS256, &claims);
    std::fs::write(
        dir.join("check-revoked.bin"),
        grpc_frame(&support::request(&revoked)),
    )
    .unwrap();
    let forged = format!(
        "{}.{}",
        revoked.rsplit_once('.').unwrap().0,
        "A".repeat(342)
    );
    std::fs::write(
        dir.join("check-forged.bin"),
        grpc_frame(&support::request(&forged)),
    )
    .unwrap();
}

async fn answer(addr: &str, file: &str) -> CheckResponse {
    use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
    let framed = std::fs::read(file).unwrap();
    let request = CheckRequest::decode(&framed[5..]).unwrap();
    let mut client = AuthorizationClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    client.check(request).await.unwrap().into_inner()
}

async fn check_once(addr: &str, file: &str) -> String {
    match answer(addr, file).await.http_response {
        Some(HttpResponse::OkResponse(_)) => "allow".into(),
        Some(HttpResponse::DeniedResponse(d)) => format!("deny {}", d.body),
        other => format!("unexpected {other:?}"),
    }
}

/// How a raw verification is made: as zt-authz does (`VerifyKey`, whose
/// RSA keys are parsed once), or as jsonwebtoken's own `crypto::verify`
/// does from the JWK (an RSA key rebuilt from its components each time).
#[derive(Clone, Copy)]
enum RawVerify {
    ZtAuthz,
    Jsonwebtoken,
}

fn raw_verify(alg: DevAlg, n: u32, how: RawVerify) -> f64 {
    zt_authz::install_crypto_provider();
    let keys = DevKeys::generate("raw").unwrap();
    let token = keys.mint(alg, &support::claims("raw"));
    let (input, signature) = token.rsplit_once('.').unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(keys.jwk(alg)).unwrap();
    let key = zt_authz::keys::VerifyKey::from_jwk(&jwk).unwrap();
    let algorithm: jsonwebtoken::Algorithm = alg.name().parse().unwrap();
    let verify = || match how {
        RawVerify::ZtAuthz => key.verify(algorithm, input.as_bytes(), signature),
        RawVerify::Jsonwebtoken => {
            jsonwebtoken::crypto::verify(signature, input.as_bytes(), key.decoding(), algorithm)
                .unwrap()
        }
    };
    assert!(verify(), "the first verification");
    let start = Instant::now();
    for _ in 0..n {
        assert!(verify());
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

/// The verifying no-op server allows the load request and denies it with
/// its signature cut short.
fn verifying_noop_decides_by_the_signature() {
    zt_authz::install_crypto_provider();
    let keys = DevKeys::generate("smoke").unwrap();
    let dir = std::env::temp_dir().join(format!("zt-bench-tools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, keys.jwks().to_string()).unwrap();
    let server = VerifyThenAllow(rs256_key(jwks.to_str().unwrap()));
    std::fs::remove_dir_all(&dir).unwrap();
    let token = keys.mint(DevAlg::RS256, &support::claims("smoke"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let decide = |token: &str| {
        let answer = rt
            .block_on(server.check(tonic::Request::new(support::request(token))))
            .unwrap();
        matches!(
            answer.into_inner().http_response,
            Some(HttpResponse::OkResponse(_))
        )
    };
    assert!(decide(&token));
    assert!(!decide(&token[..token.len() - 2]));
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["noop-server", addr] => serve(addr, AuthorizationServer::new(AllowAll)),
        ["noop-server", addr, file] => {
            let bytes = std::fs::read(file).unwrap();
            CheckResponse::decode(&bytes[..]).expect("a CheckResponse");
            serve(addr, Canned(Bytes::from(bytes)));
        }
        ["verifying-noop-server", addr, jwks] => serve(
            addr,
            AuthorizationServer::new(VerifyThenAllow(rs256_key(jwks))),
        ),
        ["keys", dir] => write_keys(Path::new(dir)),
        ["check", addr, file] => {
            let rt = tokio::runtime::Runtime::new().unwrap();
            println!("{}", rt.block_on(check_once(addr, file)));
        }
        ["answer", addr, file, out] => {
            let rt = tokio::runtime::Runtime::new().unwrap();
            std::fs::write(out, rt.block_on(answer(addr, file)).encode_to_vec()).unwrap();
        }
        ["protoset", file] => std::fs::write(file, zt_authz::grpc::DESCRIPTOR_SET).unwrap(),
        ["raw-verify", name, n] => println!(
            "{:.0}",
            raw_verify(alg(name), n.parse().unwrap(), RawVerify::ZtAuthz)
        ),
        ["raw-verify-jsonwebtoken", name, n] => println!(
            "{:.0}",
            raw_verify(alg(name), n.parse().unwrap(), RawVerify::Jsonwebtoken)
        ),
        [] => {
            // Smoke: a framed request decodes back to what was encoded.
            let request = support::request("a.b.c");
            let framed = grpc_frame(&request);
            let len = u32::from_be_bytes(framed[1..5].try_into().unwrap()) as usize;
            assert_eq!(CheckRequest::decode(&framed[5..5 + len]).unwrap(), request);
            verifying_noop_decides_by_the_signature();
            for alg in DevAlg::ALL {
                assert!(raw_verify(alg, 10, RawVerify::ZtAuthz) > 0.0);
                assert!(raw_verify(alg, 10, RawVerify::Jsonwebtoken) > 0.0);
            }
        }
        other => panic!(
            "unknown command {other:?}; see the comment at the top of benches/bench_tools.rs"
        ),
    }
}
