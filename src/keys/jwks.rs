//! A JWKS parsed once into keys ready to verify with.

use std::sync::{Arc, OnceLock};

use aws_lc_rs::signature::{
    self as lc, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents, UnparsedPublicKey,
    VerificationAlgorithm,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use serde::Deserialize;

/// More keys than this in one set is treated as garbage, not as a set.
pub const MAX_KEYS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyFamily {
    /// The algorithms a key of this family can verify. HMAC never appears:
    /// a published key set only holds public keys.
    fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            Self::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Self::EcP256 => alg == ES256,
            Self::EcP384 => alg == ES384,
            Self::Ed25519 => alg == EdDSA,
        }
    }
}

/// One usable public key of a JWKS, parsed once for verification.
pub struct VerifyKey {
    kid: Option<String>,
    family: KeyFamily,
    /// The JWK's own `alg`, when it names one.
    alg: Option<Algorithm>,
    decoding: DecodingKey,
    /// The key parsed for each algorithm at its first use (see `Parsed`).
    parsed: [OnceLock<Option<ParsedPublicKey>>; ALGORITHMS],
}

/// How many asymmetric JWS algorithms there are: one slot each in
/// `VerifyKey::parsed`.
const ALGORITHMS: usize = 9;

/// How an algorithm verifies: its slot in `VerifyKey::parsed` and the
/// aws-lc-rs parameters jsonwebtoken's own verify uses for it, so the same
/// signatures pass. jsonwebtoken parses the key again on every call (for
/// RSA it rebuilds the key and its Montgomery context from the modulus and
/// exponent); a `ParsedPublicKey` keeps the parsed key.
enum Parsed {
    Rsa(usize, &'static RsaParameters),
    Raw(usize, &'static dyn VerificationAlgorithm),
}

impl Parsed {
    fn of(alg: Algorithm) -> Option<Self> {
        use Algorithm::*;
        Some(match alg {
            RS256 => Self::Rsa(0, &lc::RSA_PKCS1_2048_8192_SHA256),
            RS384 => Self::Rsa(1, &lc::RSA_PKCS1_2048_8192_SHA384),
            RS512 => Self::Rsa(2, &lc::RSA_PKCS1_2048_8192_SHA512),
            PS256 => Self::Rsa(3, &lc::RSA_PSS_2048_8192_SHA256),
            PS384 => Self::Rsa(4, &lc::RSA_PSS_2048_8192_SHA384),
            PS512 => Self::Rsa(5, &lc::RSA_PSS_2048_8192_SHA512),
            ES256 => Self::Raw(6, &lc::ECDSA_P256_SHA256_FIXED),
            ES384 => Self::Raw(7, &lc::ECDSA_P384_SHA384_FIXED),
            EdDSA => Self::Raw(8, &lc::ED25519),
            // HMAC, and any algorithm jsonwebtoken adds later: a published
            // key set verifies none of them.
            _ => return None,
        })
    }

    fn slot(&self) -> usize {
        match self {
            Self::Rsa(slot, _) | Self::Raw(slot, _) => *slot,
        }
    }

    /// The key parsed for this algorithm, or `None` if it does not parse.
    fn parse(&self, key: &DecodingKey) -> Option<ParsedPublicKey> {
        match (self, key.kind()) {
            (Self::Rsa(_, params), DecodingKeyKind::RsaModulusExponent { n, e }) => {
                RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(params)
                    .ok()
            }
            (Self::Raw(_, alg), DecodingKeyKind::SecretOrDer(bytes)) => {
                UnparsedPublicKey::new(*alg, bytes).parse().ok()
            }
            _ => None,
        }
    }
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyKey {
    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The parsed key that signatures are verified with.
    pub fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// Whether `signature` (base64url, as the token carries it) signs
    /// `message` under `alg`. The caller has checked that the key `fits`.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &str) -> bool {
        let Some(how) = Parsed::of(alg) else {
            return false;
        };
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        self.parsed[how.slot()]
            .get_or_init(|| how.parse(&self.decoding))
            .as_ref()
            .is_some_and(|key| key.verify_sig(message, &signature).is_ok())
    }

    /// A public key from one JWK, or `None` if it cannot verify signatures
    /// here (encryption, symmetric or unknown keys, an `alg` its type
    /// cannot have).
    pub fn from_jwk(jwk: &Jwk) -> Option<Self> {
        verify_key(jwk)
    }

    /// The key's `kty`/`crv` and, when present, its `alg` must fit the
    /// token's header `alg`.
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.family.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }
}

/// Why a document is not a usable key set.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// Not JSON with a `keys` array; holds the parse error.
    #[error("not a JWKS document: {0}")]
    NotJwks(String),
    /// More than `MAX_KEYS` keys; holds the count.
    #[error("the key set holds {0} keys, more than the {MAX_KEYS} accepted")]
    TooManyKeys(usize),
    /// No key in the document can verify signatures here.
    #[error("the key set holds no usable signing key ({skipped} skipped)")]
    NoUsableKey {
        /// How many keys were skipped as unusable.
        skipped: usize,
    },
}

