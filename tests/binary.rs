//! The real `zt-authz` binary: CLI, gRPC health, reflection, Check over the
//! network, SIGHUP reload and graceful SIGTERM.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::process::{BIN, ChildGuard, connect, on_free_ports};
use common::{KeyServer, Serve, standard_config};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use serde_json::json;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_documents_both_commands() {
    let (ok, out, _) = run(&["--help"]);
    assert!(ok);
    assert!(
        out.contains("serve") && out.contains("check-config"),
        "{out}"
    );
}

#[test]
fn shipped_examples_pass_check_config() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for name in ["walkthrough.yaml", "production.yaml"] {
        let path = examples.join(name);
        let (ok, out, err) = run(&["check-config", "--config", path.to_str().unwrap()]);
        assert!(ok, "{name}: {err}");
        assert!(out.contains("policies in match order"), "{out}");
    }
    let (_, out, _) = run(&[
        "check-config",
        "--config",
        examples.join("production.yaml").to_str().unwrap(),
    ]);
    let order: Vec<usize> = [
        "1. health",
        "2. inventory-sync",
        "3. admin",
        "4. payments",
        "5. orders-read",
        "6. tenants",
        "       rego: data.zt.authz.result  sets: x-tenant",
        "7. catalogue",
    ]
    .iter()
    .map(|p| {
        out.find(p)
            .unwrap_or_else(|| panic!("{p} missing from:\n{out}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "policies out of order:\n{out}"
    );
}

#[test]
fn check_config_lists_every_error_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "issuers:\n  - issuer: https://i\n    jwks_uri: http://i.example/k\n    audiences: [a]\npolicies:\n  - name: p\n    tier: gold\n  - name: q\n    min_acr: x\n",
    )
    .unwrap();
    let (ok, _, err) = run(&["check-config", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    for p in [
        "issuers[0].jwks_uri",
        "policies[0].tier",
        "policies[1].min_acr",
        "3 errors",
    ] {
        assert!(err.contains(p), "{p} missing from:\n{err}");
    }
    let (ok, _, err) = run(&["check-config", "--config", "/nonexistent/zt.yaml"]);
    assert!(!ok && err.contains("cannot read"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_health_reflection_check_reload_and_graceful_stop() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    // The first key fetch hangs, so the service starts NOT_SERVING.
    ks.set(Serve::Hang);
    let (yaml, grpc, admin) = on_free_ports(&standard_config(&ks, &other));
    let yaml = yaml.replace(
        "    refetch_cooldown: 10s",
        "    refetch_cooldown: 10s\n    fetch_timeout: 1s",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zt-authz.yaml");
    std::fs::write(&config, &yaml).unwrap();
    let child = ChildGuard(
        Command::new(BIN)
            .args(["serve", "--config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let channel = connect(&format!("http://127.0.0.1:{grpc}")).await;

    // Health: NOT_SERVING until the keys arrive, then SERVING.
    let mut health = HealthClient::new(channel.clone());
    let service = "envoy.service.auth.v3.Authorization".to_string();
    let mut watch = health
        .watch(HealthCheckRequest {
            service: service.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::NotServing);
    let live = health
        .check(HealthCheckRequest {
            service: "liveness".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        live.status(),
        ServingStatus::Serving,
        "alive while waiting for keys"
    );
    let readyz = reqwest::get(format!("http://127.0.0.1:{admin}/readyz"))
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503);
    ks.set(Serve::Keys);
    let serving = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let m = watch.message().await.unwrap().unwrap();
            if m.status() == ServingStatus::Serving {
                return m;
            }
        }
    })
    .await
    .expect("SERVING after the keys arrived");
    assert_eq!(serving.status(), ServingStatus::Serving);
    let readyz: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{admin}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(readyz["ready"], true, "{readyz}");
    assert_eq!(readyz["issuers"].as_array().unwrap().len(), 2);

    // Reflection: what `grpcurl list` and `grpcurl describe` ask.
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let ask = |req: MessageRequest| {
        tokio_stream_once(ServerReflectionRequest {
            host: String::new(),
            message_request: Some(req),
        })
    };
    let mut resp = reflection
        .server_reflection_info(ask(MessageRequest::ListServices(String::new())))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        resp.message().await.unwrap().unwrap().message_response
    else {
        panic!("no service list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&service), "{names:?}");
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );
    let mut resp = reflection
        .server_reflection_info(ask(MessageRequest::FileContainingSymbol(
            "envoy.service.auth.v3.CheckRequest".into(),
        )))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        resp.message().await.unwrap().unwrap().message_response
    else {
        panic!("CheckRequest cannot be described")
    };
    assert!(!files.file_descriptor_proto.is_empty());

    // Check over the network.
    let mut authz = AuthorizationClient::new(channel.clone());
    let token = ks.token(json!({}));
    let allowed = |r: &envoy_types::pb::envoy::service::auth::v3::CheckResponse| {
        matches!(r.http_response, Some(HttpResponse::OkResponse(_)))
    };
    let req = common::app::check_request("/orders", Some(&token));
    assert!(allowed(
        &authz.check(req.clone()).await.unwrap().into_inner()
    ));

    // SIGHUP reloads: orders now need a scope the token lacks.
    std::fs::write(
        &config,
        yaml.replace(
            "scopes: [orders:read]",
            "scopes: [orders:read, orders:audit]",
        ),
    )
    .unwrap();
    child.signal("HUP");
    let mut reloaded = false;
    for _ in 0..200 {
        if !allowed(&authz.check(req.clone()).await.unwrap().into_inner()) {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(reloaded, "SIGHUP did not reload the config");

    // SIGTERM: a clean exit once in-flight calls are done. (An open health
    // Watch stream would count as in flight until the grace period ends.)
    drop((watch, health, reflection, authz, channel));
    child.signal("TERM");
    let status = child.exit_status().await;
    assert!(status.success(), "exit status {status}");
}

fn tokio_stream_once<T: Send + 'static>(
    item: T,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::iter(std::iter::once(item))
}
