//! Route policies: which requests they cover and what they require.

mod evaluate;
mod matcher;

use std::sync::Arc;
use std::time::Duration;

pub use evaluate::{Unmet, check_requirements};
pub use matcher::{PathMatch, RouteMatch, normalize_host};

use crate::token::TokenLimits;

/// A compiled policy. Everything a request is checked against is resolved at
/// load: tier defaults applied, `acr` names turned into ranks, challenge
/// strings pre-joined.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: Arc<str>,
    pub tier: Option<String>,
    pub route: RouteMatch,
    pub anonymous: bool,
    /// Allowed SPIFFE IDs of the calling workload; empty means any caller.
    pub principals: Vec<String>,
    pub scopes: Vec<String>,
    pub claims: Vec<ClaimCondition>,
    pub min_acr: Option<AcrRequirement>,
    pub max_auth_age: Option<Duration>,
    pub token_limits: TokenLimits,
    pub remove_authorization: bool,
}

#[derive(Debug, Clone)]
pub struct ClaimCondition {
    pub claim: String,
    /// The claim (a string, or any element of an array of strings) must equal
    /// one of these.
    pub allowed: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AcrRequirement {
    /// Position in the configured `acr_levels`, weakest = 0.
    pub rank: usize,
    /// Every acceptable value, space-separated, for the RFC 9470 challenge.
    pub acr_values: String,
}

impl Policy {
    pub fn allows_principal(&self, principal: Option<&str>) -> bool {
        self.principals.is_empty()
            || principal.is_some_and(|p| self.principals.iter().any(|allowed| allowed == p))
    }
}

/// Policies in match order.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Vec<Arc<Policy>>,
}

impl PolicySet {
    pub fn new(policies: Vec<Policy>) -> Self {
        Self {
            policies: policies.into_iter().map(Arc::new).collect(),
        }
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<Policy>> {
        self.policies.iter().find(|p| &*p.name == name)
    }

    /// The first policy whose route fits. `host` as Envoy forwards it; it
    /// is normalised here, once, so every spelling of a host selects alike.
    pub fn select(&self, host: &str, path: &str, method: &str) -> Option<&Arc<Policy>> {
        let host = normalize_host(host);
        self.policies
            .iter()
            .find(|p| p.route.matches(&host, path, method))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Policy>> {
        self.policies.iter()
    }

    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}
