//! Rego policies (step 10b) end to end through a real Envoy: tenant
//! isolation by path and claim, Rego denials with and without their own
//! status and body, Rego headers with the client's copies removed, an
//! OPA-Envoy-style policy unchanged, and a broken module on reload.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{EchoUpstream, Envoy, KeyServer, TEST_SERVER, TestApp, issuer_entry};
use serde_json::{Value, json};
use zt_authz::config::Config;

const TENANT_REGO: &str = r#"package zt.authz

# /tenants/<tenant>/...: only a caller of that tenant, by its verified claim.
tenant := input.parsed_path[1]

default result := {"allowed": false}

result := {
	"allowed": true,
	"headers": {"x-tenant": tenant},
	"response_headers_to_add": {"x-policy": "tenant"},
} if {
	tenant != "suspended"
	input.token.claims.tenant == tenant
	input.parsed_path[2] == "orders"
}

result := {"allowed": true} if {
	tenant != "suspended"
	input.token.claims.tenant == tenant
	input.parsed_path[2] == "public"
}

result := {
	"allowed": false,
	"http_status": 451,
	"body": "tenant suspended",
	"headers": {"x-reason": "suspended"},
} if tenant == "suspended"
"#;

/// Written against OPA-Envoy's input, as a team running OPA-Envoy would have it.
const OPA_ENVOY_REGO: &str = r#"package envoy.authz

import input.attributes.request.http as http_request

default allow := false

allow if {
	http_request.method == "GET"
	input.parsed_path == ["people"]
	http_request.headers["x-team"] == "blue"
	input.parsed_query.view == ["short"]
	startswith(http_request.host, "127.0.0.1")
}
"#;

fn config(ks: &KeyServer) -> String {
    format!(
        r#"{TEST_SERVER}issuers:
{}policies:
  - name: tenants
    match: {{ path: {{ prefix: /tenants/ }} }}
    scopes: [orders:read]
    rego:
      module: tenant.rego
      query: data.zt.authz.result
      headers: [x-tenant]
  - name: people
    match: {{ path: {{ prefix: /people }} }}
    anonymous: true
    rego: {{ module: [people.rego], query: data.envoy.authz.allow }}
"#,
        issuer_entry(ks, "")
    )
}

