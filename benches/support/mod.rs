//! Builds the in-process pipeline for benchmarks: the real config loader,
//! keys from a JWKS file, the real authorizer and revocation index.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;

use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
use serde_json::{Value, json};
use zt_authz::authorizer::{Authorizer, DecisionRecorder};
use zt_authz::clock::{SharedClock, SystemClock};
use zt_authz::config::Config;
use zt_authz::dev::{DevAlg, DevKeys};
use zt_authz::grpc::CheckService;
use zt_authz::keys::http_client;
use zt_authz::pipeline::DecisionPipeline;
use zt_authz::revocation::{
    Kind, NoEvents, Revocation, RevocationIndex, RevocationSettings, Revocations, StoreSettings,
    Target, revocation_id,
};

pub const ISSUER: &str = "https://bench.example";

pub struct Pipeline {
    pub service: CheckService,
    pub authorizer: Arc<Authorizer>,
    pub revocations: Arc<Revocations>,
    pub keys: DevKeys,
    _dir: tempfile::TempDir,
}

/// Records nothing: benchmarks measure the decision, not the log sink.
struct Quiet;
impl DecisionRecorder for Quiet {
    fn record(
        &self,
        _: &zt_authz::authorizer::CheckInput<'_>,
        _: &zt_authz::decision::Decision,
        _: std::time::Duration,
    ) {
    }
}

/// `policies` route policies; the benchmarked request matches the last.
pub async fn pipeline(policies: usize) -> Pipeline {
    pipeline_with(policies, true).await
}

pub async fn pipeline_with(policies: usize, cache: bool) -> Pipeline {
    pipeline_with_policies(&orders_policies(policies), cache).await
}

/// `policies` route policies as YAML lines, the orders policy last.
fn orders_policies(policies: usize) -> String {
    let mut yaml = String::new();
    for i in 0..policies.saturating_sub(1) {
        yaml += &format!(
            "  - name: p{i}\n    match: {{ path: {{ prefix: /svc{i}/ }}, methods: [GET] }}\n    scopes: [s{i}]\n"
        );
    }
    yaml += "  - name: orders\n    tier: internal\n    match: { path: { prefix: /orders }, methods: [GET] }\n    scopes: [orders:read]\n";
    yaml
}

/// The orders policy natively, and the same policy in Rego
/// (benches/rego/orders.rego): the same requests pass both.
pub const NATIVE_ORDERS: &str = "  - name: orders\n    match: { path: { prefix: /orders }, methods: [GET] }\n    scopes: [orders:read]\n    claims: { sub: [alice, bob] }\n";
pub const REGO_ORDERS: &str = "  - name: orders\n    match: { path: { prefix: /orders } }\n    rego: { module: orders.rego, query: data.zt.bench.allow }\n";

/// `pipeline`, recording every decision in Prometheus metrics as the
/// server does.
pub async fn pipeline_with_metrics(policies: usize) -> Pipeline {
    let recorder = Arc::new(zt_authz::telemetry::metrics::MetricsRecorder {
        metrics: zt_authz::telemetry::metrics::Metrics::new(),
        next: Arc::new(Quiet),
    });
    pipeline_recorded(&orders_policies(policies), true, recorder).await
}

/// A pipeline with the `policies:` list given as YAML lines.
pub async fn pipeline_with_policies(policies: &str, cache: bool) -> Pipeline {
    pipeline_recorded(policies, cache, Arc::new(Quiet)).await
}

async fn pipeline_recorded(
    policies: &str,
    cache: bool,
    recorder: Arc<dyn DecisionRecorder>,
) -> Pipeline {
    zt_authz::install_crypto_provider();
    let keys = DevKeys::generate("bench").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jwks.json"), keys.jwks().to_string()).unwrap();
    let rego = include_str!("../rego/orders.rego");
    std::fs::write(dir.path().join("orders.rego"), rego).unwrap();
    let mut yaml = format!(
        "server: {{ token_cache_entries: {} }}\nissuers:\n  - issuer: {ISSUER}\n    jwks_file: jwks.json\n    audiences: [api]\n    algorithms: [RS256, ES256, EdDSA]\nrevocations: {{ store: memory }}\npolicies:\n",
        if cache { 10_000 } else { 0 }
    );
    yaml += policies;
    let config = Config::from_yaml(&yaml, dir.path()).unwrap();
    let clock: SharedClock = Arc::new(SystemClock);
    let wired =
        DecisionPipeline::build(config, &http_client(), clock, recorder, Arc::new(NoEvents))
            .unwrap();
    wired.load_keys_now().await;
    let DecisionPipeline {
        authorizer,
        revocations,
        ..
    } = wired;
    Pipeline {
        service: CheckService::new(authorizer.clone()),
        authorizer,
        revocations,
        keys,
        _dir: dir,
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn claims(jti: &str) -> Value {
    let now = now();
    json!({"iss": ISSUER, "sub": "alice", "aud": "api", "iat": now, "exp": now + 600, "jti": jti, "scope": "orders:read", "acr": "mfa"})
}

impl Pipeline {
    pub fn token(&self, alg: DevAlg, jti: &str) -> String {
        self.keys.mint(alg, &claims(jti))
    }

    /// A token bound to `client`'s ES256 key.
    pub fn bound_token(&self, client: &DevKeys, jti: &str) -> String {
        let mut c = claims(jti);
        c["cnf"] = json!({"jkt": client.jkt(DevAlg::ES256)});
        self.keys.mint(DevAlg::RS256, &c)
    }
}

pub fn request(token: &str) -> CheckRequest {
    let mut headers = HashMap::new();
    headers.insert("authorization".to_string(), format!("Bearer {token}"));
    headers.insert(":authority".to_string(), "api.local".to_string());
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "GET".into(),
                    host: "api.local".into(),
                    path: "/orders/7".into(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// The URI the benchmark request is for, as a DPoP proof's `htu`.
pub const HTU: &str = "https://api.local/orders/7";

/// The benchmark request with a DPoP-bound token and its proof.
pub fn dpop_request(token: &str, proof: &str) -> CheckRequest {
    let mut request = request(token);
    if let Some(http) = request
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
    {
        http.scheme = "https".into();
        http.headers
            .insert("authorization".into(), format!("DPoP {token}"));
        http.headers.insert("dpop".into(), proof.into());
    }
    request
}

/// `n` active `jti` revocations, none of which match the benchmark tokens.
pub fn fill(index: &RevocationIndex, n: usize) {
    let expires_at = now() as f64 + 3600.0;
    for i in 0..n {
        let value = format!("revoked-{i:08}-5f0c2d8e-7a1b-4c3d-9e8f-0a1b2c3d4e5f");
        index.apply(&Revocation {
            id: revocation_id(Kind::Jti, None, &value),
            target: Target::Jti { value },
            issuer: None,
            expires_at,
            created_at: 0.0,
            origin: "bench".into(),
            reason: None,
            max_token_lifetime: None,
        });
    }
}

pub fn memory_settings() -> RevocationSettings {
    RevocationSettings {
        store: StoreSettings::Memory,
        max_token_lifetime: std::time::Duration::from_secs(3600),
        leeway: std::time::Duration::from_secs(30),
        catch_up_timeout: std::time::Duration::from_secs(30),
    }
}

/// Resident set size of this process, from /proc.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
