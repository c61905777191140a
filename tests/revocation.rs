//! Revocation end to end: the admin API, each kind, expiry, restarts,
//! back-channel logout, and fan-out across replicas through a real Redis.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::wait::until;
use common::{KeyServer, RedisServer, TestApp, now, standard_config};
use serde_json::{Value, json};
use zt_authz::clock::ManualClock;
use zt_authz::dev::{DevAlg, DevKeys};

const ADMIN: &str = "\nadmin:\n  unauthenticated: true\n";

async fn post(app: &TestApp, body: Value, bearer: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/revocations", app.admin_url()))
        .json(&body);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

async fn delete(app: &TestApp, id: &str) -> u16 {
    reqwest::Client::new()
        .delete(format!("{}/v1/revocations/{id}", app.admin_url()))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn each_kind_denies_the_next_check_and_lifting_allows_again() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&(standard_config(&ks, &other) + ADMIN)).await;
    let t = now();
    let cases: Vec<(Value, String, Option<String>)> = vec![
        (
            json!({"kind": "jti", "value": "j-1", "expires_at": t + 300}),
            ks.token(json!({"jti": "j-1"})),
            None,
        ),
        (
            json!({"kind": "sid", "value": "s-1"}),
            ks.token(json!({"sid": "s-1"})),
            None,
        ),
        (
            json!({"kind": "sub", "value": "mallory", "issued_before": t}),
            ks.token(json!({"sub": "mallory", "iat": t - 10})),
            Some(ks.token(json!({"sub": "mallory", "iat": t + 1}))),
        ),
        (
            json!({"kind": "iss", "value": ks.issuer(), "issued_before": t}),
            ks.token(json!({"iat": t - 10})),
            Some(ks.token(json!({"iat": t + 1}))),
        ),
    ];
    for (body, token, issued_after) in cases {
        assert_eq!(app.outcome("/orders", &token).await.0, 200, "{body}");
        let (status, stored) = post(&app, body.clone(), None).await;
        assert_eq!(status, 201, "{stored}");
        assert!(stored["expires_at"].as_f64().unwrap() > t as f64);
        assert!(app.revoked(&token).await, "{body} did not revoke");
        if let Some(later) = issued_after {
            assert_eq!(
                app.outcome("/orders", &later).await.0,
                200,
                "a token issued after the cut-off stays valid"
            );
        }
        assert_eq!(delete(&app, stored["id"].as_str().unwrap()).await, 204);
        assert_eq!(
            app.outcome("/orders", &token).await.0,
            200,
            "{body} still denied after lifting"
        );
        assert_eq!(delete(&app, stored["id"].as_str().unwrap()).await, 404);
    }
}

