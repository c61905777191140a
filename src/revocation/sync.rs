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
use tokio::sync::RwLock;

use super::model::Revocation;
use super::service::Revocations;

/// A change, as published on the channel and kept in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum SyncOp {
    Put {
        revocation: Revocation,
    },
    /// `expires_at` of the lifted entry, if known: how long its tombstone
    /// must tell reconnecting replicas that it was lifted.
    Delete {
        id: String,
        #[serde(default)]
        expires_at: Option<f64>,
    },
}

impl SyncOp {
    pub fn id(&self) -> &str {
        match self {
            Self::Put { revocation } => &revocation.id,
            Self::Delete { id, .. } => id,
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising plain data cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

const PUSH_TIMEOUT: Duration = Duration::from_secs(1);
const OUTBOX_RETRY: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub struct RedisLink {
    client: redis::Client,
    prefix: String,
    channel: String,
    writer: RwLock<Option<MultiplexedConnection>>,
    connected: AtomicBool,
}

impl RedisLink {
    pub fn new(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
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
    pub async fn push(&self, op: &SyncOp) -> Result<(), String> {
        let Some(mut conn) = self.writer.read().await.clone() else {
            return Err("not connected".into());
        };
        push_with(&mut conn, self, op).await
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
    async fn session(&self, service: &Weak<Revocations>) -> Result<(), String> {
        let err = |e: redis::RedisError| e.to_string();
        let mut pubsub = self.client.get_async_pubsub().await.map_err(err)?;
        pubsub.subscribe(&self.channel).await.map_err(err)?;
        let mut conn = self
            .client
            .get_multiplexed_async_connection()
            .await
            .map_err(err)?;

        // Subscribed first, so nothing published from here on is missed;
        // then push our own backlog and catch up with everyone else's.
        let Some(svc) = service.upgrade() else {
            return Ok(());
        };
        self.flush_outbox(&svc, &mut conn).await?;
        let remote = self.load(&mut conn, "rev").await?;
        let lifted = self.load_ids(&mut conn, "tomb").await?;
        let revocations = remote
            .into_iter()
            .filter_map(|v| serde_json::from_str::<Revocation>(&v).ok())
            .collect();
        let reseed = svc
            .catch_up(revocations, &lifted)
            .await
            .map_err(|e| e.to_string())?;
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
                    let Some(msg) = msg else { return Err("subscription closed".into()) };
                    let Some(svc) = service.upgrade() else { return Ok(()) };
                    match msg.get_payload::<String>().ok().and_then(|p| serde_json::from_str::<SyncOp>(&p).ok()) {
                        Some(op) => svc.apply_remote(op).await,
                        None => tracing::warn!("revocation fan-out: ignored an unreadable message"),
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
    ) -> Result<(), String> {
        for op in svc.store().outbox().map_err(|e| e.to_string())? {
            push_with(conn, self, &op).await?;
            svc.store().clear_outbox(&op).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Every key under `{prefix}:{space}:`, as id strings.
    async fn load_ids(
        &self,
        conn: &mut MultiplexedConnection,
        space: &str,
    ) -> Result<std::collections::HashSet<String>, String> {
        let start = format!("{}:{space}:", self.prefix);
        Ok(self
            .scan(conn, space)
            .await?
            .into_iter()
            .filter_map(|k| k.strip_prefix(&start).map(str::to_owned))
            .collect())
    }

    /// The values of every key under `{prefix}:{space}:`.
    async fn load(
        &self,
        conn: &mut MultiplexedConnection,
        space: &str,
    ) -> Result<Vec<String>, String> {
        let keys = self.scan(conn, space).await?;
        let mut all = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(1000) {
            let values: Vec<Option<String>> = redis::cmd("MGET")
                .arg(chunk)
                .query_async(conn)
                .await
                .map_err(|e| e.to_string())?;
            all.extend(values.into_iter().flatten());
        }
        Ok(all)
    }

    async fn scan(
        &self,
        conn: &mut MultiplexedConnection,
        space: &str,
    ) -> Result<Vec<String>, String> {
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
                .await
                .map_err(|e| e.to_string())?;
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
) -> Result<(), String> {
    let mut pipe = redis::pipe();
    match op {
        SyncOp::Put { revocation } => {
            let json = serde_json::to_string(revocation).map_err(|e| e.to_string())?;
            let expire_ms = (revocation.expires_at * 1000.0).ceil() as u64;
            pipe.cmd("SET")
                .arg(link.key(&revocation.id))
                .arg(json)
                .arg("PXAT")
                .arg(expire_ms)
                .ignore();
            pipe.cmd("DEL").arg(link.tombstone(&revocation.id)).ignore();
        }
        SyncOp::Delete { id, expires_at } => {
            pipe.cmd("DEL").arg(link.key(id)).ignore();
            // Without a known expiry the tombstone lives a day, longer than
            // any token should.
            let until =
                expires_at.map_or_else(|| now_ms() + 86_400_000, |e| (e * 1000.0).ceil() as u64);
            pipe.cmd("SET")
                .arg(link.tombstone(id))
                .arg("1")
                .arg("PXAT")
                .arg(until)
                .ignore();
        }
    }
    pipe.cmd("PUBLISH")
        .arg(&link.channel)
        .arg(op.to_json())
        .ignore();
    tokio::time::timeout(PUSH_TIMEOUT, pipe.query_async::<()>(conn))
        .await
        .map_err(|_| "push timed out".to_string())?
        .map_err(|e| e.to_string())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
