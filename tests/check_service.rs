//! Service tests: the Check handler called directly with hand-built
//! `CheckRequest`s, for what Envoy cannot easily send (principals,
//! context_extensions) and for the exact shape of the response.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{KeyServer, TestApp, now, standard_config};
use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::Peer;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest, CheckResponse};
use envoy_types::pb::google::protobuf::value::Kind;
use serde_json::json;
use zt_authz::clock::ManualClock;
use zt_authz::grpc::CheckService;
use zt_authz::revocation::NewRevocation;

use common::app::check_request as request;

fn with_principal(mut r: CheckRequest, principal: &str) -> CheckRequest {
    r.attributes.as_mut().unwrap().source = Some(Peer {
        principal: principal.into(),
        ..Default::default()
    });
    r
}

fn with_policy(mut r: CheckRequest, policy: &str) -> CheckRequest {
    r.attributes
        .as_mut()
        .unwrap()
        .context_extensions
        .insert("policy".into(), policy.into());
    r
}

/// (HTTP status, body error) of a denial; (200, "") of an allow.
fn outcome(r: &CheckResponse) -> (i32, String) {
    match r.http_response.as_ref().unwrap() {
        HttpResponse::OkResponse(_) => (200, String::new()),
        HttpResponse::DeniedResponse(d) => {
            let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
            (
                d.status.as_ref().unwrap().code,
                body["error"].as_str().unwrap().to_string(),
            )
        }
        other => panic!("unexpected response {other:?}"),
    }
}

fn grpc_code(r: &CheckResponse) -> i32 {
    r.status.as_ref().expect("status is always set").code
}

async fn fixture() -> (KeyServer, KeyServer, TestApp) {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&standard_config(&ks, &other)).await;
    (ks, other, app)
}

#[tokio::test]
async fn principals_gate_even_anonymous_policies() {
    let (_ks, _o, app) = fixture().await;
    let allowed = with_principal(
        request("/internal/stock", None),
        "spiffe://cluster.local/ns/shop/sa/checkout",
    );
    assert_eq!(outcome(&app.check(&allowed).await), (200, String::new()));
    let other = with_principal(
        request("/internal/stock", None),
        "spiffe://cluster.local/ns/shop/sa/web",
    );
    let r = app.check(&other).await;
    assert_eq!(outcome(&r), (403, "access_denied".into()));
    assert_eq!(grpc_code(&r), 7);
    let none = request("/internal/stock", None);
    assert_eq!(
        outcome(&app.check(&none).await),
        (403, "access_denied".into())
    );
}

#[tokio::test]
async fn context_extensions_select_the_policy() {
    let (ks, _o, app) = fixture().await;
    let token = ks.token(json!({}));
    // /unknown matches nothing, but the route names orders-read.
    let named = with_policy(request("/unknown", Some(&token)), "orders-read");
    assert_eq!(outcome(&app.check(&named).await), (200, String::new()));
    // The route names admin: the same token lacks the admin scope.
    let admin = with_policy(request("/orders", Some(&token)), "admin");
    assert_eq!(outcome(&app.check(&admin).await).0, 403);
    // A named policy that does not exist never falls back to matching.
    let missing = with_policy(request("/orders", Some(&token)), "no-such-policy");
    assert_eq!(
        outcome(&app.check(&missing).await),
        (403, "access_denied".into())
    );
}

#[tokio::test]
async fn a_request_without_http_attributes_is_denied_not_an_error() {
    let (_ks, _o, app) = fixture().await;
    for req in [
        CheckRequest::default(),
        CheckRequest {
            attributes: Some(AttributeContext::default()),
        },
    ] {
        let r = app.check(&req).await;
        assert_eq!(outcome(&r), (403, "access_denied".into()));
        assert_eq!(grpc_code(&r), 7);
    }
}

