//! The `CheckResponse` Envoy acts on: an allow with its identity headers,
//! headers to strip and metadata, or a denial with its status, challenges
//! and body.

use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{CheckResponse, DeniedHttpResponse};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::google::protobuf::{Struct, Value as PbValue, value::Kind};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use prost::Message;

use super::allow_bytes::allow_bytes;
use crate::decision::{Allow, Decision, Deny, DenyReason, RegoDenial};
use crate::token::TokenError;

/// The response Envoy acts on, as a message (the gRPC edge sends an
/// allow as written by `allow_bytes`; this decodes those same bytes).
pub(super) fn to_response(decision: Decision, realm: &str, dpop_algs: &str) -> CheckResponse {
    match decision {
        Decision::Allow(allow) => allow_response(allow),
        Decision::Deny(deny) => deny_response(&deny, realm, dpop_algs),
    }
}

fn overwrite(key: impl Into<String>, value: impl Into<String>) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.into(),
            value: value.into(),
            raw_value: Vec::new(),
        }),
        // Newer Envoys default to appending, which would keep a spoofed value.
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..Default::default()
    }
}

fn allow_response(allow: Allow) -> CheckResponse {
    if allow.kept {
        let kept = allow.claims.as_deref().and_then(|c| c.kept_answer());
        return decoded_allow(kept.unwrap_or_default());
    }
    decoded_allow(&allow_bytes(&allow))
}

/// An encoded allow as a message again (`reply` sends the bytes instead).
/// The bytes are this service's own encoding, so they decode to an allow;
/// if they ever did not (or were missing), the answer is a 503 denial (the
/// service could not answer), never an allow without its headers.
pub(super) fn decoded_allow(encoded: &[u8]) -> CheckResponse {
    let decoded = CheckResponse::decode(encoded).map_err(|e| e.to_string());
    let allow = decoded.and_then(|r| match r.http_response {
        Some(HttpResponse::OkResponse(_)) => Ok(r),
        _ => Err("not an allow".to_owned()),
    });
    allow.unwrap_or_else(|e| {
        tracing::error!(error = %e, "an encoded allow does not decode; denied");
        deny_response(
            &Deny::new(DenyReason::Token(TokenError::KeysUnavailable)),
            "",
            "",
        )
    })
}

/// The gRPC code carried in `CheckResponse.status`. Envoy ignores it for
/// the HTTP status (that is `DeniedHttpResponse.status`), but logs and
/// gRPC clients read it. Never INVALID_ARGUMENT: that is for broken calls.
fn grpc_code(http_status: u16) -> tonic::Code {
    match http_status {
        400 | 401 => tonic::Code::Unauthenticated,
        503 => tonic::Code::Unavailable,
        _ => tonic::Code::PermissionDenied,
    }
}

fn deny_response(deny: &Deny, realm: &str, dpop_algs: &str) -> CheckResponse {
    let reason = &deny.reason;
    let http_status = reason.http_status();
    let mut headers = Vec::with_capacity(3);
    headers.push(overwrite("cache-control", "no-store"));
    match reason {
        DenyReason::Rego(RegoDenial {
            body, headers: own, ..
        }) => {
            if !own.iter().any(|(h, _)| h == http::header::CONTENT_TYPE) {
                let own_body = body.is_some();
                let kind = if own_body {
                    "text/plain; charset=utf-8"
                } else {
                    "application/json"
                };
                headers.push(overwrite("content-type", kind));
            }
            headers.extend(own.iter().map(|(h, v)| overwrite(h.as_str(), v.as_str())));
        }
        _ => headers.push(overwrite("content-type", "application/json")),
    }
    let (bearer, dpop) = reason.challenges(realm, dpop_algs, deny.dpop_scheme);
    if let Some(challenge) = bearer {
        headers.push(overwrite("www-authenticate", challenge));
    }
    if let Some(challenge) = dpop {
        // A second challenge header: appended, not overwriting the first.
        headers.push(HeaderValueOption {
            append_action: HeaderAppendAction::AppendIfExistsOrAdd as i32,
            ..overwrite("www-authenticate", challenge)
        });
    }
    if let Some(nonce) = reason.dpop_nonce() {
        headers.push(overwrite("dpop-nonce", nonce));
    }
    let mut meta = Metadata::with_capacity(3);
    meta.put("decision", "deny");
    meta.put("reason", deny.reason.label());
    if let Some(p) = &deny.policy {
        meta.put("policy", &**p);
    }
    CheckResponse {
        status: Some(RpcStatus {
            code: grpc_code(http_status) as i32,
            message: reason.description().into_owned(),
            details: Vec::new(),
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            // Without this Envoy answers 403 to every denial.
            status: Some(HttpStatus {
                code: i32::from(http_status),
            }),
            headers,
            body: reason.body(),
        })),
        dynamic_metadata: Some(meta.0),
    }
}

/// Dynamic metadata: string fields for Envoy's access log and later filters.
struct Metadata(Struct);

impl Metadata {
    fn with_capacity(n: usize) -> Self {
        Self(Struct {
            fields: std::collections::HashMap::with_capacity(n),
        })
    }

    fn put(&mut self, key: &str, value: impl Into<String>) {
        self.0.fields.insert(
            key.to_owned(),
            PbValue {
                kind: Some(Kind::StringValue(value.into())),
            },
        );
    }
}
