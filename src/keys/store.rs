//! One issuer's keys: an in-memory snapshot read on the hot path, refreshed
//! in the background, refetched on an unknown `kid` at most once per
//! cool-down with concurrent misses sharing that one fetch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use jsonwebtoken::Algorithm;
use tokio::sync::{Mutex, watch};

use super::fetch::{FetchError, FetchSettings, KeySource};
use super::jwks::{KeySet, Lookup, VerifyKey};
use crate::clock::SharedClock;

/// The shortest refresh interval a `Cache-Control: max-age` can ask for.
pub const MIN_REFRESH: Duration = Duration::from_secs(30);
/// First retry delay after a failed fetch while no key is known.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// The state of one issuer's keys, as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyStatus {
    /// The first fetch has not finished.
    Pending,
    /// The latest fetch succeeded.
    Ready {
        /// Number of usable keys.
        keys: usize,
        /// When they were fetched, in Unix seconds.
        fetched_at: f64,
    },
    /// The first fetch failed and none has succeeded since.
    Failed {
        /// Why the latest fetch failed.
        error: String,
    },
    /// Keys are known, but the latest refresh failed; the last good set
    /// stays in use.
    Stale {
        /// Number of usable keys in the last good set.
        keys: usize,
        /// When the last good set was fetched, in Unix seconds.
        fetched_at: f64,
        /// Why the latest refresh failed.
        error: String,
    },
}

impl KeyStatus {
    /// Whether tokens can be verified: keys are known, fresh or stale.
    pub fn has_keys(&self) -> bool {
        matches!(self, Self::Ready { .. } | Self::Stale { .. })
    }
}

/// Where an issuer's keys come from and how they are kept fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySettings {
    /// Where the JWKS is loaded from.
    pub source: KeySource,
    /// Timeout and transport rules for each fetch.
    pub fetch: FetchSettings,
    /// Longest time between background refreshes.
    pub refresh_interval: Duration,
    /// Shortest time between two refetches that unknown `kid`s trigger.
    pub refetch_cooldown: Duration,
}

/// The outcome of looking up the key for a token.
pub enum KeyLookup {
    /// The key, and the generation of the key set it was found in: a token
    /// verified with it is cached under that generation, never a later one.
    Found {
        /// The key that fits the token.
        key: Arc<VerifyKey>,
        /// The generation of the key set the key was found in.
        generation: u64,
    },
    /// No key set has been loaded yet.
    NoKeys,
    /// No key has the token's `kid`.
    UnknownKid,
    /// The token has no `kid` and more than one key fits its `alg`.
    Ambiguous,
    /// No key with the token's `kid` (or, without one, no key at all) fits its `alg`.
    NoneFits,
}

/// One issuer's key store: the current key set, its status and its refresh.
pub struct IssuerKeys {
    issuer: Arc<str>,
    settings: KeySettings,
    client: reqwest::Client,
    clock: SharedClock,
    current: ArcSwapOption<LoadedKeys>,
    status: watch::Sender<KeyStatus>,
    /// Held for the whole of every fetch, so fetches never overlap. Holds
    /// when the last unknown-`kid` refetch began, for the cool-down.
    fetch_lock: Mutex<Option<f64>>,
    attempts: AtomicU64,
    failures: AtomicU64,
    /// Bumped whenever a load brings a different key set; the token cache
    /// ignores entries verified under an older generation.
    generation: AtomicU64,
}

