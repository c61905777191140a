//! Stateless DPoP nonces (RFC 9449 §8): an HMAC over the issuer and a time
//! slot, so every replica with the same key accepts every other's nonces
//! without sharing state.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The key nonces are made with (`dpop.nonce_key_file`). Never printed;
/// compared by a digest of the secret, so a reload can tell a new key.
#[derive(Clone)]
pub struct NonceKey(Arc<hmac::Key>, [u8; 32]);

impl PartialEq for NonceKey {
    fn eq(&self, other: &Self) -> bool {
        self.1 == other.1
    }
}

impl Eq for NonceKey {}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(…)")
    }
}

/// How a presented nonce stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Made in the current or the previous period.
    Fresh,
    /// Older, from the future, forged or malformed.
    Stale,
}

impl NonceKey {
    /// A key from secret bytes (at least 32, checked by the config).
    pub fn new(secret: &[u8]) -> Self {
        let mut digest = [0u8; 32];
        digest.copy_from_slice(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret).as_ref(),
        );
        Self(Arc::new(hmac::Key::new(hmac::HMAC_SHA256, secret)), digest)
    }

    fn slot(now: f64, lifetime: Duration) -> u64 {
        (now.max(0.0) / lifetime.as_secs_f64().max(1.0)) as u64
    }

    fn tag(&self, issuer: &str, slot: u64) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(b"zt-authz dpop nonce\0");
        ctx.update(issuer.as_bytes());
        ctx.update(b"\0");
        ctx.update(&slot.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&ctx.sign().as_ref()[..18])
    }

    /// A nonce for now.
    pub fn issue(&self, issuer: &str, now: f64, lifetime: Duration) -> String {
        let slot = Self::slot(now, lifetime);
        format!("{slot}.{}", self.tag(issuer, slot))
    }

    /// Whether `nonce` was made by this key for `issuer` in the current or
    /// the previous period.
    pub fn check(&self, issuer: &str, nonce: &str, now: f64, lifetime: Duration) -> Freshness {
        let current = Self::slot(now, lifetime);
        let Some((slot, tag)) = nonce.split_once('.') else {
            return Freshness::Stale;
        };
        // Only the spelling `issue` writes: no sign, no leading zeros.
        let Ok(slot) = slot.parse::<u64>() else {
            return Freshness::Stale;
        };
        if nonce.split_once('.').map(|(s, _)| s) != Some(slot.to_string().as_str()) {
            return Freshness::Stale;
        }
        let recent = slot == current || slot.checked_add(1) == Some(current);
        let expected = self.tag(issuer, slot);
        if recent && super::constant_time_eq(expected.as_bytes(), tag.as_bytes()) {
            Freshness::Fresh
        } else {
            Freshness::Stale
        }
    }
}