#[tokio::test]
async fn allow_response_shape() {
    let (ks, _o, app) = fixture().await;
    let token = ks.token(json!({"sid": "s-1"}));
    let r = app.check(&request("/orders?page=2", Some(&token))).await;
    assert_eq!(grpc_code(&r), 0);
    let Some(HttpResponse::OkResponse(ok)) = &r.http_response else {
        panic!("not allowed: {r:?}")
    };
    let set: HashMap<&str, &str> = ok
        .headers
        .iter()
        .map(|h| {
            assert_eq!(
                h.append_action,
                HeaderAppendAction::OverwriteIfExistsOrAdd as i32
            );
            let hv = h.header.as_ref().unwrap();
            (hv.key.as_str(), hv.value.as_str())
        })
        .collect();
    assert_eq!(set["x-auth-subject"], "alice");
    assert_eq!(set["x-auth-session"], "s-1");
    assert_eq!(set["x-auth-policy"], "orders-read");
    for removed in &ok.headers_to_remove {
        assert!(
            !set.contains_key(removed.as_str()),
            "{removed} both set and removed"
        );
    }
    let meta = &r.dynamic_metadata.as_ref().unwrap().fields;
    let text = |k: &str| match &meta[k].kind {
        Some(Kind::StringValue(s)) => s.clone(),
        other => panic!("{k}: {other:?}"),
    };
    assert_eq!(text("subject"), "alice");
    assert_eq!(text("policy"), "orders-read");
    assert_eq!(text("scopes"), "orders:read");
    assert_eq!(text("acr"), "mfa");
    assert_eq!(text("issuer"), ks.issuer());
}

/// The identity headers an allow sets, by name.
fn set_headers(r: &CheckResponse) -> HashMap<String, String> {
    let Some(HttpResponse::OkResponse(ok)) = &r.http_response else {
        panic!("not allowed: {r:?}")
    };
    ok.headers
        .iter()
        .map(|h| {
            let hv = h.header.as_ref().unwrap();
            (hv.key.clone(), hv.value.clone())
        })
        .collect()
}

fn removed(r: &CheckResponse) -> Vec<String> {
    let Some(HttpResponse::OkResponse(ok)) = &r.http_response else {
        panic!("not allowed: {r:?}")
    };
    ok.headers_to_remove.clone()
}

/// A cached token's allow is encoded once and sent again. What is sent
/// again must be for the policy this request chose and the config now in
/// force, never an earlier request's.
#[tokio::test]
async fn a_reused_allow_follows_the_policy_and_the_reload() {
    let (ks, _o, app) = fixture().await;
    let yaml = std::fs::read_to_string(&app.config_path).unwrap();
    let token = ks.token(json!({}));
    let first = app.check(&request("/orders", Some(&token))).await;
    assert_eq!(set_headers(&first)["x-auth-policy"], "orders-read");
    assert_eq!(app.check(&request("/orders", Some(&token))).await, first);
    // The in-process answer (no encoded bytes) is the same, headers and all.
    let service = CheckService::new(app.running.authorizer.clone());
    assert_eq!(
        service.answer(&request("/orders", Some(&token))).await,
        first
    );

    // The same token on another policy: that policy's name and its
    // stripped Authorization, then the first policy's answer unchanged.
    let profile = app.check(&request("/profile", Some(&token))).await;
    assert_eq!(set_headers(&profile)["x-auth-policy"], "profile");
    assert!(removed(&profile).contains(&"authorization".to_string()));
    assert!(!removed(&first).contains(&"authorization".to_string()));
    assert_eq!(app.check(&request("/orders", Some(&token))).await, first);

    // A reload renames the subject header: the old name is no longer set.
    std::fs::write(
        &app.config_path,
        format!(
            "identity_headers:\n  claims: {{ sub: x-caller }}\n  policy: x-auth-policy\n{yaml}"
        ),
    )
    .unwrap();
    app.running.reloader.reload().await.unwrap();
    app.keys_settled().await;
    for _ in 0..2 {
        let after = set_headers(&app.check(&request("/orders", Some(&token))).await);
        assert_eq!(after.get("x-caller").map(String::as_str), Some("alice"));
        assert!(!after.contains_key("x-auth-subject"), "{after:?}");
    }
}

#[tokio::test]
async fn deny_response_shape() {
    let (_ks, _o, app) = fixture().await;
    let r = app.check(&request("/orders", Some("abc.def"))).await;
    assert_eq!(grpc_code(&r), 16);
    let Some(HttpResponse::DeniedResponse(d)) = &r.http_response else {
        panic!()
    };
    assert_eq!(d.status.as_ref().unwrap().code, 401);
    let headers: HashMap<&str, &str> = d
        .headers
        .iter()
        .map(|h| {
            (
                h.header.as_ref().unwrap().key.as_str(),
                h.header.as_ref().unwrap().value.as_str(),
            )
        })
        .collect();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["content-type"], "application/json");
    let challenges: Vec<(&str, i32)> = d
        .headers
        .iter()
        .filter(|h| h.header.as_ref().unwrap().key == "www-authenticate")
        .map(|h| (h.header.as_ref().unwrap().value.as_str(), h.append_action))
        .collect();
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    assert!(
        challenges[0]
            .0
            .starts_with("Bearer realm=\"zt-authz\", error=\"invalid_token\"")
    );
    // The DPoP challenge is appended next to the Bearer one, not over it.
    assert!(
        challenges[1]
            .0
            .starts_with("DPoP realm=\"zt-authz\", algs=\""),
        "{challenges:?}"
    );
    assert_ne!(challenges[0].1, challenges[1].1);
    assert!(
        !d.body.contains("abc.def"),
        "the body echoes the token: {}",
        d.body
    );
}

