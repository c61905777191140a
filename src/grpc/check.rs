//! The ext_authz edge: `CheckRequest` in, domain `CheckInput` to the
//! authorizer, `Decision` back out as a `CheckResponse`.

use std::borrow::Cow;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::google::protobuf::{Struct, Value as PbValue, value::Kind};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use prost::Message;
use tonic::Request;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::authorizer::{Authorizer, CheckInput};
use crate::decision::{Allow, Decision, Deny, DenyReason, RegoDenial};
use crate::telemetry::trace;
use crate::token::{EncodedAllow, TokenError};

/// The `Authorization` service Envoy calls.
#[derive(Clone)]
pub struct CheckService {
    authorizer: Arc<Authorizer>,
}

impl CheckService {
    /// A service that decides with `authorizer`.
    pub fn new(authorizer: Arc<Authorizer>) -> Self {
        Self { authorizer }
    }

    /// Decides one request and answers it. Never fails: a request that
    /// cannot be read is a denial, not an error (an error would hand the
    /// decision to Envoy's `failure_mode_allow`).
    pub async fn answer(&self, request: &CheckRequest) -> CheckResponse {
        let decision = self.decide(request).await;
        self.encode(decision)
    }

    /// The domain decision for a request.
    async fn decide(&self, request: &CheckRequest) -> Decision {
        match RequestView::of(request) {
            Some(view) => self.authorizer.check(&view.input()).await,
            None => self.authorizer.record_denial(DenyReason::NoHttpAttributes),
        }
    }

    /// The decision as Envoy's `CheckResponse`.
    fn encode(&self, decision: Decision) -> CheckResponse {
        // Only denials read the realm; allows skip the snapshot load.
        match decision {
            Decision::Allow(_) => to_response(decision, "", ""),
            Decision::Deny(_) => {
                let rt = self.authorizer.snapshot();
                to_response(decision, &rt.config.server.realm, &rt.dpop_algs)
            }
        }
    }

    /// The answer to a `Check` call, traced when tracing is on. A reusable
    /// allow is encoded once and kept with the verified token, so a cached
    /// token's next `Check` under the same policy and snapshot sends those
    /// bytes again instead of building and encoding the response.
    pub async fn reply(&self, request: &Request<CheckRequest>) -> Reply {
        let decision = if trace::enabled() {
            self.decide_traced(request).await
        } else {
            self.decide(request.get_ref()).await
        };
        // Moved out, not cloned: a clone is one more write to a reference
        // count that every Check of this token makes.
        let decision = match decision {
            Decision::Allow(Allow {
                kept: Some(kept), ..
            }) => return Reply::Encoded(kept),
            other => other,
        };
        let Decision::Allow(Allow {
            reusable: Some(decided_for),
            claims: Some(claims),
            ..
        }) = &decision
        else {
            return Reply::Message(Box::new(self.encode(decision)));
        };
        if let Some(kept) = claims.encoded_allow(decided_for) {
            return Reply::Encoded(kept.bytes.clone());
        }
        if claims.keeps_an_encoded_allow() {
            // Kept for another policy or snapshot: encode this one each time.
            return Reply::Message(Box::new(self.encode(decision)));
        }
        let (decided_for, claims) = (decided_for.clone(), claims.clone());
        let bytes: Arc<[u8]> = self.encode(decision).encode_to_vec().into();
        claims.keep_encoded_allow(EncodedAllow {
            decided_for,
            bytes: bytes.clone(),
        });
        Reply::Encoded(bytes)
    }

    /// `decide`, inside a span that continues the caller's trace.
    async fn decide_traced(&self, request: &Request<CheckRequest>) -> Decision {
        let headers = request
            .get_ref()
            .attributes
            .as_ref()
            .and_then(|a| a.request.as_ref())
            .and_then(|r| r.http.as_ref())
            .map(|h| &h.headers);
        let span = tracing::info_span!(
            "ext_authz.check",
            otel.kind = "server",
            decision = tracing::field::Empty,
            reason = tracing::field::Empty,
            policy = tracing::field::Empty,
            issuer = tracing::field::Empty,
        );
        let _ = span.set_parent(trace::parent(request.metadata(), headers));
        let decision = self
            .decide(request.get_ref())
            .instrument(span.clone())
            .await;
        match &decision {
            Decision::Allow(a) => {
                span.record("decision", "allow");
                span.record("policy", &*a.policy);
                if let Some(c) = &a.claims {
                    span.record("issuer", c.issuer());
                }
            }
            Decision::Deny(d) => {
                span.record("decision", "deny");
                span.record("reason", d.reason.label());
                if let Some(p) = &d.policy {
                    span.record("policy", &**p);
                }
                if let Some(i) = &d.issuer {
                    span.record("issuer", &**i);
                }
            }
        }
        decision
    }
}

/// What `Check` sends: a response to encode, or one encoded before.
pub enum Reply {
    /// A response built for this request.
    Message(Box<CheckResponse>),
    /// A response encoded for an earlier request with the same token,
    /// policy and snapshot.
    Encoded(Arc<[u8]>),
}

/// The parts of a `CheckRequest` the pipeline reads, borrowed where they
/// can be.
pub struct RequestView<'a> {
    http: &'a HttpRequest,
    attributes: &'a AttributeContext,
    authorization: Option<Cow<'a, str>>,
    request_id: Option<Cow<'a, str>>,
    dpop: Option<Cow<'a, str>>,
    forwarded_proto: Option<Cow<'a, str>>,
    punctuated: Vec<&'a str>,
}

