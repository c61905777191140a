//! The denial table, row by row: a change to any mapping fails here first.

use super::*;

fn step_up(acr: Option<&str>, max_age: Option<u64>) -> DenyReason {
    DenyReason::Unmet(Unmet::StepUp {
        acr_values: acr.map(str::to_owned),
        max_age,
    })
}

/// (reason, HTTP status, error code, label): the rows before a token is
/// verified.
fn request_rows() -> Vec<(DenyReason, u16, &'static str, &'static str)> {
    vec![
        (
            DenyReason::NoHttpAttributes,
            403,
            "access_denied",
            "no_http_attributes",
        ),
        (
            DenyReason::NoMatchingPolicy,
            403,
            "access_denied",
            "no_matching_policy",
        ),
        (
            DenyReason::UnknownPolicy,
            403,
            "access_denied",
            "unknown_policy",
        ),
        (
            DenyReason::PrincipalNotAllowed,
            403,
            "access_denied",
            "principal_not_allowed",
        ),
        (
            DenyReason::Bearer(BearerError::Missing),
            401,
            "missing_token",
            "missing_token",
        ),
        (
            DenyReason::Bearer(BearerError::Malformed("two tokens")),
            400,
            "invalid_request",
            "malformed_request",
        ),
        (
            DenyReason::Bearer(BearerError::TooLarge),
            401,
            "invalid_request",
            "token_too_large",
        ),
        (
            DenyReason::UnreadableHost,
            400,
            "invalid_request",
            "unreadable_host",
        ),
        (
            DenyReason::UnreadableRequest,
            400,
            "invalid_request",
            "unreadable_request",
        ),
        (
            DenyReason::RequestTooLarge,
            413,
            "invalid_request",
            "request_too_large",
        ),
        (DenyReason::Busy, 503, "temporarily_unavailable", "busy"),
    ]
}

/// The token and policy rows of the status table.
fn token_rows() -> Vec<(DenyReason, u16, &'static str, &'static str)> {
    vec![
        (
            DenyReason::Token(TokenError::KeysUnavailable),
            503,
            "temporarily_unavailable",
            "keys_unavailable",
        ),
        (
            DenyReason::Token(TokenError::Expired),
            401,
            "invalid_token",
            "token_expired",
        ),
        (
            DenyReason::Token(TokenError::BadSignature),
            401,
            "invalid_token",
            "bad_signature",
        ),
        (
            DenyReason::Token(TokenError::AuthTimeInFuture),
            401,
            "invalid_token",
            "invalid_token",
        ),
        (DenyReason::Revoked, 401, "invalid_token", "token_revoked"),
        (
            DenyReason::Unmet(Unmet::InsufficientScope {
                required: "a b".into(),
            }),
            403,
            "insufficient_scope",
            "insufficient_scope",
        ),
        (
            DenyReason::Unmet(Unmet::ClaimMismatch {
                claim: "role".into(),
            }),
            403,
            "access_denied",
            "claim_mismatch",
        ),
        (
            step_up(Some("phr"), None),
            401,
            "insufficient_user_authentication",
            "step_up_required",
        ),
    ]
}

#[test]
fn every_reason_has_its_status_and_code() {
    for (reason, status, code, label) in request_rows().into_iter().chain(token_rows()) {
        assert_eq!(reason.http_status(), status, "{reason:?}");
        assert_eq!(reason.error_code(), code, "{reason:?}");
        assert_eq!(reason.label(), label, "{reason:?}");
    }
}

/// (reason, exact `WWW-Authenticate` or none)
fn challenge_table() -> Vec<(DenyReason, Option<&'static str>)> {
    vec![
        (
            DenyReason::Bearer(BearerError::Missing),
            Some(r#"Bearer realm="r""#),
        ),
        (
            DenyReason::Revoked,
            Some(r#"Bearer realm="r", error="invalid_token", error_description="token revoked""#),
        ),
        (
            DenyReason::Unmet(Unmet::InsufficientScope {
                required: "a b".into(),
            }),
            Some(
                r#"Bearer realm="r", error="insufficient_scope", error_description="the token lacks a scope this route requires", scope="a b""#,
            ),
        ),
        (
            step_up(Some("mfa phr"), Some(300)),
            Some(
                r#"Bearer realm="r", error="insufficient_user_authentication", error_description="a stronger and more recent authentication is required", acr_values="mfa phr", max_age="300""#,
            ),
        ),
        (
            step_up(None, Some(60)),
            Some(
                r#"Bearer realm="r", error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="60""#,
            ),
        ),
        (DenyReason::Token(TokenError::KeysUnavailable), None),
        (DenyReason::NoMatchingPolicy, None),
        (
            DenyReason::Unmet(Unmet::ClaimMismatch {
                claim: "role".into(),
            }),
            None,
        ),
    ]
}

#[test]
fn challenges() {
    for (reason, challenge) in challenge_table() {
        assert_eq!(reason.challenge("r").as_deref(), challenge, "{reason:?}");
    }
}

#[test]
fn body_is_the_code_and_description() {
    let body: serde_json::Value =
        serde_json::from_str(&DenyReason::Token(TokenError::Expired).body()).unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(body["error_description"], "the token has expired");
    assert_eq!(body.as_object().map(|o| o.len()), Some(2));
}