#[tokio::test]
async fn revoked_tokens_are_denied() {
    let (ks, _o, app) = fixture().await;
    let token = ks.token(json!({"jti": "j-1", "sid": "s-9"}));
    // Twice: the second allow is the one kept with the cached token.
    for _ in 0..2 {
        assert_eq!(
            outcome(&app.check(&request("/orders", Some(&token))).await).0,
            200
        );
    }
    app.running
        .revocations
        .revoke(revoke("jti", "j-1"))
        .await
        .unwrap();
    let r = app.check(&request("/orders", Some(&token))).await;
    assert_eq!(outcome(&r), (401, "invalid_token".into()));
    let Some(HttpResponse::DeniedResponse(d)) = &r.http_response else {
        panic!()
    };
    assert!(d.body.contains("token revoked"));
    let by_sid = ks.token(json!({"sid": "s-9"}));
    for _ in 0..2 {
        assert_eq!(
            outcome(&app.check(&request("/orders", Some(&by_sid))).await).0,
            200
        );
    }
    app.running
        .revocations
        .revoke(revoke("sid", "s-9"))
        .await
        .unwrap();
    assert_eq!(
        outcome(&app.check(&request("/orders", Some(&by_sid))).await).0,
        401
    );
}

fn revoke(kind: &str, value: &str) -> NewRevocation {
    NewRevocation {
        kind: kind.into(),
        value: value.into(),
        issuer: None,
        issued_before: None,
        expires_at: None,
        reason: None,
    }
}

/// Leeway and auth-age boundaries with a clock the test moves.
#[tokio::test]
async fn leeway_boundaries_follow_the_injected_clock() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let clock = ManualClock::at(common::now());
    let app =
        TestApp::start_with_clock(&standard_config(&ks, &other), Some(clock.clone() as Arc<_>))
            .await;
    // Times relative to the injected clock, not the wall clock: the two
    // may straddle a second boundary.
    let t = zt_authz::clock::Clock::now_unix(&*clock) as u64;
    let token = ks.token(json!({"iat": t, "exp": t + 60}));
    let req = request("/orders", Some(&token));
    let check = || app.check(&req);
    assert_eq!(outcome(&check().await).0, 200);
    clock.advance(Duration::from_secs(60 + 29));
    assert_eq!(outcome(&check().await).0, 200, "inside the 30 s leeway");
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        outcome(&check().await),
        (401, "invalid_token".into()),
        "leeway used up"
    );

    // auth_time: admin allows 5 min + 30 s leeway.
    let admin = ks.token(json!({"aud": "admin-api", "scope": "admin", "acr": "phr", "iat": t + 90, "exp": t + 600, "auth_time": t}));
    let admin_req = request("/admin", Some(&admin));
    let check_admin = || app.check(&admin_req);
    clock.advance(Duration::from_secs(300 + 30 - 90));
    assert_eq!(outcome(&check_admin().await).0, 200);
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        outcome(&check_admin().await),
        (401, "insufficient_user_authentication".into())
    );
}

#[tokio::test]
async fn issuer_without_keys_is_a_503_denial() {
    let ks = KeyServer::start("primary").await;
    let mut other = KeyServer::start("other").await;
    let yaml = standard_config(&ks, &other).replace(
        "  reload_interval: 0s",
        "  reload_interval: 0s\n  start_without_keys: true",
    );
    other.stop().await;
    let app = TestApp::start(&yaml).await;
    assert!(
        app.running.authorizer.snapshot().is_ready(),
        "start_without_keys reports ready"
    );
    let mut c = ks.claims(json!({}));
    c["iss"] = json!(other.issuer());
    let token = other.keys.mint(zt_authz::dev::DevAlg::RS256, &c);
    let r = app.check(&request("/orders", Some(&token))).await;
    assert_eq!(outcome(&r), (503, "temporarily_unavailable".into()));
    assert_eq!(grpc_code(&r), 14);
}

