//! A compact JWS split and decoded, before anything is verified: the
//! shapes refused here never reach an issuer's keys.

use super::TokenError;
use super::header::JoseHeader;
use super::header_cache::HeaderCache;
use super::json::ObjectError;
use super::registered::Registered;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A header value fit for a log line: printable ASCII, at most 64 chars.
pub(super) fn printable(s: &str) -> String {
    if s.len() <= 64 && s.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return s.to_owned();
    }
    s.chars()
        .filter(|c| (' '..='~').contains(c))
        .take(64)
        .collect()
}

/// A token split and decoded, nothing verified yet.
pub(super) struct Unverified<'a> {
    pub parts: CompactJws<'a>,
    pub header: JoseHeader,
    /// The claims zt-authz reads itself, still unchecked.
    pub registered: Registered,
    /// The decoded payload, kept for any other claim.
    pub payload: Vec<u8>,
}

impl<'a> Unverified<'a> {
    /// `headers` holds headers read before: one found there is not read
    /// again.
    pub fn parse(token: &'a str, headers: &HeaderCache) -> Result<Self, TokenError> {
        let parts = CompactJws::split(token)?;
        let header = match headers.get(parts.header) {
            Some(header) => header,
            None => JoseHeader::parse(&b64(parts.header).ok_or(TokenError::BadHeader)?)?,
        };
        let payload = b64(parts.payload).ok_or(TokenError::BadPayload)?;
        let registered = Registered::scan(&payload).map_err(|e| match e {
            ObjectError::DuplicateMember => TokenError::DuplicateMember,
            ObjectError::AliasedMember => TokenError::AliasedMember,
            ObjectError::NotAnObject => TokenError::BadPayload,
        })?;
        Ok(Self {
            parts,
            header,
            registered,
            payload,
        })
    }
}

/// The three parts of a compact JWS, still encoded.
pub(super) struct CompactJws<'a> {
    pub header: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a str,
}

impl<'a> CompactJws<'a> {
    fn split(token: &'a str) -> Result<Self, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::NotCompactJws);
        };
        match parts.count() {
            0 => {}
            2 => return Err(TokenError::Encrypted),
            _ => return Err(TokenError::NotCompactJws),
        }
        if header.is_empty() || payload.is_empty() {
            return Err(TokenError::NotCompactJws);
        }
        if signature.is_empty() {
            return Err(TokenError::Unsigned);
        }
        Ok(Self {
            header,
            payload,
            signature,
            signing_input: &token[..header.len() + 1 + payload.len()],
        })
    }
}

fn b64(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(part).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_shapes() {
        assert!(CompactJws::split("a.b.c").is_ok());
        assert_eq!(
            CompactJws::split("a.b").err().map(|e| e.to_string()),
            Some(TokenError::NotCompactJws.to_string())
        );
        assert!(matches!(
            CompactJws::split("a.b.c.d.e"),
            Err(TokenError::Encrypted)
        ));
        assert!(matches!(
            CompactJws::split("a.b.c.d"),
            Err(TokenError::NotCompactJws)
        ));
        assert!(matches!(
            CompactJws::split("a.b."),
            Err(TokenError::Unsigned)
        ));
        assert!(matches!(
            CompactJws::split(".b.c"),
            Err(TokenError::NotCompactJws)
        ));
        assert_eq!(
            CompactJws::split("aa.bb.cc").unwrap().signing_input,
            "aa.bb"
        );
    }
}
