//! Step 5: the JOSE header, read before the signature is checked. Only `alg`,
//! `kid`, `typ` and `crit` are looked at; `jwk`, `jku`, `x5u`, `x5c` are never
//! used to find a key, and their presence changes nothing.

use jsonwebtoken::Algorithm;
use serde_json::Value;

use super::TokenError;
use super::json::ObjectError;
use super::scan::scan_object;

#[derive(Debug, Clone)]
pub struct JoseHeader {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// The members looked at.
const MEMBERS: [&str; 6] = ["alg", "kid", "typ", "enc", "crit", "b64"];

impl JoseHeader {
    /// Any member named twice, at any depth (`cty`, `b64`, `x5t`… as much
    /// as `alg`), refuses the header.
    pub fn parse(decoded: &[u8]) -> Result<Self, TokenError> {
        let [alg, kid, typ, enc, crit, b64] =
            scan_object(decoded, &MEMBERS).map_err(|e| match e {
                ObjectError::DuplicateMember => TokenError::DuplicateMember,
                ObjectError::AliasedMember => TokenError::AliasedMember,
                ObjectError::NotAnObject => TokenError::BadHeader,
            })?;
        let alg = string(alg, "alg")?;
        let kid = string(kid, "kid")?;
        let typ = string(typ, "typ")?;
        // Present at all, even as `null`: a JWE header, or extensions.
        if enc.is_some() {
            return Err(TokenError::Encrypted);
        }
        // No extension is understood here, so any `crit` must be refused
        // (RFC 7515 §4.1.11).
        if crit.is_some() {
            return Err(TokenError::UnsupportedCrit);
        }
        // `b64: false` (RFC 7797) signs the payload unencoded: a reader
        // that honours it checks other bytes. It must be listed in `crit`,
        // so it cannot come with a token accepted here, listed or not.
        if b64.is_some_and(|b| b != Value::Bool(true)) {
            return Err(TokenError::UnsupportedCrit);
        }
        let alg = alg.ok_or(TokenError::MissingAlg)?;
        // `none` in any spelling is not an Algorithm and fails here; HMAC
        // algorithms parse but no issuer may allow them.
        let alg: Algorithm = alg.parse().map_err(|_| TokenError::AlgNotAllowed)?;
        Ok(Self { alg, kid, typ })
    }
}

/// A string member; `null` counts as absent, as it always has here.
fn string(member: Option<Value>, name: &'static str) -> Result<Option<String>, TokenError> {
    match member {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TokenError::HeaderMemberType(name)),
    }
}

/// `at+jwt` equals `application/at+jwt`, case-insensitively (RFC 7515 §4.1.9).
pub fn typ_matches(actual: &str, expected: &str) -> bool {
    bare(actual).eq_ignore_ascii_case(bare(expected))
}

fn bare(t: &str) -> &str {
    let prefix = "application/";
    match t.get(..prefix.len()) {
        Some(p) if p.eq_ignore_ascii_case(prefix) => &t[prefix.len()..],
        _ => t,
    }
}

/// JWT types that are never access tokens, whatever an issuer's
/// `required_typ` says (RFC 8725 §3.11: explicit typing exists so that one
/// kind of JWT cannot be substituted for another).
const NEVER_ACCESS: &[&str] = &["logout+jwt", "secevent+jwt", "dpop+jwt", "id_token+jwt"];

