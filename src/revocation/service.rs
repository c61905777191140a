//! Accepting, lifting and listing revocations, and keeping the index, the
//! local store and the shared store in step.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;

use super::index::RevocationIndex;
use super::model::{ExpiryRules, Kind, NewRevocation, Revocation, RevocationError, parse_id};
use super::seal::{HmacKey, Sealer};
use super::store::{EmbeddedStore, Page, StoreError};
use super::sync::{RedisLink, SyncOp};
use crate::clock::SharedClock;

/// How often expired entries are dropped from memory and disk.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Hooks for metrics.
pub trait RevocationEvents: Send + Sync + 'static {
    /// A revocation accepted on another replica was applied here,
    /// `delay_secs` after it was accepted.
    fn propagated(&self, _delay_secs: f64) {}
    /// Something read from the shared store was ignored: `unsealed` (no
    /// valid HMAC tag) or `invalid` (failed the checks API input gets).
    fn rejected_from_shared_store(&self, _why: &'static str) {}
}

#[derive(Debug, Default)]
/// Events that go nowhere.
pub struct NoEvents;
impl RevocationEvents for NoEvents {}

#[derive(Debug, Clone, PartialEq, Eq)]
/// Where revocations are kept.
pub enum StoreSettings {
    /// Not durable: for tests and throw-away set-ups.
    Memory,
    /// A local redb file.
    Embedded {
        /// The file.
        path: PathBuf,
    },
    /// A local file for durability plus Redis for fan-out.
    Redis {
        /// The local file.
        path: PathBuf,
        /// The `redis://` or `rediss://` URL.
        url: String,
        /// Key prefix and channel name.
        prefix: String,
        /// Authenticates what replicas exchange through Redis.
        hmac_key: Option<HmacKey>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// The `revocations` section of the config.
pub struct RevocationSettings {
    /// Where revocations are kept.
    pub store: StoreSettings,
    /// The longest token lifetime allowed: caps how long entries live.
    pub max_token_lifetime: Duration,
    /// Clock-skew allowance added to every entry's expiry.
    pub leeway: Duration,
    /// How long a replica that reached Redis at start may stay unready
    /// while it catches up, before it serves anyway (`stale`).
    pub catch_up_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
/// Why a revocation was not accepted.
pub enum RevokeError {
    #[error(transparent)]
    /// The request was invalid.
    Invalid(#[from] RevocationError),
    #[error(transparent)]
    /// The store could not write it.
    Store(#[from] StoreError),
}

/// Revocations: the index the hot path reads, the local store, and the fan-out.
pub struct Revocations {
    pub(super) index: Arc<RevocationIndex>,
    pub(super) store: Arc<EmbeddedStore>,
    redis: Option<Arc<RedisLink>>,
    pub(super) rules: ExpiryRules,
    origin: String,
    /// `"origin":"<origin>"`, as it appears in this replica's own messages.
    pub(super) origin_marker: String,
    pub(super) clock: SharedClock,
    pub(super) events: Arc<dyn RevocationEvents>,
    catch_up_timeout: Duration,
    /// Entries heard from other replicas, waiting to be written to the
    /// local file in batches (set by `start`).
    pub(super) persist: OnceLock<mpsc::Sender<SyncOp>>,
}

impl Revocations {
    /// Opens the store and loads every unexpired revocation into memory.
    pub fn open(
        settings: &RevocationSettings,
        clock: SharedClock,
        events: Arc<dyn RevocationEvents>,
    ) -> Result<Arc<Self>, StoreError> {
        let (store, redis) = match &settings.store {
            StoreSettings::Memory => (EmbeddedStore::in_memory()?, None),
            StoreSettings::Embedded { path } => (EmbeddedStore::open(path)?, None),
            StoreSettings::Redis {
                path,
                url,
                prefix,
                hmac_key,
            } => {
                let link = RedisLink::new(url, prefix, Sealer::new(hmac_key.clone()))
                    .map_err(StoreError::RedisUrl)?;
                (EmbeddedStore::open(path)?, Some(Arc::new(link)))
            }
        };
        let rules = ExpiryRules {
            max_token_lifetime: settings.max_token_lifetime.as_secs_f64(),
            leeway: settings.leeway.as_secs_f64(),
        };
        let index = Arc::new(RevocationIndex::new(clock.clone()));
        let now = clock.now_unix();
        // Entries kept for shorter tokens than this start allows (the
        // lifetime was raised) are extended before anything is swept, and
        // pushed again so that Redis keeps them as long.
        let mut widened = Vec::new();
        store.for_each(|r| {
            let kept_until = r.expires_at;
            let r = r.widened_to(&rules);
            if r.expires_at > now {
                index.apply(&r);
                if r.expires_at > kept_until {
                    widened.push(r);
                }
            }
        })?;
        if !widened.is_empty() {
            tracing::info!(
                entries = widened.len(),
                "revocations kept for a shorter max_token_lifetime were extended"
            );
            store.put_merged_many(widened, redis.is_some())?;
        }
        store.sweep(now)?;
        let origin = replica_id()?;
        Ok(Arc::new(Self {
            index,
            store: Arc::new(store),
            redis,
            rules,
            // JSON-encoded as serde_json writes it.
            origin_marker: format!("\"origin\":{}", serde_json::Value::from(origin.as_str())),
            origin,
            clock,
            events,
            catch_up_timeout: settings.catch_up_timeout,
            persist: OnceLock::new(),
        }))
    }

    /// Starts the sweeper and, with Redis, the fan-out. Both end when the
    /// service is dropped.
    pub fn start(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SWEEP_EVERY).await;
                let Some(svc) = weak.upgrade() else { return };
                svc.index.sweep();
                let (store, now) = (svc.store.clone(), svc.clock.now_unix());
                drop(svc);
                if let Ok(Err(error)) = tokio::task::spawn_blocking(move || store.sweep(now)).await
                {
                    tracing::warn!(%error, "revocation sweep failed");
                }
            }
        });
        if let Some(link) = &self.redis {
            self.start_persister();
            tokio::spawn(
                link.clone()
                    .run(Arc::downgrade(self), self.catch_up_timeout),
            );
        }
    }

    /// The in-memory index `Check` consults.
    pub fn index(&self) -> Arc<RevocationIndex> {
        self.index.clone()
    }

    /// This replica's name in the entries it accepts.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Now, by the clock revocations are judged with.
    pub fn now(&self) -> f64 {
        self.clock.now_unix()
    }

    /// The clock skew every entry allows for, in seconds: at least every
    /// issuer's leeway.
    pub fn leeway(&self) -> f64 {
        self.rules.leeway
    }

    /// Whether the shared store is connected and caught up (false without
    /// one: nothing is shared).
    pub fn shared_store_connected(&self) -> bool {
        self.redis.as_ref().is_some_and(|l| l.is_connected())
    }

    /// The shared store's state as `/readyz` reports it: `none` without
    /// one, else `connecting`, `catching_up`, `connected`, `unreachable` or
    /// `stale`.
    pub fn shared_store_state(&self) -> &'static str {
        self.redis.as_ref().map_or("none", |l| l.state().as_str())
    }

