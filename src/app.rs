//! Start-up in three steps: `Config::load` → `App::build` (binds the ports,
//! so tests can ask for port 0) → `App::spawn` / `App::run`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::{FutureExt, select_all};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::authorizer::{Authorizer, DecisionRecorder, LogRecorder};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::grpc::{self, CheckService, Health};
use crate::keys::{IssuerKeys, http_client};
use crate::pipeline::DecisionPipeline;
use crate::reload::{ExposureError, Reloader, check_admin_exposure};
use crate::revocation::{NoEvents, RevocationEvents, Revocations, StoreError};
use crate::telemetry::metrics::{Metrics, MetricsEvents, MetricsRecorder, Sources};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The revocation store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The admin API would be open to the network.
    #[error(transparent)]
    Exposure(#[from] ExposureError),
}

impl AppError {
    /// The revocation file is still held by an instance that is stopping.
    pub fn is_store_in_use(&self) -> bool {
        matches!(self, AppError::Store(e) if e.is_in_use())
    }
}

/// What can be swapped for tests or other deployments.
pub struct AppOptions {
    /// The file the config came from; watched for changes when set.
    pub config_path: Option<PathBuf>,
    /// The clock every time check reads; tests inject one.
    pub clock: SharedClock,
    /// Hooks for revocation metrics, after the built-in ones.
    pub revocation_events: Arc<dyn RevocationEvents>,
    /// Where decisions are reported, after metrics.
    pub recorder: Arc<dyn DecisionRecorder>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            config_path: None,
            clock: Arc::new(SystemClock),
            revocation_events: Arc::new(NoEvents),
            recorder: Arc::new(LogRecorder),
        }
    }
}

/// A built but not yet serving service: its listeners are bound.
pub struct App {
    grpc_listener: TcpListener,
    admin_listener: TcpListener,
    authorizer: Arc<Authorizer>,
    revocations: Arc<Revocations>,
    reloader: Arc<Reloader>,
    metrics: Arc<Metrics>,
    health: Health,
    initial_keys: Vec<Arc<IssuerKeys>>,
}

/// A running app: addresses to talk to and a way to stop it.
pub struct RunningApp {
    /// Where the gRPC listener is bound.
    pub grpc_addr: SocketAddr,
    /// Where the admin listener is bound.
    pub admin_addr: SocketAddr,
    /// The pipeline the service decides with.
    pub authorizer: Arc<Authorizer>,
    /// The revocation service.
    pub revocations: Arc<Revocations>,
    /// Reloads the config file.
    pub reloader: Arc<Reloader>,
    /// The Prometheus metrics.
    pub metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

impl App {
    /// Binds both listeners (port 0 allowed), opens the revocation store and builds the first snapshot.
    pub async fn build(config: Config, options: AppOptions) -> Result<App, AppError> {
        let bind = |addr: SocketAddr| async move {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| AppError::Bind { addr, source })?;
            let bound = listener
                .local_addr()
                .map_err(|source| AppError::Bind { addr, source })?;
            Ok::<_, AppError>((listener, bound))
        };
        let (grpc_listener, _) = bind(config.server.grpc_addr).await?;
        let (admin_listener, admin_bound) = bind(config.server.admin_addr).await?;
        check_admin_exposure(&config, admin_bound)?;
        let metrics = Metrics::new();
        let events = Arc::new(MetricsEvents {
            metrics: metrics.clone(),
            next: options.revocation_events,
        });
        let client = http_client();
        let DecisionPipeline {
            authorizer,
            revocations,
            new_keys: initial_keys,
        } = DecisionPipeline::build(
            config,
            &client,
            options.clock.clone(),
            Arc::new(MetricsRecorder {
                metrics: metrics.clone(),
                next: options.recorder,
            }),
            events,
        )?;
        let reloader = Arc::new(Reloader::new(
            options.config_path,
            admin_bound,
            authorizer.clone(),
            client,
            options.clock,
        ));
        let snapshot_source = Arc::downgrade(&authorizer);
        metrics.set_sources(Sources {
            snapshot: Box::new(move || snapshot_source.upgrade().map(|a| a.snapshot())),
            revocations: Arc::downgrade(&revocations),
            reloader: Arc::downgrade(&reloader),
        });
        Ok(App {
            grpc_listener,
            admin_listener,
            authorizer,
            revocations,
            reloader,
            metrics,
            health: Health::new().await,
            initial_keys,
        })
    }

    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> std::io::Result<SocketAddr> {
        self.grpc_listener.local_addr()
    }

