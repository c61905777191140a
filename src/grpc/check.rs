//! The ext_authz edge: `CheckRequest` in, domain `CheckInput` to the
//! authorizer, `Decision` back out as a `CheckResponse`.

use std::borrow::Cow;
use std::sync::Arc;

use envoy_types::pb::envoy::service::auth::v3::{CheckRequest, CheckResponse};
use prost::bytes::Bytes;
use tonic::Request;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use self::allow_bytes::allow_bytes;
use self::response::to_response;
use super::wire::{CheckMessage, HeaderEntries, HttpFields, NotText, text};
use crate::authorizer::{Authorizer, CheckInput};
use crate::decision::{Decision, DenyReason};
use crate::telemetry::trace;
use crate::token::{EncodedAllow, VerifiedClaims};

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
    pub async fn answer_message(&self, request: &CheckMessage) -> CheckResponse {
        let decision = self.decide(request).await;
        self.encode(decision)
    }

    /// `answer_message` for a request not yet encoded (tests); it is
    /// encoded first, to be read as one off the wire is.
    pub async fn answer(&self, request: &CheckRequest) -> CheckResponse {
        self.answer_message(&CheckMessage::of(request)).await
    }

    /// The denial for a request that could not be read at all, recorded
    /// like any other.
    pub fn refuse(&self, reason: DenyReason) -> CheckResponse {
        self.encode(self.authorizer.record_denial(reason))
    }

    /// The domain decision for a request.
    async fn decide(&self, request: &CheckMessage) -> Decision {
        match RequestView::of(request) {
            Ok(view) => self.authorizer.check(&view.input()).await,
            Err(reason) => self.authorizer.record_denial(reason),
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
    pub async fn reply(&self, request: &Request<CheckMessage>) -> Reply {
        let decision = if trace::enabled() {
            self.decide_traced(request).await
        } else {
            self.decide(request.get_ref()).await
        };
        let allow = match decision {
            Decision::Allow(allow) => allow,
            deny @ Decision::Deny(_) => return Reply::Message(Box::new(self.encode(deny))),
        };
        if allow.kept {
            // Moved out, not cloned: a clone is one more write to a
            // reference count that every Check of this token makes.
            return match allow.claims {
                Some(claims) => Reply::Kept(claims),
                None => Reply::Message(Box::new(response::decoded_allow(&[]))),
            };
        }
        let keep = match (&allow.reusable, &allow.claims) {
            (Some(decided_for), Some(claims)) => {
                if let Some(kept) = claims.encoded_allow(decided_for) {
                    return Reply::Encoded(kept.bytes.clone());
                }
                // Kept for another policy or snapshot: written each time.
                (!claims.keeps_an_encoded_allow()).then(|| (decided_for.clone(), claims.clone()))
            }
            _ => None,
        };
        let bytes = allow_bytes(&allow);
        let Some((decided_for, claims)) = keep else {
            return Reply::Written(bytes);
        };
        let bytes: Arc<[u8]> = bytes.into();
        claims.keep_encoded_allow(EncodedAllow {
            decided_for,
            bytes: bytes.clone(),
        });
        Reply::Encoded(bytes)
    }

    /// `decide`, inside a span that continues the caller's trace.
    async fn decide_traced(&self, request: &Request<CheckMessage>) -> Decision {
        let headers = request
            .get_ref()
            .http()
            .map(|(_, http)| HeaderEntries(&http.headers));
        let span = tracing::info_span!(
            "ext_authz.check",
            otel.kind = "server",
            decision = tracing::field::Empty,
            reason = tracing::field::Empty,
            policy = tracing::field::Empty,
            issuer = tracing::field::Empty,
        );
        let _ = span.set_parent(trace::parent(
            request.metadata(),
            headers
                .as_ref()
                .map(|h| h as &dyn opentelemetry::propagation::Extractor),
        ));
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

impl Reply {
    /// The answer kept with `claims`, or, should it be missing, the 503
    /// denial of a service that cannot answer: never a gRPC error, which
    /// Envoy's `failure_mode_allow` could turn into an allow.
    pub fn kept_bytes(claims: &VerifiedClaims) -> Result<&[u8], Box<CheckResponse>> {
        claims
            .kept_answer()
            .ok_or_else(|| Box::new(Self::unanswerable()))
    }

    /// The 503 denial of a service that cannot answer.
    pub fn unanswerable() -> CheckResponse {
        response::decoded_allow(&[])
    }
}

/// What `Check` sends: a response to encode, or one encoded before.
pub enum Reply {
    /// A response built for this request.
    Message(Box<CheckResponse>),
    /// An allow written for this request alone.
    Written(Vec<u8>),
    /// A response encoded for this request, and kept with its token.
    Encoded(Arc<[u8]>),
    /// The response kept with this token ([`VerifiedClaims::kept_answer`])
    /// when an earlier request with it was allowed under the same policy
    /// and snapshot. The claims move here, already owned: sharing out the
    /// bytes would write to a reference count both cores use.
    Kept(Arc<VerifiedClaims>),
}

/// The parts of a `CheckRequest` the pipeline reads, as text borrowed from
/// the received message.
pub struct RequestView<'a> {
    message: &'a CheckMessage,
    host: &'a str,
    path: &'a str,
    method: &'a str,
    scheme: &'a str,
    principal: Option<&'a str>,
    certificate: Option<&'a str>,
    policy_name: Option<&'a str>,
    authorization: Option<Cow<'a, str>>,
    request_id: Option<Cow<'a, str>>,
    dpop: Option<Cow<'a, str>>,
    forwarded_proto: Option<Cow<'a, str>>,
    punctuated: Vec<&'a str>,
}

impl<'a> RequestView<'a> {
    /// The view, or why the request cannot be decided: it is not a
    /// `CheckRequest`, carries no HTTP attributes, or a field the decision
    /// reads is not UTF-8.
    pub fn of(message: &'a CheckMessage) -> Result<Self, DenyReason> {
        if !message.is_readable() {
            return Err(DenyReason::UnreadableRequest);
        }
        let (attributes, http) = message.http().ok_or(DenyReason::NoHttpAttributes)?;
        let unreadable = |_: NotText| DenyReason::UnreadableRequest;
        let present = |field: &'a Bytes| text(field).map(|t| Some(t).filter(|t| !t.is_empty()));
        let source = attributes.source.as_ref();
        let mut punctuated = Vec::new();
        let [authorization, request_id, dpop, forwarded_proto] =
            headers(http, READ_HEADERS, &mut punctuated).map_err(unreadable)?;
        Ok(Self {
            message,
            host: text(&http.host).map_err(unreadable)?,
            path: text(&http.path).map_err(unreadable)?,
            method: text(&http.method).map_err(unreadable)?,
            scheme: text(&http.scheme).map_err(unreadable)?,
            principal: source
                .map_or(Ok(None), |s| present(&s.principal))
                .map_err(unreadable)?,
            certificate: source
                .map_or(Ok(None), |s| present(&s.certificate))
                .map_err(unreadable)?,
            policy_name: attributes
                .context_extension("policy")
                .map(text)
                .transpose()
                .map_err(unreadable)?,
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
            host: self.host,
            path: self.path.split(['?', '#']).next().unwrap_or_default(),
            method: self.method,
            authorization: self.authorization.as_deref(),
            principal: self.principal,
            policy_name: self.policy_name,
            request_id: self.request_id.as_deref(),
            request: Some(self),
            scheme: self.scheme,
            forwarded_proto: self.forwarded_proto.as_deref(),
            dpop: self.dpop.as_deref(),
            client_certificate: self.certificate,
            punctuated_headers: &self.punctuated,
        }
    }

    /// The whole request, for a reader of every field (Rego's input).
    pub fn message(&self) -> &CheckMessage {
        self.message
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
/// lower-case names; a name found more than once in all (in both, spelled
/// twice, or sent twice) has its values joined with commas, so that the
/// bearer and DPoP checks refuse it as repeated instead of one copy being
/// silently preferred. Names with characters besides letters, digits and
/// `-` are collected in `punctuated` on the way. Every name, and the value
/// of every header read, must be UTF-8.
fn headers<'a, const N: usize>(
    http: &'a HttpFields,
    names: [&str; N],
    punctuated: &mut Vec<&'a str>,
) -> Result<[Option<Cow<'a, str>>; N], NotText> {
    let mut found: [Option<Cow<'a, str>>; N] = std::array::from_fn(|_| None);
    let mut put = |key: &'a Bytes, value: &dyn Fn() -> Result<Cow<'a, str>, NotText>| {
        let key = text(key)?;
        if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            punctuated.push(key);
        }
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(key)) {
            found[i] = Some(match found[i].take() {
                None => value()?,
                Some(before) => Cow::Owned(format!("{before},{}", value()?)),
            });
        }
        Ok(())
    };
    for entry in &http.headers {
        put(&entry.key, &|| text(&entry.value).map(Cow::Borrowed))?;
    }
    for h in http.header_map.iter().flat_map(|m| &m.headers) {
        put(&h.key, &|| {
            if h.value.is_empty() {
                Ok(String::from_utf8_lossy(&h.raw_value))
            } else {
                text(&h.value).map(Cow::Borrowed)
            }
        })?;
    }
    Ok(found)
}

mod allow_bytes;
mod response;
#[cfg(test)]
mod tests;
