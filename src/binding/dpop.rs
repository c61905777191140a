//! RFC 9449 §4.3: checking a DPoP proof against the request and the token.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use serde_json::{Map, Value};

use super::nonce::Freshness;
use super::{BindingContext, BindingError, Presentation, normalize_htu};
use crate::keys::VerifyKey;
use crate::token::{asks_more_than_plain_jws, names_one_another_way};

/// Longest proof read.
const MAX_PROOF_BYTES: usize = 8 * 1024;
/// Longest `jti` remembered.
const MAX_JTI_BYTES: usize = 256;
/// JWK members that only a private key has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The proof's claims read here.
const PROOF_CLAIMS: &[&str] = &["htm", "htu", "iat", "ath", "jti", "nonce"];

/// Why a DPoP proof is refused: `invalid_dpop_proof`, with this description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The DPoP scheme without a `DPoP` header.
    #[error("the DPoP scheme needs a DPoP proof header")]
    Missing,
    /// More than one `DPoP` header (Envoy joins them with `,`).
    #[error("more than one DPoP proof header")]
    Multiple,
    /// Larger than accepted.
    #[error("the DPoP proof is too large")]
    TooLarge,
    /// Not a compact JWS with JSON header and claims.
    #[error("the DPoP proof is not a well-formed JWT")]
    Malformed,
    /// `typ` is not `dpop+jwt`.
    #[error("the DPoP proof's typ is not dpop+jwt")]
    Typ,
    /// `alg` is symmetric, unknown or not allowed for this issuer.
    #[error("the DPoP proof's alg is not accepted")]
    Alg,
    /// `jwk` is missing, private, or not a key that fits `alg`.
    #[error("the DPoP proof's jwk is missing, private or does not fit its alg")]
    Jwk,
    /// The signature does not verify with the proof's own key.
    #[error("the DPoP proof's signature does not verify")]
    Signature,
    /// `htm` is not the request's method.
    #[error("the DPoP proof's htm is not the request method")]
    Htm,
    /// `htu` is not the request's URI.
    #[error("the DPoP proof's htu is not the request URI")]
    Htu,
    /// `iat` is missing or too far from now.
    #[error("the DPoP proof's iat is outside the accepted window")]
    Iat,
    /// `ath` is not the hash of the access token.
    #[error("the DPoP proof's ath does not match the access token")]
    Ath,
    /// `jti` is missing or too long.
    #[error("the DPoP proof has no usable jti")]
    Jti,
    /// The proof's key is not the one the token is bound to.
    #[error("the DPoP proof's key is not the key the token is bound to")]
    KeyMismatch,
    /// This proof was seen before.
    #[error("the DPoP proof was already used")]
    Replayed,
    /// The replay cache is full; refusing beats forgetting.
    #[error("too many DPoP proofs in flight; retry with a new proof")]
    ReplayCacheFull,
}

/// A proof whose signature verified with its own `jwk`; its claims are not
/// yet compared with anything.
#[derive(Debug)]
pub struct DpopProof {
    claims: Map<String, Value>,
    /// RFC 7638 SHA-256 thumbprint of the proof's key.
    pub thumbprint: String,
}

