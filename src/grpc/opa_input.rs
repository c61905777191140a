//! The `CheckRequest` as OPA-Envoy hands it to Rego: protojson field names
//! (lowerCamelCase), empty fields left out, `size` as a string.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use envoy_types::pb::envoy::config::core::v3::address::Address as AddressKind;
use envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier;
use envoy_types::pb::envoy::config::core::v3::{Address, Metadata};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer};
use envoy_types::pb::google::protobuf::{Struct, Value as PbValue, value::Kind};
use regorus::Value;

use super::check::RequestView;
use super::wire::HttpFields;
use crate::rego::{RegoError, RequestDocument, envelope_of};

impl RequestDocument for RequestView<'_> {
    fn opa_input(&self) -> Result<BTreeMap<Value, Value>, RegoError> {
        // Every field, so every string must be UTF-8 here, read or not.
        let whole = self.message().whole().map_err(|_| {
            RegoError::Evaluation("the check request has a field that is not UTF-8".into())
        })?;
        let a = whole.attributes.unwrap_or_default();
        let path = a
            .request
            .as_ref()
            .and_then(|r| r.http.as_ref())
            .map(|h| h.path.as_str())
            .unwrap_or_default();
        // The headers as the steps read them, from every entry on the
        // wire: a decoded map keeps one of a key sent twice.
        let read = (self.message().http()).map_or_else(Value::new_object, |(_, h)| read_headers(h));
        envelope_of(attributes(&a, read), path)
    }
}

/// `input.attributes`, with `headers` as the request's headers.
fn attributes(a: &AttributeContext, headers: Value) -> Value {
    let mut o = Fields::default();
    o.put("source", a.source.as_ref().map(peer));
    o.put("destination", a.destination.as_ref().map(peer));
    o.put(
        "request",
        a.request.as_ref().map(|r| {
            let mut req = Fields::default();
            req.put(
                "time",
                r.time.as_ref().and_then(|t| timestamp(t.seconds, t.nanos)),
            );
            req.put("http", r.http.as_ref().map(|h| http(h, headers)));
            req.done()
        }),
    );
    o.put("contextExtensions", string_map(&a.context_extensions));
    o.put("metadataContext", a.metadata_context.as_ref().map(metadata));
    o.put(
        "routeMetadataContext",
        a.route_metadata_context.as_ref().map(metadata),
    );
    o.put(
        "tlsSession",
        a.tls_session.as_ref().map(|t| {
            let mut s = Fields::default();
            s.text("sni", &t.sni);
            s.done()
        }),
    );
    o.done()
}

fn peer(p: &Peer) -> Value {
    let mut o = Fields::default();
    o.put("address", p.address.as_ref().and_then(address));
    o.text("service", &p.service);
    o.put("labels", string_map(&p.labels));
    o.text("principal", &p.principal);
    o.text("certificate", &p.certificate);
    o.done()
}

fn address(a: &Address) -> Option<Value> {
    match a.address.as_ref()? {
        AddressKind::SocketAddress(s) => {
            let mut sa = Fields::default();
            sa.text("address", &s.address);
            match &s.port_specifier {
                Some(PortSpecifier::PortValue(p)) if *p != 0 => {
                    sa.put("portValue", Some(Value::from(*p)))
                }
                Some(PortSpecifier::NamedPort(n)) => sa.text("namedPort", n),
                _ => {}
            }
            let mut o = Fields::default();
            o.put("socketAddress", Some(sa.done()));
            Some(o.done())
        }
        AddressKind::Pipe(p) => {
            let mut pipe = Fields::default();
            pipe.text("path", &p.path);
            let mut o = Fields::default();
            o.put("pipe", Some(pipe.done()));
            Some(o.done())
        }
        AddressKind::EnvoyInternalAddress(_) => None,
    }
}

