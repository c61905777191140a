//! The in-memory index read on every request: a lock-free hash map from a
//! 128-bit (kind, value) hash to the entry's cut-off and expiry.

use super::RevocationCheck;
use super::model::{Kind, Revocation, TokenKeys, index_key, later_cutoff, parse_id};
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
    /// An empty index reading expiry from `clock`.
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

    /// Adds or widens an entry: a repeat keeps the later cut-off and expiry
    /// (`later_cutoff`, the rule the store applies too).
    pub fn apply(&self, r: &Revocation) {
        let entry = Entry {
            kind: r.target.kind(),
            issued_before: r.target.issued_before(),
            expires_at: r.expires_at,
        };
        let key = index_key(entry.kind, r.issuer.as_deref(), r.target.value());
        self.map.pin().update_or_insert(
            key,
            |old| Entry {
                kind: old.kind,
                issued_before: later_cutoff(old.issued_before, entry.issued_before),
                expires_at: old.expires_at.max(entry.expires_at),
            },
            entry,
        );
    }

    /// Lifts a revocation by id. Returns whether it was present. Only the
    /// canonical spelling of an id names an entry.
    pub fn remove(&self, id: &str) -> bool {
        parse_id(id).is_some_and(|key| self.map.pin().remove(&key).is_some())
    }

    /// Whether the entry with this id is in the index.
    pub fn contains(&self, id: &str) -> bool {
        parse_id(id).is_some_and(|key| self.map.pin().contains_key(&key))
    }

    /// Drops expired entries; returns how many.
    pub fn sweep(&self) -> usize {
        let now = self.clock.now_unix();
        let map = self.map.pin();
        let before = map.len();
        map.retain(|_, e| e.expires_at > now);
        before.saturating_sub(map.len())
    }

    /// Entries held, expired ones included until the next sweep.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no entry is held.
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
        // Each claim value is probed bound to the token's issuer and to
        // none: two O(1) probes.
        let live = |key: &u128| map.get(key).copied().filter(|e| e.expires_at > now);
        let keys = c.revocation_keys(|c| TokenKeys::of(c.issuer(), c.jti(), c.sid(), c.subject()));
        keys.jti.iter().flatten().any(|k| live(k).is_some())
            || keys.sid.iter().flatten().any(|k| live(k).is_some())
            || keys.sub.iter().flatten().filter_map(live).any(before)
            || live(&keys.iss).is_some_and(before)
    }
}

#[cfg(test)]
mod tests;
