//! Tokens accepted once: their `(issuer, jti)` remembered until they could
//! no longer be accepted anyway.

use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;

/// The `(issuer, jti)` of every logout token or security event accepted
/// here, each kept for as long as the token itself would be accepted: a
/// replay inside that window is refused, and after it the token is too old
/// anyway. Only signed tokens from configured issuers and transmitters get
/// in, so nobody else can grow this set.
pub struct SeenTokens {
    seen: Cache<(String, String), Duration>,
}

struct UntilExpiry;

impl Expiry<(String, String), Duration> for UntilExpiry {
    fn expire_after_create(
        &self,
        _: &(String, String),
        keep_for: &Duration,
        _: Instant,
    ) -> Option<Duration> {
        Some(*keep_for)
    }
}

impl Default for SeenTokens {
    fn default() -> Self {
        Self {
            seen: Cache::builder().expire_after(UntilExpiry).build(),
        }
    }
}

impl SeenTokens {
    pub(super) fn contains(&self, issuer: &str, jti: &str) -> bool {
        self.seen.contains_key(&(issuer.to_owned(), jti.to_owned()))
    }

    pub(super) fn remember(&self, issuer: &str, jti: &str, keep_for: Duration) {
        self.seen
            .insert((issuer.to_owned(), jti.to_owned()), keep_for);
    }
}