struct Seen {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn get(envoy: &Envoy, path: &str, token: Option<&str>, extra: &[(&str, &str)]) -> Seen {
    let mut req = reqwest::Client::new().get(envoy.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    Seen {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

fn upstream_headers(seen: &Seen) -> Value {
    serde_json::from_str::<Value>(&seen.body).unwrap()["headers"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rego_decides_after_the_token_through_envoy() {
    let ks = KeyServer::start("primary").await;
    let app = TestApp::start_with_files(
        &config(&ks),
        &[
            ("tenant.rego", TENANT_REGO),
            ("people.rego", OPA_ENVOY_REGO),
        ],
    )
    .await;
    let upstream = EchoUpstream::start().await;
    let envoy = Envoy::start(app.running.grpc_addr, upstream.addr).await;
    let acme = ks.token(json!({"tenant": "acme"}));
    let spoof = [("x-tenant", "evil")];

    // Allowed: the policy's header replaces the client's copy; its
    // response header reaches the caller.
    let seen = get(&envoy, "/tenants/acme/orders", Some(&acme), &spoof).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(upstream_headers(&seen)["x-tenant"], json!("acme"));
    assert_eq!(seen.headers["x-policy"], "tenant");
    // A route whose policy never sets x-tenant still strips a client's
    // copy: a workload may read it in code shared by every route.
    let seen = get(
        &envoy,
        "/people?view=short",
        None,
        &[("x-team", "blue"), ("x-tenant", "evil")],
    )
    .await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert!(
        upstream_headers(&seen).get("x-tenant").is_none(),
        "{}",
        seen.body
    );
    // Other spellings of the policy's header would reach a CGI-style
    // workload as it: refused, on the token route and the anonymous one.
    for path in ["/tenants/acme/orders", "/people?view=short"] {
        let seen = get(&envoy, path, Some(&acme), &[("x.tenant", "evil")]).await;
        assert_eq!(seen.status, 400, "{path}: {}", seen.body);
        assert!(seen.body.contains("x-tenant"), "{}", seen.body);
    }

    // Allowed without the header: the client's copy is stripped anyway.
    let seen = get(&envoy, "/tenants/acme/public", Some(&acme), &spoof).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(upstream_headers(&seen).get("x-tenant"), None);

    // Another tenant's path: the fixed denial, nothing of the input echoed.
    let seen = get(&envoy, "/tenants/globex/orders", Some(&acme), &spoof).await;
    assert_eq!(seen.status, 403);
    let body: Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["error"], "access_denied");
    assert_eq!(
        body["error_description"],
        "the route's policy denied the request"
    );
    assert!(!seen.body.contains("globex") && !seen.body.contains("evil"));

    // A denial with the policy's own status, body and header.
    let suspended = ks.token(json!({"tenant": "suspended"}));
    let seen = get(&envoy, "/tenants/suspended/orders", Some(&suspended), &[]).await;
    assert_eq!(seen.status, 451);
    assert_eq!(seen.body, "tenant suspended");
    assert_eq!(seen.headers["x-reason"], "suspended");

    // Rego only narrows: what the pipeline refuses never reaches it.
    let seen = get(&envoy, "/tenants/acme/orders", None, &[]).await;
    assert_eq!(seen.status, 401);
    let no_scope = ks.token(json!({"tenant": "acme", "scope": "other"}));
    let seen = get(&envoy, "/tenants/acme/orders", Some(&no_scope), &[]).await;
    assert_eq!(seen.status, 403);
    assert!(seen.body.contains("insufficient_scope"));

    // The OPA-Envoy policy, unchanged, on an anonymous route.
    let blue = [("x-team", "blue")];
    assert_eq!(
        get(&envoy, "/people?view=short", None, &blue).await.status,
        200
    );
    assert_eq!(
        get(&envoy, "/people?view=long", None, &blue).await.status,
        403
    );
    assert_eq!(
        get(&envoy, "/people?view=short", None, &[("x-team", "red")])
            .await
            .status,
        403
    );
    assert_eq!(
        get(&envoy, "/people/7?view=short", None, &blue)
            .await
            .status,
        403
    );

    // A broken module on reload: refused, the old policy keeps deciding.
    std::fs::write(
        app.dir.path().join("tenant.rego"),
        "package zt.authz\nresult := {",
    )
    .unwrap();
    let err = app.running.reloader.reload().await.unwrap_err();
    assert!(err.to_string().contains("tenant.rego:"), "{err}");
    let seen = get(&envoy, "/tenants/acme/orders", Some(&acme), &spoof).await;
    assert_eq!(seen.status, 200);
    assert_eq!(upstream_headers(&seen)["x-tenant"], json!("acme"));
    app.running.stop().await.unwrap();
}

#[test]
fn check_config_names_the_rego_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    let yaml =
        |rego: &str| format!("policies:\n  - name: p\n    anonymous: true\n    rego: {rego}\n");
    write("bad.rego", "package p\n\nallow if {\n  input.x ==\n}\n");
    write("good.rego", "package p\nallow if input.x == 1\n");
    write("list.json", "[1, 2]");
    let errors = |rego: &str| {
        write("zt-authz.yaml", &yaml(rego));
        Config::load(&dir.path().join("zt-authz.yaml"))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let err = errors("{ module: bad.rego, query: data.p.allow }");
    assert!(
        err.contains("policies[0].rego") && err.contains("bad.rego:"),
        "{err}"
    );
    assert!(
        err.contains("bad.rego:4") || err.contains("bad.rego:5"),
        "{err}"
    );
    for (rego, expected) in [
        (
            "{ module: missing.rego, query: data.p.allow }",
            "missing.rego",
        ),
        ("{ module: good.rego, query: allow }", "data."),
        ("{ module: [], query: data.p.allow }", "at least one module"),
        (
            "{ module: good.rego, query: data.p.allow, data: list.json }",
            "must be an object",
        ),
        (
            "{ module: good.rego, query: data.p.allow, headers: [authorization] }",
            "may not set",
        ),
        (
            "{ module: good.rego, query: data.p.allow, headers: [x-auth-subject] }",
            "identity header",
        ),
        (
            "{ module: good.rego, query: data.p.allow, headers: [x_tenant] }",
            "only letters, digits and `-`",
        ),
        (
            "{ module: good.rego, query: data.p.allow, headers: [x.tenant] }",
            "only letters, digits and `-`",
        ),
        (
            "{ module: good.rego, query: data.p.allow, max_instructions: 0 }",
            "max_instructions",
        ),
        (
            "{ module: good.rego, query: data.p.allow, time_budget: 5s }",
            "time_budget",
        ),
        (
            "{ module: good.rego, query: data.p.allow, unknown: 1 }",
            "unknown",
        ),
    ] {
        let err = errors(rego);
        assert!(err.contains(expected), "{rego}: {err}");
    }
    write(
        "zt-authz.yaml",
        &yaml("{ module: good.rego, query: data.p.allow }"),
    );
    Config::load(&dir.path().join("zt-authz.yaml")).unwrap();
}
