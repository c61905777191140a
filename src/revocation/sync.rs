//! Redis fan-out: every revocation is written to Redis with a TTL and
//! published; every replica subscribes, applies what it hears within
//! milliseconds, and on (re)connect pushes what it accepted while cut off and
//! reloads the full set.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use super::model::Revocation;
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

const PUSH_TIMEOUT: Duration = Duration::from_secs(1);
const OUTBOX_RETRY: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub struct RedisLink {
    client: redis::Client,
    sealer: Sealer,
    prefix: String,
    channel: String,
    writer: RwLock<Option<MultiplexedConnection>>,
    connected: AtomicBool,
}

impl RedisLink {
    pub fn new(url: &str, prefix: &str, sealer: Sealer) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            sealer,
            prefix: prefix.to_string(),
            channel: format!("{prefix}:revocations"),
            writer: RwLock::new(None),
            connected: AtomicBool::new(false),
        })
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    fn key(&self, id: &str) -> String {
        format!("{}:rev:{id}", self.prefix)
    }

    fn tombstone(&self, id: &str) -> String {
        format!("{}:tomb:{id}", self.prefix)
    }

    /// Pushes one change now, if connected. An error leaves it in the
    /// outbox for the next flush.
    pub async fn push(&self, op: &SyncOp) -> Result<(), SyncError> {
        let Some(mut conn) = self.writer.read().await.clone() else {
            return Err(SyncError::NotConnected);
        };
        push_with(&mut conn, self, op).await
    }

    /// A message heard on the channel, opened and parsed; what fails either
    /// is counted and ignored.
    fn open_message(&self, svc: &Revocations, payload: &str) -> Option<SyncOp> {
        let opened = self.sealer.open(&self.channel, payload);
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

    /// Runs until the revocation service is dropped: connect, catch up,
    /// follow the channel; on any failure, reconnect with backoff.
    pub async fn run(self: Arc<Self>, service: Weak<Revocations>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let result = self.session(&service).await;
            self.connected.store(false, Ordering::Release);
            *self.writer.write().await = None;
            match result {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, "revocation fan-out: Redis unavailable; enforcing and accepting locally")
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection's life. `Ok` only when the service is gone.
    async fn session(&self, service: &Weak<Revocations>) -> Result<(), SyncError> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.channel).await?;
        let mut conn = self.client.get_multiplexed_async_connection().await?;

        // Subscribed first, so nothing published from here on is missed;
        // then push our own backlog and catch up with everyone else's.
        let Some(svc) = service.upgrade() else {
            return Ok(());
        };
        self.flush_outbox(&svc, &mut conn).await?;
        let revocations = self
            .load(&mut conn, "rev")
            .await?
            .into_iter()
            .filter_map(|(key, value)| {
                let opened = self.sealer.open(&key, &value).ok();
                let parsed = opened.and_then(|json| serde_json::from_str::<Revocation>(json).ok());
                if parsed.is_none() {
                    svc.rejected(
                        "unsealed",
                        "a stored revocation without a valid HMAC tag, or unreadable",
                    );
                }
                parsed
            })
            .collect();
        let lifted = self.load_tombstones(&svc, &mut conn).await?;
        let reseed = svc.catch_up(revocations, &lifted).await?;
        // What only we know (Redis lost it, or it was never pushed) goes
        // back: a revocation is never dropped for want of a copy.
        for revocation in reseed {
            push_with(&mut conn, self, &SyncOp::Put { revocation }).await?;
        }
        drop(svc);
        *self.writer.write().await = Some(conn.clone());
        self.connected.store(true, Ordering::Release);
        tracing::info!("revocation fan-out: connected to Redis and caught up");

        let mut messages = pubsub.on_message();
        let mut retry = tokio::time::interval(OUTBOX_RETRY);
        loop {
            tokio::select! {
                msg = messages.next() => {
                    let Some(msg) = msg else { return Err(SyncError::SubscriptionClosed) };
                    let Some(svc) = service.upgrade() else { return Ok(()) };
                    let payload = msg.get_payload::<String>().unwrap_or_default();
                    if let Some(op) = self.open_message(&svc, &payload) {
                        svc.apply_remote(op).await;
                    }
                }
                _ = retry.tick() => {
                    let Some(svc) = service.upgrade() else { return Ok(()) };
                    self.flush_outbox(&svc, &mut conn).await?;
                }
            }
        }
    }

    async fn flush_outbox(
        &self,
        svc: &Revocations,
        conn: &mut MultiplexedConnection,
    ) -> Result<(), SyncError> {
        for op in svc.store().outbox()? {
            push_with(conn, self, &op).await?;
            svc.store().clear_outbox(&op)?;
        }
        Ok(())
    }

    /// Every tombstone with a valid tag, by revocation id.
    async fn load_tombstones(
        &self,
        svc: &Revocations,
        conn: &mut MultiplexedConnection,
    ) -> Result<HashMap<String, Tombstone>, SyncError> {
        let start = format!("{}:tomb:", self.prefix);
        let mut lifted = HashMap::new();
        for (key, value) in self.load(conn, "tomb").await? {
            let tombstone = self
                .sealer
                .open(&key, &value)
                .ok()
                .and_then(|json| serde_json::from_str::<Tombstone>(json).ok());
            match (key.strip_prefix(&start), tombstone) {
                (Some(id), Some(t)) => {
                    lifted.insert(id.to_owned(), t);
                }
                _ => svc.rejected(
                    "unsealed",
                    "a tombstone without a valid HMAC tag, or unreadable",
                ),
            }
        }
        Ok(lifted)
    }

    /// Every key under `{prefix}:{space}:` with its value.
    async fn load(
        &self,
        conn: &mut MultiplexedConnection,
        space: &str,
    ) -> Result<Vec<(String, String)>, SyncError> {
        let keys = self.scan(conn, space).await?;
        let mut all = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(1000) {
            let values: Vec<Option<String>> =
                redis::cmd("MGET").arg(chunk).query_async(conn).await?;
            all.extend(
                chunk
                    .iter()
                    .zip(values)
                    .filter_map(|(k, v)| Some((k.clone(), v?))),
            );
        }
        Ok(all)
    }

    async fn scan(
        &self,
        conn: &mut MultiplexedConnection,
        space: &str,
    ) -> Result<Vec<String>, SyncError> {
        let pattern = format!("{}:{space}:*", self.prefix);
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }
}

