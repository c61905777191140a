//! What an attacker tries against the admin port: a revoked admin token,
//! a cross-issuer or replayed logout token, a reload that opens the API,
//! a browser on the operator's laptop, and ids spelled another way.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{KeyServer, TestApp, now, standard_config};
use serde_json::{Value, json};
use zt_authz::dev::DevAlg;

/// Each issuer sends back-channel logout tokens to the client `shop-web`.
fn logout_config(ks: &KeyServer, other: &KeyServer, admin: &str) -> String {
    standard_config(ks, other)
        .replace(
            "    audiences: [orders-api, admin-api]\n",
            "    audiences: [orders-api, admin-api]\n    logout_audiences: [shop-web]\n",
        )
        .replace(
            "    audiences: [orders-api]\n",
            "    audiences: [orders-api]\n    logout_audiences: [shop-web]\n",
        )
        + admin
}

fn jwt_admin(ks: &KeyServer) -> String {
    format!(
        "\nadmin:\n  issuer: {}\n  scope: zt-authz:admin\n",
        ks.issuer()
    )
}

const OPEN_ADMIN: &str = "\nadmin:\n  unauthenticated: true\n";

/// An admin API call: (status, JSON body or Null).
async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", app.admin_url()));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_revoked_admin_token_cannot_use_the_admin_api() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&(standard_config(&ks, &other) + &jwt_admin(&ks))).await;
    let t = now();
    for (name, admin, revocation) in [
        (
            "by jti",
            ks.token(json!({"scope": "zt-authz:admin", "jti": "admin-1"})),
            json!({"kind": "jti", "value": "admin-1", "expires_at": t + 300}),
        ),
        (
            "by sub",
            ks.token(json!({"scope": "zt-authz:admin", "sub": "ops", "iat": t - 5})),
            json!({"kind": "sub", "value": "ops", "issued_before": t}),
        ),
        (
            "by issuer",
            ks.token(json!({"scope": "zt-authz:admin", "sub": "ops2", "iat": t - 5})),
            json!({"kind": "iss", "value": ks.issuer(), "issued_before": t}),
        ),
    ] {
        let post = reqwest::Method::POST;
        let (status, created) = call(
            &app,
            post,
            "/v1/revocations",
            Some(&admin),
            Some(revocation),
        )
        .await;
        assert_eq!(status, 201, "{name}: {created}");
        let id = created["id"].as_str().unwrap().to_owned();
        // Check denies it, and so must the admin API: it cannot even read,
        // let alone lift, its own revocation.
        assert_eq!(app.outcome("/orders", &admin).await.0, 401, "{name}");
        let (status, err) = call(
            &app,
            reqwest::Method::GET,
            "/v1/revocations",
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, 401, "{name}: {err}");
        assert_eq!(err["error_description"], "token revoked", "{name}");
        let path = format!("/v1/revocations/{id}");
        let (status, _) = call(&app, reqwest::Method::DELETE, &path, Some(&admin), None).await;
        assert_eq!(status, 401, "{name}");
        assert!(
            app.running.revocations.index().contains(&id),
            "{name}: still in force"
        );
        // Clean up for the next case, as the operator would: directly.
        assert!(app.running.revocations.lift(&id).await.unwrap());
    }
}

#[tokio::test]
async fn admin_keys_unavailable_is_503_like_check() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    ks.set(common::Serve::Error500);
    let yaml = (standard_config(&ks, &other) + &jwt_admin(&ks)).replace(
        "  reload_interval: 0s\n",
        "  reload_interval: 0s\n  start_without_keys: true\n",
    );
    let app = TestApp::start(&yaml).await;
    let admin = ks.token(json!({"scope": "zt-authz:admin"}));
    let (status, err) = call(
        &app,
        reqwest::Method::GET,
        "/v1/revocations",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
}

