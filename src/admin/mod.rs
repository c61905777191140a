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
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::authorizer::Authorizer;
use crate::keys::KeyStatus;
use crate::listen::accept;
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

/// Serves the admin routes on `listener` until `shutdown` completes, then
/// lets the connections in flight finish.
///
/// The port may face the network (logout and SSF receivers), so no one
/// can hold it: at most `server.admin_max_connections` connections are
/// served at once (more wait in the kernel's backlog, costing no file
/// descriptor here), and a connection that sends no complete request head
/// within `server.admin_read_timeout` (an idle one included) is closed.
/// Bodies get the same time (`guard::read_body`).
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let settings = state.authorizer.snapshot().config.server.clone();
    let service = TowerToHyperService::new(router(state));
    let permits = Arc::new(Semaphore::new(settings.admin_max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.admin_read_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let next = async {
            let permit = permits.clone().acquire_owned().await;
            (permit, accept(&listener, "admin").await)
        };
        let (permit, stream) = tokio::select! {
            next = next => next,
            () = &mut shutdown => break,
        };
        let Ok(permit) = permit else { break };
        let connection = http.serve_connection(TokioIo::new(stream), service.clone());
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    graceful.shutdown().await;
    Ok(())
}

/// One key store's state as `/readyz` shows it, naming its issuer.
fn key_state(issuer: &str, status: KeyStatus) -> Value {
    let mut v = match status {
        KeyStatus::Pending => json!({"state": "pending"}),
        KeyStatus::Ready { keys, fetched_at } => {
            json!({"state": "ready", "keys": keys, "fetched_at": fetched_at})
        }
        KeyStatus::Failed { error } => json!({"state": "failed", "error": error}),
        KeyStatus::Stale {
            keys,
            fetched_at,
            error,
        } => {
            json!({"state": "stale", "keys": keys, "fetched_at": fetched_at, "error": error})
        }
    };
    v["issuer"] = json!(issuer);
    v
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, Json<Value>) {
    let snapshot = state.authorizer.snapshot();
    let issuers: Vec<Value> = snapshot
        .key_status()
        .into_iter()
        .map(|(issuer, status)| key_state(&issuer, status))
        .collect();
    // Shown, not waited for (see `transmitter_key_status`).
    let transmitters: Vec<Value> = snapshot
        .transmitter_key_status()
        .into_iter()
        .map(|(issuer, status)| key_state(&issuer, status))
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
        Json(json!({
            "ready": ready,
            "issuers": issuers,
            "transmitters": transmitters,
            "revocations": revocations,
        })),
    )
}