impl DpopProof {
    /// Splits, decodes and verifies a proof with the key it carries.
    pub fn parse(proof: &str, algorithms: &[Algorithm]) -> Result<Self, ProofError> {
        if proof.len() > MAX_PROOF_BYTES {
            return Err(ProofError::TooLarge);
        }
        if proof.contains(',') {
            return Err(ProofError::Multiple);
        }
        let mut parts = proof.trim().split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ProofError::Malformed);
        };
        if h.is_empty() || p.is_empty() || s.is_empty() {
            return Err(ProofError::Malformed);
        }
        let header = json_object(h)?;
        if names_one_another_way(&header, &["typ", "alg", "jwk", "crit", "enc", "b64"])
            || asks_more_than_plain_jws(&header)
        {
            return Err(ProofError::Malformed);
        }
        let typ = header
            .get("typ")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let typ = typ.strip_prefix("application/").unwrap_or(typ);
        if !typ.eq_ignore_ascii_case("dpop+jwt") {
            return Err(ProofError::Typ);
        }
        let alg: Algorithm = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok())
            .filter(|a| {
                algorithms.contains(a)
                    && !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
            })
            .ok_or(ProofError::Alg)?;
        let jwk_value = match header.get("jwk") {
            Some(Value::Object(jwk))
                if !PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m))
                    && !names_one_another_way(jwk, PRIVATE_MEMBERS) =>
            {
                jwk
            }
            _ => return Err(ProofError::Jwk),
        };
        let jwk: Jwk = serde_json::from_value(Value::Object(jwk_value.clone()))
            .map_err(|_| ProofError::Jwk)?;
        let key = VerifyKey::from_jwk(&jwk)
            .filter(|k| k.fits(alg))
            .ok_or(ProofError::Jwk)?;
        let signing_input = &proof.trim()[..h.len() + 1 + p.len()];
        let verified =
            jsonwebtoken::crypto::verify(s, signing_input.as_bytes(), key.decoding(), alg)
                .unwrap_or(false);
        if !verified {
            return Err(ProofError::Signature);
        }
        let thumbprint = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| ProofError::Jwk)?;
        let claims = json_object(p)?;
        if names_one_another_way(&claims, PROOF_CLAIMS) {
            return Err(ProofError::Malformed);
        }
        Ok(Self { claims, thumbprint })
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
}

fn json_object(part: &str) -> Result<Map<String, Value>, ProofError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| ProofError::Malformed)?;
    // A member named twice would be read one way here and maybe another
    // by whoever else reads the proof.
    crate::token::unique_object(&bytes).map_err(|_| ProofError::Malformed)
}

/// The proof in `presented` for `token` (bound to `jkt`) of `issuer`.
pub(super) fn check(
    issuer: &str,
    token: &str,
    jkt: &str,
    presented: &Presentation<'_>,
    cx: &BindingContext<'_>,
) -> Result<(), BindingError> {
    let fail = BindingError::Proof;
    let raw = presented.dpop.ok_or(fail(ProofError::Missing))?;
    let proof = DpopProof::parse(raw, &cx.settings.algorithms).map_err(fail)?;
    if proof.text("htm") != Some(presented.method) {
        return Err(fail(ProofError::Htm));
    }
    let expected = presented
        .uri
        .htu(cx.settings.trust_forwarded_proto)
        .ok_or(fail(ProofError::Htu))?;
    if proof.text("htu").and_then(normalize_htu).as_deref() != Some(expected.as_str()) {
        return Err(fail(ProofError::Htu));
    }
    let window = cx.settings.iat_window.as_secs_f64() + cx.leeway.as_secs_f64();
    let iat = proof
        .claims
        .get("iat")
        .and_then(Value::as_f64)
        .ok_or(fail(ProofError::Iat))?;
    if !iat.is_finite() || (iat - cx.now).abs() > window {
        return Err(fail(ProofError::Iat));
    }
    let ath = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()));
    if proof.text("ath") != Some(ath.as_str()) {
        return Err(fail(ProofError::Ath));
    }
    let jti = proof
        .text("jti")
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_BYTES)
        .ok_or(fail(ProofError::Jti))?;
    if !super::constant_time_eq(proof.thumbprint.as_bytes(), jkt.as_bytes()) {
        return Err(fail(ProofError::KeyMismatch));
    }
    if let Some(nonces) = &cx.settings.nonce {
        let fresh = proof.text("nonce").map_or(Freshness::Stale, |n| {
            nonces.key.check(issuer, n, cx.now, nonces.lifetime)
        });
        if fresh == Freshness::Stale {
            return Err(BindingError::UseNonce {
                nonce: nonces.key.issue(issuer, cx.now, nonces.lifetime),
            });
        }
    }
    // Last: only a proof that passed everything else uses up its jti.
    let ttl = std::time::Duration::from_secs_f64(2.0 * window);
    cx.replay
        .remember(issuer, jti, ttl, cx.settings.replay_cache_entries)
        .map_err(fail)
}
