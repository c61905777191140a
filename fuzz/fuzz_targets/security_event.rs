//! Security Event Tokens: arbitrary bytes as a pushed SET, and arbitrary
//! claims in a validly signed one, through the real receiver. A SET is
//! accepted (202) or refused (400); nothing panics and nothing is a server
//! error.
#![no_main]

#[path = "pipeline.rs"]
mod pipeline;

use axum::body::Body;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use zt_authz::dev::DevAlg;

fn push(p: &pipeline::Pipeline, body: Vec<u8>) {
    let request = http::Request::post("/v1/ssf/events")
        .header("content-type", "application/secevent+jwt")
        .body(Body::from(body))
        .expect("request");
    let status = p.admin_call(request);
    assert!(status == 202 || status == 400, "a SET answered {status}");
}

fuzz_target!(|data: &[u8]| {
    let p = pipeline::pipeline();
    push(p, data.to_vec());
    let Ok(Value::Object(mut claims)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    claims.entry("iss").or_insert(json!(pipeline::ISSUER));
    claims.entry("aud").or_insert(json!(pipeline::SSF_AUDIENCE));
    let header = json!({"alg": "ES256", "kid": p.keys.kid(DevAlg::ES256), "typ": "secevent+jwt"});
    push(p, p.keys.sign_raw(DevAlg::ES256, &header, &Value::Object(claims)).into_bytes());
});