#[tokio::test]
async fn default_action_allow_still_strips_identity_headers() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml =
        standard_config(&ks, &other).replace("acr_levels:", "default_action: allow\nacr_levels:");
    let app = TestApp::start(&yaml).await;
    let r = app.check(&request("/unmatched", None)).await;
    let Some(HttpResponse::OkResponse(ok)) = &r.http_response else {
        panic!("{r:?}")
    };
    assert!(ok.headers_to_remove.iter().any(|h| h == "x-auth-subject"));
}

#[tokio::test]
async fn raw_header_maps_are_read_and_repeats_refused() {
    use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
    let (ks, _o, app) = fixture().await;
    let token = ks.token(json!({}));
    let raw = |values: &[&str]| {
        let mut r = request("/orders", None);
        let http = common::app::http_mut(&mut r);
        http.header_map = Some(HeaderMap {
            headers: values
                .iter()
                .map(|v| HeaderValue {
                    key: "authorization".into(),
                    raw_value: v.as_bytes().to_vec(),
                    ..Default::default()
                })
                .collect(),
        });
        r
    };
    let bearer = format!("Bearer {token}");
    assert_eq!(outcome(&app.check(&raw(&[&bearer])).await).0, 200);
    assert_eq!(
        outcome(&app.check(&raw(&[&bearer, &bearer])).await),
        (400, "invalid_request".into())
    );
    // A caller other than Envoy may fill both fields, or spell a name its
    // own way: a second copy anywhere is a repeat, never a tie-break.
    let forged = format!(
        "Bearer {}",
        ks.token(json!({"sub": "mallory"})).replace('.', ".x")
    );
    let mut both = raw(&[&forged]);
    common::app::http_mut(&mut both)
        .headers
        .insert("authorization".into(), bearer.clone());
    assert_eq!(
        outcome(&app.check(&both).await),
        (400, "invalid_request".into())
    );
    let mut spelled = request("/orders", None);
    common::app::http_mut(&mut spelled)
        .headers
        .insert("Authorization".into(), bearer.clone());
    assert_eq!(outcome(&app.check(&spelled).await).0, 200);
    common::app::http_mut(&mut spelled)
        .headers
        .insert("authorization".into(), forged);
    assert_eq!(
        outcome(&app.check(&spelled).await),
        (400, "invalid_request".into())
    );
}

