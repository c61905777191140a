//! Verified tokens, remembered so that a token seen again skips parsing and
//! signature verification. Only successful verifications are stored, keyed
//! by the token itself: a lookup compares the presented token with the
//! stored one byte for byte, so no other token can find an entry, however
//! its hash falls. The hash only picks the bucket; it is xxh3 under a
//! seed drawn at start, which costs a tenth of a SHA-256 of the token and
//! leaves nobody able to aim tokens at one bucket. It is taken in one call
//! over the whole token: xxh3's streaming hasher copied the token into its
//! buffer first and cost 1.7 times as much. An entry is dropped at
//! the token's `exp`, when capacity needs room, or ignored once its
//! issuer's keys changed; the time checks, revocation and policy still run
//! on every request.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::VerifiedClaims;
use super::verify::IssuerTrust;
use crate::telemetry::sharded::ShardedCounter;

/// No entry outlives this, whatever the token's `exp`.
const MAX_TTL: Duration = Duration::from_secs(3600);

#[derive(Clone)]
struct Entry {
    claims: Arc<VerifiedClaims>,
    trust: Arc<IssuerTrust>,
    /// The issuer's key generation when this was verified.
    generation: u64,
    ttl: Duration,
}

struct UntilExp;

impl Expiry<Arc<str>, Entry> for UntilExp {
    fn expire_after_create(&self, _: &Arc<str>, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// Verified tokens, so that a token seen again skips signature verification.
pub struct TokenCache<S = SeededXxh3> {
    entries: Option<Cache<Arc<str>, Entry, S>>,
    // Per thread: every Check counts one or the other.
    hits: ShardedCounter,
    misses: ShardedCounter,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; 0 turns caching off.
    pub fn new(capacity: u64) -> Self {
        Self::with_hasher(capacity, SeededXxh3(seed()))
    }
}

/// Builds hashers that take xxh3 of each `write` in one call, chained
/// through the seed: a token is hashed in one pass, without the copy a
/// streaming hasher makes.
#[derive(Clone, Copy, Debug)]
pub struct SeededXxh3(u64);

impl BuildHasher for SeededXxh3 {
    type Hasher = OneCallXxh3;

    fn build_hasher(&self) -> OneCallXxh3 {
        OneCallXxh3(self.0)
    }
}

/// The hash so far; each `write` hashes its bytes seeded with it.
pub struct OneCallXxh3(u64);

impl Hasher for OneCallXxh3 {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxh3_64_with_seed(bytes, self.0);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// xxh3's seed, drawn once per cache. Should the system give no random
/// bytes, the cache stays correct (lookups compare whole tokens); only the
/// bucket spread would be guessable, and only verified tokens are stored.
fn seed() -> u64 {
    let mut seed = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut seed).is_err() {
        tracing::warn!("no random bytes for the token cache's hash seed");
    }
    u64::from_le_bytes(seed)
}

impl<S: BuildHasher + Clone + Send + Sync + 'static> TokenCache<S> {
    fn with_hasher(capacity: u64, hasher: S) -> Self {
        let entries = (capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExp)
                .build_with_hasher(hasher)
        });
        Self {
            entries,
            hits: ShardedCounter::default(),
            misses: ShardedCounter::default(),
        }
    }

    /// The entry stored for exactly this token, if its issuer's keys have
    /// not changed since.
    pub(super) fn get(&self, token: &str) -> Option<(Arc<VerifiedClaims>, Arc<IssuerTrust>)> {
        let entries = self.entries.as_ref()?;
        let hit = entries
            .get(token)
            .filter(|e| e.generation == e.trust.keys.generation());
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.inc();
        hit.map(|e| (e.claims, e.trust))
    }

    /// Remembers a verified token. `generation` is that of the key set the
    /// signature was checked against: if the keys changed meanwhile, the
    /// entry is never used.
    pub(super) fn insert(
        &self,
        token: &str,
        claims: &Arc<VerifiedClaims>,
        trust: &Arc<IssuerTrust>,
        generation: u64,
        now: f64,
    ) {
        let Some(entries) = &self.entries else { return };
        let left = claims.exp() - now;
        if left <= 0.0 {
            return;
        }
        // Clamped as a float first: a far-future `exp` would overflow a
        // Duration and panic.
        let ttl = Duration::from_secs_f64(left.min(MAX_TTL.as_secs_f64()));
        entries.insert(
            Arc::from(token),
            Entry {
                claims: claims.clone(),
                trust: trust.clone(),
                generation,
                ttl,
            },
        );
    }

    /// Lookups that found a usable entry.
    pub fn hits(&self) -> u64 {
        self.hits.get()
    }

    /// Lookups that found none, or only one verified under keys since replaced.
    pub fn misses(&self) -> u64 {
        self.misses.get()
    }

    /// Tokens held now, as the cache last counted them; 0 when caching is off.
    pub fn entry_count(&self) -> u64 {
        self.entries.as_ref().map_or(0, |c| c.entry_count())
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasherDefault, Hasher};

    use serde_json::json;

    use super::*;
    use crate::binding::DpopSettings;
    use crate::clock::ManualClock;
    use crate::keys::{FetchSettings, IssuerKeys, KeySettings, KeySource};

    /// Every token in the same bucket: what an attacker who could aim
    /// tokens at a bucket would get at best.
    #[derive(Default)]
    struct OneBucket;

    impl Hasher for OneBucket {
        fn finish(&self) -> u64 {
            7
        }
        fn write(&mut self, _: &[u8]) {}
    }

    fn trust() -> Arc<IssuerTrust> {
        let issuer: Arc<str> = Arc::from("https://issuer.test");
        let settings = KeySettings {
            source: KeySource::File("unused.json".into()),
            fetch: FetchSettings {
                timeout: Duration::from_secs(1),
                allow_insecure_http: false,
            },
            refresh_interval: Duration::from_secs(300),
            refetch_cooldown: Duration::from_secs(30),
        };
        let keys = IssuerKeys::new(
            issuer.clone(),
            settings,
            reqwest::Client::new(),
            ManualClock::at(0),
        );
        Arc::new(IssuerTrust {
            issuer,
            audiences: vec!["api".into()],
            logout_audiences: vec![],
            algorithms: vec![],
            leeway: Duration::ZERO,
            max_token_lifetime: None,
            required_typ: None,
            dpop: Arc::new(DpopSettings::default()),
            keys,
        })
    }

    fn claims(subject: &str) -> Arc<VerifiedClaims> {
        Arc::new(VerifiedClaims::for_test(
            "https://issuer.test",
            json!({"sub": subject, "aud": "api", "exp": 2_000.0}),
        ))
    }

    #[test]
    fn only_the_very_same_token_finds_an_entry_even_in_one_bucket() {
        let cache = TokenCache::with_hasher(10, BuildHasherDefault::<OneBucket>::default());
        let trust = trust();
        cache.insert(
            "aaaa.bbbb.cccc",
            &claims("alice"),
            &trust,
            trust.keys.generation(),
            1_000.0,
        );
        // Same length, same bucket, one byte apart, and a prefix.
        for other in ["aaaa.bbbb.cccd", "aaaa.bbbb.ccc", "aaaa.bbbb.cccc "] {
            assert!(cache.get(other).is_none(), "{other} found alice's entry");
        }
        let (found, _) = cache
            .get("aaaa.bbbb.cccc")
            .expect("the token itself is found");
        assert_eq!(found.subject(), Some("alice"));
        assert_eq!((cache.hits(), cache.misses()), (1, 3));
    }

    #[test]
    fn the_hash_is_seeded_per_cache() {
        // Two caches would spread the same token differently: nobody can
        // work out a bucket from outside.
        let token = "aaaa.bbbb.cccc";
        let hashes: Vec<u64> = (0..4).map(|_| SeededXxh3(seed()).hash_one(token)).collect();
        assert!(hashes.windows(2).any(|w| w[0] != w[1]), "{hashes:?}");
    }

    #[test]
    fn every_byte_and_the_end_of_the_token_count() {
        let hasher = SeededXxh3(42);
        let base = hasher.hash_one("aaaa.bbbb.cccc");
        assert_eq!(base, hasher.hash_one("aaaa.bbbb.cccc"));
        for other in ["aaaa.bbbb.cccd", "aaaa.bbbb.ccc", "aaaa.bbbb.cccc "] {
            assert_ne!(base, hasher.hash_one(other), "{other}");
        }
    }
}
