//! The scale-and-fault run: two replicas as separate `zt-authz serve`
//! processes on one real Redis, N revocations added to A through the bulk
//! API, then revocation propagation A → B measured black-box (the admin API
//! on A, `Check` over gRPC on B) on the quiet path, while B restarts, and
//! while Redis restarts empty; B's time to be ready and correct after its
//! restart; whole-process RSS per entry on both replicas; the bulk rate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use serde_json::{Value, json};
use tonic::transport::Channel;
use zt_authz::dev::{DevAlg, DevKeys};

use crate::support::{ISSUER, claims, request};

/// One replica process.
pub struct Replica {
    child: Option<Child>,
    config: PathBuf,
    grpc: u16,
    admin: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Replica {
    /// Writes the replica's config into `dir/name` and starts it.
    pub fn start(dir: &Path, name: &str, redis_port: u16, keys: &DevKeys) -> Replica {
        let home = dir.join(name);
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join("jwks.json"), keys.jwks().to_string()).unwrap();
        let (grpc, admin) = (free_port(), free_port());
        let yaml = format!(
            "server: {{ grpc_addr: 127.0.0.1:{grpc}, admin_addr: 127.0.0.1:{admin}, reload_interval: 0s }}\n\
             admin: {{ unauthenticated: true }}\n\
             revocations: {{ store: redis, redis_url: redis://127.0.0.1:{redis_port}, redis_prefix: scale, catch_up_timeout: 5m }}\n\
             issuers:\n  - issuer: {ISSUER}\n    jwks_file: jwks.json\n    audiences: [api]\n\
             policies:\n  - name: orders\n    match: {{ path: {{ prefix: /orders }} }}\n    scopes: [orders:read]\n"
        );
        let config = home.join("zt-authz.yaml");
        std::fs::write(&config, yaml).unwrap();
        let mut replica = Replica {
            child: None,
            config,
            grpc,
            admin,
        };
        replica.spawn();
        replica
    }

    fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_zt-authz"))
            .args(["serve", "--config", self.config.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .envs(std::env::var("MALLOC_ARENA_MAX").map(|v| ("MALLOC_ARENA_MAX", v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("zt-authz binary");
        self.child = Some(child);
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Resident memory of the process, from /proc.
    pub fn rss(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin)
    }

    /// `/readyz`: status and body; (0, Null) while the port is closed.
    pub async fn readyz(&self, http: &reqwest::Client) -> (u16, Value) {
        match http.get(self.url("/readyz")).send().await {
            Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
            Err(_) => (0, Value::Null),
        }
    }

    /// Waits until `/readyz` is 200 (bounded); returns how long it took.
    pub async fn ready(&self, http: &reqwest::Client, limit: Duration) -> Duration {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.readyz(http).await.0 == 200 {
                return start.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("replica not ready within {limit:?}");
    }

    /// Revokes one `jti` through the admin API.
    pub async fn revoke(&self, http: &reqwest::Client, jti: &str) {
        let resp = http
            .post(self.url("/v1/revocations"))
            .json(&json!({"kind": "jti", "value": jti}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }

    /// Revokes `jtis` in one batch call.
    pub async fn revoke_batch(&self, http: &reqwest::Client, jtis: &[String]) {
        let entries: Vec<Value> = jtis
            .iter()
            .map(|j| json!({"kind": "jti", "value": j}))
            .collect();
        let resp = http
            .post(self.url("/v1/revocations/batch"))
            .json(&json!({"revocations": entries}))
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["created"], json!(jtis.len()), "{body}");
    }

    pub async fn check_client(&self) -> Option<AuthorizationClient<Channel>> {
        let channel = Channel::from_shared(format!("http://127.0.0.1:{}", self.grpc))
            .unwrap()
            .connect()
            .await
            .ok()?;
        Some(AuthorizationClient::new(channel))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether `Check` on this client denies `token` as revoked (false on any
/// transport error: the replica may be restarting).
pub async fn revoked(client: &mut Option<AuthorizationClient<Channel>>, token: &str) -> bool {
    let Some(c) = client.as_mut() else {
        return false;
    };
    match c.check(request(token)).await {
        Ok(r) => matches!(
            r.into_inner().http_response,
            Some(HttpResponse::DeniedResponse(d)) if d.body.contains("token revoked")
        ),
        Err(_) => false,
    }
}

/// One propagation: revoke a fresh `jti` on A, then measure until B's
/// `Check` denies it (reconnecting to B while it restarts).
pub async fn propagate(
    http: &reqwest::Client,
    a: &Replica,
    b: &Replica,
    keys: &DevKeys,
    jti: &str,
    limit: Duration,
) -> Duration {
    let token = keys.mint(DevAlg::RS256, &claims(jti));
    let mut client = b.check_client().await;
    let start = Instant::now();
    a.revoke(http, jti).await;
    while start.elapsed() < limit {
        if revoked(&mut client, &token).await {
            return start.elapsed();
        }
        if client.is_none() {
            client = b.check_client().await;
        }
        tokio::task::yield_now().await;
    }
    panic!("revocation {jti} did not reach B within {limit:?}: lost");
}

/// `probes` propagations named `{phase}-{i}`: p50, p99 and max in ms, and
/// how many began while B reported it was still catching up.
pub async fn probe_phase(
    http: &reqwest::Client,
    a: &Replica,
    b: &Replica,
    keys: &DevKeys,
    phase: &str,
    probes: usize,
    limit: Duration,
) -> ((f64, f64, f64), usize) {
    let mut delays = Vec::with_capacity(probes);
    let mut catching_up = 0;
    for i in 0..probes {
        let state = b.readyz(http).await.1["revocations"]["shared_store"].clone();
        catching_up += usize::from(state == "catching_up");
        delays.push(propagate(http, a, b, keys, &format!("{phase}-{i}"), limit).await);
    }
    (summary(delays), catching_up)
}

/// p50, p99 and max of a set of delays, in ms.
pub fn summary(mut delays: Vec<Duration>) -> (f64, f64, f64) {
    delays.sort();
    let at = |p: f64| delays[((delays.len() as f64 - 1.0) * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(at(0.5)), ms(at(0.99)), ms(*delays.last().unwrap()))
}
