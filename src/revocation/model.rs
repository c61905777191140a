//! The revocation record, its identity and its lifetime rules.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

/// What a revocation matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Target {
    /// One token, by `jti`.
    Jti { value: String },
    /// One session, by `sid`.
    Sid { value: String },
    /// Every token of a subject issued before a cut-off ("log out
    /// everywhere", account compromise).
    Sub { value: String, issued_before: f64 },
    /// Every token of an issuer issued before a cut-off (signing key
    /// compromise).
    Iss { value: String, issued_before: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Jti,
    Sid,
    Sub,
    Iss,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Jti, Kind::Sid, Kind::Sub, Kind::Iss];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jti => "jti",
            Self::Sid => "sid",
            Self::Sub => "sub",
            Self::Iss => "iss",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl Target {
    pub fn kind(&self) -> Kind {
        match self {
            Self::Jti { .. } => Kind::Jti,
            Self::Sid { .. } => Kind::Sid,
            Self::Sub { .. } => Kind::Sub,
            Self::Iss { .. } => Kind::Iss,
        }
    }

    pub fn value(&self) -> &str {
        match self {
            Self::Jti { value }
            | Self::Sid { value }
            | Self::Sub { value, .. }
            | Self::Iss { value, .. } => value,
        }
    }

    pub fn issued_before(&self) -> Option<f64> {
        match self {
            Self::Sub { issued_before, .. } | Self::Iss { issued_before, .. } => {
                Some(*issued_before)
            }
            _ => None,
        }
    }
}

/// The index key of a (kind, value) pair: a 128-bit hash, so a million
/// entries cost a few dozen MiB. A collision could only deny a token that
/// was not revoked: the safe side.
pub fn index_key(kind: Kind, value: &str) -> u128 {
    let mut buf = Vec::with_capacity(value.len() + 4);
    buf.extend_from_slice(kind.as_str().as_bytes());
    buf.push(0);
    buf.extend_from_slice(value.as_bytes());
    xxh3_128(&buf)
}

/// A revocation's id: the same target always gets the same id, so a repeat
/// is an update, on every replica alike.
pub fn revocation_id(kind: Kind, value: &str) -> String {
    format!("{:032x}", index_key(kind, value))
}

