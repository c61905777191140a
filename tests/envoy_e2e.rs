//! End to end through a real Envoy: client → Envoy (ext_authz, fail closed)
//! → zt-authz → upstream echo. Tables of rows, one per behaviour in the
//! README's "How a request is decided", and one runner.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::{EchoUpstream, Envoy, KeyServer, Serve, TestApp, now, standard_config};
use serde_json::{Value, json};
use zt_authz::dev::{DevAlg, DevKeys};

#[derive(Default)]
struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    host: Option<&'static str>,
    /// Full `Authorization` values; two entries send two headers.
    authorization: Vec<String>,
    extra_headers: Vec<(&'static str, &'static str)>,
    status: u16,
    /// Exact `WWW-Authenticate` value, or a fragment it must contain.
    challenge: Option<Challenge>,
    /// Body `error` of a denial.
    error: Option<&'static str>,
    /// Headers the upstream must have seen (name, value) or not (name, None).
    upstream: Vec<(&'static str, Option<String>)>,
}

enum Challenge {
    Exactly(String),
    Contains(&'static str),
}

fn bearer(token: &str) -> Vec<String> {
    vec![format!("Bearer {token}")]
}

fn b64(v: &Value) -> String {
    B64.encode(v.to_string())
}

/// HS256 over `input` with `secret`: the classic key-confusion forgery.
fn hs256(secret: &[u8], input: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    B64.encode(aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref())
}

fn flip_char(s: &str, at: usize) -> String {
    let mut b = s.as_bytes().to_vec();
    b[at] = if b[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

/// What the rows are built from: the key servers, the time, and tokens
/// that need hand-made headers or signatures.
struct Fixture<'a> {
    ks: &'a KeyServer,
    t: u64,
    iss: String,
    realm_only: String,
    claims: Value,
    valid: String,
    /// The valid token's three parts, for tampering.
    vh: String,
    vp: String,
    vs: String,
    es_valid: String,
    es_zero: String,
    hs_confusion: String,
    embedded_jwk: String,
    rotated_token: String,
    foreign_kid: String,
    scp_only: String,
    scope_wins: String,
    other_issuer: String,
}

impl<'a> Fixture<'a> {
    /// The fixture, and the key set the issuer serves once rotated.
    fn new(ks: &'a KeyServer, other: &'a KeyServer) -> (Fixture<'a>, Value) {
        let claims = ks.claims(json!({}));
        let kid = |a| ks.keys.kid(a);
        let hs_confusion = {
            let input = format!(
                "{}.{}",
                b64(&json!({"alg": "HS256", "typ": "at+jwt", "kid": kid(DevAlg::RS256)})),
                b64(&claims)
            );
            let secret = ks.keys.jwk(DevAlg::RS256).to_string();
            format!("{input}.{}", hs256(secret.as_bytes(), &input))
        };
        let attacker = DevKeys::generate("attacker").unwrap();
        let embedded_jwk = {
            let h = json!({"alg": "RS256", "typ": "at+jwt", "kid": kid(DevAlg::RS256), "jwk": attacker.jwk(DevAlg::RS256)});
            attacker.sign_raw(DevAlg::RS256, &h, &claims)
        };
        let rotated = DevKeys::generate("rotated").unwrap();
        let mut rotated_jwks = ks.keys.jwks();
        rotated_jwks["keys"]
            .as_array_mut()
            .unwrap()
            .push(rotated.jwk(DevAlg::ES256));
        let valid = ks.token(json!({}));
        let parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
        let es_valid = ks.keys.mint(DevAlg::ES256, &claims);
        let es_zero = {
            let p: Vec<&str> = es_valid.split('.').collect();
            format!("{}.{}.{}", p[0], p[1], B64.encode([0u8; 64]))
        };
        let fixture = Fixture {
            ks,
            t: now(),
            iss: ks.issuer(),
            realm_only: "Bearer realm=\"zt-authz\"".to_string(),
            rotated_token: rotated.mint(DevAlg::ES256, &claims),
            foreign_kid: other.keys.mint(DevAlg::RS256, &claims),
            vh: parts[0].clone(),
            vp: parts[1].clone(),
            vs: parts[2].clone(),
            valid,
            es_valid,
            es_zero,
            hs_confusion,
            embedded_jwk,
            scp_only: ks.keys.mint(
                DevAlg::RS256,
                &ks.claims(json!({"scope": null, "scp": ["orders:read", "x"]})),
            ),
            scope_wins: ks.keys.mint(
                DevAlg::RS256,
                &ks.claims(json!({"scope": "x", "scp": ["orders:read"]})),
            ),
            other_issuer: other.keys.mint(DevAlg::RS256, &{
                let mut c = claims.clone();
                c["iss"] = json!(other.issuer());
                c
            }),
            claims,
        };
        (fixture, rotated_jwks)
    }

    fn rs(&self, extra: Value) -> String {
        self.ks.token(extra)
    }

    fn kid(&self, alg: DevAlg) -> String {
        self.ks.keys.kid(alg)
    }

    /// The standard claims under a header of the test's choosing.
    fn header(&self, h: Value, alg: DevAlg) -> String {
        self.ks.keys.sign_raw(alg, &h, &self.claims)
    }

    /// No signature at all.
    fn unsigned(&self, alg: &str) -> String {
        format!(
            "{}.{}.",
            b64(&json!({"alg": alg, "typ": "at+jwt"})),
            b64(&self.claims)
        )
    }

    /// A garbage signature under the `alg` given.
    fn with_sig(&self, alg: &str) -> String {
        let input = format!(
            "{}.{}",
            b64(&json!({"alg": alg, "typ": "at+jwt", "kid": self.kid(DevAlg::RS256)})),
            b64(&self.claims)
        );
        format!("{input}.{}", B64.encode(b"not-a-signature"))
    }

    /// An admin-route token (phr, admin scope) with `extra` claims.
    fn admin(&self, extra: Value) -> String {
        let mut c = self
            .ks
            .claims(json!({"aud": "admin-api", "scope": "admin", "acr": "phr"}));
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        self.ks.keys.mint(DevAlg::RS256, &c)
    }
}

/// An allowed GET of `path` with `token`.
fn ok(name: &'static str, path: &'static str, token: String) -> Case {
    Case {
        name,
        method: "GET",
        path,
        authorization: bearer(&token),
        status: 200,
        ..Case::default()
    }
}

/// `/orders` refused with `invalid_token` and a challenge containing
/// `fragment`.
fn invalid(name: &'static str, token: String, fragment: &'static str) -> Case {
    invalid_on(name, "/orders", token, fragment)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_through_envoy() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&standard_config(&ks, &other)).await;
    let upstream = EchoUpstream::start().await;
    let envoy = Envoy::start(app.running.grpc_addr, upstream.addr).await;
    let (f, rotated_jwks) = Fixture::new(&ks, &other);
    // The rotation row must be the first unknown-kid event (cool-down).
    ks.set(Serve::Document(rotated_jwks));
    let cases: Vec<Case> = [token_rows(&f), claim_rows(&f), policy_rows(&f)]
        .into_iter()
        .flatten()
        .collect();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let client = reqwest::Client::new();
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(why) = run(&client, &envoy, case).await {
            failures.push(format!("{}: {why}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    println!("{} end-to-end cases passed through Envoy", cases.len());
    app.running.stop().await.unwrap();
}

/// Header, algorithm, key and signature rows; the rotation row first.
fn token_rows(f: &Fixture) -> Vec<Case> {
    let claims = &f.claims;
    let ks = f.ks;
    let valid = f.valid.clone();
    let iss = f.iss.clone();
    let realm_only = f.realm_only.clone();
    let es_valid = f.es_valid.clone();
    let hs_confusion = f.hs_confusion.clone();
    let embedded_jwk = f.embedded_jwk.clone();
    let rotated_token = f.rotated_token.clone();
    let foreign_kid = f.foreign_kid.clone();
    let kid = |a| f.kid(a);
    let header = |h: Value, alg: DevAlg| f.header(h, alg);
    let unsigned = |alg: &str| f.unsigned(alg);
    let with_sig = |alg: &str| f.with_sig(alg);
    vec![
        ok(
            "unknown kid resolved by key rotation",
            "/orders",
            rotated_token,
        ),
        Case {
            name: "missing token: bare challenge",
            method: "GET",
            path: "/orders",
            status: 401,
            challenge: Some(Challenge::Exactly(realm_only.clone())),
            error: Some("missing_token"),
            ..Case::default()
        },
        Case {
            upstream: vec![
                ("x-auth-subject", Some("alice".into())),
                ("x-auth-issuer", Some(iss.clone())),
                ("x-auth-scopes", Some("orders:read".into())),
                ("x-auth-acr", Some("mfa".into())),
                ("x-auth-policy", Some("orders-read".into())),
                ("x-auth-session", None),
            ],
            ..ok("valid RS256: identity headers", "/orders/42", valid.clone())
        },
        ok("valid ES256", "/orders", es_valid.clone()),
        ok(
            "valid EdDSA",
            "/orders",
            ks.keys.mint(DevAlg::EdDSA, claims),
        ),
        Case {
            name: "lower-case bearer scheme",
            authorization: vec![format!("bearer {valid}")],
            ..ok("", "/orders", String::new())
        },
        invalid("alg none", unsigned("none"), "unsigned"),
        invalid("alg None with signature", with_sig("None"), "alg"),
        invalid("alg NONE with signature", with_sig("NONE"), "alg"),
        invalid(
            "HS256 signed with the RSA public key",
            hs_confusion,
            "alg is not allowed",
        ),
        invalid(
            "RS256 header naming the ES256 key",
            header(
                json!({"alg": "RS256", "typ": "at+jwt", "kid": kid(DevAlg::ES256)}),
                DevAlg::RS256,
            ),
            "no key",
        ),
        invalid(
            "ES256 header naming the RSA key",
            header(
                json!({"alg": "ES256", "typ": "at+jwt", "kid": kid(DevAlg::RS256)}),
                DevAlg::ES256,
            ),
            "no key",
        ),
        invalid(
            "embedded jwk must not be trusted",
            embedded_jwk,
            "signature is invalid",
        ),
        ok(
            "jku/x5u/x5c headers are ignored",
            "/orders",
            header(
                json!({"alg": "RS256", "typ": "at+jwt", "kid": kid(DevAlg::RS256), "jku": "https://evil.example/jwks", "x5u": "https://evil.example/x5u", "x5c": ["AAAA"]}),
                DevAlg::RS256,
            ),
        ),
        invalid(
            "unknown crit",
            header(
                json!({"alg": "RS256", "typ": "at+jwt", "kid": kid(DevAlg::RS256), "crit": ["urn:x"], "urn:x": 1}),
                DevAlg::RS256,
            ),
            "critical",
        ),
        invalid(
            "typ mismatch",
            header(
                json!({"alg": "RS256", "typ": "JWT", "kid": kid(DevAlg::RS256)}),
                DevAlg::RS256,
            ),
            "typ must be at+jwt",
        ),
        ok(
            "typ application/at+jwt",
            "/orders",
            header(
                json!({"alg": "RS256", "typ": "application/AT+JWT", "kid": kid(DevAlg::RS256)}),
                DevAlg::RS256,
            ),
        ),
        invalid(
            "kid of another issuer",
            foreign_kid,
            "no key of the issuer matches",
        ),
    ]
}

/// Time, audience, issuer and tampering rows.
fn claim_rows(f: &Fixture) -> Vec<Case> {
    let t = f.t;
    let vh = f.vh.clone();
    let vp = f.vp.clone();
    let vs = f.vs.clone();
    let iss = f.iss.clone();
    let es_zero = f.es_zero.clone();
    let rs = |extra: Value| f.rs(extra);
    vec![
        invalid("expired", rs(json!({"exp": t - 60})), "expired"),
        ok(
            "expired within leeway",
            "/orders",
            rs(json!({"exp": t - 10})),
        ),
        invalid(
            "nbf in the future",
            rs(json!({"nbf": t + 120})),
            "not valid yet",
        ),
        ok("nbf within leeway", "/orders", rs(json!({"nbf": t + 10}))),
        invalid(
            "iat in the future",
            rs(json!({"iat": t + 120})),
            "issued in the future",
        ),
        ok(
            "fractional NumericDates",
            "/orders",
            rs(json!({"iat": t as f64 - 0.5, "exp": t as f64 + 299.5})),
        ),
        invalid("missing exp", rs(json!({"exp": null})), "no exp claim"),
        invalid(
            "exp as a string",
            rs(json!({"exp": (t + 300).to_string()})),
            "exp claim has the wrong type",
        ),
        invalid(
            "aud as a number",
            rs(json!({"aud": 7})),
            "aud claim has the wrong type",
        ),
        invalid("missing aud", rs(json!({"aud": null})), "no aud claim"),
        ok(
            "aud as an array",
            "/orders",
            rs(json!({"aud": ["billing", "orders-api"]})),
        ),
        invalid("aud mismatch", rs(json!({"aud": "billing"})), "audience"),
        invalid(
            "iss with a trailing slash",
            rs(json!({"iss": format!("{iss}/")})),
            "issuer is not trusted",
        ),
        invalid(
            "sub of the wrong type",
            rs(json!({"sub": 12})),
            "sub claim has the wrong type",
        ),
        invalid(
            "tampered payload",
            format!("{vh}.{}.{vs}", flip_char(&vp, 10)),
            "invalid",
        ),
        invalid(
            "tampered signature",
            format!("{vh}.{vp}.{}", flip_char(&vs, 5)),
            "signature is invalid",
        ),
        invalid("all-zero ES256 signature", es_zero, "signature is invalid"),
        invalid("JWE (five parts)", "a.b.c.d.e".into(), "encrypted"),
    ]
}

/// Scope, claim, step-up, lifetime, spoofing and bearer-syntax rows.
fn policy_rows(f: &Fixture) -> Vec<Case> {
    let t = f.t;
    let valid = f.valid.clone();
    let scp_only = f.scp_only.clone();
    let scope_wins = f.scope_wins.clone();
    let other_issuer = f.other_issuer.clone();
    let rs = |extra: Value| f.rs(extra);
    let admin_claims = |extra: Value| f.admin(extra);
    vec![
        ok("scopes from scp when scope is absent", "/orders", scp_only),
        Case {
            name: "scope wins over scp",
            status: 403,
            error: Some("insufficient_scope"),
            ..ok("", "/orders", scope_wins)
        },
        Case {
            name: "insufficient scope",
            status: 403,
            error: Some("insufficient_scope"),
            challenge: Some(Challenge::Contains("scope=\"orders:read\"")),
            ..ok("", "/orders", rs(json!({"scope": "profile"})))
        },
        Case {
            name: "claim condition met (POST, role clerk)",
            method: "POST",
            ..ok(
                "",
                "/orders",
                rs(json!({"scope": "orders:write", "role": "clerk"})),
            )
        },
        Case {
            name: "claim condition not met",
            method: "POST",
            status: 403,
            error: Some("access_denied"),
            ..ok(
                "",
                "/orders",
                rs(json!({"scope": "orders:write", "role": "viewer"})),
            )
        },
        Case {
            name: "host glob match",
            method: "PUT",
            host: Some("api.shop.example"),
            ..ok(
                "",
                "/orders/1",
                rs(json!({"scope": "orders:write", "role": ["x", "admin"]})),
            )
        },
        Case {
            name: "host outside the glob: no policy",
            method: "POST",
            host: Some("api.other.example"),
            status: 403,
            error: Some("access_denied"),
            ..ok(
                "",
                "/orders",
                rs(json!({"scope": "orders:write", "role": "admin"})),
            )
        },
        Case {
            name: "acr step-up challenge",
            status: 401,
            error: Some("insufficient_user_authentication"),
            challenge: Some(Challenge::Contains("acr_values=\"phr\"")),
            ..ok("", "/admin/users", admin_claims(json!({"acr": "mfa"})))
        },
        Case {
            name: "auth_time too old",
            status: 401,
            error: Some("insufficient_user_authentication"),
            challenge: Some(Challenge::Contains("max_age=\"300\"")),
            ..ok(
                "",
                "/admin/users",
                admin_claims(json!({"auth_time": t - 600})),
            )
        },
        Case {
            name: "admin allowed; Authorization removed",
            upstream: vec![
                ("authorization", None),
                ("x-auth-policy", Some("admin".into())),
            ],
            ..ok("", "/admin/users", admin_claims(json!({})))
        },
        Case {
            name: "admin tier lifetime over 10 minutes",
            status: 401,
            error: Some("invalid_token"),
            challenge: Some(Challenge::Contains("lifetime")),
            ..ok("", "/admin/users", admin_claims(json!({"exp": t + 1200})))
        },
        invalid_on(
            "token lifetime over the policy",
            "/reports",
            rs(json!({"exp": t + 1200})),
            "lifetime exceeds",
        ),
        invalid_on(
            "token age over the policy",
            "/reports",
            rs(json!({"iat": t - 180})),
            "older than",
        ),
        invalid_on(
            "lifetime limit without iat",
            "/reports",
            rs(json!({"iat": null})),
            "no iat claim",
        ),
        Case {
            name: "anonymous route; spoofed identity stripped",
            method: "GET",
            path: "/healthz",
            extra_headers: vec![("x-auth-subject", "mallory"), ("x-auth-scopes", "admin")],
            status: 200,
            upstream: vec![
                ("x-auth-subject", None),
                ("x-auth-scopes", None),
                ("x-auth-policy", Some("health".into())),
            ],
            ..Case::default()
        },
        Case {
            name: "spoofed identity overwritten or removed",
            extra_headers: vec![
                ("x-auth-subject", "mallory"),
                ("x-auth-session", "stolen"),
                ("x-auth-policy", "admin"),
            ],
            upstream: vec![
                ("x-auth-subject", Some("alice".into())),
                ("x-auth-session", None),
                ("x-auth-policy", Some("orders-read".into())),
                ("authorization", Some(format!("Bearer {valid}"))),
            ],
            ..ok("", "/orders", valid.clone())
        },
        Case {
            name: "Authorization removed by policy",
            upstream: vec![
                ("authorization", None),
                ("x-auth-policy", Some("profile".into())),
            ],
            ..ok("", "/profile", valid.clone())
        },
        Case {
            name: "no matching policy",
            status: 403,
            error: Some("access_denied"),
            ..ok("", "/unknown", valid.clone())
        },
        Case {
            name: "two Authorization headers",
            authorization: vec![format!("Bearer {valid}"), format!("Bearer {valid}")],
            status: 400,
            error: Some("invalid_request"),
            challenge: Some(Challenge::Contains("error=\"invalid_request\"")),
            ..ok("", "/orders", String::new())
        },
        Case {
            name: "Basic scheme",
            authorization: vec!["Basic YWxpY2U6c2VjcmV0".into()],
            status: 400,
            error: Some("invalid_request"),
            ..ok("", "/orders", String::new())
        },
        Case {
            name: "token over the size limit",
            status: 401,
            error: Some("invalid_request"),
            ..ok("", "/orders", "a".repeat(9000))
        },
        ok("issuer found by OIDC discovery", "/orders", other_issuer),
    ]
}

fn invalid_on(
    name: &'static str,
    path: &'static str,
    token: String,
    fragment: &'static str,
) -> Case {
    Case {
        name,
        method: "GET",
        path,
        authorization: bearer(&token),
        status: 401,
        error: Some("invalid_token"),
        challenge: Some(Challenge::Contains(fragment)),
        ..Case::default()
    }
}

async fn run(client: &reqwest::Client, envoy: &Envoy, case: &Case) -> Result<(), String> {
    let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
    let mut req = client.request(method, envoy.url(case.path));
    let mut headers = reqwest::header::HeaderMap::new();
    for a in &case.authorization {
        headers.append("authorization", a.parse().unwrap());
    }
    for (k, v) in &case.extra_headers {
        headers.append(*k, v.parse().unwrap());
    }
    if let Some(h) = case.host {
        headers.insert("host", h.parse().unwrap());
    }
    req = req.headers(headers);
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let cache = resp
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string());
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status != case.status {
        return Err(format!(
            "status {status}, expected {} (body {body}, challenge {challenge:?})",
            case.status
        ));
    }
    if status == 200 {
        let seen = &body["headers"];
        for (name, expected) in &case.upstream {
            let got = seen[*name].as_str().map(str::to_owned);
            if &got != expected {
                return Err(format!(
                    "upstream header {name} = {got:?}, expected {expected:?}"
                ));
            }
        }
        return Ok(());
    }
    if cache.as_deref() != Some("no-store") {
        return Err(format!("cache-control {cache:?}"));
    }
    if let Some(e) = case.error
        && body["error"] != e
    {
        return Err(format!("body error {}, expected {e}", body["error"]));
    }
    if body["error_description"].as_str().is_none_or(str::is_empty) {
        return Err(format!("no error_description in {body}"));
    }
    match (&case.challenge, &challenge) {
        (None, _) => Ok(()),
        (Some(Challenge::Exactly(want)), Some(got)) if got == want => Ok(()),
        (Some(Challenge::Contains(frag)), Some(got)) if got.contains(frag) => Ok(()),
        (Some(_), got) => Err(format!("challenge {got:?}")),
    }
}
