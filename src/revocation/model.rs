//! The revocation record, its identity and its lifetime rules.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use super::request::{EXPIRY_SKEW, check_fields};
pub use super::request::{ExpiryRules, MAX_REVOCATION_VALUE, NewRevocation, RevocationError};

/// What a revocation matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Target {
    /// One token, by `jti`.
    Jti {
        /// The `jti`.
        value: String,
    },
    /// One session, by `sid`.
    Sid {
        /// The `sid`.
        value: String,
    },
    /// Every token of a subject issued before a cut-off ("log out
    /// everywhere", account compromise).
    Sub {
        /// The `sub`.
        value: String,
        /// Tokens whose `iat` is before this are revoked.
        issued_before: f64,
    },
    /// Every token of an issuer issued before a cut-off (signing key
    /// compromise).
    Iss {
        /// The issuer.
        value: String,
        /// Tokens whose `iat` is before this are revoked.
        issued_before: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// The four kinds of revocation.
pub enum Kind {
    /// One token, by `jti`.
    Jti,
    /// One session, by `sid`.
    Sid,
    /// A subject's tokens issued before a cut-off.
    Sub,
    /// An issuer's tokens issued before a cut-off.
    Iss,
}

impl Kind {
    /// Every kind, in the order listings use.
    pub const ALL: [Kind; 4] = [Kind::Jti, Kind::Sid, Kind::Sub, Kind::Iss];

    /// The kind as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jti => "jti",
            Self::Sid => "sid",
            Self::Sub => "sub",
            Self::Iss => "iss",
        }
    }

    /// The kind the API spelling names, if any.
    pub fn parse(s: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl Target {
    /// What kind of revocation this is.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Jti { .. } => Kind::Jti,
            Self::Sid { .. } => Kind::Sid,
            Self::Sub { .. } => Kind::Sub,
            Self::Iss { .. } => Kind::Iss,
        }
    }

    /// The `jti`, `sid`, `sub` or issuer the revocation names.
    pub fn value(&self) -> &str {
        match self {
            Self::Jti { value }
            | Self::Sid { value }
            | Self::Sub { value, .. }
            | Self::Iss { value, .. } => value,
        }
    }

    /// The cut-off of a `sub` or `iss` revocation.
    pub fn issued_before(&self) -> Option<f64> {
        match self {
            Self::Sub { issued_before, .. } | Self::Iss { issued_before, .. } => {
                Some(*issued_before)
            }
            _ => None,
        }
    }
}

/// The index key of a (kind, issuer, value) triple: a 128-bit hash, so a
/// million entries cost a few dozen MiB. A collision could only deny a token
/// that was not revoked: the safe side. An entry bound to an issuer hashes
/// differently from an unbound one (`\x01` instead of `\0` after the
/// kind), so the index probes both.
pub fn index_key(kind: Kind, issuer: Option<&str>, value: &str) -> u128 {
    // Streamed, so the hot path hashes without allocating.
    let mut h = Xxh3::new();
    h.update(kind.as_str().as_bytes());
    match issuer {
        None => h.update(&[0]),
        Some(issuer) => {
            h.update(&[1]);
            h.update(issuer.as_bytes());
            h.update(&[0]);
        }
    }
    h.update(value.as_bytes());
    h.digest128()
}

/// The index keys a verified token is looked up under. They depend on the
/// token alone, so they are worked out once and kept with it (see
/// `VerifiedClaims::revocation_keys`): the probes on every `Check` hash
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenKeys {
    /// For `jti`, `sid` and `sub` when the token has them (and they are not
    /// empty): the key bound to no issuer, then the one bound to the token's.
    pub jti: Option<[u128; 2]>,
    /// See `jti`.
    pub sid: Option<[u128; 2]>,
    /// See `jti`.
    pub sub: Option<[u128; 2]>,
    /// The issuer-wide entry's key.
    pub iss: u128,
}

impl TokenKeys {
    /// The keys of a token from `issuer` with these claim values.
    pub fn of(issuer: &str, jti: Option<&str>, sid: Option<&str>, sub: Option<&str>) -> Self {
        let both = |kind, value: Option<&str>| {
            value
                .filter(|v| !v.is_empty())
                .map(|v| [index_key(kind, None, v), index_key(kind, Some(issuer), v)])
        };
        Self {
            jti: both(Kind::Jti, jti),
            sid: both(Kind::Sid, sid),
            sub: both(Kind::Sub, sub),
            iss: index_key(Kind::Iss, None, issuer),
        }
    }
}

/// A revocation's id: the same target always gets the same id, so a repeat
/// is an update, on every replica alike.
pub fn revocation_id(kind: Kind, issuer: Option<&str>, value: &str) -> String {
    format!("{:032x}", index_key(kind, issuer, value))
}

