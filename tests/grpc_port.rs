//! No caller can hold the gRPC port: its connections, streams, headers and
//! slow bodies are bounded, and what stays within the bounds is decided.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::app::check_request;
use common::{KeyServer, TestApp, standard_config};
use envoy_types::pb::envoy::service::auth::v3::CheckResponse;
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PATIENCE: Duration = Duration::from_secs(20);

async fn app_with(server: &str) -> (KeyServer, KeyServer, TestApp) {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml = standard_config(&ks, &other).replace(
        "  reload_interval: 0s\n",
        &format!("  reload_interval: 0s\n{server}"),
    );
    let app = TestApp::start(&yaml).await;
    (ks, other, app)
}

fn allowed(r: &CheckResponse) -> bool {
    matches!(r.http_response, Some(HttpResponse::OkResponse(_)))
}

/// Envoy passes a downstream `tracestate` on in the call's own headers; one
/// as long as Envoy accepts by default is decided, not refused by HTTP/2
/// with a 431 that `failure_mode_allow` would turn into an allow.
#[tokio::test]
async fn a_long_tracestate_is_decided_not_refused() {
    let (ks, _other, app) = app_with("").await;
    let mut client = AuthorizationClient::connect(app.grpc_url()).await.unwrap();
    let token = ks.token(json!({}));
    let mut request = tonic::Request::new(check_request("/orders", Some(&token)));
    let tracestate = format!("vendor={}", "a".repeat(100 * 1024));
    request
        .metadata_mut()
        .insert("tracestate", tracestate.parse().unwrap());
    let answer = client.check(request).await.expect("a decision");
    assert!(allowed(answer.get_ref()), "{answer:?}");
}

/// The server's HTTP/2 SETTINGS: 200 streams per connection, 256 KiB of
/// headers per call.
#[tokio::test]
async fn a_connection_is_offered_bounded_streams_and_headers() {
    let (_ks, _other, app) = app_with("").await;
    let mut conn = tokio::net::TcpStream::connect(app.running.grpc_addr)
        .await
        .unwrap();
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut head = [0u8; 9];
    tokio::time::timeout(PATIENCE, conn.read_exact(&mut head))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head[3], 4, "the server speaks first with SETTINGS");
    let length = usize::from(head[1]) << 8 | usize::from(head[2]);
    let mut payload = vec![0u8; length];
    conn.read_exact(&mut payload).await.unwrap();
    let settings: Vec<(u16, u32)> = payload
        .chunks_exact(6)
        .map(|s| {
            (
                u16::from_be_bytes([s[0], s[1]]),
                u32::from_be_bytes([s[2], s[3], s[4], s[5]]),
            )
        })
        .collect();
    assert!(settings.contains(&(3, 200)), "{settings:?}");
    assert!(settings.contains(&(6, 256 * 1024)), "{settings:?}");
}

/// Connections beyond `grpc_max_connections` wait to be accepted: idle
/// connections cannot take every file descriptor of the process, and a
/// waiting caller is served as soon as one closes.
#[tokio::test]
async fn connections_beyond_the_limit_wait_their_turn() {
    let (ks, _other, app) = app_with("  grpc_max_connections: 2\n").await;
    let token = ks.token(json!({}));
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut client = AuthorizationClient::connect(app.grpc_url()).await.unwrap();
        let answer = client
            .check(check_request("/orders", Some(&token)))
            .await
            .unwrap();
        assert!(allowed(answer.get_ref()));
        holders.push(client);
    }
    let url = app.grpc_url();
    let waiting_token = token.clone();
    let mut third = tokio::spawn(async move {
        let mut client = AuthorizationClient::connect(url).await.unwrap();
        client
            .check(check_request("/orders", Some(&waiting_token)))
            .await
            .unwrap()
            .into_inner()
    });
    assert!(
        tokio::time::timeout(Duration::from_secs(1), &mut third)
            .await
            .is_err(),
        "a third connection was served while two held the port"
    );
    drop(holders.pop());
    let answer = tokio::time::timeout(PATIENCE, third)
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert!(allowed(&answer), "{answer:?}");
}

/// A `Check` whose message never finishes arriving is denied once
/// `grpc_read_timeout` is up: the caller holds the stream no longer.
#[tokio::test]
async fn a_message_that_never_finishes_is_denied_after_the_read_timeout() {
    use futures_util::StreamExt;
    use http_body_util::{BodyExt, StreamBody};
    use prost::Message;
    use tonic::codegen::Service;
    let (_ks, _other, app) = app_with("  grpc_read_timeout: 300ms\n").await;
    let mut channel = common::process::connect(&app.grpc_url()).await;
    // A prefix declaring 100 bytes, 3 of them, then nothing, ever.
    let start = http_body::Frame::data(prost::bytes::Bytes::from_static(&[
        0, 0, 0, 0, 100, 1, 2, 3,
    ]));
    let body = StreamBody::new(
        futures_util::stream::iter([Ok::<_, std::convert::Infallible>(start)])
            .chain(futures_util::stream::pending()),
    );
    let request = http::Request::builder()
        .method("POST")
        .uri(format!(
            "{}/envoy.service.auth.v3.Authorization/Check",
            app.grpc_url()
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(body))
        .unwrap();
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .unwrap();
    let response = tokio::time::timeout(PATIENCE, channel.call(request))
        .await
        .expect("answered")
        .unwrap();
    assert!(!response.headers().contains_key("grpc-status"));
    let whole = tokio::time::timeout(PATIENCE, response.into_body().collect())
        .await
        .expect("the answer ends")
        .unwrap();
    let status = whole.trailers().and_then(|t| t.get("grpc-status").cloned());
    assert_eq!(status.as_ref().map(|s| s.as_bytes()), Some(&b"0"[..]));
    let bytes = whole.to_bytes();
    let answer = CheckResponse::decode(&bytes[5..]).unwrap();
    match answer.http_response {
        Some(HttpResponse::DeniedResponse(d)) => {
            assert_eq!(d.status.unwrap().code, 400);
        }
        other => panic!("{other:?}"),
    }
}
