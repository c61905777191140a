//! The gRPC port: ext_authz `Check`, `grpc.health.v1.Health` and server
//! reflection, so that grpcurl and ghz work without proto files.

mod check;
mod opa_input;
mod server;
pub mod unary;
pub mod wire;

use std::future::Future;
use std::sync::Arc;

use hyper::server::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

pub use check::{CheckService, Reply, RequestView};
pub use wire::CheckMessage;

use server::GrpcPort;

use crate::config::ServerSettings;
use crate::listen::accept;

/// Calls one connection may have open at once (HTTP/2's
/// `SETTINGS_MAX_CONCURRENT_STREAMS`). Envoy opens another connection when
/// it needs more; a caller cannot hold unbounded streams on one.
pub const MAX_STREAMS: u32 = 200;

/// The largest header list a call may send, 256 KiB: four times Envoy's
/// default limit on a downstream request's headers (60 KiB), since Envoy
/// passes some of them (`tracestate`) on in the call's own headers. A
/// longer list is refused by HTTP/2 itself (431), before any code of ours.
pub const MAX_HEADER_LIST: u32 = 256 * 1024;

/// The ext_authz service and every file it imports, filtered at build time
/// from envoy-types' descriptors.
pub const DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ext_authz_descriptor.bin"));

/// The full name of the ext_authz service, as health checks name it.
pub const AUTHORIZATION_SERVICE: &str = "envoy.service.auth.v3.Authorization";

/// A health "service" that is SERVING while the process runs, for liveness
/// probes: readiness (`""` and the ext_authz service) waits for keys, and a
/// liveness probe must not restart a pod that is only waiting for them.
pub const LIVENESS_SERVICE: &str = "liveness";

/// Readiness as gRPC health reports it, for the whole server ("") and for
/// the ext_authz service by name.
#[derive(Clone, Debug)]
pub struct Health {
    reporter: HealthReporter,
}

impl Health {
    /// Starts NOT_SERVING: nothing is ready before the keys are.
    pub async fn new() -> Self {
        let health = Self {
            reporter: HealthReporter::new(),
        };
        health
            .reporter
            .set_service_status(LIVENESS_SERVICE, ServingStatus::Serving)
            .await;
        health.set_ready(false).await;
        health
    }

    /// Sets readiness for the server and the ext_authz service; liveness is untouched.
    pub async fn set_ready(&self, ready: bool) {
        let status = if ready {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter.set_service_status("", status).await;
        self.reporter
            .set_service_status(AUTHORIZATION_SERVICE, status)
            .await;
    }
}

/// Serves until `shutdown` completes, then lets in-flight calls finish.
///
/// HTTP/2 only (gRPC). At most `server.grpc_max_connections` connections
/// are served at once (more wait in the kernel's backlog), each with at
/// most [`MAX_STREAMS`] calls at once and [`MAX_HEADER_LIST`] of headers
/// per call; a `Check` message must arrive within
/// `server.grpc_read_timeout`.
pub async fn serve(
    listener: TcpListener,
    check: CheckService,
    health: &Health,
    settings: &ServerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let health_service =
        HealthServer::new(HealthService::from_health_reporter(health.reporter.clone()));
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let mut others = Routes::new(health_service);
    // The descriptor set is built into the binary and checked by tests, so
    // these only fail on a broken build; serving Check matters more.
    match (reflection().build_v1(), reflection().build_v1alpha()) {
        (Ok(v1), Ok(v1alpha)) => others = others.add_service(v1).add_service(v1alpha),
        (Err(e), _) | (_, Err(e)) => tracing::error!(error = %e, "server reflection unavailable"),
    }
    let port = GrpcPort::new(check, others, settings.grpc_read_timeout);
    let mut http = http2::Builder::new(TokioExecutor::new());
    http.timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(MAX_HEADER_LIST);
    let permits = Arc::new(Semaphore::new(settings.grpc_max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let next = async {
            let permit = permits.clone().acquire_owned().await;
            (permit, accept(&listener, "grpc").await)
        };
        let (permit, stream) = tokio::select! {
            next = next => next,
            () = &mut shutdown => break,
        };
        let Ok(permit) = permit else { break };
        // Without TCP_NODELAY a small answer waits for Envoy's delayed
        // ACK: ~40 ms per Check.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "gRPC port: TCP_NODELAY not set");
        }
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), port.clone()));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "gRPC connection ended");
            }
            drop(permit);
        });
    }
    // The listener closes here: a new caller is refused at once instead
    // of waiting in the backlog while the calls in flight finish.
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
