//! JOSE headers already read, by their encoded bytes. An issuer signs its
//! tokens under a handful of headers (one per key and type), so a token
//! seen for the first time almost always carries a header seen before:
//! taking it from here skips its base64 and JSON.
//!
//! Only the header of a token whose signature verified is remembered, so
//! no one without a signing key can fill this. An entry is the header as
//! read from those very bytes; reading them again could not come out
//! otherwise.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::header::JoseHeader;

/// How many headers are remembered. A key rotation adds one or two; when
/// full, the cache starts again from the header that did not fit.
const HEADERS: usize = 64;

#[derive(Default)]
pub(super) struct HeaderCache {
    // Read on every token not in the token cache, from every core; written
    // only for a header not seen before. A load takes no lock and writes no
    // shared cache line.
    read: ArcSwap<HashMap<Box<str>, JoseHeader>>,
}

impl HeaderCache {
    /// The header read from `encoded` before, if it is remembered.
    pub fn get(&self, encoded: &str) -> Option<JoseHeader> {
        self.read.load().get(encoded).cloned()
    }

    /// Remembers `header`, read from `encoded`. The caller has verified
    /// the signature of the token it came with.
    pub fn remember(&self, encoded: &str, header: &JoseHeader) {
        if self.read.load().contains_key(encoded) {
            return;
        }
        self.read.rcu(|current| {
            let mut next = if current.len() >= HEADERS {
                HashMap::new()
            } else {
                HashMap::clone(current)
            };
            next.insert(Box::from(encoded), header.clone());
            Arc::new(next)
        });
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.read.load().len()
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::Algorithm;

    use super::*;

    fn header(kid: &str) -> JoseHeader {
        JoseHeader {
            alg: Algorithm::RS256,
            kid: Some(kid.to_string()),
            typ: None,
        }
    }

    #[test]
    fn a_header_is_found_by_its_exact_bytes_only() {
        let cache = HeaderCache::default();
        assert!(cache.get("eyJh").is_none());
        cache.remember("eyJh", &header("k1"));
        assert_eq!(cache.get("eyJh").unwrap().kid.as_deref(), Some("k1"));
        for other in ["eyJ", "eyJh ", "eyJH", ""] {
            assert!(cache.get(other).is_none(), "{other:?}");
        }
        // Remembered once; a second remember keeps the first.
        cache.remember("eyJh", &header("k2"));
        assert_eq!(cache.get("eyJh").unwrap().kid.as_deref(), Some("k1"));
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = HeaderCache::default();
        for i in 0..HEADERS {
            cache.remember(&format!("h{i}"), &header("k"));
        }
        assert_eq!(cache.len(), HEADERS);
        cache.remember("one more", &header("k"));
        assert_eq!(cache.len(), 1);
        assert!(cache.get("one more").is_some());
        assert!(cache.get("h0").is_none());
    }
}
