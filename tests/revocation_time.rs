//! A revocation outlives every token it could match, whatever clock skew
//! the token's issuer is allowed: entries against the issuer's leeway, on
//! an injected clock.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::wait::until;
use common::{KeyServer, RedisServer, TestApp, now, standard_config};
use serde_json::{Value, json};
use zt_authz::clock::ManualClock;

/// The primary issuer may be five minutes off; tokens live at most 30 min.
async fn skewed_app(clock: &Arc<ManualClock>) -> (KeyServer, KeyServer, TestApp) {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml = standard_config(&ks, &other).replace(
        "refetch_cooldown: 10s\n",
        "refetch_cooldown: 10s\n    leeway: 5m\n",
    ) + "admin:\n  unauthenticated: true\nrevocations:\n  store: memory\n  max_token_lifetime: 30m\n";
    let app = TestApp::start_with_clock(&yaml, Some(clock.clone() as Arc<_>)).await;
    (ks, other, app)
}

async fn revoke(app: &TestApp, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/revocations", app.admin_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Moves the clock from `from` (where it is) to `to` in 15 s steps; the
/// token is denied at every step, revoked while it would otherwise pass and
/// expired after.
async fn never_allowed_between(
    app: &TestApp,
    clock: &ManualClock,
    token: &str,
    from: u64,
    to: u64,
) {
    let mut t = from;
    while t <= to {
        let (status, body) = app.outcome("/orders", token).await;
        assert_eq!(status, 401, "allowed at {t}");
        assert!(
            body.contains("token revoked") || body.contains("expired"),
            "{body}"
        );
        clock.advance(Duration::from_secs(15));
        t += 15;
    }
}

#[tokio::test]
async fn a_revoked_jti_stays_revoked_for_all_of_the_issuers_leeway() {
    let t = now();
    let clock = ManualClock::at(t);
    let (ks, _other, app) = skewed_app(&clock).await;
    let token = ks.token(json!({"jti": "stolen", "exp": t + 60}));
    assert_eq!(app.outcome("/orders", &token).await.0, 200);
    let (status, body) = revoke(
        &app,
        json!({"kind": "jti", "value": "stolen", "expires_at": t + 60}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // Accepted, unrevoked, until exp + 5 min: revoked all that time.
    never_allowed_between(&app, &clock, &token, t, t + 60 + 400).await;
}

#[tokio::test]
async fn a_token_past_exp_but_within_leeway_can_still_be_revoked_by_its_exp() {
    let t = now();
    let clock = ManualClock::at(t);
    let (ks, _other, app) = skewed_app(&clock).await;
    let token = ks.token(json!({"jti": "late", "iat": t - 100, "exp": t - 60}));
    assert_eq!(app.outcome("/orders", &token).await.0, 200, "within leeway");
    let (status, body) = revoke(
        &app,
        json!({"kind": "jti", "value": "late", "expires_at": t - 60}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(app.revoked(&token).await);
}

#[tokio::test]
async fn a_token_stamped_ahead_of_our_clock_is_caught_by_a_default_cutoff() {
    let t = now();
    let clock = ManualClock::at(t);
    let (ks, _other, app) = skewed_app(&clock).await;
    // The identity provider's clock runs four minutes ahead of ours.
    let ahead =
        ks.token(json!({"sub": "eve", "iat": t + 240, "auth_time": t + 240, "exp": t + 840}));
    let issuer_wide = ks.token(json!({"iat": t + 240, "auth_time": t + 240, "exp": t + 840}));
    assert_eq!(app.outcome("/orders", &ahead).await.0, 200);
    assert_eq!(app.outcome("/orders", &issuer_wide).await.0, 200);
    for (body, token) in [
        (json!({"kind": "sub", "value": "eve"}), &ahead),
        (json!({"kind": "iss", "value": ks.issuer()}), &issuer_wide),
    ] {
        let (status, stored) = revoke(&app, body.clone()).await;
        assert_eq!(status, 201, "{stored}");
        assert!(
            app.revoked(token).await,
            "{body} missed a token issued before it"
        );
    }
}

#[tokio::test]
async fn a_default_jti_entry_outlives_a_token_issued_ahead_of_our_clock() {
    let t = now();
    let clock = ManualClock::at(t);
    let (ks, _other, app) = skewed_app(&clock).await;
    // Issued before the revocation by a clock 200 s ahead, with the
    // longest lifetime allowed: accepted until t + 200 + 30 min + 5 min.
    let token =
        ks.token(json!({"jti": "long", "iat": t + 200, "auth_time": t + 200, "exp": t + 2000}));
    let (status, body) = revoke(&app, json!({"kind": "jti", "value": "long"})).await;
    assert_eq!(status, 201, "{body}");
    clock.advance(Duration::from_secs(200));
    never_allowed_between(&app, &clock, &token, t + 200, t + 2000 + 400).await;
}

/// Mid rollout, one replica runs a config whose issuer is allowed five
/// minutes of skew and another the old one: what the first revokes, with
/// the later expiry its rules give, is enforced by the second too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_narrower_rules_enforces_a_wider_replicas_revocation() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let redis = RedisServer::start().await;
    let old = standard_config(&ks, &other)
        + &format!(
            "admin:\n  unauthenticated: true\nrevocations:\n  store: redis\n  redis_url: {}\n  redis_prefix: rollout\n",
            redis.url()
        );
    let new = old.replace(
        "refetch_cooldown: 10s\n",
        "refetch_cooldown: 10s\n    leeway: 5m\n",
    );
    let wider = TestApp::start(&new).await;
    let narrower = TestApp::start(&old).await;
    wider.shared_store_connected().await;
    narrower.shared_store_connected().await;
    for (n, kind) in ["jti", "sid", "sub"].into_iter().enumerate() {
        let value = format!("rollout-{n}");
        let token = ks.token(json!({ kind: value.clone(), "iat": now() - 10 }));
        assert_eq!(narrower.outcome("/orders", &token).await.0, 200, "{kind}");
        let (status, body) = revoke(&wider, json!({"kind": kind, "value": value})).await;
        assert_eq!(status, 201, "{body}");
        until(
            "the narrower replica denies",
            Duration::from_secs(2),
            async || narrower.revoked(&token).await,
        )
        .await;
    }
}

/// The rules an entry was kept under can widen across a restart (a reload
/// refuses it): an issuer's leeway raised to 5 min, the longest token
/// lifetime from 30 min to 2 h. Entries stored before are still in force
/// for every token the new rules accept.
#[tokio::test]
async fn entries_stored_before_a_restart_outlive_tokens_under_wider_rules() {
    let t = now();
    let clock = ManualClock::at(t);
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let narrow = standard_config(&ks, &other)
        + "admin:\n  unauthenticated: true\nrevocations:\n  store: embedded\n  max_token_lifetime: 30m\n";
    let app = TestApp::start_with_clock(&narrow, Some(clock.clone() as Arc<_>)).await;
    // Two hours long: refused under the 30 min cap, accepted under 2 h.
    let long = ks.token(json!({"jti": "long", "sub": "zoe", "iat": t - 5, "exp": t + 7000}));
    let short = ks.token(json!({"jti": "short", "exp": t + 20}));
    let expiring = ks.token(json!({"jti": "soon", "exp": t + 60}));
    for body in [
        json!({"kind": "jti", "value": "long"}),
        json!({"kind": "sub", "value": "zoe"}),
        json!({"kind": "jti", "value": "short", "expires_at": t + 20}),
        json!({"kind": "jti", "value": "soon"}),
    ] {
        let (status, stored) = revoke(&app, body).await;
        assert_eq!(status, 201, "{stored}");
    }
    assert!(app.revoked(&short).await);
    std::fs::write(
        &app.config_path,
        narrow
            .replace("max_token_lifetime: 30m", "max_token_lifetime: 2h")
            .replace(
                "refetch_cooldown: 10s\n",
                "refetch_cooldown: 10s\n    leeway: 5m\n",
            ),
    )
    .unwrap();
    let app = app.restart_with_clock(Some(clock.clone() as Arc<_>)).await;
    // `orders-read` allows 30 min at most; /profile has no limit of its own.
    let profile = |token: &str| {
        let app = &app;
        let token = token.to_owned();
        async move {
            let request = common::app::check_request("/profile", Some(&token));
            let response = app.check(&request).await;
            matches!(
                response.http_response,
                Some(envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse::OkResponse(_))
            )
        }
    };
    let mut at = t;
    while at <= t + 7000 + 300 {
        for (name, token) in [("long", &long), ("short", &short), ("soon", &expiring)] {
            assert!(
                !profile(token).await,
                "{name} allowed again at t + {}",
                at - t
            );
        }
        clock.advance(Duration::from_secs(25));
        at += 25;
    }
}
