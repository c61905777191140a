//! The pipeline's steps in order, with a fake revocation check and keys
//! from a file: which step decides, and what an allow carries.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::clock::{ManualClock, SharedClock};
use crate::config::Config;
use crate::dev::{DevAlg, DevKeys};
use crate::keys::http_client;

const NOW: u64 = 1_800_000_000;
const ISSUER: &str = "https://issuer.test";

/// Revokes exactly the tokens whose `jti` is "revoked".
struct RevokedJti;

impl RevocationCheck for RevokedJti {
    fn is_revoked(&self, claims: &VerifiedClaims) -> bool {
        claims.jti() == Some("revoked")
    }
}

struct Fixture {
    authorizer: Authorizer,
    keys: DevKeys,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    crate::install_crypto_provider();
    let keys = DevKeys::generate("unit").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jwks.json"), keys.jwks().to_string()).unwrap();
    let yaml = format!(
        "issuers:\n  - issuer: {ISSUER}\n    jwks_file: jwks.json\n    audiences: [api]\n\
         revocations: {{ store: memory }}\n\
         policies:\n\
         \x20 - name: health\n    match: {{ path: {{ exact: /healthz }} }}\n    anonymous: true\n\
         \x20 - name: mesh\n    match: {{ path: {{ prefix: /internal/ }} }}\n    principals: [spiffe://td/ns/a/sa/b]\n    anonymous: true\n\
         \x20 - name: orders\n    match: {{ hosts: [shop.test], path: {{ prefix: /orders }} }}\n    scopes: [orders:read]\n"
    );
    let config = Config::from_yaml(&yaml, dir.path()).unwrap();
    let clock: SharedClock = ManualClock::at(NOW);
    let (snapshot, fresh) = Snapshot::build(config, None, &http_client(), &clock);
    for k in fresh {
        k.refresh().await;
    }
    Fixture {
        authorizer: Authorizer::new(snapshot, Arc::new(RevokedJti), Arc::new(LogRecorder)),
        keys,
        _dir: dir,
    }
}

