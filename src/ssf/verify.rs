//! A SET verified like any token: `typ`, the transmitter's keys and
//! algorithms, `iss`, `aud`, an `iat` window, `jti` present.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::{SetError, Transmitter, Transmitters};
use crate::keys::KeyLookup;
use crate::token::{ObjectError, asks_more_than_plain_jws, names_one_another_way, unique_object};

/// The SET's claims read here and in `events`.
const SET_CLAIMS: &[&str] = &["iss", "aud", "iat", "exp", "jti", "events", "sub_id"];

/// Largest SET read.
pub const MAX_SET_BYTES: usize = 64 * 1024;
const MAX_JTI_BYTES: usize = 256;

/// A SET whose signature and registered claims passed.
#[derive(Debug)]
pub struct SetClaims {
    /// The transmitter that signed it.
    pub transmitter: std::sync::Arc<Transmitter>,
    /// Its `jti`.
    pub jti: String,
    /// Its `iat`.
    pub iat: f64,
    /// Every claim.
    pub claims: Map<String, Value>,
}

/// Verifies `raw` against the configured transmitters at `now`.
pub async fn verify_set(
    raw: &str,
    transmitters: &Transmitters,
    now: f64,
) -> Result<SetClaims, SetError> {
    if raw.len() > MAX_SET_BYTES {
        return Err(SetError::request("the SET is too large"));
    }
    let raw = raw.trim();
    let mut parts = raw.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SetError::request("the SET is not a signed compact JWT"));
    };
    if h.is_empty() || p.is_empty() || s.is_empty() {
        return Err(SetError::request("the SET is not a signed compact JWT"));
    }
    let header = object(h, "header")?;
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !typ
        .strip_prefix("application/")
        .unwrap_or(typ)
        .eq_ignore_ascii_case("secevent+jwt")
    {
        return Err(SetError::request("the SET's typ must be secevent+jwt"));
    }
    if asks_more_than_plain_jws(&header) {
        return Err(SetError::request(
            "the SET has crit, enc or b64 parameters this receiver does not understand",
        ));
    }
    let claims = object(p, "claims")?;
    if names_one_another_way(&header, &["typ", "alg", "kid", "crit", "enc", "b64"])
        || names_one_another_way(&claims, SET_CLAIMS)
    {
        return Err(SetError::request(
            "the SET spells a member this receiver reads another way",
        ));
    }
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let transmitter = transmitters
        .get(issuer)
        .ok_or_else(|| {
            SetError::new(
                "invalid_issuer",
                "the SET's iss is not a configured transmitter",
            )
        })?
        .clone();
    let trust = &transmitter.settings.trust;
    let alg: Algorithm = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(|a| a.parse().ok())
        .filter(|a| trust.algorithms.contains(a))
        .ok_or_else(|| {
            SetError::new(
                "invalid_key",
                "the SET's alg is not accepted from this transmitter",
            )
        })?;
    let kid = header.get("kid").and_then(Value::as_str);
    let mut lookup = transmitter.keys.find(kid, alg);
    if matches!(lookup, KeyLookup::UnknownKid) {
        transmitter.keys.refetch_for_unknown_kid().await;
        lookup = transmitter.keys.find(kid, alg);
    }
    let key = match lookup {
        KeyLookup::Found { key, .. } => key,
        // Refused for good, a revocation it carries would be lost while
        // the keys are missing: the transmitter retries instead.
        KeyLookup::NoKeys => {
            return Err(SetError::new(
                SetError::NOT_YET,
                "the transmitter's keys are not loaded yet; retry",
            ));
        }
        _ => {
            return Err(SetError::new(
                "invalid_key",
                "no key of the transmitter fits the SET's kid and alg",
            ));
        }
    };
    let signing_input = &raw[..h.len() + 1 + p.len()];
    if !key.verify(alg, signing_input.as_bytes(), s) {
        return Err(SetError::new(
            "invalid_key",
            "the SET's signature does not verify",
        ));
    }
    let audience = &trust.audiences[..];
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => audience.contains(a),
        Some(Value::Array(items)) => items
            .iter()
            .any(|a| a.as_str().is_some_and(|a| audience.iter().any(|x| x == a))),
        _ => false,
    };
    if !aud_ok {
        return Err(SetError::new(
            "invalid_audience",
            "the SET's aud does not name this receiver",
        ));
    }
    let leeway = trust.leeway.as_secs_f64();
    let iat = claims
        .get("iat")
        .and_then(Value::as_f64)
        .filter(|t| t.is_finite())
        .ok_or_else(|| SetError::request("the SET has no numeric iat"))?;
    if iat > now + leeway || now - iat > transmitter.settings.max_age.as_secs_f64() + leeway {
        return Err(SetError::request(
            "the SET's iat is outside the accepted window",
        ));
    }
    if let Some(exp) = claims.get("exp")
        && exp.as_f64().is_none_or(|e| e + leeway < now)
    {
        return Err(SetError::request("the SET has expired"));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_BYTES)
        .ok_or_else(|| SetError::request("the SET has no usable jti"))?
        .to_owned();
    Ok(SetClaims {
        transmitter,
        jti,
        iat,
        claims,
    })
}

/// A part of the SET, read with every member name once at any depth: a
/// subject `{"id":"d4","id":"d5"}` must not revoke one user here and name
/// another to whoever else reads the SET.
fn object(part: &str, what: &str) -> Result<Map<String, Value>, SetError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| SetError::request(format!("the SET's {what} is not base64url JSON")))?;
    unique_object(&bytes).map_err(|e| {
        SetError::request(match e {
            ObjectError::DuplicateMember | ObjectError::AliasedMember => {
                format!("the SET's {what} names a member more than once")
            }
            ObjectError::NotAnObject => format!("the SET's {what} is not base64url JSON"),
        })
    })
}