#[tokio::test]
async fn bad_requests_get_a_clear_400_and_listing_pages() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&(standard_config(&ks, &other) + ADMIN)).await;
    for (body, fragment) in [
        (json!({"kind": "token", "value": "x"}), "kind must be"),
        (json!({"kind": "jti", "value": ""}), "value must be"),
        (
            json!({"kind": "jti", "value": "x", "issued_before": 1}),
            "issued_before applies only",
        ),
        (
            json!({"kind": "jti", "value": "x", "expires_at": 10}),
            "already have expired",
        ),
        (
            json!({"kind": "jti", "value": "x", "colour": "red"}),
            "unknown field",
        ),
        (json!("jti"), "body"),
    ] {
        let (status, err) = post(&app, body.clone(), None).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["error"], "invalid_request");
        assert!(
            err["error_description"]
                .as_str()
                .unwrap()
                .contains(fragment),
            "{err}"
        );
    }
    for i in 0..5 {
        assert_eq!(
            post(
                &app,
                json!({"kind": "jti", "value": format!("page-{i}")}),
                None
            )
            .await
            .0,
            201
        );
    }
    assert_eq!(
        post(&app, json!({"kind": "sid", "value": "s"}), None)
            .await
            .0,
        201
    );
    let client = reqwest::Client::new();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = format!("{}/v1/revocations?kind=jti&limit=2", app.admin_url());
        if let Some(a) = &after {
            url += &format!("&after={a}");
        }
        let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["kind"], "jti");
            seen.push(item["value"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ["page-0", "page-1", "page-2", "page-3", "page-4"]);
    let bad = client
        .get(format!("{}/v1/revocations?limit=0", app.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn entries_expire_on_their_own() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let clock = ManualClock::at(now());
    let app = TestApp::start_with_clock(
        &(standard_config(&ks, &other) + ADMIN),
        Some(clock.clone() as Arc<_>),
    )
    .await;
    let t = now();
    let token = ks.token(json!({"jti": "short", "exp": t + 600}));
    assert_eq!(
        post(
            &app,
            json!({"kind": "jti", "value": "short", "expires_at": t + 5}),
            None
        )
        .await
        .0,
        201
    );
    assert!(app.revoked(&token).await);
    // Kept until exp + 5 min (the largest leeway an issuer may have), then
    // no longer enforced and swept.
    clock.advance(Duration::from_secs(5 + 299));
    assert!(app.revoked(&token).await);
    clock.advance(Duration::from_secs(2));
    assert_eq!(app.outcome("/orders", &token).await.0, 200);
    let index = app.running.revocations.index();
    assert_eq!(index.len(), 1);
    assert_eq!(index.sweep(), 1);
    assert!(index.is_empty());
}

#[tokio::test]
async fn revocations_survive_a_restart_with_the_embedded_store() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&(standard_config(&ks, &other) + ADMIN)).await;
    let token = ks.token(json!({"sid": "keep-me"}));
    assert_eq!(
        post(&app, json!({"kind": "sid", "value": "keep-me"}), None)
            .await
            .0,
        201
    );
    let app = app.restart().await;
    assert!(app.revoked(&token).await, "lost across a restart");
}

fn admin_config(ks: &KeyServer, other: &KeyServer) -> String {
    standard_config(ks, other)
        + &format!(
            "\nadmin:\n  issuer: {}\n  scope: zt-authz:admin\n",
            ks.issuer()
        )
}

#[tokio::test]
async fn the_admin_api_authenticates_its_callers() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&admin_config(&ks, &other)).await;
    let body = json!({"kind": "jti", "value": "by-admin"});
    let (status, err) = post(&app, body.clone(), None).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("missing_token"))
    );
    let wrong_scope = ks.token(json!({"scope": "orders:read"}));
    let (status, err) = post(&app, body.clone(), Some(&wrong_scope)).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
    let mut c = ks.claims(json!({"scope": "zt-authz:admin"}));
    c["iss"] = json!(other.issuer());
    let wrong_issuer = other.keys.mint(DevAlg::RS256, &c);
    let (status, err) = post(&app, body.clone(), Some(&wrong_issuer)).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let forged = DevKeys::generate("primary").unwrap().mint(
        DevAlg::RS256,
        &ks.claims(json!({"scope": "zt-authz:admin"})),
    );
    assert_eq!(post(&app, body.clone(), Some(&forged)).await.0, 401);
    let admin = ks.token(json!({"scope": "zt-authz:admin"}));
    assert_eq!(post(&app, body, Some(&admin)).await.0, 201);
}

