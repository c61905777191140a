//! A fixed pipeline for the fuzz targets: a generated key set loaded from a
//! file, the real config loader, verifier and Check handler, no network.
//! Each target uses part of it.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use zt_authz::admin::AdminState;
use zt_authz::authorizer::{Authorizer, LogRecorder};
use zt_authz::clock::{SharedClock, SystemClock};
use zt_authz::config::Config;
use zt_authz::dev::DevKeys;
use zt_authz::grpc::CheckService;
use zt_authz::keys::http_client;
use zt_authz::revocation::NoEvents;
use zt_authz::pipeline::DecisionPipeline;
use zt_authz::telemetry::metrics::Metrics;

pub const ISSUER: &str = "https://fuzz.example";
/// The audience `ISSUER`'s security events must name.
pub const SSF_AUDIENCE: &str = "https://zt-authz.fuzz/";
/// The scope admin tokens of `ISSUER` need.
pub const ADMIN_SCOPE: &str = "zt-authz:admin";

pub struct Pipeline {
    pub rt: tokio::runtime::Runtime,
    pub service: CheckService,
    pub authorizer: Arc<Authorizer>,
    pub admin: AdminState,
    pub keys: DevKeys,
}

impl Pipeline {
    /// One admin HTTP request through the real router, without a socket.
    pub fn admin_call(&self, request: http::Request<axum::body::Body>) -> http::StatusCode {
        use tower::ServiceExt;
        let router = zt_authz::admin::router(self.admin.clone());
        self.rt
            .block_on(router.oneshot(request))
            .map(|r| r.status())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
    }
}

pub fn pipeline() -> &'static Pipeline {
    static P: OnceLock<Pipeline> = OnceLock::new();
    P.get_or_init(|| {
        zt_authz::install_crypto_provider();
        let keys = DevKeys::generate("fuzz").expect("keys");
        let dir = std::env::temp_dir().join(format!("zt-authz-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("jwks.json"), keys.jwks().to_string()).expect("jwks");
        let yaml = format!(
            "server: {{ token_cache_entries: 0 }}\nrevocations: {{ store: memory }}\nissuers:\n  - issuer: {ISSUER}\n    jwks_file: jwks.json\n    audiences: [api]\n    logout_audiences: [rp]\n    algorithms: [RS256, ES256, EdDSA]\npolicies:\n  - name: all\n    scopes: [read]\nadmin:\n  issuer: {ISSUER}\n  scope: {ADMIN_SCOPE}\nssf:\n  transmitters:\n    - issuer: {ISSUER}\n      jwks_file: jwks.json\n      audience: {SSF_AUDIENCE}\n      algorithms: [RS256, ES256, EdDSA]\n"
        );
        let config = Config::from_yaml(&yaml, &dir).expect("config");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let clock: SharedClock = Arc::new(SystemClock);
        let wired = DecisionPipeline::build(config, &http_client(), clock, Arc::new(LogRecorder), Arc::new(NoEvents))
            .expect("pipeline");
        rt.block_on(wired.load_keys_now());
        let DecisionPipeline { authorizer, revocations, .. } = wired;
        let admin = AdminState {
            authorizer: authorizer.clone(),
            revocations,
            metrics: Metrics::new(),
            bound: "127.0.0.1:9090".parse().expect("address"),
            logouts: Arc::default(),
            security_events: Arc::default(),
        };
        Pipeline {
            rt,
            service: CheckService::new(authorizer.clone()),
            authorizer,
            admin,
            keys,
        }
    })
}