/// A key set and its generation, swapped in together so that a lookup
/// can never pair a key from one set with the generation of another.
struct LoadedKeys {
    set: KeySet,
    generation: u64,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("issuer", &self.issuer)
            .field("source", &self.settings.source)
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl IssuerKeys {
    /// An empty store in `Pending`; nothing is fetched until `refresh` or `run`.
    pub fn new(
        issuer: Arc<str>,
        settings: KeySettings,
        client: reqwest::Client,
        clock: SharedClock,
    ) -> Arc<Self> {
        Arc::new(Self {
            issuer,
            settings,
            client,
            clock,
            current: ArcSwapOption::empty(),
            status: watch::Sender::new(KeyStatus::Pending),
            fetch_lock: Mutex::new(None),
            attempts: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        })
    }

    /// The key settings the store was built with.
    pub fn settings(&self) -> &KeySettings {
        &self.settings
    }

    /// The current key status.
    pub fn status(&self) -> KeyStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every change of the key status.
    pub fn watch_status(&self) -> watch::Receiver<KeyStatus> {
        self.status.subscribe()
    }

    /// How many fetches finished, successful or not.
    pub fn fetch_attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// How many of those failed.
    pub fn fetch_failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Keys in use, and when they were last fetched successfully.
    pub fn key_count_and_fetched_at(&self) -> Option<(usize, f64)> {
        match &*self.status.borrow() {
            KeyStatus::Ready { keys, fetched_at }
            | KeyStatus::Stale {
                keys, fetched_at, ..
            } => Some((*keys, *fetched_at)),
            _ => None,
        }
    }

    /// The current key-set generation, bumped whenever a load brings a different set.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The key for a token's `kid` and `alg` in the current set; never fetches.
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> KeyLookup {
        let current = self.current.load();
        let Some(loaded) = current.as_ref() else {
            return KeyLookup::NoKeys;
        };
        match loaded.set.find(kid, alg) {
            Lookup::Found(key) => KeyLookup::Found {
                key: key.clone(),
                generation: loaded.generation,
            },
            Lookup::UnknownKid => KeyLookup::UnknownKid,
            Lookup::Ambiguous => KeyLookup::Ambiguous,
            Lookup::NoneFits => KeyLookup::NoneFits,
        }
    }

    /// A token named a `kid` we do not know. Refetch unless a fetch finished
    /// while we waited for the lock (then its result is what we wanted) or
    /// the last one began within the cool-down.
    pub async fn refetch_for_unknown_kid(&self) {
        let seen = self.attempts.load(Ordering::Acquire);
        let mut last_start = self.fetch_lock.lock().await;
        if self.attempts.load(Ordering::Acquire) != seen {
            return;
        }
        let now = self.clock.now_unix();
        if last_start.is_some_and(|t| now - t < self.settings.refetch_cooldown.as_secs_f64()) {
            return;
        }
        *last_start = Some(now);
        let _ = self.fetch_locked().await;
    }

    /// Fetches now, whatever the cool-down (which only limits refetches
    /// that tokens can trigger); returns when to refresh next.
    pub async fn refresh(&self) -> Duration {
        let _guard = self.fetch_lock.lock().await;
        match self.fetch_locked().await {
            Ok(max_age) => max_age.unwrap_or(self.settings.refresh_interval).clamp(
                MIN_REFRESH.min(self.settings.refresh_interval),
                self.settings.refresh_interval,
            ),
            // Retry a failed refresh sooner than a routine one.
            Err(_) => MIN_REFRESH.min(self.settings.refresh_interval),
        }
    }

    /// The refresh loop: the first fetch, retried with backoff while it
    /// fails, then a refresh every interval. It holds the store only weakly
    /// and ends once no snapshot uses the store any more.
    pub async fn run(keys: Weak<Self>) {
        let mut retry = FIRST_RETRY;
        loop {
            let Some(this) = keys.upgrade() else { return };
            let next = this.refresh().await;
            let delay = if this.status().has_keys() {
                retry = FIRST_RETRY;
                next
            } else {
                let d = retry;
                retry = (retry * 2).min(next.max(FIRST_RETRY));
                d
            };
            drop(this);
            tokio::time::sleep(delay).await;
        }
    }

    /// Caller holds `fetch_lock`.
    async fn fetch_locked(&self) -> Result<Option<Duration>, FetchError> {
        let result = self
            .settings
            .source
            .fetch(&self.client, &self.settings.fetch, &self.issuer)
            .await;
        let now = self.clock.now_unix();
        let outcome = match result {
            Ok(fetched) => {
                let keys = fetched.set.len();
                tracing::info!(issuer = %self.issuer, keys, skipped = fetched.set.skipped(), "loaded signing keys");
                let changed = self
                    .current
                    .load()
                    .as_ref()
                    .is_none_or(|old| old.set.fingerprint() != fetched.set.fingerprint());
                // Fetches never overlap (fetch_lock), so this is the only
                // writer of the counter.
                let generation = if changed {
                    self.generation.fetch_add(1, Ordering::AcqRel) + 1
                } else {
                    self.generation()
                };
                self.current.store(Some(Arc::new(LoadedKeys {
                    set: fetched.set,
                    generation,
                })));
                self.status.send_replace(KeyStatus::Ready {
                    keys,
                    fetched_at: now,
                });
                Ok(fetched.max_age)
            }
            Err(error) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(issuer = %self.issuer, %error, "key fetch failed; keeping the last good keys");
                let error_text = error.to_string();
                self.status.send_modify(|status| {
                    *status = match status {
                        KeyStatus::Ready { keys, fetched_at }
                        | KeyStatus::Stale {
                            keys, fetched_at, ..
                        } => KeyStatus::Stale {
                            keys: *keys,
                            fetched_at: *fetched_at,
                            error: error_text,
                        },
                        KeyStatus::Pending | KeyStatus::Failed { .. } => {
                            KeyStatus::Failed { error: error_text }
                        }
                    }
                });
                Err(error)
            }
        };
        self.attempts.fetch_add(1, Ordering::AcqRel);
        outcome
    }
}