#[test]
fn unauthenticated_admin_off_loopback_is_refused_at_start() {
    let yaml = "server: { admin_addr: 0.0.0.0:9090 }\nadmin: { unauthenticated: true }\n";
    let errors = zt_authz::config::Config::from_yaml(yaml, std::path::Path::new(".")).unwrap_err();
    assert_eq!(errors.0[0].path, "admin.unauthenticated");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zt-authz"))
        .args(["serve", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin.unauthenticated"));
}

#[tokio::test]
async fn back_channel_logout_revokes_the_session() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    // Logout tokens are addressed to the relying party's client id.
    let config = standard_config(&ks, &other).replace(
        "    audiences: [orders-api, admin-api]\n",
        "    audiences: [orders-api, admin-api]\n    logout_audiences: [shop-web]\n",
    );
    let app = TestApp::start(&config).await;
    let t = now();
    let logout_claims = |extra: Value| {
        let mut c = json!({
            "iss": ks.issuer(), "aud": "shop-web", "iat": t, "exp": t + 120, "jti": "lo-1", "sid": "sess-1",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}}
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let header = json!({"alg": "RS256", "kid": ks.keys.kid(DevAlg::RS256), "typ": "logout+jwt"});
    let send = |token: String| {
        let url = format!("{}/v1/backchannel-logout", app.admin_url());
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .form(&[("logout_token", token)])
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let attacker = DevKeys::generate("primary").unwrap();
    for (name, token) in [
        (
            "bad signature",
            attacker.sign_raw(DevAlg::RS256, &header, &logout_claims(json!({}))),
        ),
        (
            "missing events",
            ks.keys.sign_raw(
                DevAlg::RS256,
                &header,
                &logout_claims(json!({"events": null})),
            ),
        ),
        (
            "nonce present",
            ks.keys.sign_raw(
                DevAlg::RS256,
                &header,
                &logout_claims(json!({"nonce": "n"})),
            ),
        ),
        (
            "no sid or sub",
            ks.keys
                .sign_raw(DevAlg::RS256, &header, &logout_claims(json!({"sid": null}))),
        ),
    ] {
        let (status, body) = send(token).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert!(body.contains("invalid_request"), "{name}: {body}");
    }
    let session_token = ks.token(json!({"sid": "sess-1"}));
    assert_eq!(app.outcome("/orders", &session_token).await.0, 200);
    let (status, body) = send(
        ks.keys
            .sign_raw(DevAlg::RS256, &header, &logout_claims(json!({}))),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(app.revoked(&session_token).await);
    assert_eq!(
        app.outcome("/orders", &ks.token(json!({"sid": "sess-2"})))
            .await
            .0,
        200,
        "other sessions unaffected"
    );
    // Without sid: every token of the subject issued up to and including
    // the logout token's second (token times are whole seconds).
    let same_second = ks.token(json!({"sub": "carol", "iat": t}));
    let next_second = ks.token(json!({"sub": "carol", "iat": t + 1, "auth_time": t + 1}));
    let (status, body) = send(ks.keys.sign_raw(
        DevAlg::RS256,
        &header,
        &logout_claims(json!({"sid": null, "sub": "carol", "jti": "lo-2"})),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        app.revoked(&same_second).await,
        "issued in the logout's second"
    );
    assert_eq!(app.outcome("/orders", &next_second).await.0, 200);
}

fn redis_config(ks: &KeyServer, other: &KeyServer, redis: &RedisServer, prefix: &str) -> String {
    standard_config(ks, other)
        + ADMIN
        + &format!(
            "revocations:\n  store: redis\n  redis_url: {}\n  redis_prefix: {prefix}\n",
            redis.url()
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_revocations_through_redis() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let mut redis = RedisServer::start().await;
    let yaml = redis_config(&ks, &other, &redis, "two");
    let a = TestApp::start(&yaml).await;
    let b = TestApp::start(&yaml).await;
    a.shared_store_connected().await;
    b.shared_store_connected().await;

    // Revoke on A: B denies within a second.
    let token = ks.token(json!({"jti": "fan-out"}));
    assert_eq!(b.outcome("/orders", &token).await.0, 200);
    assert_eq!(
        post(&a, json!({"kind": "jti", "value": "fan-out"}), None)
            .await
            .0,
        201
    );
    let delay = until("B denies", Duration::from_secs(1), async || {
        b.revoked(&token).await
    })
    .await;
    println!("propagation A -> B: {delay:?}");

    // Redis dies: both keep enforcing and keep accepting.
    let before_outage = ks.token(json!({"sid": "before-outage"}));
    assert_eq!(
        post(&a, json!({"kind": "sid", "value": "before-outage"}), None)
            .await
            .0,
        201
    );
    until("B has it", Duration::from_secs(1), async || {
        b.revoked(&before_outage).await
    })
    .await;
    redis.kill();
    let on_a = ks.token(json!({"jti": "during-outage-a"}));
    let on_b = ks.token(json!({"jti": "during-outage-b"}));
    assert_eq!(
        post(&a, json!({"kind": "jti", "value": "during-outage-a"}), None)
            .await
            .0,
        201
    );
    assert_eq!(
        post(&b, json!({"kind": "jti", "value": "during-outage-b"}), None)
            .await
            .0,
        201
    );
    assert!(
        a.revoked(&on_a).await && b.revoked(&on_b).await,
        "effective locally at once"
    );
    assert!(
        a.revoked(&token).await && b.revoked(&token).await,
        "known ones still enforced"
    );

    // Redis comes back empty: everything reaches everyone, nothing is lost.
    redis.restart().await;
    until("A has B's", Duration::from_secs(15), async || {
        a.revoked(&on_b).await
    })
    .await;
    until("B has A's", Duration::from_secs(15), async || {
        b.revoked(&on_a).await
    })
    .await;
    for t in [&token, &before_outage] {
        assert!(a.revoked(t).await && b.revoked(t).await);
    }
    a.shared_store_connected().await;
    b.shared_store_connected().await;
    let keys = redis.keys("two:rev:*").await;
    assert_eq!(
        keys.len(),
        4,
        "Redis was re-seeded with every revocation: {keys:?}"
    );

    // Lifting on B reaches A; a restarted replica still enforces the rest.
    let id = zt_authz::revocation::revocation_id(
        zt_authz::revocation::Kind::Jti,
        None,
        "during-outage-a",
    );
    assert_eq!(delete(&b, &id).await, 204);
    until("A lifts it", Duration::from_secs(1), async || {
        !a.revoked(&on_a).await
    })
    .await;
    let a = a.restart().await;
    assert!(a.revoked(&token).await && a.revoked(&on_b).await);
    assert!(!a.revoked(&on_a).await);
}

/// The propagation-delay hook fires on the receiving replica only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propagation_delay_is_reported_by_the_receiving_replica() {
    use std::sync::Mutex;
    use zt_authz::revocation::{
        NewRevocation, RevocationEvents, RevocationSettings, Revocations, StoreSettings,
    };

    #[derive(Default)]
    struct Delays(Mutex<Vec<f64>>);
    impl RevocationEvents for Delays {
        fn propagated(&self, delay_secs: f64) {
            self.0.lock().unwrap().push(delay_secs);
        }
    }
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = |name: &str| RevocationSettings {
        store: StoreSettings::Redis {
            path: dir.path().join(name),
            url: redis.url(),
            prefix: "events".into(),
            hmac_key: None,
        },
        max_token_lifetime: Duration::from_secs(3600),
        leeway: Duration::from_secs(30),
        catch_up_timeout: Duration::from_secs(30),
    };
    let clock: zt_authz::clock::SharedClock = Arc::new(zt_authz::clock::SystemClock);
    let (on_a, on_b) = (Arc::new(Delays::default()), Arc::new(Delays::default()));
    let a = Revocations::open(&settings("a.redb"), clock.clone(), on_a.clone()).unwrap();
    let b = Revocations::open(&settings("b.redb"), clock, on_b.clone()).unwrap();
    a.start();
    b.start();
    until("both connected", Duration::from_secs(10), async || {
        a.shared_store_connected() && b.shared_store_connected()
    })
    .await;
    let new = NewRevocation {
        kind: "jti".into(),
        value: "measured".into(),
        issuer: None,
        issued_before: None,
        expires_at: None,
        reason: None,
    };
    let stored = a.revoke(new).await.unwrap();
    let index_b = b.index();
    until("B applied it", Duration::from_secs(1), async || {
        index_b.contains(&stored.id)
    })
    .await;
    until("B reported it", Duration::from_secs(1), async || {
        !on_b.0.lock().unwrap().is_empty()
    })
    .await;
    let delays = on_b.0.lock().unwrap().clone();
    assert_eq!(delays.len(), 1);
    assert!((0.0..1.0).contains(&delays[0]), "{delays:?}");
    assert!(
        on_a.0.lock().unwrap().is_empty(),
        "A heard its own revocation as remote"
    );
}
