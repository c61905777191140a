//! A revocation as an operator (or a logout, or a bulk call) asks for it,
//! the checks it must pass, and the entry it becomes.

use serde::Deserialize;

use super::model::{Kind, Revocation, Target, revocation_id};

/// A revocation as an operator asks for it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRevocation {
    /// `jti`, `sid`, `sub` or `iss`.
    pub kind: String,
    /// The claim value to match.
    pub value: String,
    /// For `jti`, `sid` and `sub`: match only this issuer's tokens.
    #[serde(default)]
    pub issuer: Option<String>,
    /// For `sub` and `iss`: the cut-off (default: now + leeway).
    pub issued_before: Option<f64>,
    /// For `jti`: the revoked token's `exp`; for `sid`: when the session
    /// ends. Default and cap: the latest `exp` of a token issued by now.
    pub expires_at: Option<f64>,
    /// Why, for the operator's records (at most 256 bytes).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
/// Why a revocation request is refused.
pub enum RevocationError {
    #[error("kind must be one of jti, sid, sub, iss")]
    /// The kind is not one of the four.
    UnknownKind,
    #[error("value must be 1 to 1024 bytes")]
    /// The value is empty or longer than 1024 bytes.
    BadValue,
    #[error("issuer must be 1 to 1024 bytes")]
    /// The issuer is empty or longer than 1024 bytes.
    BadIssuer,
    #[error(
        "issuer applies only to jti, sid and sub (an iss revocation names its issuer as value)"
    )]
    /// An `iss` revocation was given an issuer.
    IssuerNotApplicable,
    #[error("the id does not belong to the revocation's target")]
    /// An entry's id does not match its target.
    WrongId,
    #[error("issued_before applies only to sub and iss")]
    /// A cut-off was given to a `jti` or `sid` revocation.
    CutoffNotApplicable,
    #[error("expires_at applies only to jti and sid")]
    /// An expiry was given to a `sub` or `iss` revocation.
    ExpiryNotApplicable,
    #[error("{0} must be a finite number of Unix seconds")]
    /// A time that is not a finite number.
    BadTime(&'static str),
    #[error("the revocation would already have expired")]
    /// The entry would expire before it is stored.
    AlreadyExpired,
    #[error("issued_before is further in the future than the longest token lifetime")]
    /// The cut-off lies beyond the longest token lifetime.
    CutoffTooLate,
    #[error("reason must be at most 256 bytes")]
    /// The reason is longer than 256 bytes.
    BadReason,
}

/// Lifetime rules: the README's "Revocation" table.
pub struct ExpiryRules {
    /// The longest token lifetime this deployment allows.
    pub max_token_lifetime: f64,
    /// Clock skew allowed to a default cut-off; at least every issuer's
    /// leeway.
    pub leeway: f64,
}

/// The clock skew every expiry allows for: the largest leeway any issuer
/// may be given (5 min), not the one configured now. An issuer's leeway
/// can be raised by a restart, after entries were stored or even swept;
/// with this margin no entry expires while a token it matches is still
/// accepted under any leeway.
pub const EXPIRY_SKEW: f64 = crate::config::MAX_LEEWAY.as_secs_f64();

impl ExpiryRules {
    /// The latest `exp` of a token issued by `now`: stamped by a clock up
    /// to the largest leeway ahead, living the longest lifetime allowed.
    /// It is accepted until that plus the leeway.
    pub fn latest_exp(&self, now: f64) -> f64 {
        now + EXPIRY_SKEW + self.max_token_lifetime
    }
}

/// The longest `jti`, `sid`, `sub` or `iss` value a revocation names, in
/// bytes. Tokens with a longer `jti`, `sid` or `sub` are refused, so every
/// accepted token can be revoked by each of them.
pub const MAX_REVOCATION_VALUE: usize = 1024;

/// The checks on what a revocation names, shared by API input and by
/// entries that arrive from the shared store.
pub(super) fn check_fields(
    kind: Kind,
    value: &str,
    issuer: Option<&str>,
    reason: Option<&str>,
) -> Result<(), RevocationError> {
    if value.is_empty() || value.len() > MAX_REVOCATION_VALUE {
        return Err(RevocationError::BadValue);
    }
    if reason.is_some_and(|r| r.len() > 256) {
        return Err(RevocationError::BadReason);
    }
    match issuer {
        Some(_) if kind == Kind::Iss => Err(RevocationError::IssuerNotApplicable),
        Some(i) if i.is_empty() || i.len() > MAX_REVOCATION_VALUE => {
            Err(RevocationError::BadIssuer)
        }
        _ => Ok(()),
    }
}

impl NewRevocation {
    /// Checks a request and turns it into the entry to store, with its id and expiry.
    pub fn into_revocation(
        self,
        now: f64,
        rules: &ExpiryRules,
        origin: &str,
    ) -> Result<Revocation, RevocationError> {
        let kind = Kind::parse(&self.kind).ok_or(RevocationError::UnknownKind)?;
        check_fields(
            kind,
            &self.value,
            self.issuer.as_deref(),
            self.reason.as_deref(),
        )?;
        let finite = |v: Option<f64>, name| match v {
            Some(t) if !t.is_finite() => Err(RevocationError::BadTime(name)),
            other => Ok(other),
        };
        let issued_before = finite(self.issued_before, "issued_before")?;
        let expires_at = finite(self.expires_at, "expires_at")?;
        let (target, expires_at) = match kind {
            Kind::Jti | Kind::Sid => {
                if issued_before.is_some() {
                    return Err(RevocationError::CutoffNotApplicable);
                }
                let cap = rules.latest_exp(now);
                let until = expires_at.unwrap_or(cap).min(cap) + EXPIRY_SKEW;
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
                // A token stamped by a clock up to the leeway ahead of
                // ours was issued before now, too.
                let cutoff = issued_before.unwrap_or(now + rules.leeway);
                if cutoff > now + rules.max_token_lifetime {
                    return Err(RevocationError::CutoffTooLate);
                }
                let until = cutoff + rules.max_token_lifetime + EXPIRY_SKEW;
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
            id: revocation_id(kind, self.issuer.as_deref(), target.value()),
            target,
            issuer: self.issuer,
            expires_at,
            created_at: now,
            origin: origin.to_string(),
            reason: self.reason,
            max_token_lifetime: Some(rules.max_token_lifetime),
        })
    }
}
