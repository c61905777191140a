//! The Shared Signals receiver: SETs minted by a test transmitter with
//! real keys served over HTTP, pushed to `/v1/ssf/events`; forged,
//! replayed, cross-issuer and malformed ones refused; and a revocation from
//! a SET on replica A enforced on replica B through a real Redis.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::wait::until;
use common::{KeyServer, RedisServer, TEST_SERVER, TestApp, issuer_entry, now};
use serde_json::{Value, json};
use zt_authz::dev::{DevAlg, DevKeys};

const AUD: &str = "https://zt-authz.test/";
const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";

fn config(ks: &KeyServer, other: &KeyServer, tx: &KeyServer, revocations: &str) -> String {
    config_with(ks, other, tx, revocations, "")
}

/// `extra`: more lines for the transmitter entry.
fn config_with(
    ks: &KeyServer,
    other: &KeyServer,
    tx: &KeyServer,
    revocations: &str,
    extra: &str,
) -> String {
    format!(
        r#"{TEST_SERVER}issuers:
{}{}policies:
  - name: orders
    match: {{ path: {{ prefix: /orders }} }}
ssf:
  transmitters:
    - issuer: {tx}
      jwks_uri: {tx}/jwks.json
      audience: {AUD}
      subject_issuer: {iss}
{extra}
{revocations}"#,
        issuer_entry(ks, ""),
        issuer_entry(other, ""),
        iss = ks.issuer(),
        tx = tx.issuer(),
    )
}

struct Transmitter<'a> {
    tx: &'a KeyServer,
}

impl Transmitter<'_> {
    fn claims(&self, events: Value) -> Value {
        json!({"iss": self.tx.issuer(), "aud": AUD, "iat": now(), "jti": format!("set-{}", rand()), "events": events})
    }

    fn set(&self, events: Value) -> String {
        self.tx
            .keys
            .security_event(DevAlg::ES256, &self.claims(events))
    }

    fn set_with(&self, events: Value, change: impl FnOnce(&mut Value)) -> String {
        let mut c = self.claims(events);
        change(&mut c);
        self.tx.keys.security_event(DevAlg::ES256, &c)
    }
}

/// The issuer whose users events name, another issuer, the transmitter's
/// keys, and a receiver trusting them with the default config.
async fn receiver() -> (KeyServer, KeyServer, KeyServer, TestApp) {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let tx_keys = KeyServer::start("transmitter").await;
    let app = TestApp::start(&config(&ks, &other, &tx_keys, "")).await;
    (ks, other, tx_keys, app)
}

fn rand() -> u64 {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    u64::from_le_bytes(b)
}

async fn push(app: &TestApp, set: &str) -> (u16, Value) {
    push_as(app, set, "application/secevent+jwt").await
}

