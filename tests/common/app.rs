//! zt-authz itself, started in-process on port 0 from a real config file.

use std::path::PathBuf;

use std::collections::HashMap;

use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest, CheckResponse};
use zt_authz::app::{App, AppOptions, RunningApp};
use zt_authz::clock::SharedClock;
use zt_authz::config::Config;
use zt_authz::grpc::CheckService;

pub struct TestApp {
    pub running: RunningApp,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
}

impl TestApp {
    /// Writes `yaml` to a file, starts the app from it, and waits until
    /// every issuer's first key fetch has finished.
    pub async fn start(yaml: &str) -> TestApp {
        Self::start_with_clock(yaml, None).await
    }

    /// `start`, with more files (Rego modules, data) beside the config.
    #[allow(dead_code)]
    pub async fn start_with_files(yaml: &str, files: &[(&str, &str)]) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        std::fs::write(dir.path().join("zt-authz.yaml"), yaml).unwrap();
        Self::start_in(dir, None).await
    }

    pub async fn start_with_clock(yaml: &str, clock: Option<SharedClock>) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("zt-authz.yaml"), yaml).unwrap();
        Self::start_in(dir, clock).await
    }

    /// Stops this app and starts a new one from the same directory (same
    /// config, same revocation store): a replica restart.
    pub async fn restart(self) -> TestApp {
        self.restart_with_clock(None).await
    }

    /// `restart`, with the new app on `clock`.
    pub async fn restart_with_clock(self, clock: Option<SharedClock>) -> TestApp {
        let old = std::sync::Arc::downgrade(&self.running.revocations);
        self.running.stop().await.unwrap();
        // Background tasks let go of the old store a moment after the
        // servers stop; the new one can only open the file after that.
        for _ in 0..500 {
            if old.strong_count() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(
            old.strong_count(),
            0,
            "the old app still holds its revocation store"
        );
        Self::start_in(self.dir, clock).await
    }

    async fn start_in(dir: tempfile::TempDir, clock: Option<SharedClock>) -> TestApp {
        zt_authz::install_crypto_provider();
        let config_path = dir.path().join("zt-authz.yaml");
        let config = Config::load(&config_path).unwrap_or_else(|e| panic!("{e}"));
        let mut options = AppOptions {
            config_path: Some(config_path.clone()),
            ..AppOptions::default()
        };
        if let Some(clock) = clock {
            options.clock = clock;
        }
        // After an in-process restart a store write of the old app may still
        // be finishing on a blocking thread, holding the file's lock.
        let mut app = App::build(config.clone(), options).await;
        for _ in 0..500 {
            match &app {
                Err(e) if e.is_store_in_use() => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    let options = AppOptions {
                        config_path: Some(config_path.clone()),
                        ..AppOptions::default()
                    };
                    app = App::build(config.clone(), options).await;
                }
                _ => break,
            }
        }
        let app = app.unwrap_or_else(|e| panic!("{e}"));
        let running = app.spawn().unwrap();
        let t = TestApp {
            running,
            dir,
            config_path,
        };
        t.keys_settled().await;
        t
    }

    /// Waits (event-driven, bounded) until no issuer's first fetch is pending.
    pub async fn keys_settled(&self) {
        let runtime = self.running.authorizer.snapshot();
        for trust in runtime.verifier.issuers() {
            let mut rx = trust.keys.watch_status();
            tokio::time::timeout(
                std::time::Duration::from_secs(10),
                rx.wait_for(|s| !matches!(s, zt_authz::keys::KeyStatus::Pending)),
            )
            .await
            .expect("first key fetch finished in time")
            .unwrap();
        }
    }

    /// Waits (bounded) until the replica is connected to Redis and caught up.
    #[allow(dead_code)]
    pub async fn shared_store_connected(&self) {
        let svc = self.running.revocations.clone();
        super::wait::until(
            "connected to Redis",
            std::time::Duration::from_secs(10),
            async || svc.shared_store_connected(),
        )
        .await;
    }

    /// Calls the Check handler directly, without a socket, as the gRPC
    /// server does: a reused encoded allow is decoded back.
    pub async fn check(&self, request: &CheckRequest) -> CheckResponse {
        use prost::Message;
        let service = CheckService::new(self.running.authorizer.clone());
        let request = zt_authz::grpc::CheckMessage::of(request);
        match service.reply(&tonic::Request::new(request)).await {
            zt_authz::grpc::Reply::Message(response) => *response,
            zt_authz::grpc::Reply::Written(bytes) => {
                CheckResponse::decode(&*bytes).expect("a written allow decodes")
            }
            zt_authz::grpc::Reply::Encoded(bytes) => {
                CheckResponse::decode(&*bytes).expect("a kept allow decodes")
            }
            zt_authz::grpc::Reply::Kept(claims) => match zt_authz::grpc::Reply::kept_bytes(&claims)
            {
                Ok(bytes) => CheckResponse::decode(bytes).expect("a kept allow decodes"),
                Err(denial) => *denial,
            },
        }
    }

    /// (HTTP status, denial body) of a GET of `path` with `token`: 200 and
    /// an empty body for an allow.
    pub async fn outcome(&self, path: &str, token: &str) -> (i32, String) {
        use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
        let response = self.check(&check_request(path, Some(token))).await;
        assert!(response.status.is_some(), "status is always set");
        match response.http_response {
            Some(HttpResponse::OkResponse(_)) => (200, String::new()),
            Some(HttpResponse::DeniedResponse(d)) => (d.status.map_or(0, |s| s.code), d.body),
            other => panic!("{other:?}"),
        }
    }

    /// Whether a GET of `/orders` with `token` is denied as revoked.
    pub async fn revoked(&self, token: &str) -> bool {
        let (status, body) = self.outcome("/orders", token).await;
        status == 401 && body.contains("token revoked")
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.running.grpc_addr)
    }

    pub fn admin_url(&self) -> String {
        format!("http://{}", self.running.admin_addr)
    }
}

/// A GET to `api.local` + `path`, with a bearer token when given.
pub fn check_request(path: &str, token: Option<&str>) -> CheckRequest {
    let mut headers = HashMap::new();
    headers.insert(":authority".to_string(), "api.local".to_string());
    if let Some(t) = token {
        headers.insert("authorization".to_string(), format!("Bearer {t}"));
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "GET".into(),
                    host: "api.local".into(),
                    path: path.into(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// The HTTP request inside a `CheckRequest`, to add headers to.
pub fn http_mut(request: &mut CheckRequest) -> &mut HttpRequest {
    request
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
        .expect("check_request builds an HTTP request")
}