    /// The bound admin address.
    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.admin_listener.local_addr()
    }

    /// Starts serving in the background.
    pub fn spawn(self) -> std::io::Result<RunningApp> {
        let grpc_addr = self.grpc_addr()?;
        let admin_addr = self.admin_addr()?;
        let authorizer = self.authorizer.clone();
        let revocations = self.revocations.clone();
        let reloader = self.reloader.clone();
        let metrics = self.metrics.clone();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(self.serve(stopped));
        Ok(RunningApp {
            grpc_addr,
            admin_addr,
            authorizer,
            revocations,
            reloader,
            metrics,
            stop,
            task,
        })
    }

    /// Serves until SIGTERM or SIGINT; SIGHUP reloads the config.
    pub async fn run(self) -> std::io::Result<()> {
        let running = self.spawn()?;
        crate::reload::wait_for_shutdown_signal(&running.reloader).await;
        tracing::info!("shutting down; letting in-flight checks finish");
        running.stop().await
    }

    async fn serve(self, stopped: watch::Receiver<bool>) -> std::io::Result<()> {
        for keys in &self.initial_keys {
            tokio::spawn(IssuerKeys::run(Arc::downgrade(keys)));
        }
        self.revocations.start();
        let grace = self.authorizer.snapshot().config.server.shutdown_grace;
        let readiness = tokio::spawn(track_readiness(
            self.authorizer.clone(),
            self.revocations.clone(),
            self.reloader.clone(),
            self.health.clone(),
        ));
        let watcher = tokio::spawn(self.reloader.clone().watch_file());
        let signal = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let server_settings = self.authorizer.snapshot().config.server.clone();
        let grpc = grpc::serve(
            self.grpc_listener,
            CheckService::new(self.authorizer.clone()),
            &self.health,
            &server_settings,
            signal(stopped.clone()),
        );
        let admin_state = crate::admin::AdminState {
            authorizer: self.authorizer.clone(),
            revocations: self.revocations.clone(),
            metrics: self.metrics.clone(),
            bound: self.admin_listener.local_addr()?,
            logouts: Arc::default(),
            security_events: Arc::default(),
        };
        let admin = crate::admin::serve(self.admin_listener, admin_state, signal(stopped.clone()));
        let servers = async { tokio::join!(grpc, admin) };
        tokio::pin!(servers);
        let result = tokio::select! {
            (g, a) = &mut servers => Some((g, a)),
            _ = async {
                signal(stopped).await;
                tokio::time::sleep(grace).await;
            } => None,
        };
        readiness.abort();
        watcher.abort();
        match result {
            None => {
                tracing::warn!(
                    ?grace,
                    "shutdown grace period over; dropping unfinished calls"
                );
                Ok(())
            }
            Some((g, a)) => {
                g?;
                a
            }
        }
    }
}

impl RunningApp {
    /// Stops accepting, lets in-flight calls finish (within the grace
    /// period) and returns when both ports are closed.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// Keeps gRPC health in step with key availability, the first revocation
/// catch-up and config reloads.
async fn track_readiness(
    authorizer: Arc<Authorizer>,
    revocations: Arc<Revocations>,
    reloader: Arc<Reloader>,
    health: Health,
) {
    let mut reloads = reloader.subscribe();
    let mut synced = revocations.watch_ready();
    loop {
        let snapshot = authorizer.snapshot();
        health
            .set_ready(snapshot.is_ready() && revocations.is_ready())
            .await;
        let mut watches: Vec<_> = snapshot
            .verifier
            .issuers()
            .map(|t| t.keys.watch_status())
            .collect();
        drop(snapshot);
        let key_change = async {
            if watches.is_empty() {
                return std::future::pending().await;
            }
            let changes = watches.iter_mut().map(|w| w.changed().boxed());
            let _ = select_all(changes).await;
        };
        let sync_change = async {
            match synced.as_mut() {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = key_change => {}
            _ = sync_change => {}
            changed = reloads.changed() => if changed.is_err() { return },
        }
    }
}