/// Whether a `typ` says the JWT is something other than an access token.
/// Besides the types above, any other `…+jwt` media type names a different
/// kind of JWT, unless it is exactly the issuer's `required_typ`. Without a
/// `required_typ`, only `JWT` and `at+jwt` are access token types: any other
/// value (`JOSE`, `jwt+at`, `JWT ` with a space) is refused rather than
/// guessed at. Returns a fixed label, safe to show the caller.
pub fn other_jwt_type(typ: &str, required: Option<&str>) -> Option<&'static str> {
    if let Some(known) = NEVER_ACCESS.iter().find(|t| typ_matches(typ, t)) {
        return Some(known);
    }
    if typ_matches(typ, "at+jwt") || required.is_some_and(|r| typ_matches(typ, r)) {
        return None;
    }
    let typed_jwt = bare(typ)
        .get(bare(typ).len().saturating_sub(4)..)
        .is_some_and(|end| end.eq_ignore_ascii_case("+jwt"));
    if typed_jwt {
        return Some("another kind of JWT");
    }
    // With a required_typ, the issuer's own check refuses anything else.
    (required.is_none() && !typ_matches(typ, "JWT")).then_some("an unknown type")
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
    fn other_jwt_types_are_never_access_tokens() {
        for (typ, required, refused) in [
            ("logout+jwt", None, true),
            ("application/Logout+JWT", None, true),
            ("secevent+jwt", None, true),
            ("dpop+jwt", None, true),
            ("id_token+jwt", None, true),
            // required_typ cannot let the four explicit types in.
            ("logout+jwt", Some("logout+jwt"), true),
            ("token-introspection+jwt", None, true),
            ("custom+jwt", Some("custom+jwt"), false),
            ("at+jwt", None, false),
            ("application/at+jwt", None, false),
            ("JWT", None, false),
            ("jwt", Some("at+jwt"), false),
            ("+jwt", None, true),
            ("application/jwt", None, false),
            // Without a required_typ, nothing but JWT and at+jwt.
            ("JOSE", None, true),
            ("JWT ", None, true),
            (" JWT", None, true),
            ("jwt+at", None, true),
            ("at+jwt\u{0}", None, true),
            ("at+JWT;x", None, true),
            ("", None, true),
            ("application/", None, true),
        ] {
            assert_eq!(
                other_jwt_type(typ, required).is_some(),
                refused,
                "{typ} with required {required:?}"
            );
        }
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
        for h in [
            &br#"{"alg":"RS256","crit":["exp"],"exp":1}"#[..],
            br#"{"alg":"RS256","crit":null}"#,
            br#"{"alg":"RS256","b64":false}"#,
            br#"{"alg":"RS256","b64":"false"}"#,
            br#"{"alg":"RS256","b64":null}"#,
        ] {
            assert_eq!(
                JoseHeader::parse(h).unwrap_err(),
                TokenError::UnsupportedCrit,
                "{}",
                String::from_utf8_lossy(h)
            );
        }
        assert!(JoseHeader::parse(br#"{"alg":"RS256","b64":true}"#).is_ok());
        for h in [
            &br#"{"alg":"RS256","CRIT":["x"]}"#[..],
            br#"{"alg":"RS256","crit\u0000x":["x"]}"#,
            br#"{"alg":"RS256","ENC":"A128GCM"}"#,
            br#"{"alg":"RS256","B64":false}"#,
            br#"{"alg":"RS256","TYP":"logout+jwt"}"#,
            br#"{"alg":"RS256","\u212aid":"k"}"#,
        ] {
            assert_eq!(
                JoseHeader::parse(h).unwrap_err(),
                TokenError::AliasedMember,
                "{}",
                String::from_utf8_lossy(h)
            );
        }
        for h in [
            &br#"{"alg":"RS256","enc":"A128GCM"}"#[..],
            br#"{"alg":"RS256","enc":null}"#,
        ] {
            assert_eq!(JoseHeader::parse(h).unwrap_err(), TokenError::Encrypted);
        }
        assert_eq!(
            JoseHeader::parse(br#"{"kid":"a"}"#).unwrap_err(),
            TokenError::MissingAlg
        );
        for (h, name) in [
            (&br#"{"alg":"RS256","kid":7}"#[..], "kid"),
            (br#"{"alg":["RS256"]}"#, "alg"),
            (br#"{"alg":"RS256","typ":{"t":1}}"#, "typ"),
        ] {
            assert_eq!(
                JoseHeader::parse(h).unwrap_err(),
                TokenError::HeaderMemberType(name)
            );
        }
        assert_eq!(
            JoseHeader::parse(br#"{"alg":"RS256","alg":"RS256"}"#).unwrap_err(),
            TokenError::DuplicateMember
        );
        for h in [&br#"["alg"]"#[..], br#"{"alg":"RS256""#] {
            assert_eq!(JoseHeader::parse(h).unwrap_err(), TokenError::BadHeader);
        }
    }

    #[test]
    fn embedded_keys_are_ignored() {
        let h = br#"{"alg":"RS256","kid":"k1","jku":"https://evil","jwk":{"kty":"RSA"},"x5u":"x","x5c":["y"]}"#;
        let parsed = JoseHeader::parse(h).unwrap();
        assert_eq!(parsed.alg, Algorithm::RS256);
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
    }
}
