//! The in-memory index read on every request: a lock-free hash map from a
//! 128-bit (kind, value) hash to the entry's cut-off and expiry.

use super::RevocationCheck;
use super::model::{Kind, Revocation, index_key};
use crate::clock::SharedClock;
use crate::token::VerifiedClaims;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    kind: Kind,
    /// For `sub`/`iss`: tokens issued before this are revoked.
    issued_before: Option<f64>,
    expires_at: f64,
}

/// Bounded by expiry, never by capacity: an entry is only ever dropped
/// when no token it matches can still be valid, or when it is lifted.
pub struct RevocationIndex {
    map: papaya::HashMap<u128, Entry>,
    clock: SharedClock,
}

impl RevocationIndex {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            // Blocking resizes finish inside the insert that starts them;
            // incremental ones leave reads probing two tables until later
            // writes complete the move. Writes are rare, reads are not.
            map: papaya::HashMap::builder()
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
            clock,
        }
    }

    /// Adds or widens an entry: a repeat keeps the later cut-off and expiry.
    pub fn apply(&self, r: &Revocation) {
        let entry = Entry {
            kind: r.target.kind(),
            issued_before: r.target.issued_before(),
            expires_at: r.expires_at,
        };
        let key = index_key(entry.kind, r.target.value());
        self.map.pin().update_or_insert(
            key,
            |old| Entry {
                kind: old.kind,
                issued_before: match (old.issued_before, entry.issued_before) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                },
                expires_at: old.expires_at.max(entry.expires_at),
            },
            entry,
        );
    }

    /// Lifts a revocation by id. Returns whether it was present.
    pub fn remove(&self, id: &str) -> bool {
        u128::from_str_radix(id, 16).is_ok_and(|key| self.map.pin().remove(&key).is_some())
    }

    pub fn contains(&self, id: &str) -> bool {
        u128::from_str_radix(id, 16).is_ok_and(|key| self.map.pin().contains_key(&key))
    }

    /// Drops expired entries; returns how many.
    pub fn sweep(&self) -> usize {
        let now = self.clock.now_unix();
        let map = self.map.pin();
        let before = map.len();
        map.retain(|_, e| e.expires_at > now);
        before.saturating_sub(map.len())
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Unexpired entries per kind.
    pub fn active_by_kind(&self) -> [(Kind, usize); 4] {
        let now = self.clock.now_unix();
        let mut counts = Kind::ALL.map(|k| (k, 0));
        for (_, e) in self.map.pin().iter() {
            if e.expires_at > now
                && let Some(slot) = counts.iter_mut().find(|(k, _)| *k == e.kind)
            {
                slot.1 += 1;
            }
        }
        counts
    }
}

/// One probe of a pinned map.
fn live<G: papaya::Guard>(
    map: &papaya::HashMapRef<'_, u128, Entry, std::hash::RandomState, G>,
    kind: Kind,
    value: Option<&str>,
    now: f64,
) -> Option<Entry> {
    map.get(&index_key(kind, value?))
        .copied()
        .filter(|e| e.expires_at > now)
}

impl RevocationCheck for RevocationIndex {
    fn is_revoked(&self, c: &VerifiedClaims) -> bool {
        let now = self.clock.now_unix();
        // Without iat a cut-off cannot be cleared: the token counts as
        // issued before it.
        let before = |e: Entry| {
            e.issued_before
                .is_some_and(|cut| c.iat().is_none_or(|iat| iat < cut))
        };
        let map = self.map.pin();
        live(&map, Kind::Jti, c.jti(), now).is_some()
            || live(&map, Kind::Sid, c.sid(), now).is_some()
            || live(&map, Kind::Sub, c.subject(), now).is_some_and(before)
            || live(&map, Kind::Iss, Some(c.issuer()), now).is_some_and(before)
    }
}
