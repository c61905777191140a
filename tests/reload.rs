//! Config reload: a good file is applied whole, a bad one is refused and the
//! running config keeps deciding.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::app::check_request;
use common::{KeyServer, TestApp, standard_config};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use serde_json::json;

async fn allowed(app: &TestApp, path: &str, token: &str) -> bool {
    matches!(
        app.check(&check_request(path, Some(token)))
            .await
            .http_response,
        Some(HttpResponse::OkResponse(_))
    )
}

#[tokio::test]
async fn explicit_reload_applies_good_and_refuses_bad_configs() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml = standard_config(&ks, &other);
    let app = TestApp::start(&yaml).await;
    let token = ks.token(json!({}));
    assert!(allowed(&app, "/orders", &token).await);

    // A good change: orders now need a scope the token lacks.
    std::fs::write(
        &app.config_path,
        yaml.replace(
            "scopes: [orders:read]",
            "scopes: [orders:read, orders:audit]",
        ),
    )
    .unwrap();
    app.running.reloader.reload().await.unwrap();
    assert_eq!(app.running.reloader.applied(), 1);
    assert!(!allowed(&app, "/orders", &token).await);
    // Keys of unchanged issuers were kept, not refetched from scratch.
    assert!(app.running.authorizer.snapshot().is_ready());

    // Bad changes are refused; the last good config keeps deciding.
    for bad in [
        "policies: [",
        "policies:\n  - name: x\n    tier: nope\n",
        "unknown_key: 1\n",
    ] {
        std::fs::write(&app.config_path, bad).unwrap();
        let err = app.running.reloader.reload().await.unwrap_err();
        assert!(!err.to_string().is_empty());
        assert!(
            !allowed(&app, "/orders", &token).await,
            "old config still in force"
        );
    }
    assert_eq!(app.running.reloader.failures(), 3);
    std::fs::remove_file(&app.config_path).unwrap();
    assert!(app.running.reloader.reload().await.is_err());
    assert!(!allowed(&app, "/orders", &token).await);
}

#[tokio::test]
async fn a_changed_file_is_picked_up_by_the_watcher() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml = standard_config(&ks, &other).replace("reload_interval: 0s", "reload_interval: 50ms");
    let app = TestApp::start(&yaml).await;
    let token = ks.token(json!({}));
    assert!(!allowed(&app, "/unknown", &token).await);
    let mut applied = app.running.reloader.subscribe();

    // A corrupt file first: refused, nothing applied.
    std::fs::write(&app.config_path, "issuers: {").unwrap();
    let reloader = &app.running.reloader;
    tokio::time::timeout(Duration::from_secs(10), async {
        while reloader.failures() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the watcher tried the corrupt file");
    assert!(
        !applied.has_changed().unwrap(),
        "a corrupt file must not be applied"
    );

    let open_all = yaml.replace("policies:\n", "policies:\n  - name: everything\n    match: { path: { prefix: /unknown } }\n    scopes: [orders:read]\n");
    std::fs::write(&app.config_path, open_all).unwrap();
    tokio::time::timeout(Duration::from_secs(10), applied.changed())
        .await
        .expect("reload within 10 s")
        .unwrap();
    assert!(allowed(&app, "/unknown", &token).await);
}

#[tokio::test]
async fn a_reload_cannot_change_how_long_revocations_are_kept() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml =
        standard_config(&ks, &other) + "revocations:\n  store: memory\n  max_token_lifetime: 1h\n";
    let app = TestApp::start(&yaml).await;
    let t = common::now();
    // Two hours long: refused under a one-hour cap, which entries are kept for.
    let long = ks.token(json!({"iat": t, "exp": t + 7200}));
    assert!(!allowed(&app, "/orders", &long).await);
    let wider_issuer = yaml.replace(
        "refetch_cooldown: 10s\n",
        "refetch_cooldown: 10s\n    leeway: 5m\n",
    );
    for (changed, key) in [
        (
            yaml.replace("max_token_lifetime: 1h", "max_token_lifetime: 24h"),
            "max_token_lifetime",
        ),
        (yaml.replace("store: memory", "store: embedded"), "store"),
        (yaml.clone() + "  leeway: 1m\n", "leeway"),
        // Raises the revocation leeway it implies.
        (wider_issuer, "leeway"),
    ] {
        std::fs::write(&app.config_path, &changed).unwrap();
        let err = app.running.reloader.reload().await.unwrap_err().to_string();
        assert!(
            err.contains("revocations") && err.contains(key) && err.contains("restart"),
            "{err}"
        );
        assert!(
            !allowed(&app, "/orders", &long).await,
            "{key}: old limits still in force"
        );
    }
    assert_eq!(app.running.reloader.applied(), 0);
    // The same section, spelled the same, reloads.
    std::fs::write(
        &app.config_path,
        yaml.replace("scopes: [orders:read]", "scopes: [orders:read]\n"),
    )
    .unwrap();
    app.running.reloader.reload().await.unwrap();
}

/// An operator withdraws a key by taking it out of the `jwks_file` and
/// reloading: from that reload on, tokens signed with it must fail, even
/// though the issuer's settings (the file's path) did not change.
#[tokio::test]
async fn a_key_taken_out_of_a_jwks_file_stops_verifying_at_the_reload() {
    use zt_authz::dev::DevAlg;
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml = standard_config(&ks, &other).replace(
        &format!("jwks_uri: {}", ks.jwks_uri()),
        "jwks_file: keys.json",
    );
    let jwks = ks.keys.jwks();
    let app = TestApp::start_with_files(&yaml, &[("keys.json", &jwks.to_string())]).await;
    let es256 = ks.keys.mint(DevAlg::ES256, &ks.claims(json!({})));
    let rs256 = ks.token(json!({}));
    assert!(allowed(&app, "/orders", &es256).await);
    assert!(allowed(&app, "/orders", &rs256).await);

    let ec_kid = ks.keys.kid(DevAlg::ES256);
    let mut without = jwks.clone();
    without["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kid"] != ec_kid.as_str());
    std::fs::write(app.dir.path().join("keys.json"), without.to_string()).unwrap();
    // The config itself is unchanged but for a comment, as when a
    // deployment tool stamps a checksum into it.
    std::fs::write(&app.config_path, format!("{yaml}\n# keys changed\n")).unwrap();
    app.running.reloader.reload().await.unwrap();

    let fresh_es256 = ks.keys.mint(DevAlg::ES256, &ks.claims(json!({})));
    assert!(!allowed(&app, "/orders", &es256).await, "cached token");
    assert!(!allowed(&app, "/orders", &fresh_es256).await, "new token");
    assert!(
        allowed(&app, "/orders", &rs256).await,
        "the other keys stay"
    );
}
