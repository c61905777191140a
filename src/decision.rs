//! What the pipeline decides, and the one table from a denial to what the
//! caller sees (HTTP status, gRPC code, challenge, JSON body).

use std::sync::Arc;

use http::HeaderName;

use crate::policy::Unmet;
use crate::token::{BearerError, TokenError, VerifiedClaims};

#[derive(Debug)]
pub enum Decision {
    Allow(Allow),
    Deny(Deny),
}

#[derive(Debug)]
pub struct Allow {
    pub policy: Arc<str>,
    /// `None` for anonymous policies and the default allow.
    pub claims: Option<Arc<VerifiedClaims>>,
    /// Identity headers for the workload, set with overwrite semantics.
    pub set_headers: Vec<(HeaderName, String)>,
    /// Identity headers this request does not get: stripped so a client
    /// cannot smuggle them in.
    pub remove_headers: Vec<HeaderName>,
    pub remove_authorization: bool,
}

#[derive(Debug)]
pub struct Deny {
    pub reason: DenyReason,
    pub policy: Option<Arc<str>>,
    /// The token's issuer (a configured one) and key id when they were
    /// learned, for the logs.
    pub issuer: Option<Arc<str>>,
    pub kid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// The `CheckRequest` had no HTTP request attributes.
    NoHttpAttributes,
    NoMatchingPolicy,
    /// `context_extensions` named a policy that is not configured.
    UnknownPolicy,
    PrincipalNotAllowed,
    Bearer(BearerError),
    Token(TokenError),
    Revoked,
    Unmet(Unmet),
}

/// How a denial reaches the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyResponse {
    pub http_status: u16,
    /// gRPC code carried in `CheckResponse.status`.
    pub grpc_code: i32,
    pub www_authenticate: Option<String>,
    /// RFC 6750 / RFC 9470 error code, also the body's `error`.
    pub error: &'static str,
    pub description: String,
}

const UNAUTHENTICATED: i32 = 16;
const PERMISSION_DENIED: i32 = 7;
const UNAVAILABLE: i32 = 14;

