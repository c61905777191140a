//! Certificate-bound tokens and sender constraints.

use serde_json::json;

use super::World;
use crate::binding::*;
use crate::token::Scheme;

#[test]
fn a_certificate_bound_token_needs_that_certificate() {
    let w = World::new();
    let cert = rcgen::generate_simple_self_signed(vec!["client.example".into()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["client.example".into()]).unwrap();
    let encoded = |pem: &str| {
        percent_encoding::utf8_percent_encode(pem, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let pem = encoded(&cert.cert.pem());
    let x5t = certificate_thumbprint(&pem).unwrap();
    let claims = w.claims(json!({"x5t#S256": x5t}));
    let check = |certificate: Option<&str>| {
        let presented = Presentation {
            client_certificate: certificate,
            method: "GET",
            ..Presentation::default()
        };
        let cx = BindingContext {
            settings: &w.settings,
            leeway: Duration::ZERO,
            replay: &w.replay,
            now: w.now,
        };
        check_binding(&claims, Scheme::Bearer, "tok", &presented, &cx)
    };
    assert_eq!(
        check(Some(&pem)),
        Ok(Proven {
            dpop: false,
            mtls: true
        })
    );
    assert_eq!(
        check(Some(&encoded(&other.cert.pem()))),
        Err(BindingError::CertificateMismatch)
    );
    assert_eq!(check(None), Err(BindingError::CertificateMismatch));
    assert_eq!(
        check(Some("not%20a%20certificate")),
        Err(BindingError::CertificateMismatch)
    );
    // The DER's hash, as RFC 8705 defines it.
    use base64::Engine;
    let der_hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.cert.der());
    assert_eq!(
        x5t,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(der_hash)
    );
}

#[test]
fn constraints_are_met_only_by_what_was_proven() {
    let dpop = Proven {
        dpop: true,
        mtls: false,
    };
    let mtls = Proven {
        dpop: false,
        mtls: true,
    };
    assert!(SenderConstraint::Dpop.met_by(dpop) && !SenderConstraint::Dpop.met_by(mtls));
    assert!(SenderConstraint::Mtls.met_by(mtls) && !SenderConstraint::Mtls.met_by(dpop));
    assert!(SenderConstraint::Any.met_by(dpop) && SenderConstraint::Any.met_by(mtls));
    assert!(!SenderConstraint::Any.met_by(Proven::default()));
}
