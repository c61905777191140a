//! Tokens and requests at the edges an attacker probes: other JWT types,
//! times far ahead, extreme numbers, hosts spelled another way, and keys
//! rotated while checks run.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::app::{check_request, http_mut};
use common::{KeyServer, Serve, TestApp, now, standard_config};
use envoy_types::pb::envoy::service::auth::v3::CheckRequest;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use proptest::prelude::*;
use serde_json::{Value, json};
use zt_authz::dev::{DevAlg, DevKeys};

/// (status, body) of a Check: 200 for allow.
async fn outcome(app: &TestApp, request: &CheckRequest) -> (i32, String) {
    let response = app.check(request).await;
    assert!(response.status.is_some(), "status is always set");
    match response.http_response {
        Some(HttpResponse::OkResponse(_)) => (200, String::new()),
        Some(HttpResponse::DeniedResponse(d)) => (d.status.unwrap().code, d.body),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn jwts_typed_as_something_else_are_never_access_tokens() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    // The second issuer requires no typ: explicit typing still counts.
    let app = TestApp::start(&standard_config(&ks, &other)).await;
    let claims = other.claims(json!({}));
    for typ in [
        "logout+jwt",
        "secevent+jwt",
        "dpop+jwt",
        "id_token+jwt",
        "application/logout+jwt",
        "token-introspection+jwt",
        // Without a required_typ only JWT and at+jwt are access tokens.
        "JOSE",
        "JWT ",
        "jwt+at",
        "at+jwt\u{0}",
        "at+JWT;x",
    ] {
        let header = json!({"alg": "RS256", "kid": other.keys.kid(DevAlg::RS256), "typ": typ});
        let token = other.keys.sign_raw(DevAlg::RS256, &header, &claims);
        let (status, body) = app.outcome("/orders", &token).await;
        assert_eq!(status, 401, "{typ}: {body}");
        assert!(body.contains("not as an access token"), "{typ}: {body}");
    }
    for typ in [
        "JWT",
        "jwt",
        "application/jwt",
        "at+jwt",
        "application/at+jwt",
    ] {
        let header = json!({"alg": "RS256", "kid": other.keys.kid(DevAlg::RS256), "typ": typ});
        let token = other.keys.sign_raw(DevAlg::RS256, &header, &claims);
        assert_eq!(app.outcome("/orders", &token).await.0, 200, "{typ}");
    }
}

#[tokio::test]
async fn tokens_that_outlive_revocations_are_refused() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml = standard_config(&ks, &other)
        + "\nrevocations:\n  store: memory\n  max_token_lifetime: 1h\n";
    let app = TestApp::start(&yaml).await;
    let t = now();
    // /profile has no lifetime limit of its own.
    let week = ks.token(json!({"iat": t, "exp": t + 7 * 86_400}));
    let (status, body) = app.outcome("/profile", &week).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("longer than revocations are kept"), "{body}");
    // Issued long ago and expiring soon, but minted to live longer than a
    // sub cut-off is kept.
    let long = ks.token(json!({"iat": t - 7200, "exp": t + 60}));
    let (status, body) = app.outcome("/profile", &long).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("lifetime"), "{body}");
    // Without iat no lifetime can be judged.
    let no_iat = ks.token(json!({"iat": null}));
    assert_eq!(app.outcome("/profile", &no_iat).await.0, 401);
    let fine = ks.token(json!({"iat": t, "exp": t + 3000}));
    assert_eq!(app.outcome("/profile", &fine).await.0, 200);
}

/// A token whose jti, sid or sub is empty or longer than a revocation can
/// name could never be revoked by it: it is refused. At the limit it is
/// accepted, and revoking it by that value works.
#[tokio::test]
async fn every_accepted_token_can_be_revoked_by_its_ids() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&standard_config(&ks, &other)).await;
    let limit = zt_authz::revocation::MAX_REVOCATION_VALUE;
    for claim in ["jti", "sid", "sub"] {
        let too_long = ks.token(json!({ claim: "x".repeat(limit + 1) }));
        let (status, body) = app.outcome("/orders", &too_long).await;
        assert_eq!(status, 401, "{claim}: {body}");
        assert!(
            body.contains("longer than a revocation can name"),
            "{claim}: {body}"
        );

        let empty = ks.token(json!({ claim: "" }));
        let (status, body) = app.outcome("/orders", &empty).await;
        assert_eq!(status, 401, "{claim}: {body}");
        assert!(body.contains("is empty"), "{claim}: {body}");

        let value = format!("{claim}-{}", "y".repeat(limit - claim.len() - 1));
        assert_eq!(value.len(), limit);
        let at_limit = ks.token(json!({ claim: value }));
        assert_eq!(app.outcome("/orders", &at_limit).await.0, 200, "{claim}");
        app.running
            .revocations
            .revoke(zt_authz::revocation::NewRevocation {
                kind: claim.into(),
                value,
                issuer: None,
                issued_before: None,
                expires_at: None,
                reason: None,
            })
            .await
            .unwrap();
        assert!(app.revoked(&at_limit).await, "{claim}");
    }
}

