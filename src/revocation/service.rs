//! Accepting, lifting and listing revocations, and keeping the index, the
//! local store and the shared store in step.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::index::RevocationIndex;
use super::model::{ExpiryRules, Kind, NewRevocation, Revocation, RevocationError, parse_id};
use super::seal::{HmacKey, Sealer};
use super::store::{EmbeddedStore, Page, StoreError};
use super::sync::{RedisLink, SyncOp, Tombstone};
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
pub struct NoEvents;
impl RevocationEvents for NoEvents {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// Not durable: for tests and throw-away set-ups.
    Memory,
    Embedded {
        path: PathBuf,
    },
    /// A local file for durability plus Redis for fan-out.
    Redis {
        path: PathBuf,
        url: String,
        prefix: String,
        /// Authenticates what replicas exchange through Redis.
        hmac_key: Option<HmacKey>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationSettings {
    pub store: StoreSettings,
    /// The longest token lifetime allowed: caps how long entries live.
    pub max_token_lifetime: Duration,
    pub leeway: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error(transparent)]
    Invalid(#[from] RevocationError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Revocations {
    index: Arc<RevocationIndex>,
    store: Arc<EmbeddedStore>,
    redis: Option<Arc<RedisLink>>,
    rules: ExpiryRules,
    origin: String,
    clock: SharedClock,
    events: Arc<dyn RevocationEvents>,
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
        let index = Arc::new(RevocationIndex::new(clock.clone()));
        store.for_each_live(clock.now_unix(), |r| index.apply(&r))?;
        Ok(Arc::new(Self {
            index,
            store: Arc::new(store),
            redis,
            rules: ExpiryRules {
                max_token_lifetime: settings.max_token_lifetime.as_secs_f64(),
                leeway: settings.leeway.as_secs_f64(),
            },
            origin: replica_id(),
            clock,
            events,
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
            tokio::spawn(link.clone().run(Arc::downgrade(self)));
        }
    }

    pub fn index(&self) -> Arc<RevocationIndex> {
        self.index.clone()
    }

    pub(crate) fn store(&self) -> &EmbeddedStore {
        &self.store
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Now, by the clock revocations are judged with.
    pub fn now(&self) -> f64 {
        self.clock.now_unix()
    }

    /// Whether the shared store is reachable (always true without one).
    pub fn shared_store_connected(&self) -> bool {
        self.redis.as_ref().is_none_or(|l| l.is_connected())
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
        self.push(SyncOp::Put {
            revocation: stored.clone(),
        })
        .await;
        Ok(stored)
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
            self.push(SyncOp::Delete {
                id: id.to_string(),
                expires_at: removed.as_ref().map(|r| r.expires_at),
                revoked_at: removed.as_ref().map(|r| r.created_at),
            })
            .await;
        }
        Ok(existed)
    }

    pub async fn list(
        &self,
        kind: Option<Kind>,
        after: Option<String>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let store = self.store.clone();
        blocking(move || store.list(kind, after.as_deref(), limit)).await
    }

    pub async fn get(&self, id: &str) -> Result<Option<Revocation>, StoreError> {
        if parse_id(id).is_none() {
            return Ok(None);
        }
        let store = self.store.clone();
        let id = id.to_string();
        blocking(move || store.get(&id)).await
    }

    async fn push(&self, op: SyncOp) {
        let Some(link) = &self.redis else { return };
        match link.push(&op).await {
            Ok(()) => {
                let store = self.store.clone();
                let _ = blocking(move || store.clear_outbox(&op)).await;
            }
            // Still in the outbox: flushed when Redis is back.
            Err(error) => {
                tracing::warn!(%error, id = op.id(), "revocation kept for a later push to Redis")
            }
        }
    }

    /// Something read from the shared store that is ignored: counted and
    /// logged, never applied.
    pub(crate) fn rejected(&self, why: &'static str, what: &str) {
        self.events.rejected_from_shared_store(why);
        tracing::warn!(why, "revocation fan-out: ignored {what}");
    }

    /// Checks a revocation from the shared store like API input.
    fn acceptable(&self, r: &Revocation) -> bool {
        match r.check(self.clock.now_unix(), &self.rules) {
            Ok(()) => true,
            Err(error) => {
                self.rejected(
                    "invalid",
                    &format!("a revocation that fails validation: {error}"),
                );
                false
            }
        }
    }

    /// A change heard on the channel. The index is updated first: that is
    /// what makes it effective.
    pub(crate) async fn apply_remote(&self, op: SyncOp) {
        match op {
            SyncOp::Put { revocation } => {
                if !self.acceptable(&revocation) {
                    return;
                }
                self.index.apply(&revocation);
                if revocation.origin != self.origin {
                    self.events
                        .propagated((self.clock.now_unix() - revocation.created_at).max(0.0));
                }
                let store = self.store.clone();
                let result = blocking(move || store.put_merged(revocation, false)).await;
                if let Err(error) = result {
                    tracing::warn!(%error, "could not persist a revocation from Redis");
                }
            }
            SyncOp::Delete { id, revoked_at, .. } => {
                let store = self.store.clone();
                let owned = id.clone();
                // A lift drops only the revocation it was for, not a later
                // one of the same target (a replayed old message).
                let dropped = blocking(move || {
                    let newer = store
                        .get(&owned)?
                        .is_some_and(|r| !lift_applies(revoked_at, r.created_at));
                    if newer {
                        return Ok(false);
                    }
                    store.delete(&owned, false)?;
                    Ok(true)
                })
                .await;
                match dropped {
                    Ok(true) => {
                        self.index.remove(&id);
                    }
                    Ok(false) => {
                        self.rejected("stale", "a lift older than the revocation it names")
                    }
                    Err(error) => {
                        // Fail closed: the entry stays in force here.
                        tracing::warn!(%error, "could not persist a lifted revocation from Redis");
                    }
                }
            }
        }
    }

    /// After (re)connecting, with the shared store's revocations and the
    /// ids lifted there: take theirs, drop what they lifted, and return what
    /// only we have, for the caller to push back.
    pub(crate) async fn catch_up(
        &self,
        remote: Vec<Revocation>,
        lifted: &HashMap<String, Tombstone>,
    ) -> Result<Vec<Revocation>, StoreError> {
        let remote: Vec<Revocation> = remote.into_iter().filter(|r| self.acceptable(r)).collect();
        for r in &remote {
            self.index.apply(r);
        }
        let store = self.store.clone();
        let now = self.clock.now_unix();
        let lifted_owned = lifted.clone();
        let (only_local, dropped) = blocking(move || {
            let known: HashSet<&str> = remote.iter().map(|r| r.id.as_str()).collect();
            let mut only_local = Vec::new();
            let mut dropped = Vec::new();
            for r in store.load_all(now)? {
                if known.contains(r.id.as_str()) {
                    continue;
                }
                let lift = lifted_owned.get(&r.id);
                if lift.is_some_and(|t| lift_applies(t.revoked_at, r.created_at)) {
                    store.delete(&r.id, false)?;
                    dropped.push(r.id);
                } else {
                    only_local.push(r);
                }
            }
            for r in remote {
                store.put_merged(r, false)?;
            }
            Ok((only_local, dropped))
        })
        .await?;
        for id in dropped {
            self.index.remove(&id);
        }
        Ok(only_local)
    }
}

/// Whether a lift of the revocation accepted at `revoked_at` drops the
/// local entry accepted at `created_at`: not when the entry is newer. A
/// lift that does not say (older replicas) applies.
fn lift_applies(revoked_at: Option<f64>, created_at: f64) -> bool {
    revoked_at.is_none_or(|lifted| created_at <= lifted)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(StoreError::Task)?
}

/// `HOSTNAME` (the pod name under Kubernetes) plus a random suffix, so two
/// processes on one host differ.
fn replica_id() -> String {
    let mut b = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut b);
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "zt-authz".into());
    format!("{host}-{:08x}", u32::from_le_bytes(b))
}