impl Fixture {
    fn token(&self, extra: Value) -> String {
        let mut c = json!({"iss": ISSUER, "aud": "api", "sub": "alice", "iat": NOW, "exp": NOW + 300,
            "jti": "j", "scope": "orders:read"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        self.keys.mint(DevAlg::RS256, &c)
    }

    /// The policy and denial label of a decision ("allow" for an allow).
    async fn decide(
        &self,
        host: &str,
        path: &str,
        bearer: Option<&str>,
        principal: Option<&str>,
    ) -> (Option<String>, &'static str) {
        let authorization = bearer.map(|t| format!("Bearer {t}"));
        let input = CheckInput {
            host,
            path,
            method: "GET",
            authorization: authorization.as_deref(),
            principal,
            ..CheckInput::default()
        };
        match self.authorizer.check(&input).await {
            Decision::Allow(a) => (Some(a.policy.to_string()), "allow"),
            Decision::Deny(d) => (d.policy.as_deref().map(str::to_owned), d.reason.label()),
        }
    }
}

/// (name, host, path, token, principal, (policy, label))
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Option<String>,
    Option<&'static str>,
    (Option<&'static str>, &'static str),
);

#[tokio::test]
async fn the_first_failing_step_decides() {
    let f = fixture().await;
    let good = f.token(json!({}));
    let table: Vec<Row> = vec![
        (
            "no policy fits",
            "shop.test",
            "/nothing",
            Some(good.clone()),
            None,
            (None, "no_matching_policy"),
        ),
        (
            "anonymous",
            "any",
            "/healthz",
            None,
            None,
            (Some("health"), "allow"),
        ),
        (
            "principal listed",
            "any",
            "/internal/x",
            None,
            Some("spiffe://td/ns/a/sa/b"),
            (Some("mesh"), "allow"),
        ),
        (
            "principal not listed",
            "any",
            "/internal/x",
            None,
            Some("spiffe://td/ns/x/sa/y"),
            (Some("mesh"), "principal_not_allowed"),
        ),
        (
            "no principal",
            "any",
            "/internal/x",
            None,
            None,
            (Some("mesh"), "principal_not_allowed"),
        ),
        (
            "no token",
            "shop.test",
            "/orders",
            None,
            None,
            (Some("orders"), "missing_token"),
        ),
        (
            "valid token",
            "SHOP.test.:443",
            "/orders/7",
            Some(good),
            None,
            (Some("orders"), "allow"),
        ),
        (
            "revoked",
            "shop.test",
            "/orders",
            Some(f.token(json!({"jti": "revoked"}))),
            None,
            (Some("orders"), "token_revoked"),
        ),
        (
            "expired",
            "shop.test",
            "/orders",
            Some(f.token(json!({"exp": NOW - 60}))),
            None,
            (Some("orders"), "token_expired"),
        ),
        (
            "scope missing",
            "shop.test",
            "/orders",
            Some(f.token(json!({"scope": "x"}))),
            None,
            (Some("orders"), "insufficient_scope"),
        ),
        (
            "other host",
            "evil.test",
            "/orders",
            Some(f.token(json!({}))),
            None,
            (None, "no_matching_policy"),
        ),
    ];
    for (name, host, path, token, principal, (policy, label)) in table {
        let got = f.decide(host, path, token.as_deref(), principal).await;
        assert_eq!(got, (policy.map(str::to_owned), label), "{name}");
    }
}

#[tokio::test]
async fn an_allow_sets_identity_and_strips_the_rest() {
    let f = fixture().await;
    let token = f.token(json!({"sid": "s-1"}));
    let input = CheckInput {
        host: "shop.test",
        path: "/orders",
        method: "GET",
        authorization: Some(&format!("Bearer {token}")),
        ..CheckInput::default()
    };
    let Decision::Allow(allow) = f.authorizer.check(&input).await else {
        panic!("denied");
    };
    let set: Vec<(&str, &str)> = allow
        .set_headers
        .iter()
        .map(|(h, v)| (h.as_str(), v.as_str()))
        .collect();
    assert!(set.contains(&("x-auth-subject", "alice")), "{set:?}");
    assert!(set.contains(&("x-auth-session", "s-1")), "{set:?}");
    assert!(set.contains(&("x-auth-policy", "orders")), "{set:?}");
    // No acr in the token: its header is removed, never passed through.
    assert!(
        allow
            .remove_headers
            .iter()
            .any(|h| h.as_str() == "x-auth-acr")
    );
    for (h, _) in &allow.set_headers {
        assert!(
            !allow.remove_headers.contains(h),
            "{h} both set and removed"
        );
    }
}

#[tokio::test]
async fn a_token_verified_before_does_not_excuse_the_characters_around_it() {
    // The character check is skipped for a token found in the cache: only
    // the very token stored can be found, never one with more around it.
    let f = fixture().await;
    let good = f.token(json!({}));
    let first = f.decide("shop.test", "/orders", Some(&good), None).await;
    assert_eq!(first, (Some("orders".to_owned()), "allow"));
    for spelling in [
        format!("{good},Bearer {good}"),
        format!("{good},"),
        format!("{good}\"x"),
        format!("{good} x"),
        format!("{good}\tx"),
    ] {
        let got = f
            .decide("shop.test", "/orders", Some(&spelling), None)
            .await;
        assert_eq!(
            got,
            (Some("orders".to_owned()), "malformed_request"),
            "{spelling:?}"
        );
    }
    let again = f.decide("shop.test", "/orders", Some(&good), None).await;
    assert_eq!(again, (Some("orders".to_owned()), "allow"));
}

#[tokio::test]
async fn a_host_a_url_parser_reads_as_another_is_refused() {
    let f = fixture().await;
    let good = f.token(json!({}));
    for host in [
        "user@shop.test",
        "@shop.test",
        "x@evil.test:443",
        "%73hop.test",
        "shop%2etest",
        "shop.test,evil.test",
        "shop.test ",
        "shop.test/x",
        "[shop.test]:443",
        "[shop.test]",
    ] {
        let got = f.decide(host, "/orders", Some(&good), None).await;
        assert_eq!(got, (None, "unreadable_host"), "{host:?}");
    }
    for host in ["shop.test", "SHOP.test.:443", "shop.test:abc"] {
        let got = f.decide(host, "/orders", Some(&good), None).await;
        assert_eq!(got, (Some("orders".to_owned()), "allow"), "{host:?}");
    }
    for host in ["[::1]:80", "10.0.0.5", "under_score.test", ""] {
        let got = f.decide(host, "/nothing", Some(&good), None).await;
        assert_eq!(got, (None, "no_matching_policy"), "{host:?}");
    }
}
