//! The admin authentication path: arbitrary `Authorization`, `Origin`,
//! `Host` and `Content-Type` headers, and validly signed tokens with
//! arbitrary claims, against the revocation API. Nothing panics; a request
//! from a browser (with `Origin`) or without the admin scope never gets in.
#![no_main]

#[path = "pipeline.rs"]
mod pipeline;

use axum::body::Body;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use zt_authz::dev::DevAlg;

fuzz_target!(|data: &[u8]| {
    let p = pipeline::pipeline();
    // Up to five NUL-separated parts: authorization, origin, host,
    // content type, and the claims of a token signed here.
    let mut parts = data.split(|b| *b == 0).map(|s| String::from_utf8_lossy(s).into_owned());
    let authorization = parts.next().unwrap_or_default();
    let origin = parts.next();
    let host = parts.next().unwrap_or_default();
    let content_type = parts.next().unwrap_or_default();
    let claims = parts.next().and_then(|c| serde_json::from_str::<Value>(&c).ok());

    let signed = claims.and_then(|c| match c {
        Value::Object(mut m) => {
            m.entry("iss").or_insert(json!(pipeline::ISSUER));
            let header = json!({"alg": "RS256", "kid": p.keys.kid(DevAlg::RS256)});
            Some((p.keys.sign_raw(DevAlg::RS256, &header, &Value::Object(m.clone())), m))
        }
        _ => None,
    });
    let authorization = match &signed {
        Some((token, _)) => format!("Bearer {token}"),
        None => authorization,
    };
    let mut request = http::Request::get("/v1/revocations");
    for (name, value) in [
        ("authorization", Some(authorization.as_str())),
        ("origin", origin.as_deref()),
        ("host", Some(host.as_str())),
        ("content-type", Some(content_type.as_str())),
    ] {
        if let Some(v) = value.filter(|v| http::HeaderValue::from_str(v).is_ok()) {
            request = request.header(name, v);
        }
    }
    let Ok(request) = request.body(Body::empty()) else {
        return;
    };
    let sent_origin = request.headers().contains_key("origin");
    let status = p.admin_call(request);
    assert!(status != 500, "the admin API failed");
    if status == 200 {
        assert!(!sent_origin, "a browser request got in");
        let (_, claims) = signed.expect("only a token signed here can get in");
        let scope = claims.get("scope").and_then(Value::as_str).unwrap_or_default();
        assert!(scope.split(' ').any(|s| s == pipeline::ADMIN_SCOPE), "no admin scope");
    }
});
