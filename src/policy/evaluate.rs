//! Step 10 of the pipeline: what a verified token must carry for a policy.

use serde_json::Value;

use super::{AcrRequirement, Policy};
use crate::token::VerifiedClaims;

/// Why a verified token does not satisfy a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmet {
    /// Space-separated scopes the policy requires (all of them).
    InsufficientScope {
        /// Every scope the policy requires, space-separated.
        required: String,
    },
    /// A claim condition of the policy is not met.
    ClaimMismatch {
        /// The name of the first claim that failed.
        claim: String,
    },
    /// RFC 9470: authenticate again, stronger and/or more recently.
    StepUp {
        /// Every acceptable `acr` value, space-separated, when the token's `acr` is too weak.
        acr_values: Option<String>,
        /// The policy's `max_auth_age` in seconds, when `auth_time` is too old or missing.
        max_age: Option<u64>,
    },
}

/// Checks scopes, claim conditions, `acr` and `auth_time`, in that order.
/// `leeway` is the issuer's clock-skew allowance, applied to `auth_time` too.
pub fn check_requirements(
    policy: &Policy,
    claims: &VerifiedClaims,
    acr_rank: impl Fn(&str) -> Option<usize>,
    now: f64,
    leeway: f64,
) -> Result<(), Unmet> {
    if !policy.scopes.iter().all(|s| claims.has_scope(s)) {
        return Err(Unmet::InsufficientScope {
            required: policy.scopes.join(" "),
        });
    }
    for condition in &policy.claims {
        if !claim_allows(claims.claim(&condition.claim), &condition.allowed) {
            return Err(Unmet::ClaimMismatch {
                claim: condition.claim.clone(),
            });
        }
    }
    let acr_unmet = policy
        .min_acr
        .as_ref()
        .filter(|req| !acr_satisfies(claims.acr(), req, &acr_rank));
    let age_unmet = policy.max_auth_age.filter(|max| match claims.auth_time() {
        // A missing auth_time cannot prove freshness.
        None => true,
        Some(t) => now - t > max.as_secs_f64() + leeway,
    });
    if acr_unmet.is_some() || age_unmet.is_some() {
        return Err(Unmet::StepUp {
            acr_values: acr_unmet.map(|r| r.acr_values.clone()),
            max_age: age_unmet.map(|d| d.as_secs()),
        });
    }
    Ok(())
}

fn acr_satisfies(
    acr: Option<&str>,
    req: &AcrRequirement,
    rank: impl Fn(&str) -> Option<usize>,
) -> bool {
    // An unknown or missing acr ranks below every level.
    acr.and_then(rank).is_some_and(|r| r >= req.rank)
}

fn claim_allows(value: Option<&Value>, allowed: &[String]) -> bool {
    let is_allowed = |s: &str| allowed.iter().any(|a| a == s);
    match value {
        Some(Value::String(s)) => is_allowed(s),
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str().is_some_and(is_allowed)),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
