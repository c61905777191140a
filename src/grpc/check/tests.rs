use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};

use super::*;

fn http(headers: &[(&str, &str)], raw: &[(&str, &str)]) -> HttpRequest {
    HttpRequest {
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        header_map: (!raw.is_empty()).then(|| HeaderMap {
            headers: raw
                .iter()
                .map(|(k, v)| HeaderValue {
                    key: (*k).into(),
                    raw_value: v.as_bytes().to_vec(),
                    ..Default::default()
                })
                .collect(),
        }),
        ..Default::default()
    }
}

fn assert_read(http: &HttpRequest, expected: [Option<&str>; 4]) {
    let found = headers(http, READ_HEADERS, &mut Vec::new());
    assert_eq!(found.each_ref().map(|v| v.as_deref()), expected);
}

#[test]
fn each_header_is_found_in_one_pass_whatever_its_case() {
    let h = http(
        &[
            ("x-forwarded-proto", "https"),
            ("authorization", "Bearer a"),
            ("accept", "*/*"),
            ("X-Request-Id", "r1"),
            ("DPoP", "proof"),
        ],
        &[],
    );
    assert_read(
        &h,
        [Some("Bearer a"), Some("r1"), Some("proof"), Some("https")],
    );
    assert_read(&http(&[("x-other", "v")], &[]), [None, None, None, None]);
}

#[test]
fn a_name_seen_twice_anywhere_has_its_values_joined() {
    // In both fields, spelled twice, or repeated in the raw map: each
    // time the bearer and DPoP checks see a repeat, never one copy.
    let h = http(
        &[("authorization", "Bearer a"), ("DPOP", "p0")],
        &[
            ("Authorization", "Bearer b"),
            ("dpop", "p1"),
            ("dpop", "p2"),
            ("x-request-id", "r1"),
        ],
    );
    let [authorization, request_id, dpop, proto] = headers(&h, READ_HEADERS, &mut Vec::new());
    assert_eq!(authorization.as_deref(), Some("Bearer a,Bearer b"));
    assert_eq!(dpop.as_deref(), Some("p0,p1,p2"));
    assert_eq!(request_id.as_deref(), Some("r1"));
    assert_eq!(proto, None);
    let twice = http(
        &[("authorization", "Bearer a"), ("Authorization", "Bearer b")],
        &[],
    );
    let [authorization, ..] = headers(&twice, READ_HEADERS, &mut Vec::new());
    // The map's order is not fixed; both values are there either way.
    let joined = authorization.unwrap_or_default();
    assert!(
        joined == "Bearer a,Bearer b" || joined == "Bearer b,Bearer a",
        "{joined}"
    );
}

#[test]
fn an_answer_missing_from_the_token_is_a_denial_never_an_error() {
    use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
    let claims = VerifiedClaims::for_test(
        "https://issuer.test",
        serde_json::json!({"sub": "alice", "aud": "api", "exp": 2_000}),
    );
    let Err(denial) = Reply::kept_bytes(&claims) else {
        panic!("no answer is kept with these claims");
    };
    let Some(HttpResponse::DeniedResponse(denied)) = &denial.http_response else {
        panic!("not a denial: {denial:?}");
    };
    assert_eq!(denied.status.as_ref().map(|s| s.code), Some(503));
    claims.keep_encoded_allow(EncodedAllow {
        decided_for: crate::decision::AllowFor {
            generation: 1,
            policy: Arc::from("orders"),
        },
        bytes: Arc::from(&b"kept"[..]),
    });
    assert_eq!(Reply::kept_bytes(&claims).ok(), Some(&b"kept"[..]));
}