/// An id as the API and the store spell it: exactly 32 lower-case hex
/// digits. Any other spelling (`+…`, upper case, shorter) names nothing, so
/// it can neither find nor lift an entry.
pub fn parse_id(id: &str) -> Option<u128> {
    let canonical = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    canonical
        .then(|| u128::from_str_radix(id, 16).ok())
        .flatten()
}

/// The one merge rule for a target revoked twice: the later cut-off and
/// the later expiry win. Merging never narrows a revocation, and the order
/// in which copies arrive does not matter.
pub fn later_cutoff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// A stored revocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revocation {
    /// The id: a hash of kind, issuer and value.
    pub id: String,
    #[serde(flatten)]
    /// What it matches.
    pub target: Target,
    /// Only this issuer's tokens match; without one, every issuer's do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Unix seconds after which the entry is dropped: no token it matches
    /// can still be valid then.
    pub expires_at: f64,
    /// Unix seconds when a replica accepted it (for propagation delay).
    pub created_at: f64,
    /// The replica that accepted it.
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Why it was made, as the operator said.
    pub reason: Option<String>,
    /// The longest token lifetime its expiry allows for, in seconds. A
    /// replica that allows longer tokens (its config was changed and it
    /// restarted) extends the expiry by the difference when it loads or
    /// receives the entry. Absent in entries stored before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_lifetime: Option<f64>,
}

impl Revocation {
    /// The same target revoked again (here or on another replica): the
    /// later cut-off and expiry win; the rest is the newer copy's.
    pub fn merge(self, newer: Revocation) -> Revocation {
        let cutoff = later_cutoff(self.target.issued_before(), newer.target.issued_before());
        let target = match (newer.target, cutoff) {
            (Target::Sub { value, .. }, Some(issued_before)) => Target::Sub {
                value,
                issued_before,
            },
            (Target::Iss { value, .. }, Some(issued_before)) => Target::Iss {
                value,
                issued_before,
            },
            (t, _) => t,
        };
        let lifetime = match (self.max_token_lifetime, newer.max_token_lifetime) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Revocation {
            target,
            expires_at: self.expires_at.max(newer.expires_at),
            max_token_lifetime: lifetime,
            // The latest acceptance: a lift made before it does not apply.
            created_at: self.created_at.max(newer.created_at),
            ..newer
        }
    }

    /// Takes an entry that did not come through this replica's API (the
    /// shared store), checked as strictly as API input: the same field
    /// rules, an id that belongs to the target, finite times, and no
    /// cut-off further ahead than this replica would have allowed. An
    /// expiry later than this replica would give (one from a replica with a
    /// longer lifetime or leeway, during a rollout) is cut to the longest
    /// this replica keeps, which still outlives every token it accepts:
    /// refusing the entry would leave the revocation unenforced here.
    pub fn admitted(self, now: f64, rules: &ExpiryRules) -> Result<Self, RevocationError> {
        let kind = self.target.kind();
        check_fields(
            kind,
            self.target.value(),
            self.issuer.as_deref(),
            self.reason.as_deref(),
        )?;
        if self.id != revocation_id(kind, self.issuer.as_deref(), self.target.value()) {
            return Err(RevocationError::WrongId);
        }
        for (name, t) in [
            ("expires_at", Some(self.expires_at)),
            ("created_at", Some(self.created_at)),
            ("issued_before", self.target.issued_before()),
            ("max_token_lifetime", self.max_token_lifetime),
        ] {
            if t.is_some_and(|t| !t.is_finite()) {
                return Err(RevocationError::BadTime(name));
            }
        }
        // Another replica's clock may run a little ahead: allow the skew
        // once more than the API does.
        let ahead = now + EXPIRY_SKEW;
        let longest = match self.target.issued_before() {
            Some(cutoff) if cutoff > ahead + rules.max_token_lifetime => {
                return Err(RevocationError::CutoffTooLate);
            }
            Some(cutoff) => cutoff + rules.max_token_lifetime + 2.0 * EXPIRY_SKEW,
            None => rules.latest_exp(ahead) + EXPIRY_SKEW,
        };
        let mut taken = self.widened_to(rules);
        if taken.expires_at > longest {
            // Now kept for this replica's lifetime, and recorded so: a
            // restart that allows longer tokens extends it again.
            taken.expires_at = longest;
            taken.max_token_lifetime = Some(rules.max_token_lifetime);
        }
        Ok(taken)
    }

    /// This entry kept for tokens as long as `rules` allow: its expiry
    /// extended by how much longer they are than the lifetime it was kept
    /// for. An entry that records no lifetime is taken as kept for these.
    pub fn widened_to(mut self, rules: &ExpiryRules) -> Self {
        if let Some(kept_for) = self.max_token_lifetime
            && kept_for < rules.max_token_lifetime
        {
            self.expires_at += rules.max_token_lifetime - kept_for;
            self.max_token_lifetime = Some(rules.max_token_lifetime);
        }
        self
    }
}

#[cfg(test)]
mod tests;
