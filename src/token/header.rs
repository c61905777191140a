//! Step 5: the JOSE header, read before the signature is checked. Only `alg`,
//! `kid`, `typ` and `crit` are looked at; `jwk`, `jku`, `x5u`, `x5c` are never
//! used to find a key, and their presence changes nothing.

use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::TokenError;

#[derive(Debug)]
pub struct JoseHeader {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<serde_json::Value>,
    enc: Option<serde_json::Value>,
}

impl JoseHeader {
    pub fn parse(decoded: &[u8]) -> Result<Self, TokenError> {
        let raw: RawHeader = serde_json::from_slice(decoded).map_err(|_| TokenError::BadHeader)?;
        if raw.enc.is_some() {
            return Err(TokenError::Encrypted);
        }
        // No extension is understood here, so any `crit` must be refused
        // (RFC 7515 §4.1.11).
        if raw.crit.is_some() {
            return Err(TokenError::UnsupportedCrit);
        }
        let alg = raw.alg.ok_or(TokenError::MissingAlg)?;
        // `none` in any spelling is not an Algorithm and fails here; HMAC
        // algorithms parse but no issuer may allow them.
        let alg: Algorithm = alg.parse().map_err(|_| TokenError::AlgNotAllowed)?;
        Ok(Self {
            alg,
            kid: raw.kid,
            typ: raw.typ,
        })
    }
}

/// `at+jwt` equals `application/at+jwt`, case-insensitively (RFC 7515 §4.1.9).
pub fn typ_matches(actual: &str, expected: &str) -> bool {
    fn bare(t: &str) -> &str {
        let prefix = "application/";
        match t.get(..prefix.len()) {
            Some(p) if p.eq_ignore_ascii_case(prefix) => &t[prefix.len()..],
            _ => t,
        }
    }
    bare(actual).eq_ignore_ascii_case(bare(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_spellings() {
        assert!(typ_matches("at+jwt", "at+jwt"));
        assert!(typ_matches("application/AT+JWT", "at+jwt"));
        assert!(typ_matches("at+jwt", "application/at+jwt"));
        assert!(!typ_matches("JWT", "at+jwt"));
        assert!(!typ_matches("application/jwt", "at+jwt"));
    }

    #[test]
    fn none_and_crit_are_refused() {
        for alg in ["none", "None", "NONE", "nOnE", ""] {
            let h = format!(r#"{{"alg":"{alg}"}}"#);
            assert_eq!(
                JoseHeader::parse(h.as_bytes()).unwrap_err(),
                TokenError::AlgNotAllowed,
                "{alg}"
            );
        }
        let h = br#"{"alg":"RS256","crit":["exp"],"exp":1}"#;
        assert_eq!(
            JoseHeader::parse(h).unwrap_err(),
            TokenError::UnsupportedCrit
        );
        assert_eq!(
            JoseHeader::parse(br#"{"kid":"a"}"#).unwrap_err(),
            TokenError::MissingAlg
        );
        assert_eq!(
            JoseHeader::parse(br#"{"alg":"RS256","kid":7}"#).unwrap_err(),
            TokenError::BadHeader
        );
    }

    #[test]
    fn embedded_keys_are_ignored() {
        let h = br#"{"alg":"RS256","kid":"k1","jku":"https://evil","jwk":{"kty":"RSA"},"x5u":"x","x5c":["y"]}"#;
        let parsed = JoseHeader::parse(h).unwrap();
        assert_eq!(parsed.alg, Algorithm::RS256);
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
    }
}