/// A workload reads `x-auth-scopes` by splitting on whitespace. A scope
/// with a tab or space inside (one scope to a naive reader of the claim,
/// two to the workload) must never reach it: such a token is refused. Runs
/// of spaces in `scope` are one separator, and the header says so.
#[tokio::test]
async fn scopes_a_workload_would_split_differently_are_refused() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&standard_config(&ks, &other)).await;
    // /profile requires no scope, so only the scope's form decides.
    for claims in [
        json!({"scope": "orders:read\tadmin"}),
        json!({"scope": "orders:read\u{b}admin"}),
        json!({"scope": "orders:read admin\u{e9}"}),
        json!({"scope": "say\"hi"}),
        json!({"scope": null, "scp": ["orders:read", "admin orders:write"]}),
        json!({"scope": null, "scp": ["orders:read", ""]}),
        json!({"scope": null, "scp": "orders:read\nadmin"}),
    ] {
        let token = ks.token(claims.clone());
        let (status, body) = outcome(&app, &check_request("/profile", Some(&token))).await;
        assert_eq!(status, 401, "{claims}: {body}");
        assert!(
            body.contains("not a list of scope tokens"),
            "{claims}: {body}"
        );
    }
    let token = ks.token(json!({"scope": " orders:read   admin "}));
    let response = app.check(&check_request("/profile", Some(&token))).await;
    let Some(HttpResponse::OkResponse(ok)) = response.http_response else {
        panic!("not allowed: {response:?}")
    };
    let scopes: Vec<&str> = ok
        .headers
        .iter()
        .filter_map(|h| h.header.as_ref())
        .filter(|h| h.key == "x-auth-scopes")
        .map(|h| h.value.as_str())
        .collect();
    assert_eq!(scopes, ["orders:read admin"]);
}

#[test]
fn check_config_warns_when_an_issuer_allows_longer_tokens_than_revocations_keep() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jwks.json"), r#"{"keys":[]}"#).unwrap();
    let yaml = "issuers:\n  - issuer: https://i\n    jwks_file: jwks.json\n    audiences: [a]\n    max_token_lifetime: 48h\nrevocations:\n  store: memory\n  max_token_lifetime: 24h\n";
    let path = dir.path().join("z.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zt-authz"))
        .args(["check-config", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "warning: issuers[0].max_token_lifetime is longer than revocations.max_token_lifetime"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_auth_time_in_the_future_is_an_invalid_token() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&standard_config(&ks, &other)).await;
    let t = now();
    let admin = |auth_time: u64| {
        ks.token(
            json!({"aud": "admin-api", "scope": "admin", "acr": "phr", "auth_time": auth_time}),
        )
    };
    let (status, body) = app.outcome("/admin/x", &admin(t + 3600)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("auth_time"), "{body}");
    // Within the leeway (30 s) it still counts as now.
    assert_eq!(app.outcome("/admin/x", &admin(t + 10)).await.0, 200);
}

#[tokio::test]
async fn every_spelling_of_a_host_selects_the_same_policy() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    // The protected host first; anything else falls through to an
    // anonymous catch-all, the worst place for a bypass to land.
    let yaml = standard_config(&ks, &other).replace(
        "policies:\n",
        "policies:\n  - name: admin-host\n    match: { hosts: [admin.example.com] }\n    scopes: [admin]\n  - name: open\n    match: { hosts: [\"*\"] }\n    anonymous: true\n",
    );
    let app = TestApp::start(&yaml).await;
    for host in [
        "admin.example.com",
        "admin.example.com.",
        "admin.example.com:",
        "Admin.Example.com.:443",
        "ADMIN.EXAMPLE.COM:8443",
    ] {
        let mut req = check_request("/anything", None);
        let http = http_mut(&mut req);
        http.host = host.into();
        http.headers.insert(":authority".into(), host.into());
        let (status, body) = outcome(&app, &req).await;
        assert_eq!(status, 401, "{host}: {body}");
    }
}

/// Fixture for the property: an app and a key to sign claims with.
struct Fixture {
    rt: tokio::runtime::Runtime,
    app: TestApp,
    ks: KeyServer,
    _other: KeyServer,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (ks, other, app) = rt.block_on(async {
        let ks = KeyServer::start("primary").await;
        let other = KeyServer::start("other").await;
        let app = TestApp::start(&standard_config(&ks, &other)).await;
        (ks, other, app)
    });
    Fixture {
        rt,
        app,
        ks,
        _other: other,
    }
}