async fn send_logout(app: &TestApp, token: String) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/backchannel-logout", app.admin_url()))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn logout_token(ks: &KeyServer, claims: Value) -> String {
    let t = now();
    let mut c = json!({
        "iss": ks.issuer(), "aud": "shop-web", "iat": t, "exp": t + 120,
        "jti": format!("lo-{t}"),
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}}
    });
    for (k, v) in claims.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    let header = json!({"alg": "RS256", "kid": ks.keys.kid(DevAlg::RS256), "typ": "logout+jwt"});
    ks.keys.sign_raw(DevAlg::RS256, &header, &c)
}

#[tokio::test]
async fn a_logout_token_revokes_only_its_own_issuers_users() {
    let a = KeyServer::start("primary").await;
    let b = KeyServer::start("other").await;
    let app = TestApp::start(&logout_config(&a, &b, "")).await;
    let alice_at_a = a.token(json!({"sub": "alice", "iat": now() - 10}));
    let mut c = b.claims(json!({"sub": "alice", "iat": now() - 10}));
    c["iss"] = json!(b.issuer());
    let alice_at_b = b.keys.mint(DevAlg::RS256, &c);
    assert_eq!(app.outcome("/orders", &alice_at_b).await.0, 200);
    // A web page replaying a captured logout token as a form post.
    let from_browser = reqwest::Client::new()
        .post(format!("{}/v1/backchannel-logout", app.admin_url()))
        .header("origin", "https://attacker.example")
        .form(&[("logout_token", logout_token(&b, json!({"sub": "alice"})))])
        .send()
        .await
        .unwrap();
    assert_eq!(from_browser.status().as_u16(), 403);
    assert_eq!(
        app.outcome("/orders", &alice_at_b).await.0,
        200,
        "nothing was logged out from a browser"
    );
    // An empty sid names no session: a clear 400, not a failed store.
    let empty_sid = logout_token(&b, json!({"sub": "alice", "sid": ""}));
    let (status, body) = send_logout(&app, empty_sid).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("is empty"), "{body}");
    let (status, body) = send_logout(&app, logout_token(&b, json!({"sub": "alice"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.outcome("/orders", &alice_at_b).await.0,
        401,
        "B's alice is logged out"
    );
    assert_eq!(
        app.outcome("/orders", &alice_at_a).await.0,
        200,
        "A's alice is not B's to log out"
    );
}

#[tokio::test]
async fn a_replayed_logout_token_changes_nothing() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&logout_config(&ks, &other, OPEN_ADMIN)).await;
    let t = now();
    let logout = logout_token(&ks, json!({"sub": "bob", "iat": t - 60, "jti": "once"}));
    assert_eq!(send_logout(&app, logout.clone()).await.0, 200);
    // The cut-off is the logout token's iat, not the time it arrived: a
    // session begun after the logout stays valid...
    let before = ks.token(json!({"sub": "bob", "iat": t - 90}));
    let after = ks.token(json!({"sub": "bob", "iat": t - 30}));
    assert_eq!(app.outcome("/orders", &before).await.0, 401);
    assert_eq!(app.outcome("/orders", &after).await.0, 200);
    // ...and replaying the captured logout token cannot end it.
    let (status, body) = send_logout(&app, logout).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("already received"), "{body}");
    assert_eq!(app.outcome("/orders", &after).await.0, 200);
    let (_, listed) = call(
        &app,
        reqwest::Method::GET,
        "/v1/revocations?kind=sub",
        None,
        None,
    )
    .await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    // Up to and including the logout token's second.
    assert_eq!(items[0]["issued_before"].as_f64(), Some((t - 59) as f64));
    assert_eq!(items[0]["issuer"], json!(ks.issuer()));
}

