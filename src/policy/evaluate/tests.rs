//! Step 10, one requirement at a time.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::policy::{ClaimCondition, PathMatch, RouteMatch};
use crate::token::TokenLimits;

const LEVELS: [&str; 3] = ["pwd", "mfa", "phr"];
const NOW: f64 = 10_000.0;
const LEEWAY: f64 = 30.0;

fn policy() -> Policy {
    Policy {
        name: "p".into(),
        tier: None,
        route: RouteMatch::new(Vec::new(), PathMatch::Any, Vec::new()).unwrap(),
        anonymous: false,
        principals: Vec::new(),
        scopes: vec!["orders:read".into()],
        claims: vec![ClaimCondition {
            claim: "role".into(),
            allowed: vec!["admin".into(), "clerk".into()],
        }],
        min_acr: Some(AcrRequirement {
            rank: 1,
            acr_values: "mfa phr".into(),
        }),
        max_auth_age: Some(Duration::from_secs(300)),
        token_limits: TokenLimits::default(),
        remove_authorization: false,
        rego: None,
        sender_constraint: None,
    }
}

fn check(extra: Value) -> Result<(), Unmet> {
    let mut claims = json!({"aud": "a", "exp": NOW + 60.0, "scope": "orders:read x",
        "role": "clerk", "acr": "mfa", "auth_time": NOW - 10.0});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    let claims = VerifiedClaims::for_test("https://i", claims);
    let rank = |acr: &str| LEVELS.iter().position(|l| *l == acr);
    check_requirements(&policy(), &claims, rank, NOW, LEEWAY)
}

fn step_up(acr: Option<&str>, max_age: Option<u64>) -> Result<(), Unmet> {
    Err(Unmet::StepUp {
        acr_values: acr.map(str::to_owned),
        max_age,
    })
}

#[test]
fn each_requirement_in_order() {
    let scope = Err(Unmet::InsufficientScope {
        required: "orders:read".into(),
    });
    let claim = Err(Unmet::ClaimMismatch {
        claim: "role".into(),
    });
    let table: Vec<(&str, Value, Result<(), Unmet>)> = vec![
        ("everything met", json!({}), Ok(())),
        ("scope missing", json!({"scope": "x"}), scope.clone()),
        (
            "scp counts when scope is absent",
            json!({"scope": null, "scp": ["orders:read"]}),
            Ok(()),
        ),
        (
            "scope checked before claims",
            json!({"scope": "x", "role": "guest"}),
            scope,
        ),
        ("claim not allowed", json!({"role": "guest"}), claim.clone()),
        ("claim missing", json!({"role": null}), claim.clone()),
        ("claim of another type", json!({"role": 7}), claim),
        (
            "array claim: any element",
            json!({"role": ["guest", "admin"]}),
            Ok(()),
        ),
        (
            "acr below the level",
            json!({"acr": "pwd"}),
            step_up(Some("mfa phr"), None),
        ),
        (
            "acr unknown",
            json!({"acr": "gold"}),
            step_up(Some("mfa phr"), None),
        ),
        (
            "acr missing",
            json!({"acr": null}),
            step_up(Some("mfa phr"), None),
        ),
        ("acr above the level", json!({"acr": "phr"}), Ok(())),
        (
            "auth too old",
            json!({"auth_time": NOW - 331.0}),
            step_up(None, Some(300)),
        ),
        (
            "auth age within leeway",
            json!({"auth_time": NOW - 329.0}),
            Ok(()),
        ),
        (
            "auth_time missing",
            json!({"auth_time": null}),
            step_up(None, Some(300)),
        ),
        (
            "both in one challenge",
            json!({"acr": "pwd", "auth_time": NOW - 1000.0}),
            step_up(Some("mfa phr"), Some(300)),
        ),
    ];
    for (name, extra, expected) in table {
        assert_eq!(check(extra), expected, "{name}");
    }
}
