//! Verified tokens, remembered so that a token seen again skips parsing and
//! signature verification. Only successful verifications are stored, keyed
//! by the SHA-256 of the token (a collision-resistant hash: nobody can make
//! a different token find a cached entry). An entry is dropped at the
//! token's `exp`, when capacity needs room, or ignored once its issuer's
//! keys changed; the time checks, revocation and policy still run on every
//! request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::digest::{SHA256, digest};
use moka::Expiry;
use moka::sync::Cache;

use super::VerifiedClaims;
use super::verify::IssuerTrust;

/// No entry outlives this, whatever the token's `exp`.
const MAX_TTL: Duration = Duration::from_secs(3600);

pub type TokenDigest = [u8; 32];

#[derive(Clone)]
struct Entry {
    claims: Arc<VerifiedClaims>,
    trust: Arc<IssuerTrust>,
    /// The issuer's key generation when this was verified.
    generation: u64,
    ttl: Duration,
}

struct UntilExp;

impl Expiry<TokenDigest, Entry> for UntilExp {
    fn expire_after_create(&self, _: &TokenDigest, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// Verified tokens by SHA-256, so that a token seen again skips signature verification.
pub struct TokenCache {
    entries: Option<Cache<TokenDigest, Entry>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; 0 turns caching off.
    pub fn new(capacity: u64) -> Self {
        let entries = (capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExp)
                .build()
        });
        Self {
            entries,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether tokens are cached at all (a capacity above 0).
    pub(crate) fn is_on(&self) -> bool {
        self.entries.is_some()
    }

    pub(crate) fn digest(token: &str) -> TokenDigest {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        out
    }

    pub(super) fn get(&self, key: &TokenDigest) -> Option<(Arc<VerifiedClaims>, Arc<IssuerTrust>)> {
        let entries = self.entries.as_ref()?;
        let hit = entries
            .get(key)
            .filter(|e| e.generation == e.trust.keys.generation());
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit.map(|e| (e.claims, e.trust))
    }

    /// Remembers a verified token. `generation` is that of the key set the
    /// signature was checked against: if the keys changed meanwhile, the
    /// entry is never used.
    pub(super) fn insert(
        &self,
        key: TokenDigest,
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
            key,
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
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that found none, or only one verified under keys since replaced.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Tokens held now, as the cache last counted them; 0 when caching is off.
    pub fn entry_count(&self) -> u64 {
        self.entries.as_ref().map_or(0, |c| c.entry_count())
    }
}