fn extreme() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(1e20)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(-0.0)),
        Just(json!(0)),
        Just(json!(5e-324)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(9_007_199_254_740_993u64)),
        Just(json!(-1)),
        (-1e12f64..1e12).prop_map(|f| json!(f)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No validly signed numeric claim, however extreme, panics a Check;
    /// each gets a decision, and a far-future exp is never allowed.
    #[test]
    fn extreme_numeric_claims_never_panic_a_check(
        exp in extreme(), iat in extreme(), nbf in extreme(), auth_time in extreme(),
    ) {
        thread_local!(static F: Fixture = fixture());
        F.with(|f| {
            let far = exp.as_f64().is_some_and(|e| e > now() as f64 + 86_400.0 * 2.0);
            let token = f.ks.token(json!({"exp": exp, "iat": iat, "nbf": nbf, "auth_time": auth_time}));
            let (status, _) = f.rt.block_on(f.app.outcome("/orders", &token));
            prop_assert!(!(far && status == 200), "a far-future exp was allowed");
            // Again, now possibly from the cache.
            let (again, _) = f.rt.block_on(f.app.outcome("/orders", &token));
            prop_assert_eq!(status, again);
            Ok(())
        })?;
    }
}

/// Fetches the issuer's keys now, as a scheduled refresh would.
async fn refresh_keys(app: &TestApp, ks: &KeyServer) {
    let snapshot = app.running.authorizer.snapshot();
    snapshot
        .verifier
        .trust(&ks.issuer())
        .unwrap()
        .keys
        .refresh()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_removed_while_checks_run_is_never_accepted_afterwards() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = Arc::new(TestApp::start(&standard_config(&ks, &other)).await);
    for round in 0..20 {
        ks.set(Serve::Keys);
        refresh_keys(&app, &ks).await;
        // A fresh token each round, so no earlier round cached it.
        let old = ks.token(json!({"jti": format!("round-{round}")}));
        assert_eq!(app.outcome("/orders", &old).await.0, 200, "round {round}");
        // Checks of the old token run while the issuer drops its key.
        let checks: Vec<_> = (0..8)
            .map(|_| {
                let (app, token) = (app.clone(), old.clone());
                tokio::spawn(async move {
                    for _ in 0..50 {
                        app.outcome("/orders", &token).await;
                    }
                })
            })
            .collect();
        let rotated = DevKeys::generate("rotated").unwrap();
        ks.set(Serve::Document(rotated.jwks()));
        refresh_keys(&app, &ks).await;
        for c in checks {
            c.await.unwrap();
        }
        let (status, body) = app.outcome("/orders", &old).await;
        assert_eq!(
            status, 401,
            "round {round}: a removed key still verifies: {body}"
        );
    }
}

