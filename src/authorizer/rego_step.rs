//! Step 10b: a policy's Rego, run once everything else has passed. It can
//! only turn an allow into a denial, and add headers to the allow.

use regorus::Value;

use super::CheckInput;
use crate::decision::{Allow, Deny, DenyReason, RegoDenial};
use crate::policy::Policy;
use crate::rego::{RegoError, minimal_request, token_document};
use crate::telemetry::redact::WithoutTokens;
use crate::token::VerifiedClaims;

/// The allow, narrowed by the policy's Rego if it has one.
pub(super) fn apply(
    policy: &Policy,
    input: &CheckInput<'_>,
    claims: Option<&VerifiedClaims>,
    mut allow: Allow,
) -> Result<Allow, Deny> {
    let Some(rego) = &policy.rego else {
        return Ok(allow);
    };
    // Rego reads the request, so what it allows is this request's alone.
    allow.reusable = None;
    let deny = |denial: RegoDenial| match claims {
        Some(c) => Deny::about(DenyReason::Rego(denial), c),
        None => Deny::new(DenyReason::Rego(denial)),
    };
    let verdict = document(input, claims)
        .and_then(|doc| rego.evaluate(Value::from(doc)))
        .map_err(|e| {
            tracing::warn!(policy = %policy.name, error = %Redacted(&e), "rego gave no decision; denied");
            deny(RegoDenial::default())
        })?;
    if !verdict.allowed {
        return Err(deny(RegoDenial {
            status: verdict.http_status,
            body: verdict.body,
            headers: verdict.headers,
        }));
    }
    // Every header any policy's Rego may set is already stripped (as with
    // identity headers, on every route, so a workload reading one anywhere
    // never gets a client's copy); those set now are set instead.
    allow
        .remove_headers
        .retain(|h| !verdict.headers.iter().any(|(set, _)| set == h));
    allow.set_headers.extend(verdict.headers);
    allow.remove_headers.extend(verdict.remove_headers);
    allow.response_headers = verdict.response_headers;
    Ok(allow)
}

fn document(
    input: &CheckInput<'_>,
    claims: Option<&VerifiedClaims>,
) -> Result<std::collections::BTreeMap<Value, Value>, RegoError> {
    let mut doc = match input.request {
        Some(request) => request.opa_input()?,
        None => minimal_request(input.method, input.host, input.path, input.principal)?,
    };
    if let Some(c) = claims {
        doc.insert(Value::from("token"), c.rego_document(token_document));
    }
    Ok(doc)
}

/// An evaluation error for the log: its message may quote input, and the
/// input holds the `Authorization` header, so tokens are blanked out as in
/// every other log line that quotes the request.
struct Redacted<'a>(&'a RegoError);

impl std::fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        WithoutTokens(&self.0.to_string()).fmt(f)
    }
}
