//! The index, kind by kind, with a clock the tests move.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::clock::ManualClock;
use crate::revocation::model::{ExpiryRules, NewRevocation, revocation_id};

const NOW: u64 = 100_000;
const RULES: ExpiryRules = ExpiryRules {
    max_token_lifetime: 3600.0,
    leeway: 30.0,
};

fn index() -> (RevocationIndex, Arc<ManualClock>) {
    let clock = ManualClock::at(NOW);
    (RevocationIndex::new(clock.clone()), clock)
}

fn revoke(
    index: &RevocationIndex,
    kind: &str,
    value: &str,
    issuer: Option<&str>,
    cutoff: Option<f64>,
) {
    let new = NewRevocation {
        kind: kind.into(),
        value: value.into(),
        issuer: issuer.map(str::to_owned),
        issued_before: cutoff,
        expires_at: None,
        reason: None,
    };
    index.apply(&new.into_revocation(NOW as f64, &RULES, "test").unwrap());
}

fn token(iss: &str, extra: serde_json::Value) -> VerifiedClaims {
    let mut c = json!({"aud": "a", "exp": NOW + 600, "iat": NOW - 100,
        "jti": "j1", "sid": "s1", "sub": "alice"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    VerifiedClaims::for_test(iss, c)
}

#[test]
fn each_kind_matches_its_claim() {
    let cases: Vec<(&str, &str, Option<f64>, serde_json::Value, bool)> = vec![
        ("jti", "j1", None, json!({}), true),
        ("jti", "j2", None, json!({}), false),
        ("sid", "s1", None, json!({}), true),
        ("sub", "alice", Some(NOW as f64), json!({}), true),
        (
            "sub",
            "alice",
            Some(NOW as f64),
            json!({"iat": NOW + 1}),
            false,
        ),
        ("sub", "alice", Some(NOW as f64 - 100.0), json!({}), false),
        ("sub", "bob", Some(NOW as f64), json!({}), false),
        ("iss", "https://a", Some(NOW as f64), json!({}), true),
        ("iss", "https://b", Some(NOW as f64), json!({}), false),
    ];
    for (kind, value, cutoff, extra, revoked) in cases {
        let (index, _) = index();
        revoke(&index, kind, value, None, cutoff);
        assert_eq!(
            index.is_revoked(&token("https://a", extra.clone())),
            revoked,
            "{kind} {value} {cutoff:?} {extra}"
        );
    }
}

#[test]
fn an_issuer_bound_entry_matches_only_that_issuer() {
    let (index, _) = index();
    revoke(&index, "sub", "alice", Some("https://a"), Some(NOW as f64));
    assert!(index.is_revoked(&token("https://a", json!({}))));
    assert!(!index.is_revoked(&token("https://b", json!({}))));
    revoke(&index, "jti", "j1", None, None);
    assert!(
        index.is_revoked(&token("https://b", json!({}))),
        "unbound: every issuer"
    );
}

#[test]
fn entries_stop_matching_when_they_expire_and_sweep_drops_them() {
    let (index, clock) = index();
    revoke(&index, "jti", "j1", None, None);
    let t = token("https://a", json!({}));
    assert!(index.is_revoked(&t));
    // Kept while a token issued by then, stamped up to the largest leeway
    // (5 min) ahead, is accepted under that leeway.
    clock.advance(Duration::from_secs(300 + 3600 + 299));
    assert!(index.is_revoked(&t), "still within the leeway");
    clock.advance(Duration::from_secs(2));
    assert!(!index.is_revoked(&t));
    assert_eq!(index.sweep(), 1);
    assert!(index.is_empty());
}

#[test]
fn a_repeat_widens_and_a_lift_removes() {
    let (index, _) = index();
    revoke(&index, "sub", "alice", None, Some(NOW as f64 - 200.0));
    revoke(&index, "sub", "alice", None, Some(NOW as f64));
    revoke(&index, "sub", "alice", None, Some(NOW as f64 - 300.0));
    assert!(
        index.is_revoked(&token("https://a", json!({}))),
        "the later cut-off won"
    );
    let id = revocation_id(Kind::Sub, None, "alice");
    assert!(index.contains(&id));
    assert!(!index.remove(&id.to_uppercase()), "only the canonical id");
    assert!(index.remove(&id));
    assert!(!index.is_revoked(&token("https://a", json!({}))));
    assert_eq!(index.active_by_kind()[2], (Kind::Sub, 0));
}
