//! One `policies[]` entry, with its tier applied and its matchers compiled.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::compile::{Errors, is_quotable};
use super::file::{ClaimConditionFile, PolicyFile, TierFile};
use crate::policy::{AcrRequirement, ClaimCondition, PathMatch, Policy, RouteMatch};
use crate::token::TokenLimits;

pub(super) fn policy(
    path: &str,
    f: PolicyFile,
    tiers: &BTreeMap<String, TierFile>,
    acr_levels: &[String],
    errs: &mut Errors,
) -> Option<Policy> {
    let before = errs.0.len();
    if f.name.is_empty()
        || !f
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        errs.add(
            format!("{path}.name"),
            "must be non-empty and use only letters, digits, `-`, `_`, `.`",
        );
    }
    let base = match &f.tier {
        None => TierFile::default(),
        Some(t) => tiers.get(t).cloned().unwrap_or_else(|| {
            errs.add(
                format!("{path}.tier"),
                format!(
                    "unknown tier `{t}`; known: {}",
                    tiers.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
            TierFile::default()
        }),
    };
    let settings = f.overrides().over(&base);

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
    let route = path_match.and_then(|pm| {
        RouteMatch::new(f.route.hosts.clone(), pm, f.route.methods.clone())
            .map_err(|e| errs.add(format!("{path}.match.hosts"), e))
            .ok()
    });
    for (i, p) in f.principals.iter().enumerate() {
        if !p.starts_with("spiffe://") {
            errs.add(
                format!("{path}.principals[{i}]"),
                "must be a SPIFFE ID (spiffe://trust-domain/...)",
            );
        }
    }
    for (i, s) in f.scopes.iter().enumerate() {
        if s.is_empty() || s.contains(' ') || !is_quotable(s) {
            errs.add(
                format!("{path}.scopes[{i}]"),
                "must be non-empty, without spaces or quotes",
            );
        }
    }
    let claims = f
        .claims
        .iter()
        .map(|(claim, cond)| ClaimCondition {
            claim: claim.clone(),
            allowed: match cond {
                ClaimConditionFile::One(v) => vec![v.clone()],
                ClaimConditionFile::AnyOf(vs) => vs.clone(),
            },
        })
        .collect::<Vec<_>>();
    for c in &claims {
        if c.allowed.is_empty() {
            errs.add(
                format!("{path}.claims.{}", c.claim),
                "list at least one allowed value",
            );
        }
    }
    let min_acr =
        settings
            .min_acr
            .as_ref()
            .and_then(|acr| match acr_levels.iter().position(|l| l == acr) {
                Some(rank) => Some(AcrRequirement {
                    rank,
                    acr_values: acr_levels[rank..].join(" "),
                }),
                None => {
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
            });
    if f.anonymous
        && (!f.scopes.is_empty()
            || !claims.is_empty()
            || settings.min_acr.is_some()
            || settings.max_auth_age.is_some())
    {
        errs.add(path, "an anonymous policy cannot require scopes, claims, acr or auth age (it reads no token)");
    }
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
    })
}
