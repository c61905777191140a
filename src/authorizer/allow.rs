//! Step 11: the allow, with the identity headers set and every other
//! header zt-authz sets (any Rego policy's too) stripped.

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
        remove_headers: not_set(&rt.guarded_headers, &set_headers),
        policy,
        claims: None,
        set_headers,
        remove_authorization,
        response_headers: Vec::new(),
        reusable: None,
        kept: false,
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
        remove_headers: not_set(&rt.guarded_headers, &set_headers),
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
        kept: false,
    }
}

/// The allow for a token that was allowed under this policy and snapshot
/// before, when its answer was kept with it: nothing in it depends on the
/// request, so the identity headers are not worked out again. `claims`
/// are handed back when nothing is kept. Every reference count taken here
/// is one more cache line both cores write for the same token, so the
/// claims move in rather than being cloned, and the answer stays with
/// them instead of being shared out.
pub(super) fn kept_allow(
    rt: &Snapshot,
    policy: &Policy,
    claims: Arc<VerifiedClaims>,
) -> Result<Allow, Arc<VerifiedClaims>> {
    if claims
        .encoded_allow_under(rt.generation, &policy.name)
        .is_none()
    {
        return Err(claims);
    }
    Ok(Allow {
        policy: policy.name.clone(),
        claims: Some(claims),
        set_headers: Vec::new(),
        remove_headers: Vec::new(),
        remove_authorization: policy.remove_authorization,
        response_headers: Vec::new(),
        // The bytes are the answer; nothing is left to encode and keep.
        reusable: None,
        kept: true,
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
/// booleans as JSON, arrays of strings joined with `,`. Anything else is
/// not forwarded, nor is a value a workload would read as another one: a
/// value with control characters (tab included) or with whitespace at
/// either end, which HTTP parsers trim, or an array item with a `,` in it,
/// which a workload splitting the header would take for two items.
fn header_value(claims: &VerifiedClaims, claim: &str) -> Option<String> {
    if claim == "scope" {
        // Scope tokens, checked when the token was read.
        let scopes = claims.scopes();
        return (!scopes.is_empty()).then(|| scopes.join(" "));
    }
    if let Some(value) = claims.verified_string(claim) {
        return value.filter(|s| forwardable(s)).map(str::to_owned);
    }
    match claims.claim(claim)? {
        Value::String(s) => forwardable(s).then(|| s.clone()),
        v @ (Value::Number(_) | Value::Bool(_)) => Some(v.to_string()),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().filter(|s| forwardable(s) && !s.contains(',')))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        _ => None,
    }
}

/// Forwarded as the workload will read it: no control characters and no
/// invisible ones, and nothing for a parser or a `trim()` to take off
/// either end (Unicode whitespace: Go's `TrimSpace`, Java's `strip`, Rust's
/// and JavaScript's `trim` all take more than the space and tab HTTP
/// parsers do).
fn forwardable(value: &str) -> bool {
    if value.is_ascii() {
        // The same test, for the common case: ASCII has no invisible
        // characters and no whitespace but the controls and the space.
        return value.bytes().all(|b| (b' '..=b'~').contains(&b))
            && !value.starts_with(' ')
            && !value.ends_with(' ');
    }
    forwardable_unicode(value)
}

fn forwardable_unicode(value: &str) -> bool {
    let trimmed = value.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    trimmed.len() == value.len() && !value.chars().any(|c| c.is_control() || invisible(c))
}

/// Characters that show as nothing, so that a value holding one reads as
/// another that does not: Unicode's default-ignorable code points and
/// format characters (soft hyphen, zero-width and bidi marks, tag
/// characters, variation selectors, the byte-order mark…), and
/// noncharacters.
fn invisible(c: char) -> bool {
    let n = u32::from(c);
    (n & 0xfffe) == 0xfffe
        || matches!(
            n,
            0xad | 0x34f
                | 0x600..=0x605
                | 0x61c
                | 0x6dd
                | 0x70f
                | 0x890..=0x891
                | 0x8e2
                | 0x115f..=0x1160
                | 0x17b4..=0x17b5
                | 0x180b..=0x180f
                | 0x200b..=0x200f
                | 0x202a..=0x202e
                | 0x2060..=0x206f
                | 0x3164
                | 0xfdd0..=0xfdef
                | 0xfe00..=0xfe0f
                | 0xfeff
                | 0xffa0
                | 0xfff0..=0xfffb
                | 0x110bd
                | 0x110cd
                | 0x13430..=0x1343f
                | 0x1bca0..=0x1bca3
                | 0x1d173..=0x1d17a
                | 0xe0000..=0xe0fff
        )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{forwardable, forwardable_unicode};

    proptest! {
        #[test]
        fn ascii_is_judged_as_any_other_text(
            value in prop_oneof!["[\\x00-\\x7f]{0,12}", "[ \\t\\n\\x0b\\x0c\\r\\x1f\\x7fa~]{0,4}"]
        ) {
            prop_assert_eq!(forwardable(&value), forwardable_unicode(&value));
        }
    }

    #[test]
    fn only_values_a_workload_reads_alike_are_forwarded() {
        for same in [
            "alice",
            "admin@corp.example",
            "a b",
            "",
            "ünï",
            "名前",
            "a\u{1f600}",
        ] {
            assert!(forwardable(same), "{same:?}");
        }
        for other in [
            "\tadmin",
            "admin ",
            " admin",
            "alice\t",
            "a\tb",
            "a\nb",
            "a\u{7f}",
            "a\u{85}b",
            // What application code trims, or what cannot be seen.
            "admin\u{a0}",
            "\u{a0}admin",
            "\u{2028}admin",
            "admin\u{3000}",
            "\u{1680}admin",
            "admin\u{2009}",
            "\u{feff}admin",
            "\u{200b}admin",
            "ad\u{ad}min",
            "ad\u{200d}min",
            // Tag characters, supplementary variation selectors, other
            // format characters, noncharacters.
            "alice\u{e0041}",
            "corp.example\u{e0100}",
            "a\u{1bca0}",
            "a\u{600}",
            "a\u{fffb}",
            "a\u{fffe}",
            "a\u{1ffff}",
            "a\u{fdd0}",
        ] {
            assert!(!forwardable(other), "{other:?}");
        }
    }
}
