//! Revocation with many entries, through a real Redis: a replica catching
//! up is not ready yet still hears live revocations, its catch-up writes in
//! batches, live fan-out resumes at once after Redis restarts empty, and the
//! bulk API answers per entry.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::wait::until;
use common::{KeyServer, RedisServer, TestApp, now, standard_config};
use serde_json::{Value, json};
use zt_authz::revocation::{Kind, revocation_id};

fn config(ks: &KeyServer, other: &KeyServer, redis: &RedisServer) -> String {
    standard_config(ks, other)
        + &format!(
            "\nadmin:\n  unauthenticated: true\nrevocations:\n  store: redis\n  redis_url: {}\n  redis_prefix: scale\n",
            redis.url()
        )
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let resp = reqwest::get(format!("{}/readyz", app.admin_url()))
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", app.admin_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Writes `n` revocations straight into Redis, as other replicas would
/// have left them.
async fn fill_redis(redis: &RedisServer, n: usize) {
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let t = now() as f64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            let value = format!("seeded-{i}");
            let id = revocation_id(Kind::Jti, None, &value);
            let entry = json!({"id": id, "kind": "jti", "value": value,
                "expires_at": t + 3000.0, "created_at": t, "origin": "elsewhere"});
            pipe.cmd("SET")
                .arg(format!("scale:rev:{id}"))
                .arg(entry.to_string())
                .arg("PXAT")
                .arg(((t + 3000.0) * 1000.0) as u64)
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_catching_up_is_not_ready_but_hears_live_revocations() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let redis = RedisServer::start().await;
    let n = 50_000;
    fill_redis(&redis, n).await;
    let yaml = config(&ks, &other, &redis);
    let a = TestApp::start(&yaml).await;
    until("A caught up", Duration::from_secs(120), async || {
        a.running.revocations.shared_store_connected()
    })
    .await;

    let b = TestApp::start(&yaml).await;
    // Connecting takes a moment; then it catches up, unready.
    let svc = b.running.revocations.clone();
    until("B connected", Duration::from_secs(10), async || {
        svc.shared_store_state() != "connecting"
    })
    .await;
    let (status, body) = readyz(&b).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["revocations"]["shared_store"], "catching_up", "{body}");
    assert_eq!(body["ready"], false);

    // A revocation made now reaches B while B is still catching up.
    let token = ks.token(json!({"jti": "live"}));
    let (status, _) = post(
        &a,
        "/v1/revocations",
        json!({"kind": "jti", "value": "live"}),
    )
    .await;
    assert_eq!(status, 201);
    let mut still_catching_up = false;
    until(
        "B denies the live revocation",
        Duration::from_secs(1),
        async || {
            let denied = b.revoked(&token).await;
            still_catching_up = !svc.is_ready();
            denied
        },
    )
    .await;
    assert!(
        still_catching_up,
        "the live revocation arrived before the catch-up ended"
    );

    until("B caught up", Duration::from_secs(120), async || {
        svc.shared_store_connected()
    })
    .await;
    let (status, body) = readyz(&b).await;
    assert_eq!(
        (status, body["ready"].clone()),
        (200, json!(true)),
        "{body}"
    );
    assert_eq!(body["revocations"]["jti"], json!(n + 1), "{body}");
    // One write transaction per batch of 1,000, not one per entry.
    let writes = svc.store_writes();
    assert!(
        writes < (n / 1000 + 20) as u64,
        "{writes} writes for {n} entries"
    );
    let seeded = ks.token(json!({"jti": "seeded-4242"}));
    assert!(b.revoked(&seeded).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_fan_out_resumes_at_once_after_redis_restarts_empty() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let mut redis = RedisServer::start().await;
    let yaml = config(&ks, &other, &redis);
    let a = TestApp::start(&yaml).await;
    let b = TestApp::start(&yaml).await;
    a.shared_store_connected().await;
    b.shared_store_connected().await;
    // Both replicas hold 10,000 entries.
    let batch: Vec<Value> = (0..10_000)
        .map(|i| json!({"kind": "jti", "value": format!("bulk-{i}")}))
        .collect();
    let (status, body) = post(&a, "/v1/revocations/batch", json!({"revocations": batch})).await;
    assert_eq!((status, body["created"].clone()), (200, json!(10_000)));
    let index_b = b.running.revocations.index();
    until("B has them all", Duration::from_secs(30), async || {
        index_b.len() == 10_000
    })
    .await;

    redis.kill();
    for app in [&a, &b] {
        let svc = app.running.revocations.clone();
        until("the outage noticed", Duration::from_secs(10), async || {
            !svc.shared_store_connected()
        })
        .await;
    }
    redis.restart().await;
    for app in [&a, &b] {
        let svc = app.running.revocations.clone();
        until(
            "reconnected and caught up",
            Duration::from_secs(30),
            async || svc.shared_store_connected(),
        )
        .await;
    }
    // No replica floods the channel with what Redis lost: the next
    // revocation arrives as fast as any.
    let token = ks.token(json!({"jti": "after-restart"}));
    let body = json!({"kind": "jti", "value": "after-restart"});
    assert_eq!(post(&a, "/v1/revocations", body).await.0, 201);
    until("B denies it", Duration::from_secs(1), async || {
        b.revoked(&token).await
    })
    .await;
    assert_eq!(
        redis.keys("scale:rev:*").await.len(),
        10_001,
        "Redis re-seeded"
    );
}

#[tokio::test]
async fn the_bulk_api_answers_each_entry() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app =
        TestApp::start(&(standard_config(&ks, &other) + "\nadmin:\n  unauthenticated: true\n"))
            .await;
    let writes_before = app.running.revocations.store_writes();
    let entries = json!({"revocations": [
        {"kind": "jti", "value": "ok-1"},
        {"kind": "token", "value": "x"},
        {"kind": "sub", "value": "alice", "issuer": ks.issuer()},
        {"kind": "jti"},
        {"kind": "iss", "value": ks.issuer(), "issuer": ks.issuer()},
    ]});
    let (status, body) = post(&app, "/v1/revocations/batch", entries).await;
    assert_eq!(status, 200, "{body}");
    let statuses: Vec<i64> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 400, 201, 400, 400], "{body}");
    assert_eq!(
        (body["created"].clone(), body["refused"].clone()),
        (json!(2), json!(3))
    );
    assert_eq!(
        body["results"][0]["id"],
        json!(revocation_id(Kind::Jti, None, "ok-1"))
    );
    assert!(
        body["results"][1]["error_description"]
            .as_str()
            .unwrap()
            .contains("kind")
    );
    assert_eq!(
        app.running.revocations.store_writes() - writes_before,
        1,
        "one fsync"
    );
    assert!(app.revoked(&ks.token(json!({"jti": "ok-1"}))).await);
    // Too many, or none.
    let too_many: Vec<Value> = (0..10_001)
        .map(|i| json!({"kind": "jti", "value": format!("{i}")}))
        .collect();
    for body in [
        json!({"revocations": too_many}),
        json!({"revocations": []}),
        json!([]),
    ] {
        assert_eq!(post(&app, "/v1/revocations/batch", body).await.0, 400);
    }
}
