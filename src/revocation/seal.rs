//! HMAC tags on what replicas exchange through Redis. Without them Redis is
//! inside the trust boundary: anyone who can write to it could inject or
//! lift revocations. With a key shared by the replicas, a message or entry
//! without a valid tag is ignored.
//!
//! A sealed value is `zt1.<base64url HMAC-SHA256>.<payload>`; the tag covers
//! a context (the Redis key or channel it belongs to) and the payload, so a
//! valid value cannot be moved to another key.

use std::sync::Arc;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const PREFIX: &str = "zt1.";

/// The shared key. Never printed.
#[derive(Clone)]
pub struct HmacKey(Arc<hmac::Key>, Arc<[u8]>);

impl HmacKey {
    /// Shorter keys are refused at config load.
    pub const MIN_BYTES: usize = 32;

    /// A key from the shared secret's bytes.
    pub fn new(secret: &[u8]) -> Self {
        Self(
            Arc::new(hmac::Key::new(hmac::HMAC_SHA256, secret)),
            Arc::from(secret),
        )
    }
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(redacted)")
    }
}

impl PartialEq for HmacKey {
    fn eq(&self, other: &Self) -> bool {
        self.1 == other.1
    }
}

impl Eq for HmacKey {}

/// Seals and opens values with an optional key.
#[derive(Debug, Clone, Default)]
pub struct Sealer {
    key: Option<HmacKey>,
}

/// A value whose tag is missing or wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no valid HMAC tag")]
pub struct Unsealed;

impl Sealer {
    pub fn new(key: Option<HmacKey>) -> Self {
        Self { key }
    }

    pub fn seal(&self, context: &str, payload: &str) -> String {
        match &self.key {
            None => payload.to_owned(),
            Some(key) => {
                let tag = hmac::sign(&key.0, &signed_bytes(context, payload));
                format!("{PREFIX}{}.{payload}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
            }
        }
    }

    /// The payload of a sealed value. With a key the tag must verify;
    /// without one a tag is skipped unchecked, so replicas can be given the
    /// key one by one.
    pub fn open<'a>(&self, context: &str, value: &'a str) -> Result<&'a str, Unsealed> {
        let sealed = value
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('.'));
        match (&self.key, sealed) {
            (None, Some((_, payload))) => Ok(payload),
            (None, None) => Ok(value),
            (Some(_), None) => Err(Unsealed),
            (Some(key), Some((tag, payload))) => {
                let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| Unsealed)?;
                hmac::verify(&key.0, &signed_bytes(context, payload), &tag)
                    .map(|()| payload)
                    .map_err(|_| Unsealed)
            }
        }
    }
}

fn signed_bytes(context: &str, payload: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(context.len() + 1 + payload.len());
    bytes.extend_from_slice(context.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(payload.as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(secret: &[u8]) -> Sealer {
        Sealer::new(Some(HmacKey::new(secret)))
    }

    #[test]
    fn only_the_right_key_and_context_open_a_value() {
        let a = keyed(&[7; 32]);
        let sealed = a.seal("zt:rev:1", r#"{"id":"1"}"#);
        assert_eq!(a.open("zt:rev:1", &sealed), Ok(r#"{"id":"1"}"#));
        assert_eq!(
            a.open("zt:rev:2", &sealed),
            Err(Unsealed),
            "moved to another key"
        );
        assert_eq!(keyed(&[8; 32]).open("zt:rev:1", &sealed), Err(Unsealed));
        assert_eq!(
            a.open("zt:rev:1", r#"{"id":"1"}"#),
            Err(Unsealed),
            "unsealed"
        );
        let tampered = sealed.replace(r#""1"}"#, r#""2"}"#);
        assert_eq!(a.open("zt:rev:1", &tampered), Err(Unsealed));
        assert_eq!(a.open("zt:rev:1", "zt1.!!.{}"), Err(Unsealed));
        assert_eq!(a.open("zt:rev:1", "zt1."), Err(Unsealed));
    }

    #[test]
    fn without_a_key_values_pass_as_they_are() {
        let plain = Sealer::default();
        assert_eq!(plain.seal("c", "{}"), "{}");
        assert_eq!(plain.open("c", "{}"), Ok("{}"));
        let sealed = keyed(&[7; 32]).seal("c", "{}");
        assert_eq!(plain.open("c", &sealed), Ok("{}"));
    }

    #[test]
    fn the_key_never_prints() {
        let key = HmacKey::new(b"0123456789abcdef0123456789abcdef");
        assert!(!format!("{key:?}").contains("0123"));
    }
}
