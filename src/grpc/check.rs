//! The ext_authz edge: `CheckRequest` in, domain `CheckInput` to the
//! authorizer, `Decision` back out as a `CheckResponse`.

use std::collections::BTreeMap;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;
use envoy_types::pb::envoy::service::auth::v3::authorization_server::Authorization;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::google::protobuf::{Struct, Value as PbValue, value::Kind};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use tonic::{Request, Response, Status};

use crate::authorizer::{Authorizer, CheckInput};
use crate::decision::{Allow, Decision, Deny, DenyReason};

/// The `Authorization` service Envoy calls.
#[derive(Clone)]
pub struct CheckService {
    authorizer: Arc<Authorizer>,
}

impl CheckService {
    pub fn new(authorizer: Arc<Authorizer>) -> Self {
        Self { authorizer }
    }

    /// Decides one request. Never fails: a request that cannot be read is
    /// a denial, not an error (an error would hand the decision to Envoy's
    /// `failure_mode_allow`).
    pub async fn decide(&self, request: &CheckRequest) -> CheckResponse {
        let realm = self.authorizer.runtime().config.server.realm.clone();
        let decision = match check_input(request) {
            Some(input) => self.authorizer.check(&input).await,
            None => self.authorizer.record_denial(DenyReason::NoHttpAttributes),
        };
        to_response(&decision, &realm)
    }
}

#[tonic::async_trait]
impl Authorization for CheckService {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        Ok(Response::new(self.decide(request.get_ref()).await))
    }
}

/// Reads what the pipeline needs. `None` when there is no HTTP request.
pub fn check_input(request: &CheckRequest) -> Option<CheckInput<'_>> {
    let attributes = request.attributes.as_ref()?;
    let http = attributes.request.as_ref()?.http.as_ref()?;
    let path = http.path.split(['?', '#']).next().unwrap_or_default();
    Some(CheckInput {
        host: &http.host,
        path,
        method: &http.method,
        authorization: header(http, "authorization"),
        principal: attributes
            .source
            .as_ref()
            .map(|s| s.principal.as_str())
            .filter(|p| !p.is_empty()),
        policy_name: attributes
            .context_extensions
            .get("policy")
            .map(String::as_str),
        request_id: header(http, "x-request-id"),
    })
}

/// A request header by lower-case name, from `headers` or, when Envoy sends
/// raw headers, from `header_map`.
fn header<'a>(http: &'a HttpRequest, name: &str) -> Option<&'a str> {
    if let Some(v) = http.headers.get(name) {
        return Some(v);
    }
    let map = http.header_map.as_ref()?;
    let mut found = map.headers.iter().filter(|h| h.key == name);
    let first = found.next()?;
    if found.next().is_some() {
        // Two values: hand on the joined form, as `headers` would have it,
        // so that the pipeline sees the duplication.
        return Some(",");
    }
    if !first.value.is_empty() {
        return Some(&first.value);
    }
    std::str::from_utf8(&first.raw_value).ok()
}

pub fn to_response(decision: &Decision, realm: &str) -> CheckResponse {
    match decision {
        Decision::Allow(allow) => allow_response(allow),
        Decision::Deny(deny) => deny_response(deny, realm),
    }
}

fn overwrite(key: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_string(),
            value: value.to_string(),
            raw_value: Vec::new(),
        }),
        // Newer Envoys default to appending, which would keep a spoofed value.
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..Default::default()
    }
}

fn allow_response(allow: &Allow) -> CheckResponse {
    let mut headers_to_remove: Vec<String> = allow
        .remove_headers
        .iter()
        .map(|h| h.as_str().to_string())
        .collect();
    if allow.remove_authorization {
        headers_to_remove.push("authorization".into());
    }
    let mut meta = BTreeMap::new();
    meta.insert("decision", "allow".to_string());
    meta.insert("policy", allow.policy.to_string());
    if let Some(c) = &allow.claims {
        meta.insert("issuer", c.issuer().to_string());
        if let Some(s) = c.subject() {
            meta.insert("subject", s.to_string());
        }
        meta.insert("scopes", c.scopes().join(" "));
        if let Some(a) = c.acr() {
            meta.insert("acr", a.to_string());
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
                .iter()
                .map(|(h, v)| overwrite(h.as_str(), v))
                .collect(),
            headers_to_remove,
            ..Default::default()
        })),
        dynamic_metadata: Some(metadata(meta)),
    }
}

fn deny_response(deny: &Deny, realm: &str) -> CheckResponse {
    let r = deny.reason.response(realm);
    let mut headers = vec![
        overwrite("cache-control", "no-store"),
        overwrite("content-type", "application/json"),
    ];
    if let Some(challenge) = &r.www_authenticate {
        headers.push(overwrite("www-authenticate", challenge));
    }
    let mut meta = BTreeMap::new();
    meta.insert("decision", "deny".to_string());
    meta.insert("reason", deny.reason.label().to_string());
    if let Some(p) = &deny.policy {
        meta.insert("policy", p.to_string());
    }
    CheckResponse {
        status: Some(RpcStatus {
            code: r.grpc_code,
            message: r.description.clone(),
            details: Vec::new(),
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            // Without this Envoy answers 403 to every denial.
            status: Some(HttpStatus {
                code: i32::from(r.http_status),
            }),
            headers,
            body: r.body(),
        })),
        dynamic_metadata: Some(metadata(meta)),
    }
}

fn metadata(fields: BTreeMap<&str, String>) -> Struct {
    Struct {
        fields: fields
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    PbValue {
                        kind: Some(Kind::StringValue(v)),
                    },
                )
            })
            .collect(),
    }
}