    /// Ready to decide: false only while the first catch-up with a
    /// reachable shared store is still running (bounded by
    /// `catch_up_timeout`), so no replica serves while it knows it is
    /// behind.
    pub fn is_ready(&self) -> bool {
        self.redis.as_ref().is_none_or(|l| l.initially_synced())
    }

    /// Changes of `is_ready`, for the gRPC health service.
    pub fn watch_ready(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        self.redis.as_ref().map(|l| l.watch_initial_sync())
    }

    /// Write transactions the local store has committed.
    pub fn store_writes(&self) -> u64 {
        self.store.writes()
    }

    /// Accepts a revocation: durable locally and effective here before this
    /// returns; pushed to the shared store now or, if it is down, later.
    pub async fn revoke(&self, new: NewRevocation) -> Result<Revocation, RevokeError> {
        let now = self.clock.now_unix();
        let fresh = new.into_revocation(now, &self.rules, &self.origin)?;
        let store = self.store.clone();
        let outbox = self.redis.is_some();
        let stored = blocking(move || store.put_merged(fresh, outbox)).await?;
        self.index.apply(&stored);
        self.push(vec![SyncOp::Put {
            revocation: stored.clone(),
        }])
        .await;
        Ok(stored)
    }

    /// Accepts many revocations at once: each is validated on its own and
    /// answered on its own; the valid ones are stored in one transaction
    /// (one fsync), applied here, and pushed to the shared store in one
    /// pipeline. A store failure fails the whole batch, and nothing of it
    /// was stored.
    pub async fn revoke_many(
        &self,
        batch: Vec<NewRevocation>,
    ) -> Result<Vec<Result<String, RevocationError>>, StoreError> {
        let now = self.clock.now_unix();
        // Each entry is moved, never copied: a large batch leaves little
        // behind in the allocator.
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut valid = Vec::with_capacity(batch.len());
        for new in batch {
            match new.into_revocation(now, &self.rules, &self.origin) {
                Ok(r) => {
                    outcomes.push(Ok(r.id.clone()));
                    valid.push(r);
                }
                Err(e) => outcomes.push(Err(e)),
            }
        }
        let store = self.store.clone();
        let outbox = self.redis.is_some();
        let stored = blocking(move || store.put_merged_many(valid, outbox)).await?;
        for r in &stored {
            self.index.apply(r);
        }
        let mut ops: Vec<SyncOp> = stored
            .into_iter()
            .map(|revocation| SyncOp::Put { revocation })
            .collect();
        // Pushed in pipelines of a thousand, so no request holds ten
        // thousand encoded commands at once.
        while !ops.is_empty() {
            let rest = ops.split_off(ops.len().min(1000));
            self.push(ops).await;
            ops = rest;
        }
        Ok(outcomes)
    }

