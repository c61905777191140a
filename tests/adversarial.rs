//! Hostile input gets a clear denial, quickly, and costs no lasting memory.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::app::check_request;
use common::{KeyServer, Serve, TestApp, standard_config};
use envoy_types::pb::envoy::service::auth::v3::CheckResponse;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use serde_json::{Value, json};
use zt_authz::dev::DevAlg;
use zt_authz::keys::KeyStatus;

fn denial(r: &CheckResponse) -> Option<(i32, String)> {
    match r.http_response.as_ref()? {
        HttpResponse::DeniedResponse(d) => {
            let body: Value = serde_json::from_str(&d.body).unwrap();
            Some((
                d.status.as_ref().unwrap().code,
                body["error_description"].as_str().unwrap().to_string(),
            ))
        }
        _ => None,
    }
}

async fn fixture(extra: &str) -> (KeyServer, KeyServer, TestApp) {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml = standard_config(&ks, &other).replace(
        "    refetch_cooldown: 10s",
        &format!("    refetch_cooldown: 10s\n{extra}"),
    );
    let app = TestApp::start(&yaml).await;
    (ks, other, app)
}

#[tokio::test]
async fn thousands_of_large_headers_are_just_a_missing_token() {
    let (_ks, _o, app) = fixture("").await;
    let mut req = check_request("/orders", None);
    let headers = &mut common::app::http_mut(&mut req).headers;
    for i in 0..5000 {
        headers.insert(format!("x-junk-{i}"), "v".repeat(200));
    }
    let started = Instant::now();
    let r = app.check(&req).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(denial(&r).unwrap().0, 401);
}

#[tokio::test]
async fn deeply_nested_claims_are_refused() {
    let (ks, _o, app) = fixture("").await;
    // Within the token size limit, far beyond any sane nesting. Written by
    // hand: serde_json will not build a value nested this deep.
    let payload = ks.claims(json!({})).to_string();
    let deep = format!(
        "{},\"deep\":{}1{}}}",
        &payload[..payload.len() - 1],
        "[".repeat(1500),
        "]".repeat(1500)
    );
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": ks.keys.kid(DevAlg::RS256)});
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let input = format!("{}.{}", b64(&header.to_string()), b64(&deep));
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(ks.keys.sign_bytes(DevAlg::RS256, input.as_bytes()));
    let token = format!("{input}.{sig}");
    assert!(token.len() < 8192, "{} bytes", token.len());
    let (status, description) =
        denial(&app.check(&check_request("/orders", Some(&token))).await).unwrap();
    assert_eq!(status, 401);
    assert!(description.contains("payload"), "{description}");
}

#[tokio::test]
async fn many_audiences_are_bounded_by_the_token_size() {
    let (ks, _o, app) = fixture("").await;
    let mut audiences: Vec<String> = (0..500).map(|i| format!("a{i}")).collect();
    audiences.push("orders-api".into());
    let token = ks.token(json!({"aud": audiences}));
    assert!(token.len() < 8192);
    assert!(
        denial(&app.check(&check_request("/orders", Some(&token))).await).is_none(),
        "a matching audience among many"
    );
    let too_many: Vec<String> = (0..5000).map(|i| format!("a{i}")).collect();
    let token = ks.token(json!({"aud": too_many}));
    let (status, description) =
        denial(&app.check(&check_request("/orders", Some(&token))).await).unwrap();
    assert_eq!(status, 401);
    assert!(
        description.contains("larger than the configured limit"),
        "{description}"
    );
}

#[tokio::test]
async fn huge_and_crowded_key_sets_are_refused_and_the_old_keys_kept() {
    let (ks, _o, app) = fixture("").await;
    let keys = app
        .running
        .authorizer
        .snapshot()
        .verifier
        .trust(&ks.issuer())
        .unwrap()
        .keys
        .clone();
    let token = ks.token(json!({}));
    let one = ks.keys.jwk(DevAlg::RS256);
    let cases = [
        (
            "a thousand keys",
            json!({"keys": vec![one.clone(); 1000]}),
            "more than the 256",
        ),
        (
            "over a MiB",
            json!({"keys": [one.clone()], "padding": "x".repeat(2 * 1024 * 1024)}),
            "more than 1048576 bytes",
        ),
    ];
    for (name, doc, expected) in cases {
        ks.set(Serve::Document(doc));
        keys.refresh().await;
        match keys.status() {
            KeyStatus::Stale { error, .. } => assert!(error.contains(expected), "{name}: {error}"),
            other => panic!("{name}: {other:?}"),
        }
        assert!(
            denial(&app.check(&check_request("/orders", Some(&token))).await).is_none(),
            "{name}"
        );
    }
}