/// A stored revocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revocation {
    pub id: String,
    #[serde(flatten)]
    pub target: Target,
    /// Unix seconds after which the entry is dropped: no token it matches
    /// can still be valid then.
    pub expires_at: f64,
    /// Unix seconds when a replica accepted it (for propagation delay).
    pub created_at: f64,
    /// The replica that accepted it.
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A revocation as an operator asks for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRevocation {
    pub kind: String,
    pub value: String,
    /// For `sub` and `iss`: the cut-off (default: now).
    pub issued_before: Option<f64>,
    /// For `jti`: the revoked token's `exp`; for `sid`: when the session
    /// ends. Default and cap: now + the longest token lifetime allowed.
    pub expires_at: Option<f64>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    #[error("kind must be one of jti, sid, sub, iss")]
    UnknownKind,
    #[error("value must be 1 to 1024 bytes")]
    BadValue,
    #[error("issued_before applies only to sub and iss")]
    CutoffNotApplicable,
    #[error("expires_at applies only to jti and sid")]
    ExpiryNotApplicable,
    #[error("{0} must be a finite number of Unix seconds")]
    BadTime(&'static str),
    #[error("the revocation would already have expired")]
    AlreadyExpired,
    #[error("issued_before is further in the future than the longest token lifetime")]
    CutoffTooLate,
    #[error("reason must be at most 256 bytes")]
    BadReason,
}

/// Lifetime rules of BEHAVIOR §3.
pub struct ExpiryRules {
    /// The longest token lifetime this deployment allows.
    pub max_token_lifetime: f64,
    /// Clock skew allowance added to every expiry.
    pub leeway: f64,
}

impl NewRevocation {
    pub fn into_revocation(
        self,
        now: f64,
        rules: &ExpiryRules,
        origin: &str,
    ) -> Result<Revocation, RevocationError> {
        let kind = Kind::parse(&self.kind).ok_or(RevocationError::UnknownKind)?;
        if self.value.is_empty() || self.value.len() > 1024 {
            return Err(RevocationError::BadValue);
        }
        if self.reason.as_ref().is_some_and(|r| r.len() > 256) {
            return Err(RevocationError::BadReason);
        }
        let finite = |v: Option<f64>, name| match v {
            Some(t) if !t.is_finite() => Err(RevocationError::BadTime(name)),
            other => Ok(other),
        };
        let issued_before = finite(self.issued_before, "issued_before")?;
        let expires_at = finite(self.expires_at, "expires_at")?;
        let cap = now + rules.max_token_lifetime;
        let (target, expires_at) = match kind {
            Kind::Jti | Kind::Sid => {
                if issued_before.is_some() {
                    return Err(RevocationError::CutoffNotApplicable);
                }
                let until = expires_at.unwrap_or(cap).min(cap) + rules.leeway;
                let value = self.value;
                let target = if kind == Kind::Jti {
                    Target::Jti { value }
                } else {
                    Target::Sid { value }
                };
                (target, until)
            }
            Kind::Sub | Kind::Iss => {
                if expires_at.is_some() {
                    return Err(RevocationError::ExpiryNotApplicable);
                }
                let cutoff = issued_before.unwrap_or(now);
                if cutoff > cap {
                    return Err(RevocationError::CutoffTooLate);
                }
                let until = cutoff + rules.max_token_lifetime + rules.leeway;
                let value = self.value;
                let target = if kind == Kind::Sub {
                    Target::Sub {
                        value,
                        issued_before: cutoff,
                    }
                } else {
                    Target::Iss {
                        value,
                        issued_before: cutoff,
                    }
                };
                (target, until)
            }
        };
        if expires_at <= now {
            return Err(RevocationError::AlreadyExpired);
        }
        Ok(Revocation {
            id: revocation_id(kind, target.value()),
            target,
            expires_at,
            created_at: now,
            origin: origin.to_string(),
            reason: self.reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: ExpiryRules = ExpiryRules {
        max_token_lifetime: 3600.0,
        leeway: 30.0,
    };

    fn new(kind: &str, issued_before: Option<f64>, expires_at: Option<f64>) -> NewRevocation {
        NewRevocation {
            kind: kind.into(),
            value: "v".into(),
            issued_before,
            expires_at,
            reason: None,
        }
    }

    #[test]
    fn expiry_follows_the_kind() {
        let now = 1000.0;
        let jti = new("jti", None, Some(1600.0))
            .into_revocation(now, &RULES, "a")
            .unwrap();
        assert_eq!(jti.expires_at, 1630.0, "token exp + leeway");
        let capped = new("sid", None, Some(99999.0))
            .into_revocation(now, &RULES, "a")
            .unwrap();
        assert_eq!(
            capped.expires_at,
            now + 3600.0 + 30.0,
            "capped at the longest lifetime"
        );
        let sub = new("sub", Some(900.0), None)
            .into_revocation(now, &RULES, "a")
            .unwrap();
        assert_eq!(
            sub.expires_at,
            900.0 + 3600.0 + 30.0,
            "cut-off + longest lifetime"
        );
        let iss = new("iss", None, None)
            .into_revocation(now, &RULES, "a")
            .unwrap();
        assert_eq!(iss.target.issued_before(), Some(now));
        assert_eq!(jti.id, revocation_id(Kind::Jti, "v"));
        assert_ne!(jti.id, revocation_id(Kind::Sid, "v"));
    }

    #[test]
    fn bad_requests_are_refused() {
        let now = 1000.0;
        let err = |r: NewRevocation| r.into_revocation(now, &RULES, "a").unwrap_err();
        assert_eq!(err(new("token", None, None)), RevocationError::UnknownKind);
        assert_eq!(
            err(new("jti", Some(1.0), None)),
            RevocationError::CutoffNotApplicable
        );
        assert_eq!(
            err(new("sub", None, Some(1.0))),
            RevocationError::ExpiryNotApplicable
        );
        assert_eq!(
            err(new("jti", None, Some(100.0))),
            RevocationError::AlreadyExpired
        );
        assert_eq!(
            err(new("sub", Some(1e12), None)),
            RevocationError::CutoffTooLate
        );
        assert_eq!(
            err(new("jti", None, Some(f64::NAN))),
            RevocationError::BadTime("expires_at")
        );
        let mut empty = new("jti", None, None);
        empty.value.clear();
        assert_eq!(err(empty), RevocationError::BadValue);
    }

    #[test]
    fn wire_form() {
        let r = new("sub", Some(900.0), None)
            .into_revocation(1000.0, &RULES, "a")
            .unwrap();
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["kind"], "sub");
        assert_eq!(json["value"], "v");
        assert_eq!(json["issued_before"], 900.0);
        let back: Revocation = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }
}