/// RFC 7519 lets a parser keep the last of two `sub` members; a workload
/// reading the forwarded token with one that keeps the first would see
/// other claims than those decided on. A validly signed payload naming a
/// member twice, at any depth, is refused.
#[tokio::test]
async fn a_signed_payload_naming_a_member_twice_is_refused() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&standard_config(&ks, &other)).await;
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": ks.keys.kid(DevAlg::RS256)});
    let signed = |payload: String| {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(payload.as_bytes())
        );
        let signature = B64.encode(ks.keys.sign_bytes(DevAlg::RS256, input.as_bytes()));
        format!("{input}.{signature}")
    };
    let claims = ks.claims(json!({}));
    let body = claims.to_string();
    let inner = &body[1..body.len() - 1];
    // The same members once: allowed, so the signing above is sound.
    let once = signed(body.clone());
    assert_eq!(
        outcome(&app, &check_request("/orders", Some(&once)))
            .await
            .0,
        200
    );
    let past = now() - 600;
    for payload in [
        format!(r#"{{"sub":"mallory",{inner}}}"#),
        format!(r#"{{{inner},"sub":"bob"}}"#),
        format!(r#"{{"exp":{past},{inner}}}"#),
        format!(r#"{{{inner},"cnf":{{"jkt":"a","jkt":"b"}}}}"#),
        // Names a Go workload's encoding/json would read as `sub`.
        format!(r#"{{{inner},"SUB":"mallory"}}"#),
        format!(r#"{{{inner},"\u017fub":"mallory"}}"#),
        format!(r#"{{{inner},"sub\u0000":"mallory"}}"#),
    ] {
        let (status, body) = outcome(
            &app,
            &check_request("/orders", Some(&signed(payload.clone()))),
        )
        .await;
        assert_eq!(status, 401, "{payload}");
        assert!(body.contains("names a member more than once"), "{body}");
    }
    // In the header too: members the header's reader does not know, at
    // the top level or nested.
    for nested in [
        r#""x":{"a":1,"a":2},"#,
        r#""x":[{"a":1,"a":2}],"#,
        r#""cty":"a","cty":"b","#,
        r#""b64":true,"\u0062\u0036\u0034":false,"#,
    ] {
        let header = header.to_string().replacen('{', &format!("{{{nested}"), 1);
        let input = format!("{}.{}", B64.encode(&header), B64.encode(&body));
        let signature = B64.encode(ks.keys.sign_bytes(DevAlg::RS256, input.as_bytes()));
        let (status, told) = outcome(
            &app,
            &check_request("/orders", Some(&format!("{input}.{signature}"))),
        )
        .await;
        assert_eq!(status, 401, "{header}");
        assert!(told.contains("names a member more than once"), "{told}");
    }
}

/// A token's header is remembered once a token carrying it verified, so
/// that the next token under it skips reading it again. Everything else
/// is still judged: another payload under the remembered header, another
/// issuer's claims, an expired token, or a header one byte away.
#[tokio::test]
async fn a_header_seen_before_vouches_for_nothing_else() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&standard_config(&ks, &other)).await;
    let valid = ks.token(json!({}));
    let (header, _) = valid.split_once('.').unwrap();
    let signature = valid.rsplit_once('.').unwrap().1;
    let signed = |claims: &Value| {
        let input = format!("{header}.{}", B64.encode(claims.to_string()));
        let signature = B64.encode(ks.keys.sign_bytes(DevAlg::RS256, input.as_bytes()));
        format!("{input}.{signature}")
    };
    let past = now() - 600;
    for round in 0..2 {
        // From the first allow on, the header is remembered; a refusal
        // stays a refusal when sent again.
        assert_eq!(
            outcome(&app, &check_request("/orders", Some(&valid)))
                .await
                .0,
            200
        );
        for (token, why) in [
            (
                format!(
                    "{header}.{}.{signature}",
                    B64.encode(ks.claims(json!({"sub": "mallory"})).to_string())
                ),
                "signature is invalid",
            ),
            (
                signed(&other.claims(json!({}))),
                "no key of the issuer matches",
            ),
            (
                signed(&ks.claims(json!({"iat": past - 60, "exp": past}))),
                "expired",
            ),
            (
                format!("{header}A.{}", valid.split_once('.').unwrap().1),
                "header is not valid",
            ),
        ] {
            let (status, body) = outcome(&app, &check_request("/orders", Some(&token))).await;
            assert_eq!(status, 401, "round {round}: {body}");
            assert!(body.contains(why), "round {round}: {body}");
        }
    }
}

/// A member this service reads, spelt so that another parser reads it as
/// that member and this one would not (`ſub`, `EVENTS`, `CNF`, `sub\0`),
/// is refused even when it is the only spelling in the token.
#[tokio::test]
async fn a_member_spelt_another_way_is_refused_even_alone() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&standard_config(&ks, &other)).await;
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": ks.keys.kid(DevAlg::RS256)});
    let signed = |header: &str, payload: &str| {
        let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
        let signature = B64.encode(ks.keys.sign_bytes(DevAlg::RS256, input.as_bytes()));
        format!("{input}.{signature}")
    };
    let body = ks.claims(json!({"sub": null})).to_string();
    let inner = &body[1..body.len() - 1];
    // Without the alias: allowed, so the signing above is sound.
    let plain = signed(&header.to_string(), &body);
    assert_eq!(
        outcome(&app, &check_request("/orders", Some(&plain)))
            .await
            .0,
        200
    );
    let mut tokens: Vec<String> = [
        r#""\u017fub":"mallory""#,
        r#""sub\u0000":"mallory""#,
        r#""EVENTS":{}"#,
        r#""CNF":{"jkt":"x"}"#,
    ]
    .iter()
    .map(|alias| signed(&header.to_string(), &format!("{{{inner},{alias}}}")))
    .collect();
    let untyped = json!({"alg": "RS256", "kid": ks.keys.kid(DevAlg::RS256)}).to_string();
    for alias in [r#""CRIT":["x"],"#, r#""TYP":"logout+jwt","#] {
        let header = untyped.replacen('{', &format!("{{{alias}"), 1);
        tokens.push(signed(&header, &body));
    }
    for token in tokens {
        let (status, told) = outcome(&app, &check_request("/orders", Some(&token))).await;
        assert_eq!(status, 401, "{told}");
        assert!(
            told.contains("spells a member it reads another way"),
            "{told}"
        );
    }
}
