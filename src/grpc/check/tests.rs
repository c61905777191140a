use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;

use super::super::wire::Entry;
use prost::Message;

use super::*;

/// `HttpRequest` as the decision reads it off the wire.
fn read(http: &HttpRequest) -> HttpFields {
    HttpFields::decode(http.encode_to_vec().as_slice()).expect("it was just encoded")
}

fn http(headers: &[(&str, &str)], raw: &[(&str, &str)]) -> HttpFields {
    read(&HttpRequest {
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
    })
}

fn assert_read(http: &HttpFields, expected: [Option<&str>; 4]) {
    let found = headers(http, READ_HEADERS, &mut Vec::new()).expect("UTF-8");
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
    let [authorization, request_id, dpop, proto] =
        headers(&h, READ_HEADERS, &mut Vec::new()).expect("UTF-8");
    assert_eq!(authorization.as_deref(), Some("Bearer a,Bearer b"));
    assert_eq!(dpop.as_deref(), Some("p0,p1,p2"));
    assert_eq!(request_id.as_deref(), Some("r1"));
    assert_eq!(proto, None);
    let twice = http(
        &[("authorization", "Bearer a"), ("Authorization", "Bearer b")],
        &[],
    );
    let [authorization, ..] = headers(&twice, READ_HEADERS, &mut Vec::new()).expect("UTF-8");
    // The map's order is not fixed; both values are there either way.
    let joined = authorization.unwrap_or_default();
    assert!(
        joined == "Bearer a,Bearer b" || joined == "Bearer b,Bearer a",
        "{joined}"
    );
}

#[test]
fn a_header_entry_sent_twice_on_the_wire_is_a_repeat_too() {
    // A protobuf map may carry one key twice; decoded into a map, the last
    // would silently win. Read as entries, both are seen.
    let mut h = http(&[("authorization", "Bearer a")], &[]);
    h.headers.push(Entry {
        key: Bytes::from_static(b"authorization"),
        value: Bytes::from_static(b"Bearer b"),
    });
    let h = HttpFields::decode(h.encode_to_vec().as_slice()).expect("encoded");
    assert_read(&h, [Some("Bearer a,Bearer b"), None, None, None]);
}

#[test]
fn a_name_or_read_value_that_is_not_utf8_is_unreadable() {
    let not_utf8 = Bytes::from_static(b"Bearer \xff");
    let with = |key: &'static [u8], value: Bytes| {
        let mut h = http(&[("accept", "*/*")], &[]);
        h.headers.push(Entry {
            key: Bytes::from_static(key),
            value,
        });
        h
    };
    let read = |h: &HttpFields| headers(h, READ_HEADERS, &mut Vec::new()).map(|_| ());
    assert_eq!(
        read(&with(b"authorization", not_utf8.clone())),
        Err(NotText)
    );
    assert_eq!(read(&with(b"dpop", not_utf8.clone())), Err(NotText));
    assert_eq!(
        read(&with(b"x-\xffa", Bytes::from_static(b"v"))),
        Err(NotText)
    );
    // A header the decision never reads may hold anything.
    assert_eq!(read(&with(b"x-other", not_utf8)), Ok(()));
    // So may a raw value, read as Envoy's `raw_value` is meant: lossily.
    let mut raw = http(&[], &[]);
    raw.header_map = Some(super::super::wire::HeaderMapFields {
        headers: vec![super::super::wire::HeaderValueFields {
            key: Bytes::from_static(b"authorization"),
            raw_value: Bytes::from_static(b"Bearer \xff"),
            ..Default::default()
        }],
    });
    let [authorization, ..] = headers(&raw, READ_HEADERS, &mut Vec::new()).expect("lossy");
    assert_eq!(authorization.as_deref(), Some("Bearer \u{fffd}"));
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

