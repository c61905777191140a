use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::dev::{DevAlg, DevKeys};
use crate::token::VerifiedClaims;

const ISS: &str = "https://idp.example";
const HTU: &str = "https://api.example/orders/7";

struct World {
    keys: DevKeys,
    settings: DpopSettings,
    replay: ReplayCaches,
    now: f64,
}

impl World {
    fn new() -> Self {
        crate::install_crypto_provider();
        Self {
            keys: DevKeys::generate("client").unwrap(),
            settings: DpopSettings::default(),
            replay: ReplayCaches::default(),
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64(),
        }
    }

    fn claims(&self, cnf: Value) -> VerifiedClaims {
        let mut c = json!({"iss": ISS, "aud": "api", "sub": "alice", "exp": self.now + 300.0});
        if !cnf.is_null() {
            c["cnf"] = cnf;
        }
        VerifiedClaims::for_test(ISS, c)
    }

    fn bound(&self) -> VerifiedClaims {
        self.claims(json!({"jkt": self.keys.jkt(DevAlg::ES256)}))
    }

    fn proof(&self, token: &str, extra: Value) -> String {
        self.keys
            .dpop_proof(DevAlg::ES256, "GET", HTU, token, &extra)
    }

    fn check(
        &self,
        claims: &VerifiedClaims,
        scheme: Scheme,
        token: &str,
        proof: Option<&str>,
    ) -> Result<Proven, BindingError> {
        self.check_at(
            claims,
            scheme,
            token,
            proof,
            ("https", "api.example", "/orders/7"),
        )
    }

    fn check_at(
        &self,
        claims: &VerifiedClaims,
        scheme: Scheme,
        token: &str,
        proof: Option<&str>,
        (s, host, path): (&str, &str, &str),
    ) -> Result<Proven, BindingError> {
        let presented = Presentation {
            dpop: proof,
            method: "GET",
            uri: RequestUri {
                scheme: s,
                forwarded_proto: None,
                host,
                path,
            },
            client_certificate: None,
        };
        let cx = BindingContext {
            settings: &self.settings,
            leeway: Duration::from_secs(30),
            replay: &self.replay,
            now: self.now,
        };
        check_binding(claims, scheme, token, &presented, &cx)
    }
}

fn proof_error(r: Result<Proven, BindingError>) -> ProofError {
    match r {
        Err(BindingError::Proof(e)) => e,
        other => panic!("expected a proof error, got {other:?}"),
    }
}

#[test]
fn a_bound_token_with_its_proof_is_proven_once() {
    let w = World::new();
    let proof = w.proof("tok", json!({}));
    let proven = w
        .check(&w.bound(), Scheme::Dpop, "tok", Some(&proof))
        .unwrap();
    assert_eq!(
        proven,
        Proven {
            dpop: true,
            mtls: false
        }
    );
    assert_eq!(
        proof_error(w.check(&w.bound(), Scheme::Dpop, "tok", Some(&proof))),
        ProofError::Replayed
    );
}

#[test]
fn bound_and_unbound_tokens_in_the_wrong_scheme_are_refused() {
    let w = World::new();
    assert_eq!(
        w.check(&w.bound(), Scheme::Bearer, "tok", None),
        Err(BindingError::BoundTokenAsBearer)
    );
    let proof = w.proof("tok", json!({}));
    // A proof beside a Bearer token changes nothing.
    assert_eq!(
        w.check(&w.bound(), Scheme::Bearer, "tok", Some(&proof)),
        Err(BindingError::BoundTokenAsBearer)
    );
    assert_eq!(
        w.check(&w.claims(Value::Null), Scheme::Dpop, "tok", Some(&proof)),
        Err(BindingError::UnboundTokenAsDpop)
    );
    assert_eq!(
        w.check(&w.claims(Value::Null), Scheme::Bearer, "tok", None),
        Ok(Proven::default())
    );
    assert_eq!(
        w.check(&w.claims(json!("jkt")), Scheme::Bearer, "tok", None),
        Err(BindingError::MalformedCnf)
    );
    assert_eq!(
        w.check(&w.claims(json!({"jkt": 7})), Scheme::Dpop, "tok", None),
        Err(BindingError::MalformedCnf)
    );
    // Confirmation methods this service cannot check are not bearer tokens either.
    for cnf in [
        json!({}),
        json!({"jwk": {"kty": "EC"}}),
        json!({"kid": "k"}),
        json!({"x5t": "AAAA"}),
        json!({"jkt": "x", "jwk": {}}),
    ] {
        let r = w.check(&w.claims(cnf.clone()), Scheme::Bearer, "tok", None);
        assert_eq!(r, Err(BindingError::MalformedCnf), "{cnf}");
    }
}

