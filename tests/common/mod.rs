//! Shared test fixtures: a real JWKS/OIDC server, the app on port 0, a real
//! Envoy and an upstream that echoes what it received.
#![allow(dead_code, unused_imports)]

pub mod app;
pub mod envoy;
pub mod keys;
pub mod process;
pub mod redis;
pub mod wait;

pub use app::TestApp;
pub use envoy::{EchoUpstream, Envoy, TlsFiles};
pub use keys::{KeyServer, Serve, now};
pub use redis::RedisServer;

/// The config most tests run: two issuers (one by jwks_uri requiring
/// `at+jwt`, one by OIDC discovery) and a policy for every pipeline step.
pub fn standard_config(primary: &KeyServer, other: &KeyServer) -> String {
    format!(
        r#"
server:
  grpc_addr: 127.0.0.1:0
  admin_addr: 127.0.0.1:0
  reload_interval: 0s
acr_levels: [pwd, mfa, phr]
issuers:
  - issuer: {p}
    jwks_uri: {p}/jwks.json
    audiences: [orders-api, admin-api]
    algorithms: [RS256, ES256, EdDSA]
    required_typ: at+jwt
    refetch_cooldown: 10s
  - issuer: {o}
    discovery_url: {o}/.well-known/openid-configuration
    audiences: [orders-api]
policies:
  - name: health
    match: {{ path: {{ exact: /healthz }} }}
    anonymous: true
  - name: mesh-internal
    match: {{ path: {{ prefix: /internal/ }} }}
    principals: [spiffe://cluster.local/ns/shop/sa/checkout]
    anonymous: true
  - name: admin
    tier: admin
    match: {{ path: {{ prefix: /admin }} }}
    scopes: [admin]
  - name: reports
    match: {{ path: {{ prefix: /reports }} }}
    max_token_lifetime: 15m
    max_token_age: 2m
  - name: orders-write
    match: {{ hosts: ["*.shop.example", "127.0.0.1"], path: {{ prefix: /orders }}, methods: [POST, PUT] }}
    scopes: [orders:write]
    claims: {{ role: [admin, clerk] }}
  - name: orders-read
    tier: internal
    match: {{ path: {{ regex: "/orders(/[0-9]+)?" }}, methods: [GET] }}
    scopes: [orders:read]
  - name: profile
    match: {{ path: {{ prefix: /profile }} }}
    remove_authorization: true
"#,
        p = primary.issuer(),
        o = other.issuer()
    )
}

/// The `server` line of an in-process test app: ports chosen by the OS, no
/// reload polling.
#[allow(dead_code)]
pub const TEST_SERVER: &str =
    "server: { grpc_addr: 127.0.0.1:0, admin_addr: 127.0.0.1:0, reload_interval: 0s }\n";

/// One `issuers[]` entry for `ks`, for audience `orders-api`; `extra` is
/// appended to the entry as more lines.
#[allow(dead_code)]
pub fn issuer_entry(ks: &KeyServer, extra: &str) -> String {
    format!(
        "  - issuer: {iss}\n    jwks_uri: {iss}/jwks.json\n    audiences: [orders-api]\n{extra}",
        iss = ks.issuer()
    )
}
