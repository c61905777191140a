//! The input document: OPA-Envoy's (`attributes`, `parsed_path`,
//! `parsed_query`, …), plus `token`, what zt-authz verified.

use std::collections::BTreeMap;

use regorus::Value;

use super::RegoError;
use crate::token::VerifiedClaims;

/// A request as OPA-Envoy would hand it to a policy. Implemented by the
/// protocol edge; the pipeline only asks for the document.
pub trait RequestDocument: std::fmt::Debug + Sync {
    /// The top-level fields of OPA-Envoy's input: `attributes`,
    /// `parsed_path`, `parsed_query`, `parsed_body`, `truncated_body` and
    /// `version`. A path that cannot be decoded is an error.
    fn opa_input(&self) -> Result<BTreeMap<Value, Value>, RegoError>;
}

/// The input of a request known only by method, host, path and caller
/// (no `CheckRequest` behind it), in the same shape.
pub fn minimal_request(
    method: &str,
    host: &str,
    path: &str,
    principal: Option<&str>,
) -> Result<BTreeMap<Value, Value>, RegoError> {
    let http = object([
        ("method", Value::from(method)),
        ("host", Value::from(host)),
        ("path", Value::from(path)),
        ("headers", Value::new_object()),
    ]);
    let mut source = BTreeMap::new();
    if let Some(p) = principal {
        source.insert(Value::from("principal"), Value::from(p));
    }
    let attributes = object([
        ("request", object([("http", http)])),
        ("source", Value::from(source)),
    ]);
    envelope_of(attributes, path)
}

/// The fields every input has, around `attributes`; `path` is the request
/// path with its query. A path that cannot be decoded is an error.
pub fn envelope_of(attributes: Value, path: &str) -> Result<BTreeMap<Value, Value>, RegoError> {
    let mut input = BTreeMap::new();
    input.insert(Value::from("attributes"), attributes);
    input.insert(Value::from("parsed_path"), parsed_path(path)?);
    input.insert(Value::from("parsed_query"), parsed_query(path));
    input.insert(Value::from("parsed_body"), Value::Null);
    input.insert(Value::from("truncated_body"), Value::from(false));
    input.insert(
        Value::from("version"),
        object([
            ("encoding", Value::from("protojson")),
            ("ext_authz", Value::from("v3")),
        ]),
    );
    Ok(input)
}

/// Path segments without the leading `/`, query or fragment, each
/// percent-decoded: `/a/b%20c?x=1` → `["a", "b c"]`. A bad escape or
/// bytes that are not UTF-8 are an error, so a policy never matches on a
/// half-decoded path.
pub fn parsed_path(path: &str) -> Result<Value, RegoError> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| decode_segment(s).map(Value::from))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::from(segments))
}

fn decode_segment(segment: &str) -> Result<String, RegoError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| RegoError::Evaluation("the path has a bad percent-escape".into()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| RegoError::Evaluation("the decoded path is not UTF-8".into()))
}

/// The query as `{"name": ["value", …]}`, `+` and escapes decoded as a
/// form would be.
pub fn parsed_query(path: &str) -> Value {
    let query = path
        .split('#')
        .next()
        .and_then(|p| p.split_once('?'))
        .map_or("", |(_, q)| q);
    let mut params: BTreeMap<Value, Vec<Value>> = BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        params
            .entry(Value::from(&*name))
            .or_default()
            .push(Value::from(&*value));
    }
    Value::from(
        params
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// `input.token`: only ever built from claims that passed signature, time
/// and revocation checks. `acr` is left out when the token has none, so
/// `not input.token.acr` holds.
pub fn token_document(claims: &VerifiedClaims) -> Value {
    let mut token = BTreeMap::new();
    token.insert(Value::from("issuer"), Value::from(claims.issuer()));
    token.insert(
        Value::from("claims"),
        Value::from(serde_json::Value::Object(claims.all().clone())),
    );
    token.insert(
        Value::from("scopes"),
        Value::from(
            claims
                .scopes()
                .iter()
                .map(|s| Value::from(s.as_str()))
                .collect::<Vec<_>>(),
        ),
    );
    if let Some(acr) = claims.acr() {
        token.insert(Value::from("acr"), Value::from(acr));
    }
    Value::from(token)
}

pub(crate) fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::from(
        fields
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect::<BTreeMap<_, _>>(),
    )
}
