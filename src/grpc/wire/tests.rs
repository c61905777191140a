use std::collections::HashMap;

use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue, Metadata};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{
    HttpRequest, Peer, Request, TlsSession,
};

use super::*;

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

/// A request with every kind of field Envoy sets, read or not.
fn full_request() -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                principal: "spiffe://cluster.local/ns/shop/sa/web".into(),
                certificate: "-----BEGIN%20CERTIFICATE-----".into(),
                service: "web".into(),
                labels: map(&[("app", "web")]),
                ..Default::default()
            }),
            destination: Some(Peer {
                principal: "spiffe://cluster.local/ns/shop/sa/orders".into(),
                ..Default::default()
            }),
            request: Some(Request {
                http: Some(HttpRequest {
                    id: "4711".into(),
                    method: "POST".into(),
                    headers: map(&[
                        (":authority", "api.local"),
                        ("authorization", "Bearer abc.def.ghi"),
                        ("x-request-id", "r-1"),
                        ("user-agent", "curl/8"),
                    ]),
                    header_map: Some(HeaderMap {
                        headers: vec![HeaderValue {
                            key: "dpop".into(),
                            raw_value: b"proof".to_vec(),
                            ..Default::default()
                        }],
                    }),
                    path: "/orders/7?x=1".into(),
                    host: "api.local:8443".into(),
                    scheme: "https".into(),
                    query: "x=1".into(),
                    size: 12,
                    protocol: "HTTP/2".into(),
                    body: "{\"n\":1}".into(),
                    raw_body: b"{\"n\":1}".to_vec(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            context_extensions: map(&[("policy", "orders"), ("team", "shop")]),
            metadata_context: Some(Metadata::default()),
            tls_session: Some(TlsSession {
                sni: "api.local".into(),
            }),
            ..Default::default()
        }),
    }
}

fn text_of(field: &Bytes) -> &str {
    text(field).expect("UTF-8")
}

#[test]
fn the_fields_read_are_those_envoy_types_decodes() {
    let request = full_request();
    let message = CheckMessage::decode(request.encode_to_vec().into());
    assert!(message.is_readable());
    let (attributes, http) = message.http().expect("an HTTP request");
    let expected = request.attributes.as_ref().expect("attributes");
    let expected_http = expected
        .request
        .as_ref()
        .and_then(|r| r.http.as_ref())
        .expect("http");
    let source = attributes.source.as_ref().expect("source");
    let expected_source = expected.source.as_ref().expect("source");
    assert_eq!(text_of(&source.principal), expected_source.principal);
    assert_eq!(text_of(&source.certificate), expected_source.certificate);
    assert_eq!(text_of(&http.method), expected_http.method);
    assert_eq!(text_of(&http.path), expected_http.path);
    assert_eq!(text_of(&http.host), expected_http.host);
    assert_eq!(text_of(&http.scheme), expected_http.scheme);
    let headers: HashMap<String, String> = http
        .headers
        .iter()
        .map(|e| (text_of(&e.key).to_owned(), text_of(&e.value).to_owned()))
        .collect();
    assert_eq!(headers, expected_http.headers);
    let raw = &http.header_map.as_ref().expect("header_map").headers[0];
    assert_eq!(
        (text_of(&raw.key), &raw.raw_value[..]),
        ("dpop", &b"proof"[..])
    );
    assert_eq!(
        attributes.context_extension("policy").map(text_of),
        Some("orders")
    );
    assert_eq!(attributes.context_extension("absent"), None);
    assert_eq!(message.whole().expect("the whole request"), request);
}

#[test]
fn fields_are_slices_of_the_received_message_not_copies() {
    let received = Bytes::from(full_request().encode_to_vec());
    let range = received.as_ptr_range();
    let message = CheckMessage::decode(received.clone());
    let (_, http) = message.http().expect("an HTTP request");
    let authorization = http
        .headers
        .iter()
        .find(|e| e.key == "authorization")
        .expect("authorization");
    for field in [&http.host, &http.path, &authorization.value] {
        assert!(
            range.contains(&field.as_ptr()),
            "a field was copied out of the message"
        );
    }
}

#[test]
fn a_context_extension_sent_twice_takes_its_last_value_as_a_map_would() {
    let entry = |value: &'static str| Entry {
        key: Bytes::from_static(b"policy"),
        value: Bytes::from_static(value.as_bytes()),
    };
    let attributes = AttributeFields {
        context_extensions: vec![entry("public"), entry("admin")],
        ..Default::default()
    };
    let as_envoy = AttributeContext::decode(attributes.encode_to_vec().as_slice()).expect("valid");
    assert_eq!(as_envoy.context_extensions["policy"], "admin");
    assert_eq!(
        attributes.context_extension("policy").map(text_of),
        Some("admin")
    );
}

#[test]
fn a_field_the_decision_never_reads_may_be_anything_but_the_whole_is_refused() {
    let mut attributes = CheckFields::decode(full_request().encode_to_vec().as_slice())
        .expect("valid")
        .attributes
        .expect("attributes")
        .encode_to_vec();
    // `destination` (field 2), a Peer whose `principal` (field 4), a
    // string no decision step reads, is the one byte 0xff.
    attributes.extend_from_slice(&[0x12, 0x03, 0x22, 0x01, 0xff]);
    let mut bytes = vec![0x0a]; // CheckRequest.attributes, length-delimited
    prost::encoding::encode_varint(attributes.len() as u64, &mut bytes);
    bytes.extend_from_slice(&attributes);
    assert!(CheckRequest::decode(bytes.as_slice()).is_err());
    let message = CheckMessage::decode(bytes.into());
    assert!(message.is_readable(), "the fields read are fine");
    assert!(message.http().is_some());
    assert!(message.whole().is_err());
}

#[test]
fn nothing_of_the_request_shows_in_debug() {
    let message = CheckMessage::of(&full_request());
    let (attributes, http) = message.http().expect("an HTTP request");
    let shown = format!(
        "{message:?} {attributes:?} {http:?} {:?} {:?}",
        http.headers, http.header_map
    );
    for secret in ["abc.def.ghi", "Bearer", "spiffe", "proof", "orders"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn a_trace_context_is_read_from_the_header_entries() {
    let entries = [
        Entry {
            key: Bytes::from_static(b"traceparent"),
            value: Bytes::from_static(b"00-1-2-01"),
        },
        Entry {
            key: Bytes::from_static(b"x-bad"),
            value: Bytes::from_static(b"\xff"),
        },
    ];
    let headers = HeaderEntries(&entries);
    assert_eq!(headers.get("traceparent"), Some("00-1-2-01"));
    assert_eq!(headers.get("TraceParent"), Some("00-1-2-01"));
    assert_eq!(headers.get("x-bad"), None);
    assert_eq!(headers.get("tracestate"), None);
    assert_eq!(headers.keys(), ["traceparent", "x-bad"]);
}

#[test]
fn bytes_that_are_not_a_check_request_are_kept_unreadable_not_refused() {
    let request = full_request().encode_to_vec();
    let truncated = Bytes::copy_from_slice(&request[..request.len() - 3]);
    for bytes in [
        truncated,
        Bytes::from_static(b"\xff\xff\xff"),
        Bytes::from_static(b"\x0a\x05ab"),
    ] {
        let message = CheckMessage::decode(bytes);
        assert!(!message.is_readable());
        assert!(message.http().is_none());
    }
    assert!(
        CheckMessage::decode(Bytes::new()).is_readable(),
        "the empty request is one"
    );
}
