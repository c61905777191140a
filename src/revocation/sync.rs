//! Redis fan-out: every revocation is written to Redis with a TTL and
//! published; every replica subscribes, applies what it hears within
//! milliseconds, and on (re)connect pushes what it accepted while cut off and
//! reloads the full set.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use tokio::sync::{RwLock, watch};

use super::model::Revocation;
use super::push::push_with;
use super::seal::{Sealer, Unsealed};
use super::service::Revocations;
use super::store::StoreError;

/// A change, as published on the channel and kept in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum SyncOp {
    Put {
        revocation: Revocation,
    },
    Delete {
        id: String,
        /// `expires_at` of the lifted entry, if known: how long its
        /// tombstone must tell reconnecting replicas that it was lifted.
        #[serde(default)]
        expires_at: Option<f64>,
        /// `created_at` of the lifted entry, if known. A replica drops
        /// only an entry that is not newer, so replaying an old lift cannot
        /// undo a later revocation of the same target.
        #[serde(default)]
        revoked_at: Option<f64>,
    },
}

impl SyncOp {
    pub fn id(&self) -> &str {
        match self {
            Self::Put { revocation } => &revocation.id,
            Self::Delete { id, .. } => id,
        }
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Why the link to Redis failed; it reconnects after any of these.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("not connected to Redis")]
    NotConnected,
    #[error("push to Redis timed out")]
    Timeout,
    #[error("the subscription ended")]
    SubscriptionClosed,
    #[error("connecting to Redis timed out")]
    ConnectTimeout,
    #[error("the revocation service stopped")]
    Stopped,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("encoding a message: {0}")]
    Encoding(#[from] serde_json::Error),
}

/// A tombstone: proof, for replicas that were away, that an entry was
/// lifted, and which revocation the lift was for.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Tombstone {
    #[serde(default)]
    pub revoked_at: Option<f64>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const OUTBOX_RETRY: Duration = Duration::from_secs(1);
/// Reconnect attempts are cheap; a replica back within half a second keeps
/// fan-out after a Redis restart well under a second.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Where this replica stands with the shared store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// The first connection is being made.
    Connecting,
    /// Not connected; enforcing and accepting locally.
    Unreachable,
    /// Connected and following live changes; loading what was missed.
    CatchingUp,
    /// Connected and caught up.
    Connected,
    /// The first catch-up took longer than allowed: serving anyway.
    Stale,
}

impl SyncState {
    /// As `/readyz` reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Unreachable => "unreachable",
            Self::CatchingUp => "catching_up",
            Self::Connected => "connected",
            Self::Stale => "stale",
        }
    }
}

pub struct RedisLink {
    client: redis::Client,
    pub(super) sealer: Sealer,
    prefix: String,
    channel: String,
    writer: RwLock<Option<MultiplexedConnection>>,
    state: watch::Sender<SyncState>,
    /// False until the first catch-up has brought in every revocation this
    /// replica missed (or the first connection failed, or the wait timed
    /// out): readiness waits for it, so mesh traffic goes to replicas that
    /// know every revocation.
    initial_sync: watch::Sender<bool>,
    /// A push failed while connected: the outbox holds changes that no push
    /// in flight will clear.
    backlog: AtomicBool,
}

