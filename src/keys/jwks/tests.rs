//! The keys parsed once verify exactly what jsonwebtoken's own verify does.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RsaEncoding, RsaKeyPair};
use serde_json::json;

use super::*;

const RSA_ALGS: [(Algorithm, &dyn RsaEncoding); 6] = [
    (Algorithm::RS256, &lc::RSA_PKCS1_SHA256),
    (Algorithm::RS384, &lc::RSA_PKCS1_SHA384),
    (Algorithm::RS512, &lc::RSA_PKCS1_SHA512),
    (Algorithm::PS256, &lc::RSA_PSS_SHA256),
    (Algorithm::PS384, &lc::RSA_PSS_SHA384),
    (Algorithm::PS512, &lc::RSA_PSS_SHA512),
];

fn rsa_key() -> (RsaKeyPair, VerifyKey) {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let c = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    let jwk: Jwk = serde_json::from_value(json!({
        "kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&c.n), "e": URL_SAFE_NO_PAD.encode(&c.e)
    }))
    .unwrap();
    (pair, VerifyKey::from_jwk(&jwk).unwrap())
}

fn sign(pair: &RsaKeyPair, encoding: &'static dyn RsaEncoding, message: &[u8]) -> String {
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(encoding, &SystemRandom::new(), message, &mut sig)
        .unwrap();
    URL_SAFE_NO_PAD.encode(sig)
}

/// The parsed RSA keys accept exactly what jsonwebtoken's own verify
/// accepts: each algorithm, twice (the second time from the kept key),
/// and never a signature made for another algorithm or message.
#[test]
fn parsed_rsa_keys_agree_with_jsonwebtoken() {
    let (pair, key) = rsa_key();
    let message = b"header.payload";
    for (signed_as, encoding) in RSA_ALGS {
        let sig = sign(&pair, encoding, message);
        for (verified_as, _) in RSA_ALGS {
            let reference =
                jsonwebtoken::crypto::verify(&sig, message, key.decoding(), verified_as)
                    .unwrap_or(false);
            assert_eq!(
                reference,
                signed_as == verified_as,
                "{signed_as:?} as {verified_as:?}"
            );
            for round in 0..2 {
                assert_eq!(
                    key.verify(verified_as, message, &sig),
                    reference,
                    "{signed_as:?} as {verified_as:?}, round {round}"
                );
            }
        }
        assert!(
            !key.verify(signed_as, b"header.payloaD", &sig),
            "{signed_as:?}"
        );
    }
}

/// The same for EC and Ed25519 keys, each checked against every
/// algorithm: only its own verifies, as with jsonwebtoken.
#[test]
fn parsed_ec_and_ed25519_keys_agree_with_jsonwebtoken() {
    use crate::dev::{DevAlg, DevKeys};
    let keys = DevKeys::generate("t").unwrap();
    let message = b"header.payload";
    for signed_as in [DevAlg::ES256, DevAlg::EdDSA] {
        let jwk: Jwk = serde_json::from_value(keys.jwk(signed_as)).unwrap();
        let key = VerifyKey::from_jwk(&jwk).unwrap();
        let sig = URL_SAFE_NO_PAD.encode(keys.sign_bytes(signed_as, message));
        let own: Algorithm = signed_as.name().parse().unwrap();
        for verified_as in [
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::HS256,
        ] {
            let reference =
                jsonwebtoken::crypto::verify(&sig, message, key.decoding(), verified_as)
                    .unwrap_or(false);
            assert_eq!(reference, verified_as == own, "{own:?} as {verified_as:?}");
            for round in 0..2 {
                assert_eq!(
                    key.verify(verified_as, message, &sig),
                    reference,
                    "{own:?} as {verified_as:?}, round {round}"
                );
            }
        }
        assert!(!key.verify(own, b"header.payloaD", &sig), "{own:?}");
    }
}

#[test]
fn malformed_rsa_signatures_do_not_verify() {
    let (pair, key) = rsa_key();
    let message = b"header.payload";
    let sig = sign(&pair, &lc::RSA_PKCS1_SHA256, message);
    assert!(key.verify(Algorithm::RS256, message, &sig));
    for bad in [
        String::new(),
        format!("{sig}="),
        format!("{sig}A"),
        sig.replace(['-', '_'], "+"),
        sig[..sig.len() - 4].to_string(),
        "!!!!".to_string(),
    ] {
        if bad != sig {
            assert!(!key.verify(Algorithm::RS256, message, &bad), "{bad:?}");
        }
    }
}

/// A key whose modulus aws-lc rejects (too short for the 2048–8192
/// range) verifies nothing, the first time and later.
#[test]
fn an_unusable_rsa_key_verifies_nothing() {
    let jwk: Jwk = serde_json::from_value(json!({
        "kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 64]), "e": "AQAB"
    }))
    .unwrap();
    let key = VerifyKey::from_jwk(&jwk).unwrap();
    let sig = URL_SAFE_NO_PAD.encode([1u8; 64]);
    for _ in 0..2 {
        assert!(!key.verify(Algorithm::RS256, b"m", &sig));
    }
}
