//! Sender-constrained tokens (step 8b): a token bound to a key by
//! `cnf.jkt` is only good with a DPoP proof made with that key (RFC 9449);
//! a token bound to a certificate by `cnf["x5t#S256"]` only over a
//! connection that presented that certificate (RFC 8705). Neither is ever
//! accepted as a plain bearer token.

mod dpop;
mod mtls;
pub(crate) mod nonce;
mod replay;
mod uri;

use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::Value;

pub use dpop::{DpopProof, ProofError};
pub use mtls::certificate_thumbprint;
pub use nonce::NonceKey;
pub use replay::ReplayCaches;
pub use uri::{RequestUri, normalize_htu};

use crate::token::{Scheme, VerifiedClaims};

/// Per-issuer DPoP settings (`issuers[].dpop`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopSettings {
    /// Proof algorithms accepted; asymmetric only.
    pub algorithms: Vec<Algorithm>,
    /// How far a proof's `iat` may be from now, before the issuer's leeway.
    pub iat_window: Duration,
    /// Server nonces (`require_nonce`), with the key that makes them.
    pub nonce: Option<NonceSettings>,
    /// Most proof `jti`s remembered per issuer on one replica.
    pub replay_cache_entries: u64,
    /// Build `htu` from `x-forwarded-proto` instead of Envoy's scheme (only
    /// behind a proxy that sets it).
    pub trust_forwarded_proto: bool,
}

impl Default for DpopSettings {
    fn default() -> Self {
        use Algorithm::*;
        Self {
            algorithms: vec![ES256, ES384, EdDSA, RS256, PS256],
            iat_window: Duration::from_secs(60),
            nonce: None,
            replay_cache_entries: 1_000_000,
            trust_forwarded_proto: false,
        }
    }
}

/// `require_nonce`: the key nonces are made with and how long one lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceSettings {
    /// HMAC key shared by every replica, so each accepts the others' nonces.
    pub key: NonceKey,
    /// A nonce is good for this long, and for one such period after.
    pub lifetime: Duration,
}

/// What a request presented besides the token itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct Presentation<'a> {
    /// The `DPoP` header (several arrive joined with `,`, which is refused).
    pub dpop: Option<&'a str>,
    /// The request method, for `htm`.
    pub method: &'a str,
    /// The request's URI parts, for `htu`.
    pub uri: RequestUri<'a>,
    /// The client certificate Envoy saw (`source.certificate`, URL-encoded PEM).
    pub client_certificate: Option<&'a str>,
}

/// How the token's possession was proven.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Proven {
    /// A DPoP proof with the token's `cnf.jkt` key.
    pub dpop: bool,
    /// The connection's certificate matches `cnf["x5t#S256"]`.
    pub mtls: bool,
}

/// A policy's `sender_constraint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderConstraint {
    /// A DPoP-bound token with its proof.
    Dpop,
    /// A certificate-bound token over its certificate.
    Mtls,
    /// Either.
    Any,
}

impl SenderConstraint {
    /// Whether `proven` meets the constraint.
    pub fn met_by(self, proven: Proven) -> bool {
        match self {
            Self::Dpop => proven.dpop,
            Self::Mtls => proven.mtls,
            Self::Any => proven.dpop || proven.mtls,
        }
    }
}

/// Why a token's binding does not hold. Every one is a 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// The DPoP proof is missing, malformed, or does not fit this request or token.
    #[error("{0}")]
    Proof(ProofError),
    /// The issuer requires a server nonce and the proof has none that is current.
    #[error("a DPoP nonce is required; use the one in the DPoP-Nonce header")]
    UseNonce {
        /// A fresh nonce for the retry.
        nonce: String,
    },
    /// A DPoP-bound token sent with the Bearer scheme.
    #[error("a DPoP-bound token must be sent with the DPoP scheme and a proof")]
    BoundTokenAsBearer,
    /// The DPoP scheme with a token that is not DPoP-bound.
    #[error("the token is not DPoP-bound (no cnf.jkt)")]
    UnboundTokenAsDpop,
    /// A certificate-bound token without a client certificate, or with another one.
    #[error("the token is bound to a client certificate this connection did not present")]
    CertificateMismatch,
    /// `cnf` is present but not an object of `jkt` and `x5t#S256` strings.
    #[error(
        "the token's cnf claim is malformed or names a confirmation method this service cannot check"
    )]
    MalformedCnf,
    /// The policy requires a sender-constrained token.
    #[error("this route requires a sender-constrained token ({0})")]
    ConstraintRequired(&'static str),
}

impl BindingError {
    /// Whether the error concerns the DPoP proof (RFC 9449 §7.1
    /// `invalid_dpop_proof` / `use_dpop_nonce`) rather than the token.
    pub fn is_about_proof(&self) -> bool {
        matches!(self, Self::Proof(_) | Self::UseNonce { .. })
    }
}

/// The token's `cnf` members this service understands.
struct Confirmation<'a> {
    jkt: Option<&'a str>,
    x5t: Option<&'a str>,
}

fn confirmation(claims: &VerifiedClaims) -> Result<Confirmation<'_>, BindingError> {
    let Some(cnf) = claims.claim("cnf") else {
        return Ok(Confirmation {
            jkt: None,
            x5t: None,
        });
    };
    let Value::Object(cnf) = cnf else {
        return Err(BindingError::MalformedCnf);
    };
    // A confirmation method this service cannot check (`jwk`, `kid`,
    // `x5t`, …) still means the token is not a bearer token: refused.
    if cnf.is_empty() || cnf.keys().any(|k| k != "jkt" && k != "x5t#S256") {
        return Err(BindingError::MalformedCnf);
    }
    let member = |name: &str| match cnf.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.as_str())),
        Some(_) => Err(BindingError::MalformedCnf),
    };
    Ok(Confirmation {
        jkt: member("jkt")?,
        x5t: member("x5t#S256")?,
    })
}

/// Everything the binding check needs about the token's issuer and the time.
pub struct BindingContext<'a> {
    /// The issuer's DPoP settings.
    pub settings: &'a DpopSettings,
    /// The issuer's clock-skew allowance.
    pub leeway: Duration,
    /// Proof `jti`s seen, per issuer.
    pub replay: &'a ReplayCaches,
    /// Now, in seconds since the epoch.
    pub now: f64,
}

/// Step 8b: the token's `cnf`, against what the request presented.
pub fn check_binding(
    claims: &VerifiedClaims,
    scheme: Scheme,
    token: &str,
    presented: &Presentation<'_>,
    cx: &BindingContext<'_>,
) -> Result<Proven, BindingError> {
    let cnf = confirmation(claims)?;
    let mut proven = Proven::default();
    match (scheme, cnf.jkt) {
        (Scheme::Bearer, Some(_)) => return Err(BindingError::BoundTokenAsBearer),
        (Scheme::Dpop, None) => return Err(BindingError::UnboundTokenAsDpop),
        (Scheme::Bearer, None) => {}
        (Scheme::Dpop, Some(jkt)) => {
            dpop::check(claims.issuer(), token, jkt, presented, cx)?;
            proven.dpop = true;
        }
    }
    if let Some(x5t) = cnf.x5t {
        let presented_thumbprint = presented
            .client_certificate
            .and_then(certificate_thumbprint)
            .ok_or(BindingError::CertificateMismatch)?;
        if !constant_time_eq(presented_thumbprint.as_bytes(), x5t.as_bytes()) {
            return Err(BindingError::CertificateMismatch);
        }
        proven.mtls = true;
    }
    Ok(proven)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