    /// Lifts a revocation. Returns whether it existed. An id that is not
    /// spelled canonically names nothing and changes nothing.
    pub async fn lift(&self, id: &str) -> Result<bool, StoreError> {
        if parse_id(id).is_none() {
            return Ok(false);
        }
        let store = self.store.clone();
        let outbox = self.redis.is_some();
        let owned = id.to_string();
        let removed = blocking(move || {
            let old = store.get(&owned)?;
            store.delete(&owned, outbox)?;
            Ok(old)
        })
        .await?;
        let in_index = self.index.remove(id);
        let existed = removed.is_some() || in_index;
        if existed {
            self.push(vec![SyncOp::Delete {
                id: id.to_string(),
                expires_at: removed.as_ref().map(|r| r.expires_at),
                revoked_at: removed.as_ref().map(|r| r.created_at),
            }])
            .await;
        }
        Ok(existed)
    }

    /// A page of stored revocations in id order, after `after`, optionally of one kind.
    pub async fn list(
        &self,
        kind: Option<Kind>,
        after: Option<String>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let store = self.store.clone();
        blocking(move || store.list(kind, after.as_deref(), limit)).await
    }

    /// One revocation by its canonical id.
    pub async fn get(&self, id: &str) -> Result<Option<Revocation>, StoreError> {
        if parse_id(id).is_none() {
            return Ok(None);
        }
        let store = self.store.clone();
        let id = id.to_string();
        blocking(move || store.get(&id)).await
    }

    /// Pushes changes to the shared store now; if that fails they stay in
    /// the outbox for the next flush.
    async fn push(&self, ops: Vec<SyncOp>) {
        let Some(link) = &self.redis else { return };
        match link.push(&ops).await {
            Ok(()) => {
                let store = self.store.clone();
                if blocking(move || store.clear_outbox(&ops)).await.is_err() {
                    // Pushed already; pushing again later is harmless.
                    link.outbox_needs_flush();
                }
            }
            Err(error) => {
                tracing::warn!(%error, changes = ops.len(), "revocations kept for a later push to Redis")
            }
        }
    }
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(StoreError::Task)?
}

/// `HOSTNAME` (the pod name under Kubernetes) plus a random suffix, so two
/// processes on one host differ.
fn replica_id() -> Result<String, StoreError> {
    let mut b = [0u8; 4];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| StoreError::NoRandomness)?;
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "zt-authz".into());
    Ok(format!("{host}-{:08x}", u32::from_le_bytes(b)))
}
