//! Redis as an attacker would use it: forged or replayed fan-out messages
//! and entries, against replicas that share an HMAC key; and concurrent
//! revocations of one target, which must keep the widest.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::wait::until;
use common::{KeyServer, RedisServer, TestApp, now, standard_config};
use futures_util::StreamExt;
use serde_json::{Value, json};
use zt_authz::clock::{SharedClock, SystemClock};
use zt_authz::revocation::{
    Kind, NewRevocation, NoEvents, RevocationSettings, Revocations, StoreSettings, revocation_id,
};

const PREFIX: &str = "trust";

fn replica_config(ks: &KeyServer, other: &KeyServer, redis: &RedisServer, key: &str) -> String {
    standard_config(ks, other)
        + &format!(
            "\nadmin:\n  unauthenticated: true\nrevocations:\n  store: redis\n  redis_url: {}\n  redis_prefix: {PREFIX}\n  redis_hmac_key_file: {key}\n",
            redis.url()
        )
}

/// `zt_authz_revocation_sync_rejected_total{why=...}` on this replica.
fn rejected(app: &TestApp, why: &str) -> u64 {
    let needle = format!("zt_authz_revocation_sync_rejected_total{{why=\"{why}\"}} ");
    app.running
        .metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(&needle))
        .map_or(0, |n| n.trim().parse().unwrap())
}

async fn api(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> u16 {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", app.admin_url()));
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn raw(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_replayed_fan_out_is_ignored() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("hmac.key");
    std::fs::write(&key, "k".repeat(40) + "\n").unwrap();
    let yaml = replica_config(&ks, &other, &redis, key.to_str().unwrap());
    let a = TestApp::start(&yaml).await;
    let b = TestApp::start(&yaml).await;
    a.shared_store_connected().await;
    b.shared_store_connected().await;
    let mut conn = raw(&redis).await;
    let channel = format!("{PREFIX}:revocations");

    // Sealed fan-out works: A's revocation reaches B.
    let x = ks.token(json!({"jti": "x"}));
    let body = json!({"kind": "jti", "value": "x", "expires_at": now() + 300});
    assert_eq!(
        api(&a, reqwest::Method::POST, "/v1/revocations", Some(body)).await,
        201
    );
    until("B revokes x", Duration::from_secs(2), async || {
        b.revoked(&x).await
    })
    .await;

    // Whoever can write to Redis but lacks the key cannot add...
    let y = ks.token(json!({"jti": "y"}));
    let forged = json!({"op": "put", "revocation": {
        "id": revocation_id(Kind::Jti, None, "y"), "kind": "jti", "value": "y",
        "expires_at": now() + 300, "created_at": now(), "origin": "attacker"}});
    let seen = rejected(&b, "unsealed");
    redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(forged.to_string())
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    until(
        "B ignores the forged put",
        Duration::from_secs(2),
        async || rejected(&b, "unsealed") > seen,
    )
    .await;
    assert!(!b.revoked(&y).await);
    // ...nor lift.
    let lift = json!({"op": "delete", "id": revocation_id(Kind::Jti, None, "x")});
    let seen = rejected(&b, "unsealed");
    redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(lift.to_string())
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    until(
        "B ignores the forged lift",
        Duration::from_secs(2),
        async || rejected(&b, "unsealed") > seen,
    )
    .await;
    assert!(b.revoked(&x).await);

    // A lift A really sent, captured and replayed after x was revoked
    // again, cannot undo the newer revocation.
    let mut sub = redis::Client::open(redis.url())
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    sub.subscribe(&channel).await.unwrap();
    let id = revocation_id(Kind::Jti, None, "x");
    assert_eq!(
        api(
            &a,
            reqwest::Method::DELETE,
            &format!("/v1/revocations/{id}"),
            None
        )
        .await,
        204
    );
    let captured: String = {
        let mut messages = sub.on_message();
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(2), messages.next())
                .await
                .unwrap()
                .unwrap();
            let payload: String = msg.get_payload().unwrap();
            if payload.contains(r#""op":"delete""#) {
                break payload;
            }
        }
    };
    until("B lifts x", Duration::from_secs(2), async || {
        !b.revoked(&x).await
    })
    .await;
    let again = json!({"kind": "jti", "value": "x", "expires_at": now() + 300});
    assert_eq!(
        api(&a, reqwest::Method::POST, "/v1/revocations", Some(again)).await,
        201
    );
    until("B revokes x again", Duration::from_secs(2), async || {
        b.revoked(&x).await
    })
    .await;
    let seen = rejected(&b, "stale");
    redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(&captured)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    until(
        "B refuses the replayed lift",
        Duration::from_secs(2),
        async || rejected(&b, "stale") > seen,
    )
    .await;
    assert!(b.revoked(&x).await);

    // An unsealed entry planted in Redis is not loaded on reconnect.
    let z = ks.token(json!({"jti": "z"}));
    let planted = json!({"id": revocation_id(Kind::Jti, None, "z"), "kind": "jti", "value": "z",
        "expires_at": now() + 300, "created_at": now(), "origin": "attacker"});
    let key_z = format!("{PREFIX}:rev:{}", revocation_id(Kind::Jti, None, "z"));
    redis::cmd("SET")
        .arg(&key_z)
        .arg(planted.to_string())
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let b = b.restart().await;
    b.shared_store_connected().await;
    assert!(
        rejected(&b, "unsealed") >= 1,
        "the planted entry was seen and refused"
    );
    assert!(!b.revoked(&z).await);
    assert!(
        b.revoked(&x).await,
        "the real revocation survived the restart"
    );
}

#[test]
fn a_short_or_missing_hmac_key_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jwks.json"), r#"{"keys":[]}"#).unwrap();
    std::fs::write(dir.path().join("short.key"), "too-short\n").unwrap();
    let base = "issuers:\n  - issuer: https://i\n    jwks_file: jwks.json\n    audiences: [a]\nrevocations:\n  store: redis\n  redis_url: redis://127.0.0.1:1\n";
    for (file, expected) in [
        ("short.key", "at least 32 bytes"),
        ("missing.key", "cannot read"),
    ] {
        let yaml = format!("{base}  redis_hmac_key_file: {file}\n");
        let errors = zt_authz::config::Config::from_yaml(&yaml, dir.path()).unwrap_err();
        let text = errors.to_string();
        assert!(text.contains("revocations.redis_hmac_key_file"), "{text}");
        assert!(text.contains(expected), "{text}");
        assert!(
            !text.contains("too-short"),
            "the key is never echoed: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_revocations_of_one_target_keep_the_widest_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let settings = RevocationSettings {
        store: StoreSettings::Embedded {
            path: dir.path().join("r.redb"),
        },
        max_token_lifetime: Duration::from_secs(3600),
        leeway: Duration::from_secs(30),
        catch_up_timeout: Duration::from_secs(30),
    };
    let clock: SharedClock = Arc::new(SystemClock);
    let svc = Revocations::open(&settings, clock, Arc::new(NoEvents)).unwrap();
    let t = now() as f64;
    for round in 0..10 {
        let value = format!("user-{round}");
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (svc, value) = (svc.clone(), value.clone());
                tokio::spawn(async move {
                    svc.revoke(NewRevocation {
                        kind: "sub".into(),
                        value,
                        issuer: None,
                        issued_before: Some(t - 100.0 + f64::from(i)),
                        expires_at: None,
                        reason: None,
                    })
                    .await
                    .unwrap()
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let stored = svc
            .get(&revocation_id(Kind::Sub, None, &value))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.target.issued_before(),
            Some(t - 85.0),
            "round {round}"
        );
    }
}
