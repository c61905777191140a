//! A fixed pipeline for the fuzz targets: a generated key set loaded from a
//! file, the real config loader, verifier and Check handler, no network.
//! Each target uses part of it.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use zt_authz::authorizer::{Authorizer, LogRecorder};
use zt_authz::clock::{SharedClock, SystemClock};
use zt_authz::config::Config;
use zt_authz::dev::DevKeys;
use zt_authz::grpc::CheckService;
use zt_authz::keys::http_client;
use zt_authz::revocation::{NoEvents, Revocations};
use zt_authz::runtime::Runtime;

pub const ISSUER: &str = "https://fuzz.example";

pub struct Pipeline {
    pub rt: tokio::runtime::Runtime,
    pub service: CheckService,
    pub authorizer: Arc<Authorizer>,
    pub keys: DevKeys,
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
            "server: {{ token_cache_entries: 0 }}\nrevocations: {{ store: memory }}\nissuers:\n  - issuer: {ISSUER}\n    jwks_file: jwks.json\n    audiences: [api]\n    algorithms: [RS256, ES256, EdDSA]\npolicies:\n  - name: all\n    scopes: [read]\n"
        );
        let config = Config::from_yaml(&yaml, &dir).expect("config");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let clock: SharedClock = Arc::new(SystemClock);
        let revocations = Revocations::open(&config.revocations, clock.clone(), Arc::new(NoEvents)).expect("store");
        let (runtime, fresh) = Runtime::build(config, None, &http_client(), &clock);
        rt.block_on(async {
            for k in fresh {
                k.refresh().await;
            }
        });
        let authorizer = Arc::new(Authorizer::new(runtime, revocations.index(), Arc::new(LogRecorder), clock));
        Pipeline {
            rt,
            service: CheckService::new(authorizer.clone()),
            authorizer,
            keys,
        }
    })
}
