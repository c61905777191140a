//! DEVELOPMENT ONLY: a throw-away token issuer for the walkthrough and the
//! tests. Its keys are generated in memory at start and never persisted;
//! `serve` never uses any of this. Do not point production at it.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The signing algorithms of the development issuer, one key each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, on the RSA-2048 key.
    RS256,
    /// ECDSA with SHA-256, on the P-256 key.
    ES256,
    /// Ed25519 signatures.
    EdDSA,
}

impl DevAlg {
    /// Every algorithm, in the order the JWKS lists their keys.
    pub const ALL: [DevAlg; 3] = [DevAlg::RS256, DevAlg::ES256, DevAlg::EdDSA];

    /// The JOSE `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }
}

/// One RSA-2048, one P-256 and one Ed25519 key, generated at start.
pub struct DevKeys {
    kid_prefix: String,
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    ed: Ed25519KeyPair,
    rng: SystemRandom,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl DevKeys {
    /// Generates fresh keys whose `kid`s start with `kid_prefix`.
    pub fn generate(kid_prefix: &str) -> Result<Self, aws_lc_rs::error::Unspecified> {
        Ok(Self {
            kid_prefix: kid_prefix.to_string(),
            rsa: RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)?,
            ec: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?,
            ed: Ed25519KeyPair::generate()?,
            rng: SystemRandom::new(),
        })
    }

    /// The `kid` of the key for `alg`.
    pub fn kid(&self, alg: DevAlg) -> String {
        format!("{}-{}", self.kid_prefix, alg.name().to_ascii_lowercase())
    }

    /// The public JWK of one key.
    pub fn jwk(&self, alg: DevAlg) -> Value {
        let kid = self.kid(alg);
        match alg {
            DevAlg::RS256 => {
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(self.rsa.public_key());
                json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64(&c.n), "e": b64(&c.e)})
            }
            DevAlg::ES256 => {
                let point = self.ec.public_key().as_ref();
                let (x, y) = point[1..].split_at(32);
                json!({"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64(x), "y": b64(y)})
            }
            DevAlg::EdDSA => {
                json!({"kty": "OKP", "kid": kid, "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": b64(self.ed.public_key().as_ref())})
            }
        }
    }

    /// The public JWKS with all three keys.
    pub fn jwks(&self) -> Value {
        json!({"keys": DevAlg::ALL.iter().map(|a| self.jwk(*a)).collect::<Vec<_>>()})
    }

    /// The raw signature over `input`.
    pub fn sign_bytes(&self, alg: DevAlg, input: &[u8]) -> Vec<u8> {
        match alg {
            DevAlg::RS256 => {
                let mut sig = vec![0; self.rsa.public_modulus_len()];
                // Signing with a freshly generated key and a system RNG only
                // fails if the RNG does; a dev tool may say so loudly.
                #[allow(clippy::expect_used)]
                self.rsa
                    .sign(&RSA_PKCS1_SHA256, &self.rng, input, &mut sig)
                    .expect("RSA signing");
                sig
            }
            #[allow(clippy::expect_used)]
            DevAlg::ES256 => self
                .ec
                .sign(&self.rng, input)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
            DevAlg::EdDSA => self.ed.sign(input).as_ref().to_vec(),
        }
    }

    /// A compact JWS of exactly this header and these claims.
    pub fn sign_raw(&self, alg: DevAlg, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self.sign_bytes(alg, input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// A token with the usual header: `alg`, `kid`, `typ: at+jwt`.
    pub fn mint(&self, alg: DevAlg, claims: &Value) -> String {
        let header = json!({"alg": alg.name(), "kid": self.kid(alg), "typ": "at+jwt"});
        self.sign_raw(alg, &header, claims)
    }

    /// A Security Event Token (RFC 8417) with these claims, typed
    /// `secevent+jwt` and signed with this set's `alg` key.
    pub fn security_event(&self, alg: DevAlg, claims: &Value) -> String {
        let header = json!({"alg": alg.name(), "kid": self.kid(alg), "typ": "secevent+jwt"});
        self.sign_raw(alg, &header, claims)
    }

    /// The RFC 7638 SHA-256 thumbprint of one key: a bound token's `cnf.jkt`.
    pub fn jkt(&self, alg: DevAlg) -> String {
        let jwk = self.jwk(alg);
        let members: &[&str] = match alg {
            DevAlg::RS256 => &["e", "kty", "n"],
            DevAlg::ES256 => &["crv", "kty", "x", "y"],
            DevAlg::EdDSA => &["crv", "kty", "x"],
        };
        // serde_json's map is ordered by key, as RFC 7638 wants.
        let required: serde_json::Map<String, Value> = members
            .iter()
            .map(|m| ((*m).to_string(), jwk[*m].clone()))
            .collect();
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            Value::Object(required).to_string().as_bytes(),
        );
        b64(digest.as_ref())
    }

    /// A DPoP proof (RFC 9449) for `token` on `htm htu`, made with this set's
    /// `alg` key; `extra` claims are added or, when null, removed.
    pub fn dpop_proof(
        &self,
        alg: DevAlg,
        htm: &str,
        htu: &str,
        token: &str,
        extra: &Value,
    ) -> String {
        let mut jti = [0u8; 16];
        let _ = self.rng.fill(&mut jti);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let ath =
            b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref());
        let mut claims = json!({"htm": htm, "htu": htu, "iat": now, "jti": b64(&jti), "ath": ath});
        if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if v.is_null() {
                    c.remove(k);
                } else {
                    c.insert(k.clone(), v.clone());
                }
            }
        }
        let mut jwk = self.jwk(alg);
        if let Some(j) = jwk.as_object_mut() {
            j.remove("kid");
        }
        let header = json!({"typ": "dpop+jwt", "alg": alg.name(), "jwk": jwk});
        self.sign_raw(alg, &header, &claims)
    }
}

mod issuer;

pub use issuer::serve_dev_issuer;