#[test]
fn every_claim_of_the_proof_is_checked() {
    let w = World::new();
    let old = w.now - 200.0;
    let cases: Vec<(Value, ProofError)> = vec![
        (json!({"htm": "POST"}), ProofError::Htm),
        (
            json!({"htu": "https://api.example/orders/8"}),
            ProofError::Htu,
        ),
        (
            json!({"htu": "https://evil.example/orders/7"}),
            ProofError::Htu,
        ),
        (
            json!({"htu": "http://api.example/orders/7"}),
            ProofError::Htu,
        ),
        (json!({"htu": null}), ProofError::Htu),
        (json!({"iat": old}), ProofError::Iat),
        (json!({"iat": w.now + 200.0}), ProofError::Iat),
        (json!({"iat": "now"}), ProofError::Iat),
        (json!({"ath": "AAAA"}), ProofError::Ath),
        (json!({"ath": null}), ProofError::Ath),
        (json!({"jti": null}), ProofError::Jti),
        (json!({"jti": ""}), ProofError::Jti),
        (json!({"jti": "x".repeat(300)}), ProofError::Jti),
    ];
    for (extra, expected) in cases {
        let proof = w.proof("tok", extra.clone());
        assert_eq!(
            proof_error(w.check(&w.bound(), Scheme::Dpop, "tok", Some(&proof))),
            expected,
            "{extra}"
        );
    }
    // ath binds the proof to its token: the same proof with another token fails.
    let proof = w.proof("tok", json!({}));
    assert_eq!(
        proof_error(w.check(&w.bound(), Scheme::Dpop, "other", Some(&proof))),
        ProofError::Ath
    );
}

#[test]
fn htu_is_compared_after_normalisation() {
    let w = World::new();
    for (htu, (scheme, host, path)) in [
        (
            "HTTPS://API.Example:443/orders/7",
            ("https", "api.example", "/orders/7"),
        ),
        (
            "https://api.example/orders/7?x=1#f",
            ("https", "api.example", "/orders/7"),
        ),
        (
            "https://api.example/a/%7euser",
            ("https", "api.example", "/a/~user"),
        ),
        (
            "https://api.example/a/%2f",
            ("https", "api.example:443", "/a/%2F"),
        ),
        (
            "https://api.example/a/./b/../c",
            ("https", "API.EXAMPLE", "/a/c"),
        ),
        (
            "http://api.example:8080/",
            ("http", "api.example:8080", "/"),
        ),
    ] {
        let proof = w
            .keys
            .dpop_proof(DevAlg::ES256, "GET", htu, "tok", &json!({}));
        let r = w.check_at(
            &w.bound(),
            Scheme::Dpop,
            "tok",
            Some(&proof),
            (scheme, host, path),
        );
        assert!(r.is_ok(), "{htu} vs {scheme}://{host}{path}: {r:?}");
    }
    assert_eq!(normalize_htu("ftp://api.example/"), None);
    assert_eq!(normalize_htu("https://user@api.example/"), None);
    assert_eq!(normalize_htu("/orders"), None);
    assert_eq!(normalize_htu("https://api.example/orders/7 "), None);
    assert_eq!(normalize_htu(" https://api.example/orders/7"), None);
    assert_eq!(normalize_htu("https://api.example/or\tders/7"), None);
}

