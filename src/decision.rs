//! What the pipeline decides, and the one table from a denial to what the
//! caller sees: HTTP status, error code, description and challenge, each a
//! small mapping on the reason. The gRPC code is the gRPC edge's business.

use std::borrow::Cow;
use std::fmt::Write;
use std::sync::Arc;

use http::HeaderName;

use crate::binding::BindingError;
use crate::policy::Unmet;
use crate::token::{BearerError, TokenError, VerifiedClaims};

/// What the pipeline answers for one request.
#[derive(Debug)]
pub enum Decision {
    /// Let the request through.
    Allow(Allow),
    /// Refuse the request.
    Deny(Deny),
}

/// An allow, with the headers Envoy is to set and strip.
#[derive(Debug)]
pub struct Allow {
    /// Name of the policy that allowed the request, or `(default)`.
    pub policy: Arc<str>,
    /// `None` for anonymous policies and the default allow.
    pub claims: Option<Arc<VerifiedClaims>>,
    /// Identity headers for the workload, set with overwrite semantics.
    pub set_headers: Vec<(HeaderName, String)>,
    /// Identity headers this request does not get: stripped so a client
    /// cannot smuggle them in.
    pub remove_headers: Vec<HeaderName>,
    /// Whether `Authorization` is stripped before the workload sees it.
    pub remove_authorization: bool,
    /// Headers for the workload's response (a Rego policy's
    /// `response_headers_to_add`).
    pub response_headers: Vec<(HeaderName, String)>,
    /// Set when nothing in this allow comes from the request: every request
    /// presenting the same token to this policy under this snapshot gets
    /// the same allow, so the edge may encode it once per token.
    pub reusable: Option<AllowFor>,
    /// The answer is the one the gRPC edge encoded for this token, policy
    /// and snapshot at an earlier `Check` (see `reusable`), kept with
    /// `claims` ([`VerifiedClaims::kept_answer`]). When set, the headers
    /// are in those bytes and `set_headers` and `remove_headers` are empty:
    /// the edge sends the bytes as they are.
    pub kept: bool,
}

/// What a reusable allow was decided under: the snapshot and the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowFor {
    /// The snapshot's generation.
    pub generation: u64,
    /// The policy's name (unique within a snapshot).
    pub policy: Arc<str>,
}

/// A denial, with what the logs need to tell why.
#[derive(Debug)]
pub struct Deny {
    /// Why the request was denied; decides the status, error code and challenge.
    pub reason: DenyReason,
    /// The policy that denied it, once one was chosen.
    pub policy: Option<Arc<str>>,
    /// The token's issuer (a configured one) and key id when they were
    /// learned, for the logs.
    pub issuer: Option<Arc<str>>,
    /// The token's key id (`kid`), when learned, for the logs.
    pub kid: Option<String>,
    /// The request presented its token with the DPoP scheme: the error goes
    /// on the DPoP challenge.
    pub dpop_scheme: bool,
}

impl Deny {
    /// A denial before any token was verified.
    pub fn new(reason: DenyReason) -> Self {
        Self {
            reason,
            policy: None,
            issuer: None,
            kid: None,
            dpop_scheme: false,
        }
    }

    /// A denial of a verified token: its issuer and key id go to the logs.
    pub fn about(reason: DenyReason, claims: &VerifiedClaims) -> Self {
        Self {
            reason,
            policy: None,
            issuer: Some(Arc::from(claims.issuer())),
            kid: claims.kid().map(str::to_owned),
            dpop_scheme: false,
        }
    }
}

/// Why a request was denied, one variant per kind of failed step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// The `CheckRequest` had no HTTP request attributes.
    NoHttpAttributes,
    /// No policy matches the request and `default_action` is `deny`.
    NoMatchingPolicy,
    /// `context_extensions` named a policy that is not configured.
    UnknownPolicy,
    /// The calling workload's SPIFFE ID is missing or not in the policy's `principals`.
    PrincipalNotAllowed,
    /// No single well-formed bearer token in `Authorization`.
    Bearer(BearerError),
    /// The token failed verification.
    Token(TokenError),
    /// The token matches a revocation.
    Revoked,
    /// The token lacks what the policy requires: scope, claim, `acr` or a recent enough login.
    Unmet(Unmet),
    /// The policy's Rego denied the request or gave no usable answer.
    Rego(RegoDenial),
    /// The token's binding (DPoP proof, client certificate) does not hold,
    /// or the policy wants a sender-constrained token.
    Binding(BindingError),
    /// The request carries a header that CGI-style stacks read as the one
    /// named, which zt-authz sets or strips.
    SpoofedIdentityHeader(HeaderName),
    /// The path selects another policy once its `;parameters` are taken
    /// out, as some frameworks route it.
    AmbiguousPath,
    /// The host has characters a plain host name, address and port never
    /// have (`@`, `%`, …), which URL parsers read as userinfo or decode.
    UnreadableHost,
    /// The `CheckRequest` is larger than zt-authz reads (a large
    /// `with_request_body`).
    RequestTooLarge,
    /// The calls being read already hold all the memory set aside for
    /// them (`grpc::unary::BODY_BUDGET`): this one is not read at all.
    Busy,
    /// The call carries no readable `CheckRequest` (none, cut short,
    /// compressed, not protobuf), or a string field of it that the
    /// decision reads (host, path, a header name, …) is not UTF-8. Envoy
    /// never sends either.
    UnreadableRequest,
}

