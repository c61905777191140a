//! Failing dependencies and shutdown: decisions keep coming, or the caller
//! is told the service is gone, never a wrong answer.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::app::check_request;
use common::process::{BIN, ChildGuard, connect, on_free_ports};
use common::{KeyServer, Serve, standard_config};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use serde_json::json;
use zt_authz::dev::{DevAlg, DevKeys};

/// SIGTERM while checks are in flight, one of them waiting on a hung key
/// fetch: every in-flight check completes with a decision, and the process
/// exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_lets_in_flight_checks_finish() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let (yaml, grpc, _) = on_free_ports(&standard_config(&ks, &other));
    let yaml = yaml.replace(
        "    refetch_cooldown: 10s",
        "    refetch_cooldown: 10s\n    fetch_timeout: 2s",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zt-authz.yaml");
    std::fs::write(&config, yaml).unwrap();
    let child = ChildGuard(
        Command::new(BIN)
            .args(["serve", "--config", config.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let channel = connect(&format!("http://127.0.0.1:{grpc}")).await;
    let token = ks.token(json!({}));
    let mut client = AuthorizationClient::new(channel.clone());
    for _ in 0..200 {
        let r = client
            .check(check_request("/orders", Some(&token)))
            .await
            .unwrap()
            .into_inner();
        if matches!(r.http_response, Some(HttpResponse::OkResponse(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // A check that waits on a hung key refetch (unknown kid).
    ks.set(Serve::Hang);
    let stranger = DevKeys::generate("rotated")
        .unwrap()
        .mint(DevAlg::ES256, &ks.claims(json!({})));
    let mut slow_client = AuthorizationClient::new(channel.clone());
    let slow = tokio::spawn(async move {
        slow_client
            .check(check_request("/orders", Some(&stranger)))
            .await
    });
    // And a steady stream of ordinary checks.
    let mut load = Vec::new();
    for _ in 0..4 {
        let mut c = AuthorizationClient::new(channel.clone());
        let t = token.clone();
        load.push(tokio::spawn(async move {
            let (mut decided, mut refused) = (0u32, 0u32);
            for _ in 0..100_000 {
                match c.check(check_request("/orders", Some(&t))).await {
                    Ok(r) => {
                        let r = r.into_inner();
                        assert!(
                            r.status.is_some() && r.http_response.is_some(),
                            "a response without a decision"
                        );
                        decided += 1;
                    }
                    // The server is closing and did not take the call: the
                    // transport says so (Envoy then fails closed). An error
                    // the service itself returned would carry no transport
                    // error as its source.
                    Err(status) => {
                        let from_transport = std::error::Error::source(&status)
                            .is_some_and(|e| e.downcast_ref::<tonic::transport::Error>().is_some());
                        assert!(
                            from_transport
                                || matches!(
                                    status.code(),
                                    tonic::Code::Unavailable | tonic::Code::Cancelled
                                ),
                            "{status}"
                        );
                        refused += 1;
                        break;
                    }
                }
            }
            (decided, refused)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.signal("TERM");

    let slow = slow
        .await
        .unwrap()
        .expect("the in-flight check got a decision")
        .into_inner();
    match slow.http_response {
        Some(HttpResponse::DeniedResponse(d)) => assert_eq!(d.status.unwrap().code, 401),
        other => panic!("{other:?}"),
    }
    for task in load {
        let (decided, _) = task.await.unwrap();
        assert!(decided > 0);
    }
    let status = child.exit_status().await;
    assert!(status.success(), "exit status {status}");
}