#[test]
fn the_proof_itself_must_be_sound() {
    let w = World::new();
    let good = w.proof("tok", json!({}));
    let (h, rest) = good.split_once('.').unwrap();
    let (p, _sig) = rest.split_once('.').unwrap();
    let sign = |header: Value| {
        w.keys.sign_raw(
            DevAlg::ES256,
            &header,
            &serde_json::from_slice::<Value>(&base64_decode(p)).unwrap(),
        )
    };
    let jwk = w.keys.jwk(DevAlg::ES256);
    let mut private = jwk.clone();
    private["d"] = json!("AAAA");
    let mut shouted_private = jwk.clone();
    shouted_private["D"] = json!("AAAA");
    let other = DevKeys::generate("other").unwrap();
    let cases: Vec<(String, ProofError)> = vec![
        (
            sign(json!({"typ": "JWT", "alg": "ES256", "jwk": jwk})),
            ProofError::Typ,
        ),
        (
            sign(json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk})),
            ProofError::Alg,
        ),
        (
            sign(json!({"typ": "dpop+jwt", "alg": "none", "jwk": jwk})),
            ProofError::Alg,
        ),
        (
            sign(json!({"typ": "dpop+jwt", "alg": "ES256"})),
            ProofError::Jwk,
        ),
        (
            sign(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private})),
            ProofError::Jwk,
        ),
        (
            sign(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": w.keys.jwk(DevAlg::RS256)})),
            ProofError::Jwk,
        ),
        (
            sign(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": other.jwk(DevAlg::ES256)})),
            ProofError::Signature,
        ),
        (
            sign(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk, "crit": ["x"]})),
            ProofError::Malformed,
        ),
        // Not a plain signature, or a member spelt so that another reader
        // takes it for one read here.
        (
            sign(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk, "CRIT": ["x"]})),
            ProofError::Malformed,
        ),
        (
            sign(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk, "enc": null})),
            ProofError::Malformed,
        ),
        (
            sign(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk, "b64": false})),
            ProofError::Malformed,
        ),
        (
            sign(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": shouted_private})),
            ProofError::Jwk,
        ),
        (
            w.keys.dpop_proof(
                DevAlg::ES256,
                "GET",
                HTU,
                "tok",
                &json!({"htm": null, "HTM": "GET"}),
            ),
            ProofError::Malformed,
        ),
        (format!("{h}.{p}"), ProofError::Malformed),
        (format!("{h}.{p}.AAAA"), ProofError::Signature),
        (format!("{good},{good}"), ProofError::Multiple),
        ("x".repeat(9000), ProofError::TooLarge),
    ];
    for (proof, expected) in cases {
        assert_eq!(
            proof_error(w.check(&w.bound(), Scheme::Dpop, "tok", Some(&proof))),
            expected
        );
    }
    assert_eq!(
        proof_error(w.check(&w.bound(), Scheme::Dpop, "tok", None)),
        ProofError::Missing
    );
    // Another key's valid proof: not the key the token is bound to.
    let foreign = other.dpop_proof(DevAlg::ES256, "GET", HTU, "tok", &json!({}));
    assert_eq!(
        proof_error(w.check(&w.bound(), Scheme::Dpop, "tok", Some(&foreign))),
        ProofError::KeyMismatch
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

#[test]
fn every_proof_algorithm_of_the_dev_keys_works_when_allowed() {
    let mut w = World::new();
    for alg in DevAlg::ALL {
        let claims = w.claims(json!({"jkt": w.keys.jkt(alg)}));
        let proof = w.keys.dpop_proof(alg, "GET", HTU, "tok", &json!({}));
        assert!(
            w.check(&claims, Scheme::Dpop, "tok", Some(&proof)).is_ok(),
            "{alg:?}"
        );
    }
    w.settings.algorithms = vec![jsonwebtoken::Algorithm::ES256];
    let claims = w.claims(json!({"jkt": w.keys.jkt(DevAlg::EdDSA)}));
    let proof = w
        .keys
        .dpop_proof(DevAlg::EdDSA, "GET", HTU, "tok", &json!({}));
    assert_eq!(
        proof_error(w.check(&claims, Scheme::Dpop, "tok", Some(&proof))),
        ProofError::Alg
    );
}

#[test]
fn nonces_are_asked_for_and_then_accepted_on_any_replica() {
    let mut w = World::new();
    let key = NonceKey::new(&[7u8; 32]);
    w.settings.nonce = Some(NonceSettings {
        key: key.clone(),
        lifetime: Duration::from_secs(300),
    });
    let no_nonce = w.proof("tok", json!({}));
    let Err(BindingError::UseNonce { nonce }) =
        w.check(&w.bound(), Scheme::Dpop, "tok", Some(&no_nonce))
    else {
        panic!("a nonce should be asked for");
    };
    // Asking for a nonce does not use up the proof's jti … but it is a new proof anyway.
    let with = w.proof("tok", json!({"nonce": nonce}));
    assert!(
        w.check(&w.bound(), Scheme::Dpop, "tok", Some(&with))
            .is_ok()
    );
    // Another replica, same key: accepts it; a different key does not.
    let other_replica = NonceKey::new(&[7u8; 32]);
    assert_eq!(
        other_replica.check(ISS, &nonce, w.now, Duration::from_secs(300)),
        nonce::Freshness::Fresh
    );
    assert_eq!(
        NonceKey::new(&[8u8; 32]).check(ISS, &nonce, w.now, Duration::from_secs(300)),
        nonce::Freshness::Stale
    );
    // Another issuer's nonce, a stale one, a forged one.
    assert_eq!(
        key.check(
            "https://other.example",
            &nonce,
            w.now,
            Duration::from_secs(300)
        ),
        nonce::Freshness::Stale
    );
    assert_eq!(
        key.check(ISS, &nonce, w.now + 700.0, Duration::from_secs(300)),
        nonce::Freshness::Stale
    );
    assert_eq!(
        key.check(ISS, &nonce, w.now + 300.0, Duration::from_secs(300)),
        nonce::Freshness::Fresh
    );
    let (slot, _) = nonce.split_once('.').unwrap();
    assert_eq!(
        key.check(
            ISS,
            &format!("{slot}.AAAAAAAAAAAAAAAAAAAAAAAA"),
            w.now,
            Duration::from_secs(300)
        ),
        nonce::Freshness::Stale
    );
    // Only the spelling it was issued in.
    for spelled in [
        format!("+{nonce}"),
        format!("0{nonce}"),
        format!(" {nonce}"),
    ] {
        let fresh = key.check(ISS, &spelled, w.now, Duration::from_secs(300));
        assert_eq!(fresh, nonce::Freshness::Stale, "{spelled}");
    }
    let stale = w.proof("tok", json!({"nonce": "1.AAAA"}));
    assert!(matches!(
        w.check(&w.bound(), Scheme::Dpop, "tok", Some(&stale)),
        Err(BindingError::UseNonce { .. })
    ));
}

mod certificates;