async fn push_with(
    conn: &mut MultiplexedConnection,
    link: &RedisLink,
    op: &SyncOp,
) -> Result<(), SyncError> {
    let mut pipe = redis::pipe();
    match op {
        SyncOp::Put { revocation } => {
            let key = link.key(&revocation.id);
            let json = serde_json::to_string(revocation)?;
            let expire_ms = (revocation.expires_at * 1000.0).ceil() as u64;
            pipe.cmd("SET")
                .arg(&key)
                .arg(link.sealer.seal(&key, &json))
                .arg("PXAT")
                .arg(expire_ms)
                .ignore();
            pipe.cmd("DEL").arg(link.tombstone(&revocation.id)).ignore();
        }
        SyncOp::Delete {
            id,
            expires_at,
            revoked_at,
        } => {
            pipe.cmd("DEL").arg(link.key(id)).ignore();
            // Without a known expiry the tombstone lives a day, longer than
            // any token should.
            let until =
                expires_at.map_or_else(|| now_ms() + 86_400_000, |e| (e * 1000.0).ceil() as u64);
            let key = link.tombstone(id);
            let json = serde_json::to_string(&Tombstone {
                revoked_at: *revoked_at,
            })?;
            pipe.cmd("SET")
                .arg(&key)
                .arg(link.sealer.seal(&key, &json))
                .arg("PXAT")
                .arg(until)
                .ignore();
        }
    }
    pipe.cmd("PUBLISH")
        .arg(&link.channel)
        .arg(link.sealer.seal(&link.channel, &op.to_json()?))
        .ignore();
    tokio::time::timeout(PUSH_TIMEOUT, pipe.query_async::<()>(conn))
        .await
        .map_err(|_| SyncError::Timeout)??;
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
