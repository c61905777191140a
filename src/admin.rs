//! The admin HTTP port: liveness, readiness with per-issuer key status.

use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::authorizer::Authorizer;
use crate::keys::KeyStatus;

pub fn router(authorizer: Arc<Authorizer>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(authorizer)
}

pub async fn serve(
    listener: TcpListener,
    authorizer: Arc<Authorizer>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(authorizer))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn readyz(State(authorizer): State<Arc<Authorizer>>) -> (StatusCode, Json<Value>) {
    let runtime = authorizer.runtime();
    let issuers: Vec<Value> = runtime
        .key_status()
        .into_iter()
        .map(|(issuer, status)| {
            let mut v = match status {
                KeyStatus::Pending => json!({"state": "pending"}),
                KeyStatus::Ready { keys, fetched_at } => json!({"state": "ready", "keys": keys, "fetched_at": fetched_at}),
                KeyStatus::Failed { error } => json!({"state": "failed", "error": error}),
                KeyStatus::Stale { keys, fetched_at, error } => {
                    json!({"state": "stale", "keys": keys, "fetched_at": fetched_at, "error": error})
                }
            };
            v["issuer"] = json!(&*issuer);
            v
        })
        .collect();
    let ready = runtime.is_ready();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(json!({"ready": ready, "issuers": issuers})))
}
