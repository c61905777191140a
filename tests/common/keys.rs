//! A JWKS + OIDC discovery server on loopback whose answers a test controls.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use zt_authz::dev::{DevAlg, DevKeys};

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// What the JWKS endpoint answers.
#[derive(Clone)]
pub enum Serve {
    /// The server's own keys.
    Keys,
    /// A JWKS document given by the test.
    Document(Value),
    Garbage,
    Error500,
    /// Never answers.
    Hang,
}

struct ServerState {
    issuer: String,
    keys: Arc<DevKeys>,
    serve: Mutex<Serve>,
    jwks_hits: AtomicUsize,
}

pub struct KeyServer {
    pub addr: SocketAddr,
    pub keys: Arc<DevKeys>,
    state: Arc<ServerState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl KeyServer {
    pub async fn start(kid_prefix: &str) -> KeyServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let keys = Arc::new(DevKeys::generate(kid_prefix).unwrap());
        let state = Arc::new(ServerState {
            issuer: format!("http://{addr}"),
            keys: keys.clone(),
            serve: Mutex::new(Serve::Keys),
            jwks_hits: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/jwks.json", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .with_state(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        KeyServer {
            addr,
            keys,
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn issuer(&self) -> String {
        self.state.issuer.clone()
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks.json", self.state.issuer)
    }

    pub fn set(&self, serve: Serve) {
        *self.state.serve.lock().unwrap() = serve;
    }

    /// How many times the JWKS was requested.
    pub fn hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    /// Stops the server and waits until its port is closed.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Claims of a valid token for `aud`, overridden by `extra`.
    pub fn claims(&self, extra: Value) -> Value {
        let now = now();
        let mut c = json!({
            "iss": self.issuer(),
            "sub": "alice",
            "aud": "orders-api",
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            "jti": format!("jti-{}", rand()),
            "scope": "orders:read",
            "acr": "mfa",
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    /// A valid RS256 token with `extra` claims.
    pub fn token(&self, extra: Value) -> String {
        self.keys.mint(DevAlg::RS256, &self.claims(extra))
    }
}

fn rand() -> u64 {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    u64::from_le_bytes(b)
}

async fn jwks(State(state): State<Arc<ServerState>>) -> Response {
    state.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let serve = state.serve.lock().unwrap().clone();
    match serve {
        Serve::Keys => (
            [(header::CACHE_CONTROL, "max-age=300")],
            axum::Json(state.keys.jwks()),
        )
            .into_response(),
        Serve::Document(doc) => axum::Json(doc).into_response(),
        Serve::Garbage => (StatusCode::OK, "<html>not a key set</html>").into_response(),
        Serve::Error500 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Serve::Hang => std::future::pending().await,
    }
}

async fn discovery(State(state): State<Arc<ServerState>>) -> Response {
    axum::Json(json!({"issuer": state.issuer, "jwks_uri": format!("{}/jwks.json", state.issuer)}))
        .into_response()
}
