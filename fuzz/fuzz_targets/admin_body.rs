//! Admin API bodies: revocation requests, and back-channel logout tokens
//! with arbitrary claims, validly signed, through the real receiver. A
//! logout either takes effect (200) or is refused (400); nothing panics and
//! nothing is a server error.
#![no_main]

#[path = "pipeline.rs"]
mod pipeline;

use axum::body::Body;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use zt_authz::dev::DevAlg;
use zt_authz::revocation::NewRevocation;

fuzz_target!(|data: &[u8]| {
    if let Ok(new) = serde_json::from_slice::<NewRevocation>(data) {
        let rules = zt_authz::revocation::ExpiryRules {
            max_token_lifetime: 3600.0,
            leeway: 30.0,
        };
        if let Ok(r) = new.into_revocation(1_800_000_000.0, &rules, "fuzz") {
            assert!(r.expires_at > 1_800_000_000.0);
            assert!(!r.target.value().is_empty());
        }
    }
    let p = pipeline::pipeline();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // As a logout token of its own: refused, never a panic.
    let verifier = &p.authorizer.snapshot().verifier;
    let _ = p.rt.block_on(verifier.verify_logout_token(text));
    // As the claims of a validly signed logout token.
    let Ok(Value::Object(mut claims)) = serde_json::from_str::<Value>(text) else {
        return;
    };
    claims.entry("iss").or_insert(json!(pipeline::ISSUER));
    let header = json!({"alg": "RS256", "kid": p.keys.kid(DevAlg::RS256), "typ": "logout+jwt"});
    let token = p.keys.sign_raw(DevAlg::RS256, &header, &Value::Object(claims));
    let form = format!("logout_token={token}");
    let request = http::Request::post("/v1/backchannel-logout")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .expect("request");
    let status = p.admin_call(request);
    assert!(status == 200 || status == 400, "logout answered {status}");
});
