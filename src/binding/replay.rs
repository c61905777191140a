//! Proof `jti`s seen, per issuer, each remembered for as long as its proof
//! could be accepted. Kept across reloads by the authorizer, so a reload
//! never reopens a replay window.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;

use super::ProofError;

/// One cache per issuer. No `max_capacity`: moka's admission policy would
/// silently drop new entries when full, letting a replay through; the limit
/// is checked here instead and refuses new proofs.
#[derive(Default)]
pub struct ReplayCaches {
    caches: papaya::HashMap<Arc<str>, IssuerReplay>,
}

/// One issuer's proofs, and how many are held: counted up on insert and
/// down when moka reports an entry gone, so it errs high (refusing), never
/// low (forgetting).
struct IssuerReplay {
    seen: Cache<String, Duration>,
    held: Arc<AtomicU64>,
}

impl IssuerReplay {
    fn new() -> Self {
        let held = Arc::new(AtomicU64::new(0));
        let gone = held.clone();
        let seen = Cache::builder()
            .expire_after(OwnTtl)
            .eviction_listener(move |_, _, _| {
                gone.fetch_sub(1, Ordering::Relaxed);
            })
            .build();
        Self { seen, held }
    }
}

impl std::fmt::Debug for ReplayCaches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayCaches").finish_non_exhaustive()
    }
}

/// Each entry lives for the duration stored with it.
struct OwnTtl;

impl Expiry<String, Duration> for OwnTtl {
    fn expire_after_create(&self, _: &String, ttl: &Duration, _: Instant) -> Option<Duration> {
        Some(*ttl)
    }
}

impl ReplayCaches {
    /// Records `jti` for `ttl`; an error if it was already there or the
    /// issuer's cache holds `capacity` entries.
    pub fn remember(
        &self,
        issuer: &str,
        jti: &str,
        ttl: Duration,
        capacity: u64,
    ) -> Result<(), ProofError> {
        let caches = self.caches.pin();
        let cache = match caches.get(issuer) {
            Some(c) => c,
            None => caches.get_or_insert_with(Arc::from(issuer), IssuerReplay::new),
        };
        if cache.held.load(Ordering::Relaxed) >= capacity {
            // Expired entries are only reported during maintenance.
            cache.seen.run_pending_tasks();
            if cache.held.load(Ordering::Relaxed) >= capacity {
                return Err(ProofError::ReplayCacheFull);
            }
        }
        // Counted before the insert, so the entry's removal can never be
        // reported before its arrival.
        cache.held.fetch_add(1, Ordering::Relaxed);
        if cache.seen.entry(jti.to_owned()).or_insert(ttl).is_fresh() {
            Ok(())
        } else {
            cache.held.fetch_sub(1, Ordering::Relaxed);
            Err(ProofError::Replayed)
        }
    }

    /// Entries held for `issuer`, for metrics and tests.
    pub fn len(&self, issuer: &str) -> u64 {
        self.caches.pin().get(issuer).map_or(0, |c| {
            c.seen.run_pending_tasks();
            c.held.load(Ordering::Relaxed)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_full_replay_cache_refuses_instead_of_forgetting() {
        let caches = ReplayCaches::default();
        let ttl = Duration::from_secs(60);
        for i in 0..1000 {
            caches
                .remember("https://idp.example", &format!("j{i}"), ttl, 1000)
                .unwrap();
        }
        assert_eq!(
            caches.remember("https://idp.example", "new", ttl, 1000),
            Err(ProofError::ReplayCacheFull)
        );
        assert_eq!(
            caches.remember("https://idp.example", "j1", ttl, 2000),
            Err(ProofError::Replayed)
        );
        // Issuers have caches of their own.
        assert_eq!(
            caches.remember("https://other.example", "j1", ttl, 1000),
            Ok(())
        );
        assert_eq!(caches.len("https://idp.example"), 1000);
    }
}