impl<'a> RequestView<'a> {
    /// `None` when the request carries no HTTP attributes.
    pub fn of(request: &'a CheckRequest) -> Option<Self> {
        let attributes = request.attributes.as_ref()?;
        let http = attributes.request.as_ref()?.http.as_ref()?;
        let mut punctuated = Vec::new();
        let [authorization, request_id, dpop, forwarded_proto] =
            headers(http, READ_HEADERS, &mut punctuated);
        Some(Self {
            http,
            attributes,
            authorization,
            request_id,
            dpop,
            forwarded_proto,
            punctuated,
        })
    }

    /// The domain view of the request, for the authorizer.
    pub fn input(&self) -> CheckInput<'_> {
        CheckInput {
            host: &self.http.host,
            path: self.http.path.split(['?', '#']).next().unwrap_or_default(),
            method: &self.http.method,
            authorization: self.authorization.as_deref(),
            principal: self
                .attributes
                .source
                .as_ref()
                .map(|s| s.principal.as_str())
                .filter(|p| !p.is_empty()),
            policy_name: self
                .attributes
                .context_extensions
                .get("policy")
                .map(String::as_str),
            request_id: self.request_id.as_deref(),
            request: Some(self),
            scheme: &self.http.scheme,
            forwarded_proto: self.forwarded_proto.as_deref(),
            dpop: self.dpop.as_deref(),
            client_certificate: self
                .attributes
                .source
                .as_ref()
                .map(|s| s.certificate.as_str())
                .filter(|c| !c.is_empty()),
            punctuated_headers: &self.punctuated,
        }
    }

    /// The request's attributes.
    pub fn attributes(&self) -> &AttributeContext {
        self.attributes
    }

    /// The HTTP request.
    pub fn http(&self) -> &HttpRequest {
        self.http
    }
}

impl std::fmt::Debug for RequestView<'_> {
    // Never the headers: they hold the caller's token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestView").finish_non_exhaustive()
    }
}

/// The request headers the decision reads, in `RequestView`'s order.
const READ_HEADERS: [&str; 4] = ["authorization", "x-request-id", "dpop", "x-forwarded-proto"];

/// The values of `names`, matched without regard to case, from Envoy's
/// `headers` and `header_map` alike. Envoy sends one of the two, with
/// lower-case names; a name found more than once in all (in both, or
/// spelled twice) has its values joined with commas, so that the bearer
/// and DPoP checks refuse it as repeated instead of one copy being
/// silently preferred. Names with characters besides letters, digits and
/// `-` are collected in `punctuated` on the way.
fn headers<'a, const N: usize>(
    http: &'a HttpRequest,
    names: [&str; N],
    punctuated: &mut Vec<&'a str>,
) -> [Option<Cow<'a, str>>; N] {
    let mut found: [Option<Cow<'a, str>>; N] = std::array::from_fn(|_| None);
    let mut put = |key: &'a str, value: &dyn Fn() -> Cow<'a, str>| {
        if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            punctuated.push(key);
        }
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(key)) {
            found[i] = Some(match found[i].take() {
                None => value(),
                Some(before) => Cow::Owned(format!("{before},{}", value())),
            });
        }
    };
    for (key, value) in &http.headers {
        put(key, &|| Cow::Borrowed(value.as_str()));
    }
    for h in http.header_map.iter().flat_map(|m| &m.headers) {
        put(&h.key, &|| {
            if h.value.is_empty() {
                String::from_utf8_lossy(&h.raw_value)
            } else {
                Cow::Borrowed(h.value.as_str())
            }
        });
    }
    found
}

/// The response Envoy acts on. Consumes the decision so that its strings
/// move into the message instead of being copied.
pub fn to_response(decision: Decision, realm: &str, dpop_algs: &str) -> CheckResponse {
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
    if let Some(kept) = &allow.kept {
        return kept_response(kept);
    }
    let mut headers_to_remove: Vec<String> = Vec::with_capacity(allow.remove_headers.len() + 1);
    headers_to_remove.extend(allow.remove_headers.iter().map(|h| h.as_str().to_owned()));
    if allow.remove_authorization {
        headers_to_remove.push("authorization".into());
    }
    let mut meta = Metadata::with_capacity(6);
    meta.put("decision", "allow");
    meta.put("policy", &*allow.policy);
    if let Some(c) = &allow.claims {
        meta.put("issuer", c.issuer());
        if let Some(s) = c.subject() {
            meta.put("subject", s);
        }
        meta.put("scopes", c.scopes().join(" "));
        if let Some(a) = c.acr() {
            meta.put("acr", a);
        }
    }
    CheckResponse {
        // Envoy treats an unset status as allow; set it explicitly anyway.
        status: Some(RpcStatus {
            code: 0,
            ..Default::default()
        }),
        http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
            headers: allow
                .set_headers
                .into_iter()
                .map(|(h, v)| overwrite(h.as_str(), v))
                .collect(),
            headers_to_remove,
            response_headers_to_add: allow
                .response_headers
                .into_iter()
                .map(|(h, v)| overwrite(h.as_str(), v))
                .collect(),
            ..Default::default()
        })),
        dynamic_metadata: Some(meta.0),
    }
}

/// A kept answer as a message again (`reply` sends the bytes instead). The
/// bytes are this service's own encoding, so they decode; if they ever did
/// not, the answer is a 503 denial (the service could not answer), never an
/// allow without its headers.
fn kept_response(kept: &[u8]) -> CheckResponse {
    CheckResponse::decode(kept).unwrap_or_else(|e| {
        tracing::error!(error = %e, "a kept allow does not decode; denied");
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

#[cfg(test)]
mod tests;
