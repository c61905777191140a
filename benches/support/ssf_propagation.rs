//! Propagation of a Shared Signals event: a CAEP session-revoked SET
//! pushed to replica A's `/v1/ssf/events`, until replica B's Check denies
//! a token of that session, both replicas sharing a real Redis. Two whole
//! apps in this process, on loopback ports.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use zt_authz::app::{App, AppOptions, RunningApp};
use zt_authz::authorizer::CheckInput;
use zt_authz::config::Config;
use zt_authz::decision::Decision;
use zt_authz::dev::{DevAlg, DevKeys};

const ISSUER: &str = "https://bench.example";
const AUD: &str = "https://zt-authz.bench/";

async fn replica(dir: &Path, name: &str, redis_port: u16) -> RunningApp {
    let yaml = format!(
        "server: {{ grpc_addr: 127.0.0.1:0, admin_addr: 127.0.0.1:0, reload_interval: 0s }}\n\
         issuers:\n  - issuer: {ISSUER}\n    jwks_file: jwks.json\n    audiences: [api]\n    algorithms: [RS256, ES256]\n\
         policies:\n  - name: all\n\
         revocations:\n  store: redis\n  path: {name}.redb\n  redis_url: redis://127.0.0.1:{redis_port}\n  redis_prefix: ssf-bench\n\
         ssf:\n  transmitters:\n    - issuer: {ISSUER}\n      jwks_file: jwks.json\n      audience: {AUD}\n      algorithms: [ES256]\n"
    );
    let config = Config::from_yaml(&yaml, dir).unwrap();
    let app = App::build(config, AppOptions::default()).await.unwrap();
    let running = app.spawn().unwrap();
    while !running.revocations.shared_store_connected() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running
}

async fn denied(b: &RunningApp, authorization: &str) -> bool {
    let input = CheckInput {
        host: "api.local",
        path: "/orders",
        method: "GET",
        authorization: Some(authorization),
        ..CheckInput::default()
    };
    matches!(b.authorizer.check(&input).await, Decision::Deny(_))
}

/// p50, p99 and max over `n` events, from the push to A until B denies.
pub async fn ssf_propagation(n: usize, redis_port: u16) -> (Duration, Duration, Duration) {
    zt_authz::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let keys = DevKeys::generate("bench").unwrap();
    std::fs::write(dir.path().join("jwks.json"), keys.jwks().to_string()).unwrap();
    let a = replica(dir.path(), "a", redis_port).await;
    let b = replica(dir.path(), "b", redis_port).await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/ssf/events", a.admin_addr);
    let now = crate::support::now();
    let mut delays = Vec::with_capacity(n);
    for i in 0..n {
        let sid = format!("session-{i}");
        let claims = json!({"iss": ISSUER, "aud": "api", "sub": "alice", "sid": sid, "iat": now, "exp": now + 600});
        let bearer = format!("Bearer {}", keys.mint(DevAlg::RS256, &claims));
        assert!(
            !denied(&b, &bearer).await,
            "token {i} denied before its event"
        );
        let subject = json!({"format": "complex", "user": {"format": "iss_sub", "iss": ISSUER, "sub": "alice"}, "session": {"format": "opaque", "id": sid}});
        let set = keys.security_event(
            DevAlg::ES256,
            &json!({"iss": ISSUER, "aud": AUD, "iat": now, "jti": format!("bench-{i}"), "events": {
                "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {"subject": subject}}}),
        );
        let started = Instant::now();
        let status = http
            .post(&url)
            .header("content-type", "application/secevent+jwt")
            .body(set)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 202, "event {i} refused");
        while !denied(&b, &bearer).await {
            if started.elapsed() > Duration::from_secs(5) {
                panic!("event {i} did not reach B");
            }
            tokio::task::yield_now().await;
        }
        delays.push(started.elapsed());
    }
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    delays.sort();
    let at = |p: f64| delays[((delays.len() as f64 - 1.0) * p).round() as usize];
    (at(0.5), at(0.99), *delays.last().unwrap())
}
