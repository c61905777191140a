//! DPoP proofs: arbitrary bytes as the proof header next to a DPoP-bound
//! token, and arbitrary claims in a proof validly signed with the bound
//! key, through the whole Check handler. Only a proof with exactly the
//! right claims may allow; nothing panics.
#![no_main]

#[path = "pipeline.rs"]
mod pipeline;

use std::collections::HashMap;

use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use zt_authz::dev::DevAlg;

const HTU: &str = "https://api.fuzz/orders";

fn check(p: &pipeline::Pipeline, token: &str, proof: &str) -> i32 {
    let mut headers = HashMap::new();
    headers.insert("authorization".to_string(), format!("DPoP {token}"));
    headers.insert("dpop".to_string(), proof.to_string());
    let request = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "GET".into(),
                    host: "api.fuzz".into(),
                    scheme: "https".into(),
                    path: "/orders".into(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    let response = p.rt.block_on(p.service.answer(&request));
    response.status.map_or(-1, |s| s.code)
}

fuzz_target!(|data: &[u8]| {
    let p = pipeline::pipeline();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = json!({"iss": pipeline::ISSUER, "aud": "api", "sub": "fuzz", "scope": "read",
        "iat": now, "exp": now + 300, "cnf": {"jkt": p.keys.jkt(DevAlg::ES256)}});
    let token = p.keys.mint(DevAlg::RS256, &claims);
    if let Ok(text) = std::str::from_utf8(data) {
        // Raw bytes: never a valid proof, so never an allow.
        assert_ne!(check(p, &token, text), 0, "an arbitrary proof allowed");
    }
    let Ok(Value::Object(extra)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let proof = p.keys.dpop_proof(DevAlg::ES256, "GET", HTU, &token, &Value::Object(extra));
    let _ = check(p, &token, &proof);
});