fn http(h: &HttpRequest, headers: Value) -> Value {
    let mut o = Fields::default();
    o.text("id", &h.id);
    o.text("method", &h.method);
    o.put("headers", Some(headers));
    o.text("path", &h.path);
    o.text("host", &h.host);
    o.text("scheme", &h.scheme);
    o.text("query", &h.query);
    o.text("fragment", &h.fragment);
    if h.size != 0 {
        // protojson writes 64-bit integers as strings.
        o.put("size", Some(Value::from(h.size.to_string())));
    }
    o.text("protocol", &h.protocol);
    o.text("body", &h.body);
    o.done()
}

/// `headers` and `header_map` as one map, as the decision steps read them:
/// names in lower case, and a name met more than once (in both fields,
/// spelled in two cases, or sent twice) with its values joined by `,`.
/// Envoy sends one of the two fields, with lower-case names and each name
/// once, so for its requests this is the field it sent; a direct caller
/// cannot show Rego other headers than the ones the token was read from.
fn read_headers(h: &HttpFields) -> Value {
    let mut joined = Joined::default();
    for entry in &h.headers {
        joined.put(&entry.key, &entry.value);
    }
    for entry in h.header_map.iter().flat_map(|m| &m.headers) {
        let value = if entry.value.is_empty() {
            &entry.raw_value
        } else {
            &entry.value
        };
        joined.put(&entry.key, value);
    }
    joined.done()
}

/// Header values by lower-case name, repeats joined with `,`. Bytes that
/// are not UTF-8 (only ever in a `raw_value`) are read lossily, as the
/// decision steps read them.
#[derive(Default)]
struct Joined(BTreeMap<String, String>);

impl Joined {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        let key = String::from_utf8_lossy(key).to_ascii_lowercase();
        let value = String::from_utf8_lossy(value);
        self.0
            .entry(key)
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }

    fn done(self) -> Value {
        Value::from(
            self.0
                .into_iter()
                .map(|(k, v)| (Value::from(k), Value::from(v)))
                .collect::<BTreeMap<_, _>>(),
        )
    }
}

fn metadata(m: &Metadata) -> Value {
    let mut o = Fields::default();
    o.put(
        "filterMetadata",
        (!m.filter_metadata.is_empty()).then(|| {
            Value::from(
                m.filter_metadata
                    .iter()
                    .map(|(k, s)| (Value::from(k.as_str()), structure(s)))
                    .collect::<BTreeMap<_, _>>(),
            )
        }),
    );
    o.done()
}

fn structure(s: &Struct) -> Value {
    Value::from(
        s.fields
            .iter()
            .map(|(k, v)| (Value::from(k.as_str()), pb_value(v)))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn pb_value(v: &PbValue) -> Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(n)) => Value::from(*n),
        Some(Kind::StringValue(s)) => Value::from(s.as_str()),
        Some(Kind::BoolValue(b)) => Value::from(*b),
        Some(Kind::StructValue(s)) => structure(s),
        Some(Kind::ListValue(l)) => Value::from(l.values.iter().map(pb_value).collect::<Vec<_>>()),
    }
}

fn string_map(m: &HashMap<String, String>) -> Option<Value> {
    (!m.is_empty()).then(|| {
        Value::from(
            m.iter()
                .map(|(k, v)| (Value::from(k.as_str()), Value::from(v.as_str())))
                .collect::<BTreeMap<_, _>>(),
        )
    })
}

/// RFC 3339 in UTC, as protojson writes a `Timestamp`.
fn timestamp(seconds: i64, nanos: i32) -> Option<Value> {
    let secs = u64::try_from(seconds).ok()?;
    let nanos = u32::try_from(nanos).ok().filter(|n| *n < 1_000_000_000)?;
    let at = SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))?;
    Some(Value::from(humantime::format_rfc3339_nanos(at).to_string()))
}

/// An object under construction that leaves empty fields out.
#[derive(Default)]
struct Fields(BTreeMap<Value, Value>);

impl Fields {
    fn put(&mut self, key: &str, value: Option<Value>) {
        if let Some(v) = value {
            self.0.insert(Value::from(key), v);
        }
    }

    fn text(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.0.insert(Value::from(key), Value::from(value));
        }
    }

    fn done(self) -> Value {
        Value::from(self.0)
    }
}
