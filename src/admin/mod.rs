//! The admin HTTP port: liveness, readiness, the revocation API and the
//! OIDC back-channel logout receiver.

mod api;
mod error;
mod guard;
mod logout;
mod seen;
mod ssf;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::authorizer::Authorizer;
use crate::keys::KeyStatus;
use crate::revocation::Revocations;
use crate::telemetry::metrics::Metrics;

pub use error::ApiError;
pub use seen::SeenTokens;

#[derive(Clone)]
/// What every admin handler reads.
pub struct AdminState {
    /// The pipeline, also used to authenticate admin callers.
    pub authorizer: Arc<Authorizer>,
    /// Where revocations are accepted, listed and lifted.
    pub revocations: Arc<Revocations>,
    /// Served on `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The address the admin listener is bound to (not the configured one,
    /// which a reload may have changed).
    pub bound: SocketAddr,
    /// Logout tokens already received, refused if replayed.
    pub logouts: Arc<SeenTokens>,
    /// Security events already received, refused if replayed.
    pub security_events: Arc<SeenTokens>,
}

/// Every admin route: probes, metrics, the revocation API and the logout receiver.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|State(s): State<AdminState>| async move {
                (
                    [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                    s.metrics.render(),
                )
            }),
        )
        .route("/v1/revocations", post(api::create).get(api::list))
        .route("/v1/revocations/batch", post(api::create_many))
        .route(
            "/v1/revocations/{id}",
            get(api::get_one).delete(api::delete),
        )
        .route("/v1/backchannel-logout", post(logout::receive))
        .route("/v1/ssf/events", post(ssf::receive))
        .fallback(|| async { ApiError::not_found("no such endpoint on the admin port") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(state)
}

/// Serves the admin routes on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, Json<Value>) {
    let snapshot = state.authorizer.snapshot();
    let issuers: Vec<Value> = snapshot
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
    let mut revocations = serde_json::Map::new();
    for (kind, n) in state.revocations.index().active_by_kind() {
        revocations.insert(kind.as_str().into(), json!(n));
    }
    revocations.insert(
        "shared_store".into(),
        json!(state.revocations.shared_store_state()),
    );
    revocations.insert(
        "shared_store_connected".into(),
        json!(state.revocations.shared_store_connected()),
    );
    // Keys for every issuer, and every revocation this replica missed.
    let ready = snapshot.is_ready() && state.revocations.is_ready();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(json!({"ready": ready, "issuers": issuers, "revocations": revocations})),
    )
}