async fn push_as(app: &TestApp, set: &str, content_type: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/ssf/events", app.admin_url()))
        .header("content-type", content_type)
        .body(set.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn iss_sub(ks: &KeyServer, sub: &str) -> Value {
    json!({"format": "iss_sub", "iss": ks.issuer(), "sub": sub})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_events_revoke_what_they_name() {
    let (ks, other, tx_keys, app) = receiver().await;
    let tx = Transmitter { tx: &tx_keys };
    let t = now();

    // session-revoked, complex subject: that session only.
    let s1 = ks.token(json!({"sub": "bob", "sid": "s-1"}));
    let s2 = ks.token(json!({"sub": "bob", "sid": "s-2"}));
    let subject = json!({"format": "complex", "user": iss_sub(&ks, "bob"), "session": {"format": "opaque", "id": "s-1"}});
    let set = tx
        .set(json!({format!("{CAEP}session-revoked"): {"subject": subject, "event_timestamp": t}}));
    assert_eq!(push(&app, &set).await.0, 202);
    assert!(app.revoked(&s1).await);
    assert!(!app.revoked(&s2).await, "another session of the same user");

    // The same SET again: a replay, refused, changing nothing.
    let (status, body) = push(&app, &set).await;
    assert_eq!(
        (status, body["err"].as_str()),
        (400, Some("invalid_request"))
    );

    // credential-change (top-level sub_id): every earlier token of the user.
    let carol_old = ks.token(json!({"sub": "carol", "iat": t - 10}));
    let carol_new = ks.token(json!({"sub": "carol", "iat": t + 5, "auth_time": t + 5}));
    let set = tx.set_with(json!({format!("{CAEP}credential-change"): {"event_timestamp": t, "credential_type": "password"}}), |c| {
        c["sub_id"] = iss_sub(&ks, "carol");
    });
    assert_eq!(push(&app, &set).await.0, 202);
    assert!(app.revoked(&carol_old).await);
    assert!(!app.revoked(&carol_new).await, "re-issued after the change");

    // RISC account-disabled, opaque subject: the subject issuer's user only;
    // the same `sub` at another issuer is someone else. Without an
    // event_timestamp, a token stamped by a clock up to the leeway ahead
    // of ours counts as issued before the event.
    let dave = ks.token(json!({"sub": "dave", "iat": t + 20, "auth_time": t + 20}));
    let dave_elsewhere = other
        .keys
        .mint(DevAlg::RS256, &other.claims(json!({"sub": "dave"})));
    let set = tx.set(
        json!({format!("{RISC}account-disabled"): {"subject": {"format": "opaque", "id": "dave"}}}),
    );
    assert_eq!(push(&app, &set).await.0, 202);
    assert!(app.revoked(&dave).await);
    assert!(!app.revoked(&dave_elsewhere).await);

    // assurance-level-change: a decrease revokes, an increase does not.
    let erin = ks.token(json!({"sub": "erin", "acr": "phr"}));
    let up = tx.set(json!({format!("{CAEP}assurance-level-change"): {"subject": iss_sub(&ks, "erin"), "current_level": "nist-aal3", "previous_level": "nist-aal2", "change_direction": "increase"}}));
    assert_eq!(push(&app, &up).await.0, 202);
    assert!(!app.revoked(&erin).await);
    let down = tx.set(json!({format!("{CAEP}assurance-level-change"): {"subject": iss_sub(&ks, "erin"), "current_level": "nist-aal1", "previous_level": "nist-aal2", "change_direction": "decrease", "event_timestamp": now()}}));
    assert_eq!(push(&app, &down).await.0, 202);
    assert!(app.revoked(&erin).await);
    // A decrease spelt in capitals is still a decrease.
    let gina = ks.token(json!({"sub": "gina", "acr": "phr", "iat": now() - 5}));
    let shouted = tx.set(json!({format!("{CAEP}assurance-level-change"): {"subject": iss_sub(&ks, "gina"), "current_level": "nist-aal1", "previous_level": "nist-aal2", "change_direction": "DECREASE", "event_timestamp": now()}}));
    assert_eq!(push(&app, &shouted).await.0, 202);
    assert!(app.revoked(&gina).await);

    // An event nobody acts on: accepted, counted.
    let other_event =
        tx.set(json!({"https://example.com/event/unknown": {"subject": iss_sub(&ks, "frank")}}));
    assert_eq!(push(&app, &other_event).await.0, 202);
    let metrics = reqwest::get(format!("{}/metrics", app.admin_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"zt_authz_ssf_events_total{event="other",outcome="ignored"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"zt_authz_ssf_events_total{event="session-revoked",outcome="applied"} 1"#)
    );
    app.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_malformed_events_are_refused() {
    let (ks, other, tx_keys, app) = receiver().await;
    let tx = Transmitter { tx: &tx_keys };
    let victim = ks.token(json!({"sub": "victim"}));
    let revoke_victim =
        json!({format!("{RISC}account-disabled"): {"subject": iss_sub(&ks, "victim")}});
    let attacker = DevKeys::generate("transmitter").unwrap();
    let forged = attacker.security_event(DevAlg::ES256, &tx.claims(revoke_victim.clone()));
    let old = now() - 3600;
    let cases: Vec<(&str, String, &str)> = vec![
        ("forged signature", forged, "invalid_key"),
        ("unknown transmitter", tx.set_with(revoke_victim.clone(), |c| c["iss"] = json!("https://evil.example")), "invalid_issuer"),
        ("another audience", tx.set_with(revoke_victim.clone(), |c| c["aud"] = json!("https://other.example/")), "invalid_audience"),
        ("too old", tx.set_with(revoke_victim.clone(), |c| c["iat"] = json!(old)), "invalid_request"),
        ("from the future", tx.set_with(revoke_victim.clone(), |c| c["iat"] = json!(now() + 3600)), "invalid_request"),
        ("no jti", tx.set_with(revoke_victim.clone(), |c| { c.as_object_mut().unwrap().remove("jti"); }), "invalid_request"),
        ("no events", tx.set_with(json!({}), |_| {}), "invalid_request"),
        ("an access token", tx_keys.keys.mint(DevAlg::ES256, &tx.claims(revoke_victim.clone())), "invalid_request"),
        ("email subject", tx.set(json!({format!("{RISC}account-disabled"): {"subject": {"format": "email", "email": "v@example.com"}}})), "invalid_request"),
        ("subject of an unknown issuer", tx.set(json!({format!("{RISC}account-disabled"): {"subject": {"format": "iss_sub", "iss": "https://evil.example", "sub": "victim"}}})), "invalid_request"),
        ("no subject", tx.set(json!({format!("{RISC}account-disabled"): {}})), "invalid_request"),
        ("another identity provider's user", tx.set(json!({format!("{RISC}account-disabled"): {"subject": iss_sub(&other, "victim")}})), "invalid_request"),
        ("not a JWT", "not.a.jwt".into(), "invalid_request"),
        ("HS256 with the public key", {
            let set = tx.set(revoke_victim.clone());
            let (h, rest) = set.split_once('.').unwrap();
            let _ = h;
            format!("eyJhbGciOiJIUzI1NiIsInR5cCI6InNlY2V2ZW50K2p3dCJ9.{rest}")
        }, "invalid_key"),
    ];
    for (name, set, err) in cases {
        let (status, body) = push(&app, &set).await;
        assert_eq!(
            (status, body["err"].as_str()),
            (400, Some(err)),
            "{name}: {body}"
        );
        assert!(
            !body.to_string().contains(&set),
            "{name}: the SET is echoed"
        );
    }
    let (status, _) = push_as(&app, &tx.set(revoke_victim.clone()), "application/json").await;
    assert_eq!(status, 400, "wrong content type");
    let from_a_browser = reqwest::Client::new()
        .post(format!("{}/v1/ssf/events", app.admin_url()))
        .header("content-type", "application/secevent+jwt")
        .header("origin", "https://evil.example")
        .body(tx.set(revoke_victim.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        from_a_browser.status().as_u16(),
        403,
        "a browser-driven push, refused as on the rest of the admin port"
    );
    let body: serde_json::Value = from_a_browser.json().await.unwrap();
    assert_eq!(body["err"], "access_denied");
    assert!(!app.revoked(&victim).await, "nothing refused may revoke");
    // The genuine one works.
    assert_eq!(push(&app, &tx.set(revoke_victim)).await.0, 202);
    assert!(app.revoked(&victim).await);
    app.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_event_on_one_replica_denies_on_another() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let tx_keys = KeyServer::start("transmitter").await;
    let redis = RedisServer::start().await;
    let revocations = format!(
        "revocations:\n  store: redis\n  redis_url: {}\n  redis_prefix: ssf\n",
        redis.url()
    );
    let yaml = config(&ks, &other, &tx_keys, &revocations);
    let a = TestApp::start(&yaml).await;
    let b = TestApp::start(&yaml).await;
    a.shared_store_connected().await;
    b.shared_store_connected().await;
    let tx = Transmitter { tx: &tx_keys };
    let token = ks.token(json!({"sub": "gina", "sid": "g-1"}));
    assert!(!b.revoked(&token).await);
    let subject = json!({"format": "complex", "user": iss_sub(&ks, "gina"), "session": {"format": "opaque", "id": "g-1"}});
    let set = tx.set(json!({format!("{CAEP}session-revoked"): {"subject": subject}}));
    assert_eq!(push(&a, &set).await.0, 202);
    until("B denies", Duration::from_secs(1), async || {
        b.revoked(&token).await
    })
    .await;
    a.running.stop().await.unwrap();
    b.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_belongs_to_its_users_issuer() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let tx_keys = KeyServer::start("transmitter").await;
    let extra = format!(
        "      subject_issuers: [{}, {}]",
        ks.issuer(),
        other.issuer()
    );
    let app = TestApp::start(&config_with(&ks, &other, &tx_keys, "", &extra)).await;
    let tx = Transmitter { tx: &tx_keys };
    let at_other = other.keys.mint(
        DevAlg::RS256,
        &other.claims(json!({"sub": "carol", "sid": "c-1"})),
    );
    let at_primary = ks.token(json!({"sub": "carol", "sid": "c-1"}));
    let subject = json!({"format": "complex", "user": iss_sub(&other, "carol"), "session": {"format": "opaque", "id": "c-1"}});
    let set = tx.set(json!({format!("{CAEP}session-revoked"): {"subject": subject}}));
    assert_eq!(push(&app, &set).await.0, 202);
    assert!(
        app.revoked(&at_other).await,
        "the session of the named user's issuer"
    );
    assert!(
        !app.revoked(&at_primary).await,
        "the same session id at another issuer"
    );
    app.running.stop().await.unwrap();
}

/// A SET whose one event this receiver cannot map (a subject format it
/// does not know) still revokes what its other events name. The 400 is
/// final for the transmitter; without this, those revocations were lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_unmappable_event_does_not_lose_the_others() {
    let (ks, _other, tx_keys, app) = receiver().await;
    let tx = Transmitter { tx: &tx_keys };
    let u7 = ks.token(json!({"sub": "u7", "iat": now() - 10}));
    let set = tx.set(json!({
        format!("{CAEP}credential-change"): {"subject": {"format": "opaque", "id": "u7"}, "event_timestamp": now()},
        format!("{CAEP}session-revoked"): {"subject": {"format": "email", "email": "u7@example.com"}},
    }));
    let (status, body) = push(&app, &set).await;
    assert_eq!(
        (status, body["err"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("email format"),
        "the refusal names what could not be mapped: {body}"
    );
    assert!(app.revoked(&u7).await, "the mappable event still acted");
    let metrics = reqwest::get(format!("{}/metrics", app.admin_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains(r#"zt_authz_ssf_events_total{event="session-revoked",outcome="refused"} 1"#),
        "{metrics}"
    );
    // Not remembered as received: sent again (fixed or not), it is read again.
    assert_eq!(push(&app, &set).await.0, 400);
    assert_eq!(
        push(&app, &set).await.1["description"]
            .as_str()
            .map(|d| d.contains("already received")),
        Some(false)
    );
    app.running.stop().await.unwrap();
}

/// A SET naming a member twice (here the subject's `id`) is refused: the
/// last copy would be revoked here while a first-wins reader of the same
/// SET recorded the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_naming_a_member_twice_is_refused() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let (ks, _other, tx_keys, app) = receiver().await;
    let tx = Transmitter { tx: &tx_keys };
    let d4 = ks.token(json!({"sub": "d4", "iat": now() - 10}));
    let d5 = ks.token(json!({"sub": "d5", "iat": now() - 10}));
    let header =
        json!({"alg": "ES256", "kid": tx_keys.keys.kid(DevAlg::ES256), "typ": "secevent+jwt"});
    let signed = |header: String, claims: String| {
        let input = format!("{}.{}", B64.encode(header), B64.encode(claims));
        let sig = B64.encode(tx_keys.keys.sign_bytes(DevAlg::ES256, input.as_bytes()));
        format!("{input}.{sig}")
    };
    let claims = tx
        .claims(json!({format!("{RISC}account-disabled"): {"subject": {"format": "opaque", "id": "d4"}}}))
        .to_string();
    // Signed as it is, it acts: the SET above is sound.
    assert!(claims.contains(r#""id":"d4""#), "{claims}");
    let twice = claims.replace(r#""id":"d4""#, r#""id":"d4","id":"d5""#);
    let (status, body) = push(&app, &signed(header.to_string(), twice)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("more than once"),
        "{body}"
    );
    assert!(!app.revoked(&d4).await && !app.revoked(&d5).await);
    let nested_header = header
        .to_string()
        .replacen('{', r#"{"x":{"a":1,"a":2},"#, 1);
    let (status, _) = push(&app, &signed(nested_header, claims.clone())).await;
    assert_eq!(status, 400);
    // Not a plain signature, or a member spelt so that another reader takes
    // it for one read here.
    for changed in [
        header.to_string().replacen('{', r#"{"CRIT":["x"],"#, 1),
        header.to_string().replacen('{', r#"{"enc":null,"#, 1),
        header.to_string().replacen('{', r#"{"b64":false,"#, 1),
    ] {
        let (status, body) = push(&app, &signed(changed.clone(), claims.clone())).await;
        assert_eq!(status, 400, "{changed}: {body}");
    }
    assert!(!claims.contains("sub_id"), "{claims}");
    let aliased = claims.replacen('{', r#"{"SUB_ID":{"format":"opaque","id":"d5"},"#, 1);
    let (status, body) = push(&app, &signed(header.to_string(), aliased)).await;
    assert_eq!(status, 400, "{body}");
    assert!(!app.revoked(&d5).await);
    assert_eq!(push(&app, &signed(header.to_string(), claims)).await.0, 202);
    assert!(app.revoked(&d4).await);
}

async fn readyz(app: &TestApp) -> Value {
    reqwest::get(format!("{}/readyz", app.admin_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits (bounded) until `/readyz` shows the transmitter's keys in `state`.
async fn transmitter_keys(app: &TestApp, state: &str) {
    let what = format!("the transmitter's keys {state}");
    until(&what, Duration::from_secs(10), async || {
        readyz(app).await["transmitters"][0]["state"] == state
    })
    .await;
}

/// A receiver whose transmitter's JWKS is never found, once its fetch has
/// failed; and the issuer its events would name.
async fn receiver_without_transmitter_keys(tx: &KeyServer) -> (KeyServer, TestApp) {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let broken = config(&ks, &other, tx, "").replace(
        &format!("jwks_uri: {}/jwks.json", tx.issuer()),
        &format!("jwks_uri: {}/no-such-keys.json", tx.issuer()),
    );
    assert!(broken.contains("no-such-keys"), "{broken}");
    let app = TestApp::start(&broken).await;
    transmitter_keys(&app, "failed").await;
    (ks, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_shows_each_transmitters_keys_without_waiting_for_them() {
    let (_ks, _other, tx, app) = receiver().await;
    transmitter_keys(&app, "ready").await;
    let body = readyz(&app).await;
    assert_eq!(body["transmitters"][0]["issuer"], tx.issuer(), "{body}");
    assert!(
        body["transmitters"][0]["keys"].as_u64() >= Some(1),
        "{body}"
    );
    assert_eq!(body["ready"], true, "{body}");
    // A transmitter whose keys cannot be fetched is shown as failed; the
    // replica still decides Checks, so it stays ready.
    let (_ks, app) = receiver_without_transmitter_keys(&tx).await;
    let body = readyz(&app).await;
    assert_eq!(body["ready"], true, "{body}");
    assert_eq!(body["issuers"][0]["state"], "ready", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_that_arrives_before_the_transmitters_keys_is_retried_not_refused() {
    // Refused with a 400, a session-revoked event would be dropped for
    // good while the keys are missing; a 503 makes the transmitter retry.
    let tx = KeyServer::start("transmitter").await;
    let (ks, app) = receiver_without_transmitter_keys(&tx).await;
    let set = Transmitter { tx: &tx }.set(json!({
        format!("{CAEP}session-revoked"): {"subject": iss_sub(&ks, "alice"), "event_timestamp": now()}
    }));
    let (status, body) = push(&app, &set).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["err"], "temporarily_unavailable", "{body}");
    // The same SET is accepted where the keys load: the 503 was about the
    // keys, not the SET.
    let other = KeyServer::start("other").await;
    let fixed = TestApp::start(&config(&ks, &other, &tx, "")).await;
    transmitter_keys(&fixed, "ready").await;
    let (status, body) = push(&fixed, &set).await;
    assert_eq!(status, 202, "{body}");
}