/// One load of an issuer's keys.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyKey>>,
    /// Keys present in the document but not usable here (encryption keys,
    /// symmetric keys, unknown types).
    skipped: usize,
    /// Hash of the document, to tell a changed key set from a refresh that
    /// brought the same one.
    fingerprint: u128,
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Parses a JWKS document, skipping keys that cannot verify signatures here.
    pub fn parse(bytes: &[u8]) -> Result<Self, JwksError> {
        let doc: Document =
            serde_json::from_slice(bytes).map_err(|e| JwksError::NotJwks(e.to_string()))?;
        if doc.keys.len() > MAX_KEYS {
            return Err(JwksError::TooManyKeys(doc.keys.len()));
        }
        let total = doc.keys.len();
        // One odd key must not cost the issuer all of its others.
        let keys: Vec<Arc<VerifyKey>> = doc
            .keys
            .into_iter()
            .filter_map(|v| serde_json::from_value::<Jwk>(v).ok())
            .filter_map(|jwk| verify_key(&jwk))
            .map(Arc::new)
            .collect();
        let skipped = total - keys.len();
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey { skipped });
        }
        Ok(Self {
            keys,
            skipped,
            fingerprint: xxhash_rust::xxh3::xxh3_128(bytes),
        })
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Hash of the document, to tell a changed key set from the same one fetched again.
    pub fn fingerprint(&self) -> u128 {
        self.fingerprint
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of keys in the document that are not usable here.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Each usable key's `kid`, in document order.
    pub fn kids(&self) -> impl Iterator<Item = Option<&str>> {
        self.keys.iter().map(|k| k.kid())
    }

    /// Step 7: the `kid` selects a key of this set that fits `alg`; without a
    /// `kid`, exactly one key may fit.
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Lookup<'_> {
        match kid {
            Some(kid) => {
                let mut with_kid = self.keys.iter().filter(|k| k.kid() == Some(kid)).peekable();
                if with_kid.peek().is_none() {
                    return Lookup::UnknownKid;
                }
                with_kid
                    .find(|k| k.fits(alg))
                    .map_or(Lookup::NoneFits, Lookup::Found)
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Lookup::Found(key),
                    (Some(_), Some(_)) => Lookup::Ambiguous,
                    (None, _) => Lookup::NoneFits,
                }
            }
        }
    }
}

pub enum Lookup<'a> {
    Found(&'a Arc<VerifyKey>),
    UnknownKid,
    Ambiguous,
    NoneFits,
}

fn verify_key(jwk: &Jwk) -> Option<VerifyKey> {
    let common = &jwk.common;
    if matches!(
        common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    if let Some(ops) = &common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return None;
    }
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyFamily::Rsa,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => KeyFamily::EcP256,
            EllipticCurve::P384 => KeyFamily::EcP384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            KeyFamily::Ed25519
        }
        _ => return None,
    };
    let alg = match common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::UNKNOWN_ALGORITHM) => return None,
        Some(a) => Some(a.to_string().parse::<Algorithm>().ok()?),
    };
    if alg.is_some_and(|a| !family.fits(a)) {
        return None;
    }
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerifyKey {
        kid: common.key_id.clone(),
        family,
        alg,
        decoding,
        parsed: Default::default(),
    })
}

#[cfg(test)]
mod tests;