impl DenyReason {
    /// A short, fixed label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::NoHttpAttributes => "no_http_attributes",
            Self::NoMatchingPolicy => "no_matching_policy",
            Self::UnknownPolicy => "unknown_policy",
            Self::PrincipalNotAllowed => "principal_not_allowed",
            Self::Bearer(BearerError::Missing) => "missing_token",
            Self::Bearer(BearerError::Malformed(_)) => "malformed_request",
            Self::Bearer(BearerError::TooLarge) => "token_too_large",
            Self::Token(TokenError::KeysUnavailable) => "keys_unavailable",
            Self::Token(TokenError::Expired) => "token_expired",
            Self::Token(TokenError::BadSignature) => "bad_signature",
            Self::Token(_) => "invalid_token",
            Self::Revoked => "token_revoked",
            Self::Unmet(Unmet::InsufficientScope { .. }) => "insufficient_scope",
            Self::Unmet(Unmet::ClaimMismatch { .. }) => "claim_mismatch",
            Self::Unmet(Unmet::StepUp { .. }) => "step_up_required",
        }
    }

    /// BEHAVIOR §1: the status, challenge and body for each failure.
    pub fn response(&self, realm: &str) -> DenyResponse {
        let bearer = |error: Option<&str>, description: &str, extra: &str| {
            let mut h = format!("Bearer realm=\"{realm}\"");
            if let Some(e) = error {
                h.push_str(&format!(
                    ", error=\"{e}\", error_description=\"{description}\""
                ));
            }
            h.push_str(extra);
            Some(h)
        };
        let forbidden = |description: String| DenyResponse {
            http_status: 403,
            grpc_code: PERMISSION_DENIED,
            www_authenticate: None,
            error: "access_denied",
            description,
        };
        match self {
            Self::NoHttpAttributes => {
                forbidden("the check request carries no HTTP request attributes".into())
            }
            Self::NoMatchingPolicy => forbidden("no policy covers this route".into()),
            Self::UnknownPolicy => {
                forbidden("the route names a policy that is not configured".into())
            }
            Self::PrincipalNotAllowed => {
                forbidden("the calling workload is not allowed on this route".into())
            }
            Self::Unmet(Unmet::ClaimMismatch { claim }) => forbidden(format!(
                "the token's {claim} claim does not meet the policy"
            )),
            Self::Bearer(BearerError::Missing) => DenyResponse {
                http_status: 401,
                grpc_code: UNAUTHENTICATED,
                www_authenticate: bearer(None, "", ""),
                // RFC 6750 §3.1: no error code in the challenge when the
                // request carried no credentials at all.
                error: "missing_token",
                description: "a bearer token is required".into(),
            },
            Self::Bearer(e @ BearerError::Malformed(_)) => {
                let d = e.to_string();
                DenyResponse {
                    http_status: 400,
                    grpc_code: UNAUTHENTICATED,
                    www_authenticate: bearer(Some("invalid_request"), &d, ""),
                    error: "invalid_request",
                    description: d,
                }
            }
            Self::Bearer(e @ BearerError::TooLarge) => {
                let d = e.to_string();
                DenyResponse {
                    http_status: 401,
                    grpc_code: UNAUTHENTICATED,
                    www_authenticate: bearer(Some("invalid_request"), &d, ""),
                    error: "invalid_request",
                    description: d,
                }
            }
            Self::Token(TokenError::KeysUnavailable) => DenyResponse {
                http_status: 503,
                grpc_code: UNAVAILABLE,
                www_authenticate: None,
                error: "temporarily_unavailable",
                description: TokenError::KeysUnavailable.to_string(),
            },
            Self::Token(e) => {
                let d = e.to_string();
                DenyResponse {
                    http_status: 401,
                    grpc_code: UNAUTHENTICATED,
                    www_authenticate: bearer(Some("invalid_token"), &d, ""),
                    error: "invalid_token",
                    description: d,
                }
            }
            Self::Revoked => DenyResponse {
                http_status: 401,
                grpc_code: UNAUTHENTICATED,
                www_authenticate: bearer(Some("invalid_token"), "token revoked", ""),
                error: "invalid_token",
                description: "token revoked".into(),
            },
            Self::Unmet(Unmet::InsufficientScope { required }) => {
                let d = "the token lacks a scope this route requires".to_string();
                DenyResponse {
                    http_status: 403,
                    grpc_code: PERMISSION_DENIED,
                    www_authenticate: bearer(
                        Some("insufficient_scope"),
                        &d,
                        &format!(", scope=\"{required}\""),
                    ),
                    error: "insufficient_scope",
                    description: d,
                }
            }
            Self::Unmet(Unmet::StepUp {
                acr_values,
                max_age,
            }) => {
                let d = match (acr_values, max_age) {
                    (Some(_), Some(_)) => "a stronger and more recent authentication is required",
                    (Some(_), None) => "a stronger authentication is required",
                    _ => "a more recent authentication is required",
                };
                let mut extra = String::new();
                if let Some(v) = acr_values {
                    extra.push_str(&format!(", acr_values=\"{v}\""));
                }
                if let Some(m) = max_age {
                    extra.push_str(&format!(", max_age=\"{m}\""));
                }
                DenyResponse {
                    http_status: 401,
                    grpc_code: UNAUTHENTICATED,
                    www_authenticate: bearer(Some("insufficient_user_authentication"), d, &extra),
                    error: "insufficient_user_authentication",
                    description: d.into(),
                }
            }
        }
    }
}

impl DenyResponse {
    /// `{"error": ..., "error_description": ...}`
    pub fn body(&self) -> String {
        serde_json::json!({ "error": self.error, "error_description": self.description })
            .to_string()
    }
}