#[test]
fn rego_reads_every_field_so_every_field_must_be_utf8() {
    use crate::rego::RequestDocument;
    let request = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(
                envoy_types::pb::envoy::service::auth::v3::attribute_context::Request {
                    http: Some(HttpRequest {
                        method: "GET".into(),
                        host: "api.local".into(),
                        path: "/orders?x=1".into(),
                        headers: [("x-unread".to_owned(), "v".to_owned())].into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ),
            ..Default::default()
        }),
    };
    let clean = CheckMessage::of(&request);
    let view = RequestView::of(&clean).expect("readable");
    let input = view.opa_input().expect("an input");
    assert!(input.contains_key(&regorus::Value::from("attributes")));
    // The header's value `v` made `\xff`: the decision never reads it, but
    // Rego's input would hold it.
    let mut bytes = request.encode_to_vec();
    let at = bytes.iter().rposition(|b| *b == b'v').expect("the value");
    bytes[at] = 0xff;
    let dirty = CheckMessage::decode(Bytes::from(bytes));
    let view = RequestView::of(&dirty).expect("readable for the decision");
    assert!(view.opa_input().is_err());
}

#[test]
fn rego_reads_the_headers_the_decision_read() {
    use crate::rego::RequestDocument;
    // A direct caller can send both of Envoy's header fields, and names
    // in any case: Rego sees one map, as the decision steps read it.
    let mut http = HttpRequest {
        method: "GET".into(),
        host: "api.local".into(),
        path: "/orders".into(),
        headers: [("X-Deny".to_owned(), "1".to_owned())].into(),
        ..Default::default()
    };
    http.header_map = Some(HeaderMap {
        headers: vec![
            HeaderValue {
                key: "x-deny".into(),
                raw_value: b"2".to_vec(),
                ..Default::default()
            },
            HeaderValue {
                key: "Authorization".into(),
                value: "Bearer t".into(),
                ..Default::default()
            },
        ],
    });
    let request = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(
                envoy_types::pb::envoy::service::auth::v3::attribute_context::Request {
                    http: Some(http),
                    ..Default::default()
                },
            ),
            ..Default::default()
        }),
    };
    let message = CheckMessage::of(&request);
    let view = RequestView::of(&message).expect("readable");
    let input = view.opa_input().expect("an input");
    let headers = &input[&regorus::Value::from("attributes")]["request"]["http"]["headers"];
    assert_eq!(headers["x-deny"], regorus::Value::from("1,2"));
    assert_eq!(headers["authorization"], regorus::Value::from("Bearer t"));
    assert_eq!(headers["X-Deny"], regorus::Value::Undefined);
    assert_eq!(view.input().authorization, Some("Bearer t"));
}

#[test]
fn rego_sees_a_header_sent_twice_in_the_map_as_the_decision_does() {
    use super::super::wire::{AttributeFields, CheckFields, RequestFields};
    use crate::rego::RequestDocument;
    let mut http = http(&[("x-foo", "evil")], &[]);
    http.method = Bytes::from_static(b"GET");
    http.path = Bytes::from_static(b"/rego/1");
    http.headers.push(Entry {
        key: Bytes::from_static(b"x-foo"),
        value: Bytes::from_static(b"ok"),
    });
    let fields = CheckFields {
        attributes: Some(AttributeFields {
            request: Some(RequestFields { http: Some(http) }),
            ..Default::default()
        }),
    };
    let message = CheckMessage::decode(Bytes::from(fields.encode_to_vec()));
    // A decoded map keeps one of the two.
    let whole = message.whole().expect("a CheckRequest");
    let decoded = &whole
        .attributes
        .unwrap()
        .request
        .unwrap()
        .http
        .unwrap()
        .headers;
    assert_eq!(decoded.len(), 1);
    let view = RequestView::of(&message).expect("readable");
    let input = view.opa_input().expect("an input");
    let headers = &input[&regorus::Value::from("attributes")]["request"]["http"]["headers"];
    assert_eq!(headers["x-foo"], regorus::Value::from("evil,ok"));
}
