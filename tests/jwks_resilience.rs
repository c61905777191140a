//! Keys keep working when the issuer's JWKS endpoint misbehaves, and tokens
//! cannot make us hammer it.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{KeyServer, Serve, TEST_SERVER, TestApp, standard_config};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use serde_json::json;
use zt_authz::dev::{DevAlg, DevKeys};
use zt_authz::keys::{IssuerKeys, KeyStatus};

async fn fixture(extra_issuer_settings: &str) -> (KeyServer, KeyServer, TestApp) {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml = standard_config(&ks, &other).replace(
        "    refetch_cooldown: 10s",
        &format!("    refetch_cooldown: 10s\n{extra_issuer_settings}"),
    );
    let app = TestApp::start(&yaml).await;
    (ks, other, app)
}

fn keys_of(app: &TestApp, issuer: &str) -> Arc<IssuerKeys> {
    app.running
        .authorizer
        .snapshot()
        .verifier
        .trust(issuer)
        .unwrap()
        .keys
        .clone()
}

async fn allowed(app: &TestApp, token: &str) -> bool {
    let req = common::app::check_request("/orders", Some(token));
    matches!(
        app.check(&req).await.http_response,
        Some(HttpResponse::OkResponse(_))
    )
}

#[tokio::test]
async fn valid_tokens_pass_after_the_jwks_server_stops() {
    let (mut ks, _o, app) = fixture("").await;
    let token = ks.token(json!({}));
    ks.stop().await;
    let keys = keys_of(&app, &ks.issuer());
    keys.refresh().await;
    assert!(
        matches!(keys.status(), KeyStatus::Stale { .. }),
        "{:?}",
        keys.status()
    );
    assert!(allowed(&app, &token).await);
}

#[tokio::test]
async fn garbage_errors_and_hangs_keep_the_last_good_keys() {
    let (ks, _o, app) = fixture("    fetch_timeout: 300ms").await;
    let token = ks.token(json!({}));
    let keys = keys_of(&app, &ks.issuer());
    for serve in [
        Serve::Garbage,
        Serve::Error500,
        Serve::Document(json!({"keys": []})),
        Serve::Document(json!({"keys": "x"})),
        Serve::Hang,
    ] {
        ks.set(serve);
        let before = ks.hits();
        keys.refresh().await;
        assert_eq!(ks.hits(), before + 1, "a fetch was attempted");
        assert!(
            matches!(keys.status(), KeyStatus::Stale { .. }),
            "{:?}",
            keys.status()
        );
        assert!(allowed(&app, &token).await);
    }
    ks.set(Serve::Keys);
    keys.refresh().await;
    assert!(matches!(keys.status(), KeyStatus::Ready { keys: 3, .. }));
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_at_most_one_fetch() {
    let (ks, _o, app) = fixture("").await;
    let stranger = DevKeys::generate("stranger").unwrap();
    let before = ks.hits();
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let app = app.clone();
        let mut claims = ks.claims(json!({}));
        claims["jti"] = json!(format!("flood-{i}"));
        let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": format!("unknown-{i}")});
        let token = stranger.sign_raw(DevAlg::RS256, &header, &claims);
        tasks.push(tokio::spawn(async move { allowed(&app, &token).await }));
    }
    for t in tasks {
        assert!(!t.await.unwrap(), "an unknown kid was allowed");
    }
    let fetches = ks.hits() - before;
    assert!(fetches <= 1, "{fetches} JWKS fetches for 200 unknown kids");
    assert_eq!(fetches, 1, "the first unknown kid triggers one refetch");
}

#[tokio::test]
async fn a_removed_key_is_rejected_after_the_next_refresh() {
    let (ks, _o, app) = fixture("").await;
    let es = ks.keys.mint(DevAlg::ES256, &ks.claims(json!({})));
    assert!(allowed(&app, &es).await);
    let mut jwks = ks.keys.jwks();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["alg"] != "ES256");
    ks.set(Serve::Document(jwks));
    keys_of(&app, &ks.issuer()).refresh().await;
    assert!(!allowed(&app, &es).await);
    assert!(
        allowed(&app, &ks.token(json!({}))).await,
        "the remaining keys still verify"
    );
}

#[tokio::test]
async fn cache_control_sets_the_refresh_interval_within_bounds() {
    // The server sends max-age=300.
    let (ks, _o, app) = fixture("    refresh_interval: 10m").await;
    assert_eq!(
        keys_of(&app, &ks.issuer()).refresh().await,
        Duration::from_secs(300)
    );
    let (ks, _o, app) = fixture("    refresh_interval: 2m").await;
    assert_eq!(
        keys_of(&app, &ks.issuer()).refresh().await,
        Duration::from_secs(120)
    );
}

#[tokio::test]
async fn discovery_naming_another_issuer_is_refused() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    // Claim `other`'s discovery document belongs to a different issuer.
    let yaml = standard_config(&ks, &other).replace(
        &format!(
            "  - issuer: {o}\n    discovery_url: {o}",
            o = other.issuer()
        ),
        &format!(
            "  - issuer: https://idp.example\n    discovery_url: {o}",
            o = other.issuer()
        ),
    );
    let app = TestApp::start(&yaml).await;
    let status = keys_of(&app, "https://idp.example").status();
    assert!(
        matches!(&status, KeyStatus::Failed { error } if error.contains("names issuer")),
        "{status:?}"
    );
    assert!(!app.running.authorizer.snapshot().is_ready());
}

#[tokio::test]
async fn keys_from_a_local_file() {
    let keys = DevKeys::generate("file").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jwks.json"), keys.jwks().to_string()).unwrap();
    // The app writes its config into its own directory; point at ours.
    let yaml = format!(
        "server: {{ grpc_addr: 127.0.0.1:0, admin_addr: 127.0.0.1:0, reload_interval: 0s }}
issuers:
  - issuer: https://offline.example
    jwks_file: {}
    audiences: [orders-api]
policies:
  - name: all
    scopes: [orders:read]
",
        dir.path().join("jwks.json").display()
    );
    let app = TestApp::start(&yaml).await;
    let now = common::now();
    let claims = json!({"iss": "https://offline.example", "aud": "orders-api", "sub": "s", "iat": now, "exp": now + 60, "scope": "orders:read"});
    assert!(allowed(&app, &keys.mint(DevAlg::EdDSA, &claims)).await);
    let stranger = DevKeys::generate("file").unwrap();
    assert!(
        !allowed(&app, &stranger.mint(DevAlg::EdDSA, &claims)).await,
        "same kid, other key"
    );
}

/// A password or an API key in a key URL stays out of `/readyz`: the
/// failed fetch is shown with `***` in their place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_a_key_url_are_not_shown() {
    // A port nothing listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = format!(
        "{TEST_SERVER}issuers:\n  - issuer: https://secretive.example\n    \
         jwks_uri: http://user:s3cretpw@127.0.0.1:{closed}/jwks?api_key=K3YSECRET\n    \
         audiences: [orders-api]\npolicies: []\n"
    );
    let app = TestApp::start(&yaml).await;
    let readyz = reqwest::get(format!("{}/readyz", app.admin_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(readyz.contains("\"failed\""), "{readyz}");
    assert!(readyz.contains("***"), "{readyz}");
    for secret in ["s3cretpw", "K3YSECRET", "user:"] {
        assert!(!readyz.contains(secret), "{secret} in {readyz}");
    }
}