/// A JWKS endpoint that answers one byte at a time, slowly, or hangs up at
/// once: the fetch gives up within its timeout and the old keys stay.
#[tokio::test]
async fn slow_drip_and_reset_key_endpoints_hit_the_timeout() {
    use tokio::io::AsyncWriteExt;
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    for mode in ["drip", "reset"] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                if mode == "reset" {
                    drop(sock);
                    continue;
                }
                tokio::spawn(async move {
                    let _ = sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"keys\": [").await;
                    loop {
                        if sock.write_all(b" ").await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                });
            }
        });
        // The other issuer's keys come from the misbehaving endpoint.
        let yaml = standard_config(&ks, &other)
            .replace(
                &format!(
                    "discovery_url: {}/.well-known/openid-configuration",
                    other.issuer()
                ),
                &format!("jwks_uri: http://{addr}/jwks.json\n    fetch_timeout: 500ms"),
            )
            .replace(
                "  reload_interval: 0s",
                "  reload_interval: 0s\n  start_without_keys: true",
            );
        let app = TestApp::start(&yaml).await;
        let keys = app
            .running
            .authorizer
            .snapshot()
            .verifier
            .trust(&other.issuer())
            .unwrap()
            .keys
            .clone();
        let started = Instant::now();
        keys.refresh().await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{mode}: {:?}",
            started.elapsed()
        );
        assert!(
            matches!(keys.status(), KeyStatus::Failed { .. }),
            "{mode}: {:?}",
            keys.status()
        );
        // The healthy issuer is unaffected.
        assert!(
            denial(
                &app.check(&check_request("/orders", Some(&ks.token(json!({})))))
                    .await
            )
            .is_none()
        );
        server.abort();
    }
}

/// A `CheckRequest` over gRPC's 4 MiB (Envoy sends one with a large
/// `with_request_body`) is a denial, never the gRPC error Envoy would hand
/// to `failure_mode_allow`; one just under it is decided as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_request_too_large_to_read_is_a_denial_not_an_error() {
    use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&standard_config(&ks, &other)).await;
    let mut client = AuthorizationClient::connect(app.grpc_url()).await.unwrap();
    let token = ks.token(json!({}));
    let with_body = |bytes: usize| {
        let mut request = check_request("/orders", Some(&token));
        common::app::http_mut(&mut request).body = "x".repeat(bytes);
        request
    };
    let huge = client
        .check(with_body(5 * 1024 * 1024))
        .await
        .expect("a denial, not a gRPC error")
        .into_inner();
    let (status, description) = denial(&huge).expect("denied");
    assert_eq!(status, 413);
    assert!(description.contains("larger"), "{description}");
    let fits = client
        .check(with_body(3 * 1024 * 1024))
        .await
        .unwrap()
        .into_inner();
    assert!(
        matches!(fits.http_response, Some(HttpResponse::OkResponse(_))),
        "{fits:?}"
    );
}

