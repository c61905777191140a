//! Route policies: which requests they cover and what they require.

mod evaluate;
mod host;
mod index;
mod matcher;

use std::sync::Arc;
use std::time::Duration;

pub use evaluate::{Unmet, check_requirements};
pub use host::{is_plain_host, normalize_host};
use index::PolicyIndex;
pub use matcher::{PathMatch, RouteMatch};

use crate::binding::SenderConstraint;
use crate::rego::RegoPolicy;
use crate::token::TokenLimits;

/// A path whose `;parameters` change which policy it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmbiguousPath;

/// `path` as a servlet container routes it when it has `;parameters`:
/// the parameters cut from every segment, then empty segments merged;
/// `None` without any. A `.` or `..` segment left by the cut (also spelled
/// `%2e`, which a container decodes first) is refused, whichever way the
/// policy is chosen: the container resolves `/pub/..;/admin` to `/admin`,
/// a path Envoy's normalisation never lets through as such, so no
/// legitimate request spells one.
pub fn routed_path(path: &str) -> Result<Option<String>, AmbiguousPath> {
    if !path.contains(';') {
        return Ok(None);
    }
    let mut routed = String::with_capacity(path.len());
    for segment in path.split('/').skip(1) {
        let segment = segment.split(';').next().unwrap_or_default();
        if is_dot_segment(segment) {
            return Err(AmbiguousPath);
        }
        if !segment.is_empty() {
            routed.push('/');
            routed.push_str(segment);
        }
    }
    if routed.is_empty() || path.ends_with('/') {
        routed.push('/');
    }
    Ok(Some(routed))
}

/// `.` or `..`, each dot possibly percent-encoded.
fn is_dot_segment(segment: &str) -> bool {
    let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
    decoded == "." || decoded == ".."
}

/// A compiled policy. Everything a request is checked against is resolved at
/// load: tier defaults applied, `acr` names turned into ranks, challenge
/// strings pre-joined.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Unique name, reported in logs, metrics and the policy identity header.
    pub name: Arc<str>,
    /// The tier it started from, if any.
    pub tier: Option<String>,
    /// Which requests it covers.
    pub route: RouteMatch,
    /// Allow without reading a token; `principals` still apply.
    pub anonymous: bool,
    /// Allowed SPIFFE IDs of the calling workload; empty means any caller.
    pub principals: Vec<String>,
    /// Scopes the token must all carry.
    pub scopes: Vec<String>,
    /// Claim conditions the token must all meet.
    pub claims: Vec<ClaimCondition>,
    /// Lowest acceptable `acr` level, if any.
    pub min_acr: Option<AcrRequirement>,
    /// Longest accepted `now − auth_time`, if any; a missing `auth_time` fails it.
    pub max_auth_age: Option<Duration>,
    /// Lifetime and age limits on the token, applied while it is verified.
    pub token_limits: TokenLimits,
    /// Strip `Authorization` before the workload sees it.
    pub remove_authorization: bool,
    /// Rego evaluated after every other requirement passes (step 10b).
    pub rego: Option<Arc<RegoPolicy>>,
    /// A proof of possession the token must come with, if any.
    pub sender_constraint: Option<SenderConstraint>,
}

/// One claim condition of a policy: a claim and the values it may have.
#[derive(Debug, Clone)]
pub struct ClaimCondition {
    /// The claim's name.
    pub claim: String,
    /// The claim (a string, or any element of an array of strings) must equal
    /// one of these.
    pub allowed: Vec<String>,
}

/// A policy's `min_acr`, resolved against `acr_levels`.
#[derive(Debug, Clone)]
pub struct AcrRequirement {
    /// Position in the configured `acr_levels`, weakest = 0.
    pub rank: usize,
    /// Every acceptable value, space-separated, for the RFC 9470 challenge.
    pub acr_values: String,
}

impl Policy {
    /// Whether the calling workload may use this policy; none fails a non-empty list.
    pub fn allows_principal(&self, principal: Option<&str>) -> bool {
        self.principals.is_empty()
            || principal.is_some_and(|p| self.principals.iter().any(|allowed| allowed == p))
    }
}

/// Up to this many policies are scanned; more are looked up by index.
const SCAN_AT_MOST: usize = 8;

/// Policies in match order.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Vec<Arc<Policy>>,
    index: PolicyIndex,
}

impl PolicySet {
    /// A set that matches in the given order.
    pub fn new(policies: Vec<Policy>) -> Self {
        let policies: Vec<Arc<Policy>> = policies.into_iter().map(Arc::new).collect();
        let index = PolicyIndex::build(policies.iter().map(|p| &**p));
        Self { policies, index }
    }

    /// The policy with this name, as a route's `context_extensions` names it.
    pub fn by_name(&self, name: &str) -> Option<&Arc<Policy>> {
        self.policies.iter().find(|p| &*p.name == name)
    }

    /// The first policy whose route fits. `host` as Envoy forwards it; it
    /// is normalised here, once, so every spelling of a host selects alike.
    pub fn select(&self, host: &str, path: &str, method: &str) -> Option<&Arc<Policy>> {
        let host = normalize_host(host);
        if self.policies.len() <= SCAN_AT_MOST {
            return self.scan(&host, path, method);
        }
        self.index
            .candidates(&host, path)
            .into_iter()
            .filter_map(|i| self.policies.get(i as usize))
            .find(|p| p.route.matches(&host, path, method))
    }

    /// `select`, refusing a path that would select another policy once its
    /// `;parameters` are taken out: Tomcat, Jetty and Spring route
    /// `/internal;x=1/y` as `/internal/y`, so a policy written for that
    /// must not be dodged by the spelling.
    pub fn select_unambiguous(
        &self,
        host: &str,
        path: &str,
        method: &str,
    ) -> Result<Option<&Arc<Policy>>, AmbiguousPath> {
        let chosen = self.select(host, path, method);
        if let Some(routed) = routed_path(path)? {
            let routed = self.select(host, &routed, method);
            if chosen.map(|p| &p.name) != routed.map(|p| &p.name) {
                return Err(AmbiguousPath);
            }
        }
        Ok(chosen)
    }

    /// The first policy whose route fits, by trying each in order; `host`
    /// already normalised. What `select` must always agree with.
    fn scan(&self, host: &str, path: &str, method: &str) -> Option<&Arc<Policy>> {
        self.policies
            .iter()
            .find(|p| p.route.matches(host, path, method))
    }

    /// Every policy, in match order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Policy>> {
        self.policies.iter()
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Whether no policy is configured.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}