#[tokio::test]
async fn the_token_cache_holds_only_verified_tokens() {
    let (ks, _o, app) = fixture().await;
    let runtime = app.running.authorizer.snapshot();
    let cache = runtime.verifier.cache();
    let token = ks.token(json!({}));
    for _ in 0..3 {
        assert_eq!(
            outcome(&app.check(&request("/orders", Some(&token))).await).0,
            200
        );
    }
    assert_eq!((cache.misses(), cache.hits()), (1, 2));
    // A flood of distinct invalid tokens: every one is verified and refused,
    // none is remembered.
    let (header, payload, _) = {
        let p: Vec<&str> = token.split('.').collect();
        (p[0].to_string(), p[1].to_string(), p[2].to_string())
    };
    for i in 0..500 {
        let forged = format!("{header}.{payload}.{}", base64_of(&format!("forged-{i}")));
        assert_eq!(
            outcome(&app.check(&request("/orders", Some(&forged))).await).0,
            401
        );
    }
    let cache = app.running.authorizer.snapshot();
    let cache = cache.verifier.cache();
    assert_eq!(cache.misses(), 501);
    assert!(cache.entry_count() <= 1, "{} entries", cache.entry_count());
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// `x_auth_subject` and `x.auth.subject` are `x-auth-subject` to
/// CGI-style stacks (and Envoy forwards them by default), but
/// `headers_to_remove` names only the hyphenated spelling: such a request
/// is refused, on every route.
#[tokio::test]
async fn identity_headers_spelled_with_underscores_are_refused() {
    use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml = format!(
        "identity_headers:\n  claims: {{ sub: x-auth-subject, email: x-auth-email, sid: x-auth-session }}\n  policy: x-auth-policy\n{}",
        standard_config(&ks, &other).replace("acr_levels:", "default_action: allow\nacr_levels:")
    );
    let app = TestApp::start(&yaml).await;
    let token = ks.token(json!({}));
    let with = |path: &str, name: &str| {
        let mut r = request(path, Some(&token));
        common::app::http_mut(&mut r)
            .headers
            .insert(name.into(), "root".into());
        r
    };
    for name in [
        "x_auth_subject",
        "X_Auth-Email",
        "x-auth_session",
        "x_auth_policy",
        // PHP reads a `.` as `_` too, and lighttpd any punctuation.
        "x.auth.subject",
        "X.Auth-Email",
        "x~auth~subject",
    ] {
        // A token route, an anonymous one and the default allow.
        for path in ["/orders", "/healthz", "/unmatched"] {
            let r = app.check(&with(path, name)).await;
            assert_eq!(
                outcome(&r),
                (400, "invalid_request".into()),
                "{name} on {path}"
            );
            let Some(HttpResponse::DeniedResponse(d)) = &r.http_response else {
                unreachable!()
            };
            let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
            let told = body["error_description"].as_str().unwrap();
            let meant = name
                .to_ascii_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
            assert!(told.contains(&meant), "{told}");
            assert!(
                !told.contains(name),
                "the request's own spelling is not echoed: {told}"
            );
        }
    }
    // In Envoy's raw header map too.
    let mut raw = request("/orders", Some(&token));
    common::app::http_mut(&mut raw).header_map = Some(HeaderMap {
        headers: vec![HeaderValue {
            key: "x_auth_subject".into(),
            raw_value: b"root".to_vec(),
            ..Default::default()
        }],
    });
    assert_eq!(outcome(&app.check(&raw).await).0, 400);
    // Other underscores, and near misses, are none of this service's business.
    for name in ["x_custom", "x_auth_subjects", "x_auth"] {
        assert_eq!(
            outcome(&app.check(&with("/orders", name)).await).0,
            200,
            "{name}"
        );
    }
}

/// A workload's HTTP parser trims a header value and splits a list on
/// `,`: a claim that would read as another identity, or as more items,
/// after that is not forwarded; its header is removed instead.
#[tokio::test]
async fn claim_values_a_workload_would_read_differently_are_not_forwarded() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml = format!(
        "identity_headers:\n  claims: {{ sub: x-auth-subject, email: x-auth-email, groups: x-auth-groups }}\n{}",
        standard_config(&ks, &other)
    );
    let app = TestApp::start(&yaml).await;
    let decided = |claims: serde_json::Value| {
        let token = ks.token(claims);
        let app = &app;
        async move { app.check(&request("/orders", Some(&token))).await }
    };
    let plain = decided(json!({"email": "admin@corp.example", "groups": ["user", "admin"]})).await;
    assert_eq!(set_headers(&plain)["x-auth-email"], "admin@corp.example");
    assert_eq!(set_headers(&plain)["x-auth-groups"], "user,admin");
    for (claim, value) in [
        ("email", json!("\tadmin@corp.example")),
        ("email", json!("admin@corp.example ")),
        ("email", json!("admin\t@corp.example")),
        ("groups", json!(["user,admin"])),
        ("groups", json!(["user", " admin"])),
        ("sub", json!("alice\t")),
    ] {
        let r = decided(json!({ claim: value })).await;
        let header = format!("x-auth-{}", if claim == "sub" { "subject" } else { claim });
        assert!(!set_headers(&r).contains_key(&header), "{claim}: {value}");
        assert!(removed(&r).contains(&header), "{claim}: {value}");
    }
}

