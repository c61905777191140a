//! A `CheckRequest` as it arrives: only the fields the decision reads,
//! each a slice of the received message instead of a copy.
//!
//! envoy-types' `CheckRequest` decodes every string into its own
//! allocation and every header into a `HashMap`, and Envoy sends a dozen
//! headers or more per request, most of which no decision reads. The types
//! here have `CheckRequest`'s field numbers with `bytes` in place of
//! `string` (the same wire type), so prost decodes them without copying,
//! and maps as the repeated entries they are on the wire. A field is read
//! as text only when the decision needs it. The whole message is kept for
//! the rare reader of everything: a Rego policy's input.

use envoy_types::pb::envoy::service::auth::v3::CheckRequest;
use opentelemetry::propagation::Extractor;
use prost::Message;
use prost::bytes::Bytes;

/// A received `CheckRequest`: the fields the decision reads, and the
/// message they were read from.
#[derive(Clone)]
pub struct CheckMessage {
    message: Bytes,
    /// `None` when the message is not a `CheckRequest` at all.
    fields: Option<CheckFields>,
}

impl CheckMessage {
    /// Reads the fields the decision needs from an encoded `CheckRequest`.
    /// Bytes that are not one are kept as a request that cannot be read:
    /// a denial, never the gRPC error that Envoy's `failure_mode_allow`
    /// would turn into an allow.
    pub fn decode(message: Bytes) -> Self {
        let fields = CheckFields::decode(message.clone()).ok();
        Self { message, fields }
    }

    /// The same request, encoded first (tests, benches, the in-process API).
    pub fn of(request: &CheckRequest) -> Self {
        Self::decode(Bytes::from(request.encode_to_vec()))
    }

    /// Whether the message is a `CheckRequest` (as far as the fields the
    /// decision reads).
    pub fn is_readable(&self) -> bool {
        self.fields.is_some()
    }

    /// The HTTP request and its context, if the request has them.
    pub fn http(&self) -> Option<(&AttributeFields, &HttpFields)> {
        let attributes = self.fields.as_ref()?.attributes.as_ref()?;
        let http = attributes.request.as_ref()?.http.as_ref()?;
        Some((attributes, http))
    }

    /// Every field, decoded as envoy-types' `CheckRequest`. Fails when any
    /// string field, read by the decision or not, is not UTF-8.
    pub fn whole(&self) -> Result<CheckRequest, prost::DecodeError> {
        CheckRequest::decode(self.message.clone())
    }
}

/// The headers carry the caller's token: no type here shows its fields.
macro_rules! opaque_debug {
    ($($name:ident),*) => {$(
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}

opaque_debug!(
    CheckMessage,
    CheckFields,
    AttributeFields,
    PeerFields,
    RequestFields,
    HttpFields,
    Entry,
    HeaderMapFields,
    HeaderValueFields
);

/// `CheckRequest`, as far as the decision reads it.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct CheckFields {
    /// `attributes`.
    #[prost(message, optional, tag = "1")]
    pub attributes: Option<AttributeFields>,
}

/// `AttributeContext`: the caller, the request and the route's extensions.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct AttributeFields {
    /// `source`: the calling workload.
    #[prost(message, optional, tag = "1")]
    pub source: Option<PeerFields>,
    /// `request`.
    #[prost(message, optional, tag = "4")]
    pub request: Option<RequestFields>,
    /// `map<string, string>`, as its entries arrive.
    #[prost(message, repeated, tag = "10")]
    pub context_extensions: Vec<Entry>,
}

impl AttributeFields {
    /// The value of the context extension `key`. A key sent twice takes its
    /// last value, as a protobuf map does.
    pub fn context_extension(&self, key: &str) -> Option<&Bytes> {
        self.context_extensions
            .iter()
            .rev()
            .find(|e| e.key == key.as_bytes())
            .map(|e| &e.value)
    }
}

/// `AttributeContext.Peer`: the calling workload.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct PeerFields {
    /// The SPIFFE ID from the peer's certificate.
    #[prost(bytes = "bytes", tag = "4")]
    pub principal: Bytes,
    /// The peer's certificate, URL-encoded PEM.
    #[prost(bytes = "bytes", tag = "5")]
    pub certificate: Bytes,
}

/// `AttributeContext.Request`.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct RequestFields {
    /// `http`.
    #[prost(message, optional, tag = "2")]
    pub http: Option<HttpFields>,
}

/// `AttributeContext.HttpRequest`, without the body.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct HttpFields {
    /// `method`.
    #[prost(bytes = "bytes", tag = "2")]
    pub method: Bytes,
    /// `map<string, string>`, as its entries arrive.
    #[prost(message, repeated, tag = "3")]
    pub headers: Vec<Entry>,
    /// `path`, with the query string.
    #[prost(bytes = "bytes", tag = "4")]
    pub path: Bytes,
    /// `host`: the `:authority` or `Host`.
    #[prost(bytes = "bytes", tag = "5")]
    pub host: Bytes,
    /// `scheme`.
    #[prost(bytes = "bytes", tag = "6")]
    pub scheme: Bytes,
    /// The headers as Envoy sends them with `encode_raw_headers`.
    #[prost(message, optional, tag = "13")]
    pub header_map: Option<HeaderMapFields>,
}

/// One entry of a `map<string, string>`.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct Entry {
    /// The key.
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    /// The value.
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

/// `config.core.v3.HeaderMap`.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct HeaderMapFields {
    /// `headers`.
    #[prost(message, repeated, tag = "1")]
    pub headers: Vec<HeaderValueFields>,
}

/// `config.core.v3.HeaderValue`.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct HeaderValueFields {
    /// `key`.
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    /// `value`, if Envoy sent the value as a string.
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
    /// `raw_value`, if Envoy sent the value as bytes.
    #[prost(bytes = "bytes", tag = "3")]
    pub raw_value: Bytes,
}

/// A string field that is not UTF-8. envoy-types' decoding refuses the
/// whole message for it; here it is a denial of the request, never an
/// error Envoy could hand to `failure_mode_allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotText;

/// `field` read as the string it is declared as.
pub fn text(field: &Bytes) -> Result<&str, NotText> {
    std::str::from_utf8(field).map_err(|_| NotText)
}

/// The `headers` entries, for reading a trace context from them.
pub struct HeaderEntries<'a>(pub &'a [Entry]);

impl Extractor for HeaderEntries<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|e| e.key.eq_ignore_ascii_case(key.as_bytes()))
            .and_then(|e| text(&e.value).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().filter_map(|e| text(&e.key).ok()).collect()
    }
}

#[cfg(test)]
mod tests;
