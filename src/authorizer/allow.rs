//! Step 11: the allow, with the identity headers set and the rest stripped.

use std::sync::Arc;

use http::HeaderName;
use serde_json::Value;

use crate::decision::{Allow, AllowFor};
use crate::policy::Policy;
use crate::snapshot::Snapshot;
use crate::token::VerifiedClaims;

pub(super) fn anonymous_allow(
    rt: &Snapshot,
    policy: Arc<str>,
    remove_authorization: bool,
) -> Allow {
    let mut set_headers = Vec::with_capacity(1);
    if let Some(h) = &rt.config.identity.policy {
        set_headers.push((h.clone(), policy.to_string()));
    }
    Allow {
        remove_headers: not_set(&rt.identity_headers, &set_headers),
        policy,
        claims: None,
        set_headers,
        remove_authorization,
        response_headers: Vec::new(),
        reusable: None,
        kept: None,
    }
}

pub(super) fn identified_allow(
    rt: &Snapshot,
    policy: &Policy,
    claims: Arc<VerifiedClaims>,
) -> Allow {
    let identity = &rt.config.identity;
    let mut set_headers = Vec::with_capacity(identity.claims.len() + 1);
    for (claim, header) in &identity.claims {
        if let Some(value) = header_value(&claims, claim) {
            set_headers.push((header.clone(), value));
        }
    }
    if let Some(h) = &identity.policy {
        set_headers.push((h.clone(), policy.name.to_string()));
    }
    Allow {
        remove_headers: not_set(&rt.identity_headers, &set_headers),
        policy: policy.name.clone(),
        claims: Some(claims),
        set_headers,
        remove_authorization: policy.remove_authorization,
        response_headers: Vec::new(),
        // Only the token, the policy and the snapshot went into it; a Rego
        // step that runs after this clears it.
        reusable: Some(AllowFor {
            generation: rt.generation,
            policy: policy.name.clone(),
        }),
        kept: None,
    }
}

/// The allow for a token that was allowed under this policy and snapshot
/// before, when its answer was kept with it: nothing in it depends on the
/// request, so the identity headers are not worked out again.
pub(super) fn kept_allow(
    rt: &Snapshot,
    policy: &Policy,
    claims: &Arc<VerifiedClaims>,
) -> Option<Allow> {
    let decided_for = AllowFor {
        generation: rt.generation,
        policy: policy.name.clone(),
    };
    let kept = claims.encoded_allow(&decided_for)?.bytes.clone();
    Some(Allow {
        policy: policy.name.clone(),
        claims: Some(claims.clone()),
        set_headers: Vec::new(),
        remove_headers: Vec::new(),
        remove_authorization: policy.remove_authorization,
        response_headers: Vec::new(),
        reusable: Some(decided_for),
        kept: Some(kept),
    })
}

/// The identity headers this allow does not set: stripped, so the client's
/// copies never reach the workload.
fn not_set(all: &[HeaderName], set: &[(HeaderName, String)]) -> Vec<HeaderName> {
    all.iter()
        .filter(|h| !set.iter().any(|(s, _)| s == *h))
        .cloned()
        .collect()
}

/// A claim rendered as a header value: strings as they are, numbers and
/// booleans as JSON, arrays of strings joined with `,`. Anything else, or a
/// value with control characters, is not forwarded.
fn header_value(claims: &VerifiedClaims, claim: &str) -> Option<String> {
    let value = if claim == "scope" {
        let scopes = claims.scopes();
        (!scopes.is_empty()).then(|| scopes.join(" "))
    } else {
        match claims.claim(claim)? {
            Value::String(s) => Some(s.clone()),
            v @ (Value::Number(_) | Value::Bool(_)) => Some(v.to_string()),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str())
                .collect::<Option<Vec<_>>>()
                .map(|v| v.join(",")),
            _ => None,
        }
    }?;
    let clean = value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f));
    clean.then_some(value)
}