/// What a Rego policy asked a denial to look like; the default is the
/// fixed 403 `access_denied`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegoDenial {
    /// The policy's `http_status` (300–599), else 403.
    pub status: Option<u16>,
    /// The policy's `body`, sent as it is, else the usual JSON error.
    pub body: Option<String>,
    /// The policy's `headers`, added to the denial.
    pub headers: Vec<(HeaderName, String)>,
}

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
            Self::Rego(_) => "policy_denied",
            Self::Binding(BindingError::Proof(_)) => "invalid_dpop_proof",
            Self::Binding(BindingError::UseNonce { .. }) => "use_dpop_nonce",
            Self::Binding(BindingError::ConstraintRequired(_)) => "sender_constraint_required",
            Self::Binding(_) => "token_binding",
            Self::SpoofedIdentityHeader(_) => "spoofed_identity_header",
            Self::AmbiguousPath => "ambiguous_path",
            Self::UnreadableHost => "unreadable_host",
            Self::RequestTooLarge => "request_too_large",
            Self::Busy => "busy",
            Self::UnreadableRequest => "unreadable_request",
        }
    }

    /// The HTTP status the caller gets (README, "Decision pipeline").
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Rego(d) => d.status.unwrap_or(403),
            Self::Bearer(BearerError::Malformed(_))
            | Self::SpoofedIdentityHeader(_)
            | Self::AmbiguousPath
            | Self::UnreadableHost
            | Self::UnreadableRequest => 400,
            Self::RequestTooLarge => 413,
            Self::Token(TokenError::KeysUnavailable) | Self::Busy => 503,
            Self::Bearer(_) | Self::Token(_) | Self::Revoked | Self::Binding(_) => 401,
            Self::Unmet(Unmet::StepUp { .. }) => 401,
            Self::NoHttpAttributes
            | Self::NoMatchingPolicy
            | Self::UnknownPolicy
            | Self::PrincipalNotAllowed
            | Self::Unmet(Unmet::InsufficientScope { .. } | Unmet::ClaimMismatch { .. }) => 403,
        }
    }

    /// The RFC 6750 / RFC 9470 error code: the body's `error`, and the
    /// challenge's unless the request carried no token at all.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::Bearer(BearerError::Missing) => "missing_token",
            Self::Bearer(_)
            | Self::SpoofedIdentityHeader(_)
            | Self::AmbiguousPath
            | Self::UnreadableHost
            | Self::UnreadableRequest
            | Self::RequestTooLarge => "invalid_request",
            Self::Token(TokenError::KeysUnavailable) | Self::Busy => "temporarily_unavailable",
            Self::Binding(BindingError::Proof(_)) => "invalid_dpop_proof",
            Self::Binding(BindingError::UseNonce { .. }) => "use_dpop_nonce",
            Self::Token(_) | Self::Revoked | Self::Binding(_) => "invalid_token",
            Self::Unmet(Unmet::InsufficientScope { .. }) => "insufficient_scope",
            Self::Unmet(Unmet::StepUp { .. }) => "insufficient_user_authentication",
            Self::NoHttpAttributes
            | Self::NoMatchingPolicy
            | Self::UnknownPolicy
            | Self::PrincipalNotAllowed
            | Self::Rego(_)
            | Self::Unmet(Unmet::ClaimMismatch { .. }) => "access_denied",
        }
    }

    /// What went wrong, for a developer fixing the call. Never token text.
    pub fn description(&self) -> Cow<'static, str> {
        match self {
            Self::NoHttpAttributes => "the check request carries no HTTP request attributes".into(),
            Self::NoMatchingPolicy => "no policy covers this route".into(),
            Self::UnknownPolicy => "the route names a policy that is not configured".into(),
            Self::PrincipalNotAllowed => "the calling workload is not allowed on this route".into(),
            Self::Unmet(Unmet::ClaimMismatch { claim }) => {
                format!("the token's {claim} claim does not meet the policy").into()
            }
            Self::Bearer(e) => e.to_string().into(),
            Self::Binding(e) => e.to_string().into(),
            Self::Token(e) => e.to_string().into(),
            Self::Revoked => "token revoked".into(),
            // The configured name, never the request's spelling of it.
            Self::SpoofedIdentityHeader(name) => format!(
                "the request carries a header that CGI-style stacks read as {name}, which only this service sets"
            )
            .into(),
            Self::AmbiguousPath => {
                "the path selects another policy once its ;parameters are taken out".into()
            }
            Self::UnreadableHost => {
                "the Host is not a plain host name, address and port; a workload could read it as another host".into()
            }
            Self::RequestTooLarge => "the request is larger than this service reads".into(),
            Self::Busy => "this service is reading as many calls as it has memory for; try again".into(),
            Self::UnreadableRequest => {
                "the check request is not protobuf, or a field the decision reads is not UTF-8"
                    .into()
            }
            // Fixed: a policy's own words go in its `body`, never the input.
            Self::Rego(_) => "the route's policy denied the request".into(),
            Self::Unmet(Unmet::InsufficientScope { .. }) => {
                "the token lacks a scope this route requires".into()
            }
            Self::Unmet(Unmet::StepUp {
                acr_values,
                max_age,
            }) => match (acr_values, max_age) {
                (Some(_), Some(_)) => "a stronger and more recent authentication is required",
                (Some(_), None) => "a stronger authentication is required",
                _ => "a more recent authentication is required",
            }
            .into(),
        }
    }

    /// Challenge parameters beyond `error` and `error_description`.
    fn challenge_params(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Unmet(Unmet::InsufficientScope { required }) => {
                vec![("scope", required.clone())]
            }
            Self::Unmet(Unmet::StepUp {
                acr_values,
                max_age,
            }) => {
                let mut params = Vec::with_capacity(2);
                if let Some(v) = acr_values {
                    params.push(("acr_values", v.clone()));
                }
                if let Some(m) = max_age {
                    params.push(("max_age", m.to_string()));
                }
                params
            }
            _ => Vec::new(),
        }
    }

    /// The `WWW-Authenticate` value, for denials that ask the caller to
    /// (re)authenticate or to get a token with more scopes. A request
    /// without credentials gets a bare challenge (RFC 6750 §3.1).
    pub fn challenge(&self, realm: &str) -> Option<String> {
        self.challenges(realm, "", false).0
    }

    /// The `Bearer` and `DPoP` challenges (RFC 9449 §7.1) for a denial that
    /// asks for a token: `algs` are the proof algorithms accepted. The
    /// error and its parameters go on the challenge of the scheme the
    /// request used (`dpop_scheme`), or on the DPoP one when the proof or
    /// its nonce is what failed; the other challenge is bare. A request
    /// without credentials gets bare challenges (RFC 6750 §3.1).
    pub fn challenges(
        &self,
        realm: &str,
        algs: &str,
        dpop_scheme: bool,
    ) -> (Option<String>, Option<String>) {
        if matches!(self, Self::Rego(_)) {
            // A Rego policy sets its own `www-authenticate` in `headers`.
            return (None, None);
        }
        let asks_for_token = matches!(self.http_status(), 400 | 401)
            || matches!(self, Self::Unmet(Unmet::InsufficientScope { .. }));
        if !asks_for_token {
            return (None, None);
        }
        let mut bearer = format!("Bearer realm=\"{realm}\"");
        let mut dpop = format!("DPoP realm=\"{realm}\", algs=\"{algs}\"");
        if !matches!(self, Self::Bearer(BearerError::Missing)) {
            let on = if dpop_scheme || self.is_about_dpop() {
                &mut dpop
            } else {
                &mut bearer
            };
            let _ = write!(
                on,
                ", error=\"{}\", error_description=\"{}\"",
                self.error_code(),
                self.description()
            );
            for (name, value) in self.challenge_params() {
                let _ = write!(on, ", {name}=\"{value}\"");
            }
        }
        // A Bearer-scheme request denied for its scope learns of DPoP only
        // where it could present a token again.
        let offer_dpop = dpop_scheme || matches!(self.http_status(), 400 | 401);
        (Some(bearer), offer_dpop.then_some(dpop))
    }

    /// Whether the error belongs on the DPoP challenge rather than the
    /// Bearer one: the proof, the nonce, or an unbound token sent as DPoP.
    fn is_about_dpop(&self) -> bool {
        matches!(
            self,
            Self::Binding(BindingError::UnboundTokenAsDpop)
                | Self::Binding(BindingError::Proof(_) | BindingError::UseNonce { .. })
        )
    }

    /// A fresh server nonce for the `DPoP-Nonce` header, when the denial asks for one.
    pub fn dpop_nonce(&self) -> Option<&str> {
        match self {
            Self::Binding(BindingError::UseNonce { nonce }) => Some(nonce),
            _ => None,
        }
    }

    /// `{"error": ..., "error_description": ...}`, or a Rego policy's own body.
    pub fn body(&self) -> String {
        if let Self::Rego(RegoDenial { body: Some(b), .. }) = self {
            return b.clone();
        }
        serde_json::json!({ "error": self.error_code(), "error_description": self.description() })
            .to_string()
    }
}

#[cfg(test)]
mod tests;
