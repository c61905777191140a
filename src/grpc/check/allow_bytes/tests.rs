//! The written allow against the message envoy-types builds for it.

use std::collections::HashMap;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{CheckResponse, OkHttpResponse};
use envoy_types::pb::google::protobuf::{Struct, Value as PbValue, value::Kind};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use http::HeaderName;
use proptest::prelude::*;
use prost::Message;
use serde_json::json;

use super::*;
use crate::token::VerifiedClaims;

/// The allow as envoy-types' message, field by field: what the written
/// bytes must decode to.
fn expected(allow: &Allow) -> CheckResponse {
    let overwrite = |(name, value): &(HeaderName, String)| HeaderValueOption {
        header: Some(HeaderValue {
            key: name.as_str().to_owned(),
            value: value.clone(),
            raw_value: Vec::new(),
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..Default::default()
    };
    let mut headers_to_remove: Vec<String> = allow
        .remove_headers
        .iter()
        .map(|h| h.as_str().to_owned())
        .collect();
    if allow.remove_authorization {
        headers_to_remove.push("authorization".into());
    }
    let mut fields = HashMap::new();
    let mut put = |key: &str, value: String| {
        fields.insert(
            key.to_owned(),
            PbValue {
                kind: Some(Kind::StringValue(value)),
            },
        );
    };
    put("decision", "allow".into());
    put("policy", allow.policy.to_string());
    if let Some(c) = &allow.claims {
        put("issuer", c.issuer().to_owned());
        if let Some(s) = c.subject() {
            put("subject", s.to_owned());
        }
        put("scopes", c.scopes().join(" "));
        if let Some(a) = c.acr() {
            put("acr", a.to_owned());
        }
    }
    CheckResponse {
        status: Some(RpcStatus::default()),
        http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
            headers: allow.set_headers.iter().map(overwrite).collect(),
            headers_to_remove,
            response_headers_to_add: allow.response_headers.iter().map(overwrite).collect(),
            ..Default::default()
        })),
        dynamic_metadata: Some(Struct { fields }),
    }
}

fn allow(claims: Option<VerifiedClaims>) -> Allow {
    Allow {
        policy: Arc::from("orders"),
        claims: claims.map(Arc::new),
        set_headers: vec![
            (HeaderName::from_static("x-auth-subject"), "alice".into()),
            (HeaderName::from_static("x-auth-policy"), "orders".into()),
        ],
        remove_headers: vec![HeaderName::from_static("x-auth-session")],
        remove_authorization: false,
        response_headers: Vec::new(),
        reusable: None,
        kept: false,
    }
}

fn decoded(allow: &Allow) -> CheckResponse {
    CheckResponse::decode(allow_bytes(allow).as_slice()).expect("the written allow decodes")
}

#[test]
fn the_bench_allow_is_the_message_envoy_types_builds() {
    let claims = VerifiedClaims::for_test(
        "https://bench.example",
        json!({"sub": "alice", "acr": "mfa", "scope": "orders:read orders:write", "aud": "api", "exp": 2_000}),
    );
    let a = allow(Some(claims));
    assert_eq!(decoded(&a), expected(&a));
}

#[test]
fn every_header_is_set_with_overwrite_never_appended() {
    let a = allow(None);
    let Some(HttpResponse::OkResponse(ok)) = decoded(&a).http_response else {
        panic!("not an allow");
    };
    assert_eq!(ok.headers.len(), 2);
    for h in &ok.headers {
        assert_eq!(
            h.append_action,
            HeaderAppendAction::OverwriteIfExistsOrAdd as i32
        );
    }
}

#[test]
fn an_anonymous_allow_still_strips_and_says_allow() {
    let mut a = allow(None);
    a.set_headers.clear();
    a.remove_authorization = true;
    let response = decoded(&a);
    assert_eq!(response, expected(&a));
    let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
        panic!("not an allow");
    };
    assert_eq!(ok.headers_to_remove, ["x-auth-session", "authorization"]);
    assert_eq!(response.status.map(|s| s.code), Some(0));
}

/// A header name, as `HeaderName` accepts one.
fn name() -> impl Strategy<Value = HeaderName> {
    "[a-z][a-z0-9-]{0,20}".prop_map(|n| HeaderName::from_bytes(n.as_bytes()).expect("valid"))
}

fn headers() -> impl Strategy<Value = Vec<(HeaderName, String)>> {
    // Values of every length class: empty (a field protobuf leaves out),
    // short, non-ASCII, and long enough for two-byte lengths.
    let value = prop_oneof![Just(String::new()), "\\PC{0,12}", "[a-z]{120,300}"];
    prop::collection::vec((name(), value), 0..6)
}

proptest! {
    #[test]
    fn any_allow_decodes_to_the_message_envoy_types_builds(
        set_headers in headers(),
        response_headers in headers(),
        remove_headers in prop::collection::vec(name(), 0..4),
        remove_authorization in any::<bool>(),
        policy in "[a-z(][a-z0-9-)]{0,200}",
        token in prop::option::of((
            prop::option::of("\\PC{1,40}"),
            prop::option::of("\\PC{0,10}"),
            prop::collection::vec("[a-z:]{1,8}", 0..5),
            "https://[a-z]{1,150}",
        )),
    ) {
        let claims = token.map(|(sub, acr, scopes, issuer)| {
            let mut c = json!({"aud": "api", "exp": 2_000, "scope": scopes.join(" ")});
            if let Some(s) = sub { c["sub"] = json!(s); }
            if let Some(a) = acr { c["acr"] = json!(a); }
            VerifiedClaims::for_test(&issuer, c)
        });
        let a = Allow {
            policy: Arc::from(policy.as_str()),
            claims: claims.map(Arc::new),
            set_headers,
            remove_headers,
            remove_authorization,
            response_headers,
            reusable: None,
            kept: false,
        };
        prop_assert_eq!(decoded(&a), expected(&a));
    }
}
