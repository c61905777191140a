use std::collections::BTreeMap;
use std::time::Duration;

use http::HeaderName;
use regorus::Value;

use super::*;
use crate::token::VerifiedClaims;

fn compile(text: &str, headers: &[&'static str]) -> Result<RegoPolicy, String> {
    RegoPolicy::compile(
        &[RegoModule {
            name: "policies/t.rego".into(),
            text: text.into(),
        }],
        Value::Null,
        "data.t.allow",
        headers.iter().map(|h| HeaderName::from_static(h)).collect(),
        RegoLimits::default(),
    )
}

fn json(v: &Value) -> serde_json::Value {
    serde_json::from_str(&v.to_json_str().unwrap()).unwrap()
}

fn input(json: &str) -> Value {
    Value::from_json_str(json).unwrap()
}

#[test]
fn a_boolean_answer_allows_or_denies() {
    let p = compile(
        "package t\ndefault allow := false\nallow if input.attributes.request.http.method == \"GET\"",
        &[],
    )
    .unwrap();
    let get = input(r#"{"attributes":{"request":{"http":{"method":"GET"}}}}"#);
    let post = input(r#"{"attributes":{"request":{"http":{"method":"POST"}}}}"#);
    assert!(p.evaluate(get.clone()).unwrap().allowed);
    // The same machine, reused, does not remember the previous input.
    assert!(!p.evaluate(post).unwrap().allowed);
    assert!(p.evaluate(get).unwrap().allowed);
}

#[test]
fn an_object_answer_is_read_in_opa_envoys_shape() {
    let p = compile(
        r#"package t
allow := {"allowed": false, "http_status": 418, "body": "no tea", "headers": {"x-why": "policy"}}"#,
        &[],
    )
    .unwrap();
    let v = p.evaluate(input("{}")).unwrap();
    assert!(!v.allowed);
    assert_eq!(v.http_status, Some(418));
    assert_eq!(v.body.as_deref(), Some("no tea"));
    assert_eq!(
        v.headers,
        vec![(HeaderName::from_static("x-why"), "policy".into())]
    );
}

#[test]
fn undefined_conflicting_and_failing_queries_are_errors() {
    let undefined = compile("package t\nallow if input.nope == 1", &[]).unwrap();
    assert!(matches!(
        undefined.evaluate(input("{}")),
        Err(RegoError::Evaluation(_))
    ));
    let conflict = compile(
        "package t\nallow := true if input.a\nallow := false if input.b",
        &[],
    )
    .unwrap();
    assert!(conflict.evaluate(input(r#"{"a":true,"b":true}"#)).is_err());
    let division = compile("package t\nallow if 1 / input.zero > 0", &[]).unwrap();
    assert!(division.evaluate(input(r#"{"zero":0}"#)).is_err());
}

#[test]
fn a_runaway_policy_hits_the_instruction_limit() {
    let p = RegoPolicy::compile(
        &[RegoModule {
            name: "loop.rego".into(),
            text: "package t\nallow if count([x | some x in numbers.range(1, 10000000)]) > 0"
                .into(),
        }],
        Value::Null,
        "data.t.allow",
        Vec::new(),
        RegoLimits {
            max_instructions: 10_000,
            time_budget: Duration::from_secs(1),
        },
    )
    .unwrap();
    let err = p.evaluate(input("{}")).unwrap_err();
    assert!(matches!(err, RegoError::Evaluation(_)), "{err}");
}

#[test]
fn results_of_the_wrong_shape_are_errors() {
    for body in [
        r#"allow := "yes""#,
        r#"allow := {"headers": {}}"#,
        r#"allow := {"allowed": "true"}"#,
        r#"allow := {"allowed": false, "http_status": 200}"#,
        r#"allow := {"allowed": false, "http_status": 1e9}"#,
        r#"allow := {"allowed": true, "dynamic_metadata": {}}"#,
        r#"allow := {"allowed": true, "headers": {"bad name": "x"}}"#,
        r#"allow := {"allowed": true, "headers": {"x-a": "line\nbreak"}}"#,
        r#"allow := {"allowed": true, "headers": {"content-length": "0"}}"#,
        r#"allow := {"allowed": true, "headers": {"authorization": "Bearer x"}}"#,
        r#"allow := {"allowed": true, "headers": {"x-a": 7}}"#,
    ] {
        let p = compile(&format!("package t\n{body}"), &["x-a", "x-b"]).unwrap();
        assert!(p.evaluate(input("{}")).is_err(), "{body} was accepted");
    }
}

#[test]
fn a_request_header_must_be_declared() {
    let text = r#"package t
allow := {"allowed": true, "headers": {"x-tenant": "acme"}}"#;
    assert!(compile(text, &[]).unwrap().evaluate(input("{}")).is_err());
    let v = compile(text, &["x-tenant"])
        .unwrap()
        .evaluate(input("{}"))
        .unwrap();
    assert_eq!(
        v.headers,
        vec![(HeaderName::from_static("x-tenant"), "acme".into())]
    );
}

#[test]
fn compile_errors_name_the_file_and_line() {
    let err = compile("package t\n\nallow if {\n  input.x ==\n}", &[]).unwrap_err();
    assert!(err.contains("policies/t.rego:"), "{err}");
    assert!(err.contains(":4") || err.contains(":5"), "{err}");
    let missing = compile("package t\nallow if true", &[]).map(|_| ());
    assert!(missing.is_ok());
    let wrong_query =
        RegoPolicy::compile(&[], Value::Null, "allow", Vec::new(), RegoLimits::default());
    assert!(wrong_query.unwrap_err().contains("data."));
}

#[test]
fn parsed_path_and_query_are_built_as_opa_envoy_builds_them() {
    let path = |p: &str| json(&parsed_path(p).unwrap());
    assert_eq!(
        path("/tenants/acme/orders?x=1#f"),
        serde_json::json!(["tenants", "acme", "orders"])
    );
    assert_eq!(path("/a%20b/c%2Fd"), serde_json::json!(["a b", "c/d"]));
    assert_eq!(path("/"), serde_json::json!([""]));
    assert!(parsed_path("/bad%zz").is_err());
    assert!(parsed_path("/bad%").is_err());
    assert!(parsed_path("/bad%ff").is_err());
    let query = json(&parsed_query("/p?a=1&a=2&b=x+y&c=%2F#a=9"));
    assert_eq!(
        query,
        serde_json::json!({"a": ["1", "2"], "b": ["x y"], "c": ["/"]})
    );
    assert_eq!(json(&parsed_query("/p")), serde_json::json!({}));
}

#[test]
fn the_minimal_request_has_the_same_shape() {
    let doc = minimal_request("GET", "api.local", "/a/b", Some("spiffe://td/ns/x/sa/y")).unwrap();
    let v = Value::from(doc);
    assert_eq!(
        v["attributes"]["request"]["http"]["method"],
        Value::from("GET")
    );
    assert_eq!(
        v["attributes"]["source"]["principal"],
        Value::from("spiffe://td/ns/x/sa/y")
    );
    assert_eq!(
        v["parsed_path"],
        Value::from(vec![Value::from("a"), Value::from("b")])
    );
    assert_eq!(v["version"]["ext_authz"], Value::from("v3"));
}

#[test]
fn the_token_document_carries_what_was_verified() {
    let claims = VerifiedClaims::for_test(
        "https://idp.example",
        serde_json::json!({
            "iss": "https://idp.example", "aud": "api", "sub": "alice", "scope": "a b", "exp": 2e9, "dept": "sales"
        }),
    );
    let t = token_document(&claims);
    assert_eq!(t["issuer"], Value::from("https://idp.example"));
    assert_eq!(t["claims"]["dept"], Value::from("sales"));
    assert_eq!(
        t["scopes"],
        Value::from(vec![Value::from("a"), Value::from("b")])
    );
    // No acr claim: the key is absent, so `not input.token.acr` holds.
    assert_eq!(t["acr"], Value::Undefined);
    let mut with_acr = BTreeMap::new();
    with_acr.insert(Value::from("token"), t);
    let p = compile(
        "package t\ndefault allow := false\nallow if not input.token.acr",
        &[],
    )
    .unwrap();
    assert!(p.evaluate(Value::from(with_acr)).unwrap().allowed);
}