/// Tomcat, Jetty and Spring route `/internal;jsessionid=x/y` as
/// `/internal/y`: a spelling with `;parameters` must not select a weaker
/// policy than the route the workload will run.
#[tokio::test]
async fn path_parameters_cannot_dodge_a_policy() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml =
        standard_config(&ks, &other).replace("acr_levels:", "default_action: allow\nacr_levels:");
    let app = TestApp::start(&yaml).await;
    let token = ks.token(json!({}));
    // As spelled, these fall to a weaker policy or the default allow; as
    // routed, they are mesh-internal (one caller only), orders-read or
    // admin (a token).
    for path in [
        "/internal;jsessionid=x/y",
        "/internal;/y",
        "/orders;v=1",
        "/orders;/7",
        // Containers cut the parameters, then resolve dot segments and
        // merge slashes: `..;` climbs out of a weaker policy's prefix (as
        // Envoy forwards `%2e%2e;`), `/;x/` is `/`.
        "/profile/..;/admin/x",
        "/healthz/.;/x",
        "/;x/internal/y",
        // A container decodes `%2e` before it resolves the segment.
        "/profile/%2e%2E;/admin/x",
        "/profile/.%2e;x=1/admin",
    ] {
        let r = app.check(&request(path, None)).await;
        assert_eq!(outcome(&r), (400, "invalid_request".into()), "{path}");
    }
    // A route that names its policy does not let the path climb out of it.
    for path in [
        "/profile/..;/admin/x",
        "/profile/%2e%2e;/admin",
        "/profile/x/..;",
    ] {
        let r = app
            .check(&with_policy(request(path, Some(&token)), "profile"))
            .await;
        assert_eq!(outcome(&r), (400, "invalid_request".into()), "{path}");
    }
    let named = with_policy(request("/profile;v=1/me", Some(&token)), "profile");
    assert_eq!(outcome(&app.check(&named).await).0, 200);
    // Parameters that leave the choice alone are the workload's business.
    assert_eq!(
        outcome(&app.check(&request("/unmatched;v=1", None)).await).0,
        200
    );
    assert_eq!(
        outcome(&app.check(&request("/profile;v=1/me", Some(&token))).await).0,
        200
    );
    assert_eq!(
        outcome(&app.check(&request("/orders", Some(&token))).await).0,
        200
    );
}

/// RFC 9449 §7.1: a request that used the DPoP scheme gets the error on
/// the DPoP challenge, also for a token or scope failure, with the Bearer
/// one bare; a Bearer-scheme request keeps the error on its Bearer one.
#[tokio::test]
async fn a_dpop_request_gets_its_error_on_the_dpop_challenge() {
    use zt_authz::dev::{DevAlg, DevKeys};
    let (ks, _o, app) = fixture().await;
    let client = DevKeys::generate("client").unwrap();
    let dpop = |claims: serde_json::Value| {
        let mut claims = claims;
        claims["cnf"] = json!({"jkt": client.jkt(DevAlg::ES256)});
        let token = ks.token(claims);
        let proof = client.dpop_proof(
            DevAlg::ES256,
            "GET",
            "https://api.local/orders",
            &token,
            &json!({}),
        );
        let mut r = request("/orders", None);
        let http = common::app::http_mut(&mut r);
        http.scheme = "https".into();
        http.headers
            .insert("authorization".into(), format!("DPoP {token}"));
        http.headers.insert("dpop".into(), proof);
        r
    };
    let challenges = |r: &CheckResponse| -> (String, String) {
        let Some(HttpResponse::DeniedResponse(d)) = &r.http_response else {
            panic!("not denied: {r:?}")
        };
        let all: Vec<&str> = d
            .headers
            .iter()
            .filter_map(|h| h.header.as_ref())
            .filter(|h| h.key == "www-authenticate")
            .map(|h| h.value.as_str())
            .collect();
        let of = |scheme: &str| {
            all.iter()
                .find(|c| c.starts_with(scheme))
                .map(|c| c.to_string())
                .unwrap_or_default()
        };
        (of("Bearer "), of("DPoP "))
    };
    assert_eq!(
        outcome(&app.check(&dpop(json!({}))).await).0,
        200,
        "the proof is sound"
    );

    let scope = app.check(&dpop(json!({"scope": "profile:read"}))).await;
    assert_eq!(outcome(&scope), (403, "insufficient_scope".into()));
    let (bearer, dpop_c) = challenges(&scope);
    assert!(
        dpop_c.contains(r#"error="insufficient_scope""#)
            && dpop_c.contains(r#"scope="orders:read""#),
        "{dpop_c}"
    );
    assert!(!bearer.contains("error="), "{bearer}");

    let expired = app
        .check(&dpop(json!({"iat": now() - 900, "exp": now() - 600})))
        .await;
    assert_eq!(outcome(&expired), (401, "invalid_token".into()));
    let (bearer, dpop_c) = challenges(&expired);
    assert!(dpop_c.contains(r#"error="invalid_token""#), "{dpop_c}");
    assert_eq!(bearer.matches("error=").count(), 0, "{bearer}");

    // The same failures over the Bearer scheme stay on the Bearer challenge.
    let plain = ks.token(json!({"scope": "profile:read"}));
    let (bearer, dpop_c) = challenges(&app.check(&request("/orders", Some(&plain))).await);
    assert!(bearer.contains(r#"error="insufficient_scope""#), "{bearer}");
    assert!(dpop_c.is_empty(), "{dpop_c}");
}