#[tokio::test]
async fn logout_tokens_answer_to_their_own_audience() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&logout_config(&ks, &other, "")).await;
    // An access-token audience is not a logout audience.
    let (status, body) = send_logout(
        &app,
        logout_token(&ks, json!({"sid": "s1", "aud": "orders-api"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("audience"), "{body}");
    // A logout token is never an access token, whatever its audience.
    let as_access = logout_token(
        &ks,
        json!({"sid": "s2", "aud": "orders-api", "scope": "orders:read"}),
    );
    assert_eq!(app.outcome("/orders", &as_access).await.0, 401);
    // Untyped, from an issuer that requires no `typ`: its `events` claim
    // alone tells it from an access token.
    let t = now();
    let untyped = other.keys.sign_raw(
        DevAlg::RS256,
        &json!({"alg": "RS256", "kid": other.keys.kid(DevAlg::RS256)}),
        &json!({"iss": other.issuer(), "aud": "orders-api", "sub": "alice", "iat": t, "exp": t + 120,
                "jti": "untyped-logout", "scope": "orders:read",
                "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
    );
    let (status, body) = app.outcome("/orders", &untyped).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("events claim"), "{body}");
    // An issuer without logout_audiences sends no logout tokens here.
    let plain = TestApp::start(&standard_config(&ks, &other)).await;
    let (status, body) = send_logout(&plain, logout_token(&ks, json!({"sid": "s3"}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("logout_audiences"), "{body}");
}

#[tokio::test]
async fn a_reload_cannot_open_the_admin_api_to_the_network() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let exposed = (standard_config(&ks, &other) + &jwt_admin(&ks))
        .replace("  admin_addr: 127.0.0.1:0\n", "  admin_addr: 0.0.0.0:0\n");
    let app = TestApp::start(&exposed).await;
    // The file now claims loopback and no authentication; the listener is
    // still on every interface.
    let open = standard_config(&ks, &other) + OPEN_ADMIN;
    std::fs::write(&app.config_path, open).unwrap();
    let err = app.running.reloader.reload().await.unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
    let body = json!({"kind": "jti", "value": "x"});
    let (status, _) = call(
        &app,
        reqwest::Method::POST,
        "/v1/revocations",
        None,
        Some(body),
    )
    .await;
    assert_eq!(status, 401, "the API still wants a token");
    assert!(matches!(
        app.running.authorizer.snapshot().config.admin,
        zt_authz::config::AdminAuth::Jwt { .. }
    ));
}

/// A raw request, as a browser or a rebinding page would send it.
async fn raw_post(app: &TestApp, headers: &[(&str, &str)], body: &str) -> u16 {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/revocations", app.admin_url()))
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_browser_cannot_drive_the_loopback_admin_api() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&(standard_config(&ks, &other) + OPEN_ADMIN)).await;
    let body = json!({"kind": "iss", "value": ks.issuer()}).to_string();
    let json_ct = ("content-type", "application/json");
    for (name, headers, status) in [
        (
            "CSRF with a simple content type",
            vec![("content-type", "text/plain")],
            415,
        ),
        (
            "form post",
            vec![("content-type", "application/x-www-form-urlencoded")],
            415,
        ),
        (
            "cross-origin fetch",
            vec![json_ct, ("origin", "https://attacker.example")],
            403,
        ),
        (
            "DNS rebinding",
            vec![json_ct, ("host", "attacker.example")],
            403,
        ),
    ] {
        assert_eq!(raw_post(&app, &headers, &body).await, status, "{name}");
    }
    assert_eq!(
        app.running.revocations.index().len(),
        0,
        "nothing was revoked"
    );
    assert_eq!(
        raw_post(&app, &[json_ct], &body).await,
        201,
        "the operator's own call"
    );
    let localhost = format!("localhost:{}", app.running.admin_addr.port());
    let jti = json!({"kind": "jti", "value": "j"}).to_string();
    assert_eq!(
        raw_post(&app, &[json_ct, ("host", &localhost)], &jti).await,
        201
    );
}

#[tokio::test]
async fn ids_spelled_another_way_neither_find_nor_lift() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&(standard_config(&ks, &other) + OPEN_ADMIN)).await;
    let token = ks.token(json!({"jti": "kept"}));
    let body = json!({"kind": "jti", "value": "kept", "expires_at": now() + 300});
    let (_, created) = call(
        &app,
        reqwest::Method::POST,
        "/v1/revocations",
        None,
        Some(body),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    for spelling in [
        format!("+{}", &id[1..]),
        id.to_uppercase(),
        format!("0{id}"),
    ] {
        let path = format!("/v1/revocations/{spelling}");
        assert_eq!(
            call(&app, reqwest::Method::GET, &path, None, None).await.0,
            404,
            "{spelling}"
        );
        assert_eq!(
            call(&app, reqwest::Method::DELETE, &path, None, None)
                .await
                .0,
            404,
            "{spelling}"
        );
        assert_eq!(
            app.outcome("/orders", &token).await.0,
            401,
            "{spelling} lifted nothing"
        );
    }
    let app = app.restart().await;
    assert_eq!(
        app.outcome("/orders", &token).await.0,
        401,
        "still revoked after a restart"
    );
    let path = format!("/v1/revocations/{id}");
    assert_eq!(
        call(&app, reqwest::Method::GET, &path, None, None).await.0,
        200
    );
}

/// A body is read only after its caller is admitted, and only up to the
/// route's limit; too much gets a JSON 413 like every other admin error.
#[tokio::test]
async fn oversized_bodies_are_read_only_for_admins_and_refused_as_json() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&(standard_config(&ks, &other) + &jwt_admin(&ks))).await;
    let admin = ks.token(json!({"scope": "zt-authz:admin"}));
    let post = |path: &str, bearer: Option<&str>, body: Vec<u8>| {
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", app.admin_url()))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let batch_limit = 16 * 1024 * 1024;
    // A 64 KiB single entry and a 16 MiB batch, each one byte too many.
    for (path, limit) in [
        ("/v1/revocations", 64 * 1024),
        ("/v1/revocations/batch", batch_limit),
    ] {
        let (status, body) = post(path, None, vec![b' '; limit + 1]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("missing_token")),
            "{path}"
        );
        let (status, body) = post(path, Some(&admin), vec![b' '; limit + 1]).await;
        assert_eq!(status, 413, "{path}: {body}");
        assert_eq!(body["error"], "invalid_request", "{path}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(&limit.to_string()),
            "{path}: {body}"
        );
        // At the limit the body is read, and judged as JSON.
        let (status, body) = post(path, Some(&admin), vec![b' '; limit]).await;
        assert_eq!(status, 400, "{path}: {body}");
    }
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/ssf/events", app.admin_url()))
        .header("content-type", "application/secevent+jwt")
        .body(vec![b'e'; 64 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["err"], "invalid_request", "{body}");
    assert_eq!(app.running.revocations.index().len(), 0);
}

/// Every answer of the admin port is JSON, unknown paths and methods
/// included; the logout receiver reads its form like the rest of the port
/// reads bodies (bounded, media type in any case).
#[tokio::test]
async fn every_admin_answer_is_json() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&logout_config(&ks, &other, OPEN_ADMIN)).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", app.admin_url());
    for (method, path, status) in [
        (reqwest::Method::GET, "/nope", 404),
        (reqwest::Method::GET, "//v1/revocations", 404),
        (reqwest::Method::PUT, "/v1/revocations", 405),
        (reqwest::Method::GET, "/v1/backchannel-logout", 405),
    ] {
        let resp = client
            .request(method.clone(), url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{method} {path}");
        let body: Value = resp.json().await.unwrap();
        assert!(body["error"].is_string(), "{method} {path}: {body}");
    }
    let form = |content_type: &str, body: String| {
        client
            .post(url("/v1/backchannel-logout"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let huge = form(
        "application/x-www-form-urlencoded",
        format!("logout_token={}", "a".repeat(64 * 1024)),
    )
    .await
    .unwrap();
    assert_eq!(huge.status().as_u16(), 413);
    assert_eq!(
        huge.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let session = ks.token(json!({"sid": "upper-case-form"}));
    let token = logout_token(&ks, json!({"sid": "upper-case-form", "jti": "lo-upper"}));
    let resp = form(
        "APPLICATION/X-WWW-FORM-URLENCODED",
        format!("logout_token={token}"),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(app.revoked(&session).await);
    // Two logout tokens in one form: refused, not one of them picked.
    let two = format!("logout_token={token}&logout_token={token}");
    let resp = form("application/x-www-form-urlencoded", two)
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

/// Slow or idle clients cannot hold the admin port: connections beyond
/// `admin_max_connections` wait to be accepted, one that sends no complete
/// head (or no body) within `admin_read_timeout` is closed, and the port
/// keeps answering.
#[tokio::test]
async fn no_one_can_hold_the_admin_port() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml = standard_config(&ks, &other).replace(
        "  reload_interval: 0s\n",
        "  reload_interval: 0s\n  admin_max_connections: 4\n  admin_read_timeout: 1s\n",
    ) + OPEN_ADMIN;
    let app = TestApp::start(&yaml).await;
    let addr = app.running.admin_addr;
    // Four connections that never finish their head take every slot.
    let mut holders = Vec::new();
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /v1/ssf/events HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        holders.push(s);
    }
    // Still answered: the holders are closed once their time is up.
    let health = reqwest::Client::new()
        .get(format!("{}/healthz", app.admin_url()))
        .timeout(std::time::Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    for mut s in holders {
        let mut rest = Vec::new();
        tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut rest))
            .await
            .expect("the server closed the half-sent connection")
            .ok();
    }
    // A body that never arrives: 408 as JSON.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(
        format!(
            "POST /v1/revocations HTTP/1.1\r\nHost: 127.0.0.1:{}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"",
            addr.port()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        slow.read_to_end(&mut answer),
    )
    .await
    .expect("answered and closed")
    .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"invalid_request\""), "{answer}");
    // A declared length over the limit: 413 at once, nothing read.
    let mut declared = tokio::net::TcpStream::connect(addr).await.unwrap();
    declared
        .write_all(
            format!(
                "POST /v1/revocations HTTP/1.1\r\nHost: 127.0.0.1:{}\r\ncontent-type: application/json\r\ncontent-length: 99999999\r\n\r\n",
                addr.port()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        declared.read_exact(&mut head),
    )
    .await
    .expect("answered")
    .unwrap();
    // 413, not the 408 that waiting for the body would give.
    assert_eq!(&head, b"HTTP/1.1 413");
    assert_eq!(app.running.revocations.index().len(), 0);
}

/// A revocation bound to an issuer spelled otherwise than configured
/// would match nothing: refused, alone or in a batch, instead of a 201
/// that revokes no token.
#[tokio::test]
async fn a_revocation_for_an_issuer_not_configured_is_refused() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&(standard_config(&ks, &other) + OPEN_ADMIN)).await;
    let post = |body: Value| {
        call(
            &app,
            reqwest::Method::POST,
            "/v1/revocations",
            None,
            Some(body),
        )
    };
    for (kind, issuer) in [
        ("jti", format!("{}/", ks.issuer())),
        ("sub", ks.issuer().to_uppercase()),
        ("sid", "https://nobody.example".to_owned()),
    ] {
        let (status, body) = post(json!({"kind": kind, "value": "v", "issuer": issuer})).await;
        assert_eq!(status, 400, "{kind} {issuer}: {body}");
        assert!(
            body.to_string().contains("not a configured issuer"),
            "{body}"
        );
    }
    let (status, body) = post(json!({"kind": "iss", "value": "https://nobody.example"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(json!({"kind": "jti", "value": "v", "issuer": ks.issuer()})).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        "/v1/revocations/batch",
        None,
        Some(json!({"revocations": [
            {"kind": "jti", "value": "a", "issuer": format!("{}/", ks.issuer())},
            {"kind": "jti", "value": "b", "issuer": ks.issuer()},
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["created"].as_u64(), body["refused"].as_u64()),
        (Some(1), Some(1)),
        "{body}"
    );
    assert_eq!(body["results"][0]["status"], 400, "{body}");
    assert_eq!(body["results"][1]["status"], 201, "{body}");
}