/// A string field that is not UTF-8 in a `CheckRequest` (Envoy replaces
/// such bytes, so only a direct caller sends one). envoy-types' decoding
/// refuses the whole message, which as a gRPC error would go to Envoy's
/// `failure_mode_allow`; read in place, it is a 400 denial where the
/// decision reads the field, and no obstacle where it does not. Bytes
/// that are no `CheckRequest` at all are a 400 denial too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_cannot_be_read_is_a_denial_not_an_error() {
    use prost::Message;
    use prost::bytes::Bytes;
    use zt_authz::grpc::wire::{CheckFields, Entry};
    let (ks, _other, app) = fixture("").await;
    let channel = common::process::connect(&app.grpc_url()).await;
    let token = ks.token(json!({}));
    let check = |header: &'static str, value: Vec<u8>| {
        let request = check_request("/orders", Some(&token)).encode_to_vec();
        let mut fields = CheckFields::decode(request.as_slice()).unwrap();
        let attributes = fields.attributes.as_mut().unwrap();
        let http = attributes.request.as_mut().unwrap().http.as_mut().unwrap();
        http.headers.push(Entry {
            key: Bytes::from_static(header.as_bytes()),
            value: Bytes::from(value),
        });
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        async move {
            grpc.ready().await.unwrap();
            grpc.unary(
                tonic::Request::new(fields),
                "/envoy.service.auth.v3.Authorization/Check"
                    .parse()
                    .unwrap(),
                tonic_prost::ProstCodec::<_, CheckResponse>::default(),
            )
            .await
            .map(tonic::Response::into_inner)
        }
    };
    let spoofed = check("x-request-id", b"r-\xff".to_vec())
        .await
        .expect("a denial, not a gRPC error");
    let (status, description) = denial(&spoofed).expect("denied");
    assert_eq!(status, 400);
    assert!(description.contains("UTF-8"), "{description}");
    let unread = check("x-unread", b"\xff".to_vec()).await.unwrap();
    assert!(
        matches!(unread.http_response, Some(HttpResponse::OkResponse(_))),
        "{unread:?}"
    );
    // Not a CheckRequest at all: `attributes` as a number.
    #[derive(Clone, PartialEq, prost::Message)]
    struct NumberedAttributes {
        #[prost(uint64, tag = "1")]
        attributes: u64,
    }
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let garbled = grpc
        .unary(
            tonic::Request::new(NumberedAttributes { attributes: 7 }),
            "/envoy.service.auth.v3.Authorization/Check"
                .parse()
                .unwrap(),
            tonic_prost::ProstCodec::<_, CheckResponse>::default(),
        )
        .await
        .expect("a denial, not a gRPC error")
        .into_inner();
    let (status, description) = denial(&garbled).expect("denied");
    assert_eq!(status, 400);
    assert!(description.contains("not protobuf"), "{description}");
}

/// A call that is not one whole gRPC message (a message cut short, no
/// message at all, a bad or unsupported compression flag, a second message)
/// is a 400 denial too, never the gRPC error Envoy would hand to
/// `failure_mode_allow`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_call_that_cannot_be_framed_is_a_denial_not_an_error() {
    use http_body_util::{BodyExt, Full};
    use prost::Message;
    use prost::bytes::Bytes;
    use tonic::codegen::Service;
    let (_ks, _other, app) = fixture("").await;
    let channel = common::process::connect(&app.grpc_url()).await;
    let call = |body: &'static [u8], encoding: Option<&'static str>| {
        let mut channel = channel.clone();
        let mut request = http::Request::builder()
            .method("POST")
            .uri(format!(
                "{}/envoy.service.auth.v3.Authorization/Check",
                app.grpc_url()
            ))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if let Some(e) = encoding {
            request = request.header("grpc-encoding", e);
        }
        let request = request
            .body(tonic::body::Body::new(Full::new(Bytes::from_static(body))))
            .unwrap();
        async move {
            std::future::poll_fn(|cx| channel.poll_ready(cx))
                .await
                .unwrap();
            let response = channel.call(request).await.unwrap();
            assert!(
                !response.headers().contains_key("grpc-status"),
                "a gRPC error: {:?}",
                response.headers()
            );
            let whole = response.into_body().collect().await.unwrap();
            let status = whole.trailers().and_then(|t| t.get("grpc-status").cloned());
            assert_eq!(status.as_ref().map(|s| s.as_bytes()), Some(&b"0"[..]));
            let bytes = whole.to_bytes();
            CheckResponse::decode(&bytes[5..]).unwrap()
        }
    };
    for (body, encoding) in [
        (&b""[..], None),
        (&[0, 0, 0, 0, 10, 1, 2][..], None),
        (&[7, 0, 0, 0, 0][..], None),
        (&[1, 0, 0, 0, 2, 8, 1][..], None),
        (&[1, 0, 0, 0, 2, 8, 1][..], Some("gzip")),
        // Two messages in a unary call: neither is decided on.
        (&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..], None),
    ] {
        let answer = call(body, encoding).await;
        let (status, description) = denial(&answer).expect("denied");
        assert_eq!(status, 400, "{body:?} {encoding:?}");
        assert!(description.contains("not protobuf"), "{description}");
    }
}