impl RedisLink {
    pub fn new(url: &str, prefix: &str, sealer: Sealer) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            sealer,
            prefix: prefix.to_string(),
            channel: format!("{prefix}:revocations"),
            writer: RwLock::new(None),
            state: watch::Sender::new(SyncState::Connecting),
            initial_sync: watch::Sender::new(false),
            backlog: AtomicBool::new(false),
        })
    }

    /// Connected and caught up.
    pub fn is_connected(&self) -> bool {
        *self.state.borrow() == SyncState::Connected
    }

    pub fn state(&self) -> SyncState {
        *self.state.borrow()
    }

    /// Whether the first catch-up is over (see `initial_sync`).
    pub fn initially_synced(&self) -> bool {
        *self.initial_sync.borrow()
    }

    pub fn watch_initial_sync(&self) -> watch::Receiver<bool> {
        self.initial_sync.subscribe()
    }

    pub(super) fn key(&self, id: &str) -> String {
        format!("{}:rev:{id}", self.prefix)
    }

    pub(super) fn tombstone(&self, id: &str) -> String {
        format!("{}:tomb:{id}", self.prefix)
    }

    pub(super) fn channel(&self) -> &str {
        &self.channel
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(super) fn set_state(&self, state: SyncState) {
        self.state.send_replace(state);
    }

    /// The first catch-up is over, one way or another.
    pub(super) fn initial_sync_done(&self, state: SyncState) {
        if !self.initially_synced() {
            self.set_state(state);
            self.initial_sync.send_replace(true);
        }
    }

    /// Pushes changes now, in one pipeline, if connected. An error leaves
    /// them in the outbox for the next flush.
    pub async fn push(&self, ops: &[SyncOp]) -> Result<(), SyncError> {
        let Some(mut conn) = self.writer.read().await.clone() else {
            return Err(SyncError::NotConnected);
        };
        let pushed = push_with(&mut conn, self, ops).await;
        if pushed.is_err() {
            self.outbox_needs_flush();
        }
        pushed
    }

    /// The outbox holds changes that no push in flight will clear: flush it
    /// at the next tick.
    pub fn outbox_needs_flush(&self) {
        self.backlog.store(true, Ordering::Release);
    }

    /// A message heard on the channel, opened and parsed; what fails either
    /// is counted and ignored.
    fn open_message(&self, svc: &Revocations, payload: &str) -> Option<SyncOp> {
        let opened = self.sealer.open(&self.channel, payload);
        // Our own revocations come back on the channel: they are applied
        // already, so they are dropped before any parsing. The marker can
        // only occur as the record's own `origin` key: inside a JSON string
        // (a `reason`, say) its quotes would be escaped.
        if opened.is_ok_and(|json| json.contains(&svc.origin_marker)) {
            return None;
        }
        let parsed = opened.map(serde_json::from_str::<SyncOp>);
        match parsed {
            Ok(Ok(op)) => Some(op),
            Err(Unsealed) => {
                svc.rejected("unsealed", "a message without a valid HMAC tag");
                None
            }
            Ok(Err(_)) => {
                svc.rejected("invalid", "an unreadable message");
                None
            }
        }
    }

    /// Runs until the revocation service is dropped: connect, follow the
    /// channel while catching up, reconnect with backoff on any failure.
    /// The first catch-up may take at most `catch_up_timeout`; past it the
    /// replica serves anyway, reported `stale`.
    pub async fn run(self: Arc<Self>, service: Weak<Revocations>, catch_up_timeout: Duration) {
        let link = Arc::downgrade(&self);
        tokio::spawn(async move {
            tokio::time::sleep(catch_up_timeout).await;
            if let Some(link) = link.upgrade()
                && !link.initially_synced()
            {
                tracing::warn!(
                    ?catch_up_timeout,
                    "revocation fan-out: the first catch-up is taking too long; serving with what this replica knows (stale)"
                );
                link.initial_sync_done(SyncState::Stale);
            }
        });
        let mut backoff = Duration::from_millis(100);
        loop {
            let result = self.session(&service).await;
            *self.writer.write().await = None;
            match result {
                Ok(()) | Err(SyncError::Stopped) => return,
                Err(error) => {
                    self.set_state(SyncState::Unreachable);
                    tracing::warn!(%error, "revocation fan-out: Redis unavailable; enforcing and accepting locally")
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection's life. `Ok` only when the service is gone.
    async fn session(&self, service: &Weak<Revocations>) -> Result<(), SyncError> {
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, self.connect())
            .await
            .unwrap_or(Err(SyncError::ConnectTimeout));
        let (mut pubsub, conn) = match connected {
            Ok(connected) => connected,
            Err(error) => {
                // Unreachable at start: serve what the local file holds.
                self.initial_sync_done(SyncState::Unreachable);
                return Err(error);
            }
        };
        // Subscribed first and writing at once: live fan-out in both
        // directions never waits for the catch-up, which runs alongside.
        *self.writer.write().await = Some(conn.clone());
        self.set_state(SyncState::CatchingUp);
        let catch_up = self.catch_up(service, conn.clone());
        tokio::pin!(catch_up);
        let mut caught_up = false;
        let mut messages = pubsub.on_message();
        let mut retry = tokio::time::interval(OUTBOX_RETRY);
        loop {
            tokio::select! {
                msg = messages.next() => {
                    let Some(msg) = msg else { return Err(SyncError::SubscriptionClosed) };
                    let svc = service.upgrade().ok_or(SyncError::Stopped)?;
                    let payload = msg.get_payload::<String>().unwrap_or_default();
                    if let Some(op) = self.open_message(&svc, &payload) {
                        svc.apply_remote(op).await;
                    }
                }
                done = &mut catch_up, if !caught_up => {
                    done?;
                    caught_up = true;
                    self.set_state(SyncState::Connected);
                    tracing::info!("revocation fan-out: connected to Redis and caught up");
                }
                // Only when a push failed: the changes of a push in flight
                // are in the outbox too, and must not be pushed twice.
                _ = retry.tick(), if caught_up && self.backlog.swap(false, Ordering::AcqRel) => {
                    self.flush_outbox(service, &mut conn.clone()).await?;
                }
            }
        }
    }

    async fn connect(&self) -> Result<(redis::aio::PubSub, MultiplexedConnection), SyncError> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.channel).await?;
        let conn = self.client.get_multiplexed_async_connection().await?;
        Ok((pubsub, conn))
    }
}
