//! An allow written as the protobuf of its `CheckResponse`, straight from
//! the decision.
//!
//! Built as envoy-types' message, an allow is two dozen allocations (every
//! header name and value, every metadata key and value in a hash map) that
//! prost then measures, copies out and frees. Written from the decision's
//! own strings, it is one buffer. The message is small and fixed in shape:
//!
//! ```text
//! CheckResponse
//!   1 status            google.rpc.Status, code 0 (written, though empty)
//!   3 ok_response       OkHttpResponse
//!       2 headers                 HeaderValueOption*  (1 header {1 key, 2 value}, 3 append_action)
//!       5 headers_to_remove       string*
//!       6 response_headers_to_add HeaderValueOption*
//!   4 dynamic_metadata  google.protobuf.Struct
//!       1 fields                  {1 key, 2 Value {3 string_value}}*
//! ```
//!
//! Decoded, it equals the message the tests build with envoy-types for the
//! same allow (`allow_bytes::tests`).

use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

use crate::decision::Allow;

/// Newer Envoys default to appending, which would keep a spoofed value.
const OVERWRITE: u64 = HeaderAppendAction::OverwriteIfExistsOrAdd as u64;

/// `OkHttpResponse`'s fields.
const HEADERS: u32 = 2;
const HEADERS_TO_REMOVE: u32 = 5;
const RESPONSE_HEADERS_TO_ADD: u32 = 6;

/// The allow's `CheckResponse`, encoded.
pub(super) fn allow_bytes(allow: &Allow) -> Vec<u8> {
    let metadata = metadata(allow);
    let ok_len = ok_response_len(allow);
    let metadata_len: usize = metadata.iter().map(|(k, v)| entry_len(k, v)).sum();
    let len = message_len(1, 0) + message_len(3, ok_len) + message_len(4, metadata_len);
    let mut out = Vec::with_capacity(len);
    // Envoy treats an unset status as allow; set it explicitly anyway.
    open(1, 0, &mut out);
    open(3, ok_len, &mut out);
    for (name, value) in &allow.set_headers {
        header(HEADERS, name.as_str(), value, &mut out);
    }
    for name in &allow.remove_headers {
        text(HEADERS_TO_REMOVE, name.as_str(), &mut out);
    }
    if allow.remove_authorization {
        text(HEADERS_TO_REMOVE, "authorization", &mut out);
    }
    for (name, value) in &allow.response_headers {
        header(RESPONSE_HEADERS_TO_ADD, name.as_str(), value, &mut out);
    }
    open(4, metadata_len, &mut out);
    for (key, value) in &metadata {
        let value_len = value.field_len(3);
        open(
            1,
            message_len(1, key.len()) + message_len(2, value_len),
            &mut out,
        );
        text(1, key, &mut out);
        open(2, value_len, &mut out);
        value.write(3, &mut out);
    }
    debug_assert_eq!(out.len(), len);
    out
}

/// A metadata value: one string, or the scopes joined by spaces as they
/// are written (no joined copy is made).
enum Text<'a> {
    One(&'a str),
    Spaced(&'a [String]),
}

impl Text<'_> {
    fn len(&self) -> usize {
        match self {
            Text::One(s) => s.len(),
            Text::Spaced(parts) => {
                parts.iter().map(String::len).sum::<usize>() + parts.len().saturating_sub(1)
            }
        }
    }

    /// The length of this value as field `tag` (always written: it is a
    /// `oneof` member, which protobuf writes even when empty).
    fn field_len(&self, tag: u32) -> usize {
        message_len(tag, self.len())
    }

    fn write(&self, tag: u32, out: &mut Vec<u8>) {
        open(tag, self.len(), out);
        match self {
            Text::One(s) => out.extend_from_slice(s.as_bytes()),
            Text::Spaced(parts) => {
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(part.as_bytes());
                }
            }
        }
    }
}

/// The metadata fields of an allow: `decision`, `policy`, and the token's
/// `issuer`, `subject`, `scopes` and `acr` when there is a token.
fn metadata(allow: &Allow) -> Vec<(&'static str, Text<'_>)> {
    let mut fields = Vec::with_capacity(6);
    fields.push(("decision", Text::One("allow")));
    fields.push(("policy", Text::One(&allow.policy)));
    if let Some(c) = &allow.claims {
        fields.push(("issuer", Text::One(c.issuer())));
        if let Some(s) = c.subject() {
            fields.push(("subject", Text::One(s)));
        }
        fields.push(("scopes", Text::Spaced(c.scopes())));
        if let Some(a) = c.acr() {
            fields.push(("acr", Text::One(a)));
        }
    }
    fields
}

/// One `Struct.fields` map entry, as field 1 of the `Struct`.
fn entry_len(key: &str, value: &Text<'_>) -> usize {
    message_len(
        1,
        message_len(1, key.len()) + message_len(2, value.field_len(3)),
    )
}

fn ok_response_len(allow: &Allow) -> usize {
    let headers = |tag, list: &[(http::HeaderName, String)]| -> usize {
        (list.iter())
            .map(|(name, value)| message_len(tag, option_len(name.as_str(), value)))
            .sum()
    };
    let removed: usize = (allow.remove_headers.iter())
        .map(|name| message_len(HEADERS_TO_REMOVE, name.as_str().len()))
        .sum();
    let authorization = if allow.remove_authorization {
        message_len(HEADERS_TO_REMOVE, "authorization".len())
    } else {
        0
    };
    headers(HEADERS, &allow.set_headers)
        + headers(RESPONSE_HEADERS_TO_ADD, &allow.response_headers)
        + removed
        + authorization
}

/// `HeaderValue { key, value }`: an empty string is left out, as protobuf
/// leaves out every field at its default.
fn header_value_len(name: &str, value: &str) -> usize {
    string_len(1, name) + string_len(2, value)
}

/// A `HeaderValueOption` with `OVERWRITE_IF_EXISTS_OR_ADD`.
fn option_len(name: &str, value: &str) -> usize {
    message_len(1, header_value_len(name, value)) + key_len(3) + encoded_len_varint(OVERWRITE)
}

fn header(tag: u32, name: &str, value: &str, out: &mut Vec<u8>) {
    open(tag, option_len(name, value), out);
    open(1, header_value_len(name, value), out);
    for (tag, s) in [(1, name), (2, value)] {
        if !s.is_empty() {
            text(tag, s, out);
        }
    }
    encode_key(3, WireType::Varint, out);
    encode_varint(OVERWRITE, out);
}

/// The bytes a singular string field takes: none when empty.
fn string_len(tag: u32, s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        message_len(tag, s.len())
    }
}

/// The bytes a length-delimited field of `len` bytes takes.
fn message_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// The key and length of a length-delimited field; its `len` bytes follow.
fn open(tag: u32, len: usize, out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

fn text(tag: u32, s: &str, out: &mut Vec<u8>) {
    open(tag, s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests;
