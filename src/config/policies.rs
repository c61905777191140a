//! One `policies[]` entry, with its tier applied and its matchers compiled.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::compile::{Errors, is_quotable};
use super::file::{ClaimConditionFile, PolicyFile, TierFile};
use crate::binding::SenderConstraint;
use crate::policy::{AcrRequirement, ClaimCondition, PathMatch, Policy, RouteMatch};
use crate::token::TokenLimits;

pub(super) fn policy(
    path: &str,
    f: PolicyFile,
    tiers: &BTreeMap<String, TierFile>,
    acr_levels: &[String],
    base_dir: &Path,
    errs: &mut Errors,
) -> Option<Policy> {
    let before = errs.0.len();
    check_name(path, &f.name, errs);
    let base = tier_base(path, f.tier.as_deref(), tiers, errs);
    let settings = f.overrides().over(&base);
    let route = route_match(path, &f, errs);
    check_principals(path, &f.principals, errs);
    check_scopes(path, &f.scopes, errs);
    let claims = claim_conditions(path, &f, errs);
    let min_acr = settings
        .min_acr
        .as_ref()
        .and_then(|acr| acr_requirement(path, acr, &f, acr_levels, errs));
    if f.anonymous
        && (!f.scopes.is_empty()
            || !claims.is_empty()
            || settings.min_acr.is_some()
            || settings.max_auth_age.is_some())
    {
        errs.add(path, "an anonymous policy cannot require scopes, claims, acr or auth age (it reads no token)");
    }
    let sender_constraint = match f.sender_constraint.as_deref() {
        None => None,
        Some("dpop") => Some(SenderConstraint::Dpop),
        Some("mtls") => Some(SenderConstraint::Mtls),
        Some("any") => Some(SenderConstraint::Any),
        Some(other) => {
            errs.add(
                format!("{path}.sender_constraint"),
                format!("`{other}` is not one of dpop, mtls, any"),
            );
            None
        }
    };
    if f.anonymous && sender_constraint.is_some() {
        errs.add(
            format!("{path}.sender_constraint"),
            "an anonymous policy reads no token to constrain",
        );
    }
    let rego = f
        .rego
        .and_then(|r| super::rego::rego_policy(path, r, base_dir, errs));
    if errs.0.len() != before {
        return None;
    }
    Some(Policy {
        name: Arc::from(f.name.as_str()),
        tier: f.tier,
        route: route?,
        anonymous: f.anonymous,
        principals: f.principals,
        scopes: f.scopes,
        claims,
        min_acr,
        max_auth_age: settings.max_auth_age.map(|d| d.0),
        token_limits: TokenLimits {
            max_lifetime: settings.max_token_lifetime.map(|d| d.0),
            max_age: settings.max_token_age.map(|d| d.0),
        },
        remove_authorization: settings.remove_authorization.unwrap_or(false),
        rego,
        sender_constraint,
    })
}

fn check_name(path: &str, name: &str, errs: &mut Errors) {
    let fits = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !fits {
        errs.add(
            format!("{path}.name"),
            "must be non-empty and use only letters, digits, `-`, `_`, `.`",
        );
    }
}

/// The tier the policy starts from (none: no presets).
fn tier_base(
    path: &str,
    tier: Option<&str>,
    tiers: &BTreeMap<String, TierFile>,
    errs: &mut Errors,
) -> TierFile {
    let Some(t) = tier else {
        return TierFile::default();
    };
    tiers.get(t).cloned().unwrap_or_else(|| {
        errs.add(
            format!("{path}.tier"),
            format!(
                "unknown tier `{t}`; known: {}",
                tiers.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        );
        TierFile::default()
    })
}

/// `match`: the path matcher, methods and hosts, compiled.
fn route_match(path: &str, f: &PolicyFile, errs: &mut Errors) -> Option<RouteMatch> {
    let path_match = match &f.route.path {
        None => Some(PathMatch::Any),
        Some(p) => match (&p.exact, &p.prefix, &p.regex) {
            (Some(e), None, None) => Some(PathMatch::Exact(e.clone())),
            (None, Some(pre), None) => Some(PathMatch::Prefix(pre.clone())),
            (None, None, Some(r)) => PathMatch::regex(r)
                .map_err(|e| errs.add(format!("{path}.match.path.regex"), e))
                .ok(),
            _ => {
                errs.add(
                    format!("{path}.match.path"),
                    "needs exactly one of exact, prefix, regex",
                );
                None
            }
        },
    };
    for (i, m) in f.route.methods.iter().enumerate() {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
            errs.add(
                format!("{path}.match.methods[{i}]"),
                format!("`{m}` is not an HTTP method"),
            );
        }
    }
    path_match.and_then(|pm| {
        RouteMatch::new(f.route.hosts.clone(), pm, f.route.methods.clone())
            .map_err(|e| errs.add(format!("{path}.match.hosts"), e))
            .ok()
    })
}

fn check_principals(path: &str, principals: &[String], errs: &mut Errors) {
    for (i, p) in principals.iter().enumerate() {
        if !p.starts_with("spiffe://") {
            errs.add(
                format!("{path}.principals[{i}]"),
                "must be a SPIFFE ID (spiffe://trust-domain/...)",
            );
        }
    }
}

fn check_scopes(path: &str, scopes: &[String], errs: &mut Errors) {
    for (i, s) in scopes.iter().enumerate() {
        if s.is_empty() || s.contains(' ') || !is_quotable(s) {
            errs.add(
                format!("{path}.scopes[{i}]"),
                "must be non-empty, without spaces or quotes",
            );
        }
    }
}

fn claim_conditions(path: &str, f: &PolicyFile, errs: &mut Errors) -> Vec<ClaimCondition> {
    let claims: Vec<ClaimCondition> = f
        .claims
        .iter()
        .map(|(claim, cond)| ClaimCondition {
            claim: claim.clone(),
            allowed: match cond {
                ClaimConditionFile::One(v) => vec![v.clone()],
                ClaimConditionFile::AnyOf(vs) => vs.clone(),
            },
        })
        .collect();
    for c in claims.iter().filter(|c| c.allowed.is_empty()) {
        errs.add(
            format!("{path}.claims.{}", c.claim),
            "list at least one allowed value",
        );
    }
    claims
}

/// `min_acr` (the policy's or its tier's) as a rank in `acr_levels`, with
/// every acceptable value for the RFC 9470 challenge.
fn acr_requirement(
    path: &str,
    acr: &str,
    f: &PolicyFile,
    acr_levels: &[String],
    errs: &mut Errors,
) -> Option<AcrRequirement> {
    if let Some(rank) = acr_levels.iter().position(|l| l == acr) {
        return Some(AcrRequirement {
            rank,
            acr_values: acr_levels[rank..].join(" "),
        });
    }
    let from = if f.min_acr.is_some() {
        "min_acr".to_string()
    } else {
        format!("tier `{}`'s min_acr", f.tier.as_deref().unwrap_or(""))
    };
    errs.add(
        format!("{path}.min_acr"),
        format!("{from} `{acr}` is not in acr_levels"),
    );
    None
}
