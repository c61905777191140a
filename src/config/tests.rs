use std::path::Path;
use std::time::Duration;

use super::*;

const ISSUER: &str = "
issuers:
  - issuer: https://idp.example
    jwks_uri: https://idp.example/jwks
    audiences: [api]
";

fn load(extra: &str) -> Result<Config, ConfigErrors> {
    Config::from_yaml(&format!("{ISSUER}{extra}"), Path::new("/etc/zt-authz"))
}

fn errors(yaml: &str) -> Vec<(String, String)> {
    match Config::from_yaml(yaml, Path::new(".")) {
        Ok(_) => panic!("config was accepted:\n{yaml}"),
        Err(e) => e.0.into_iter().map(|e| (e.path, e.message)).collect(),
    }
}

#[test]
fn every_error_is_reported_with_its_path() {
    let yaml = "
server: { max_token_bytes: 10 }
surprise: 1
issuers:
  - issuer: https://a.example
    jwks_uri: http://a.example/jwks
    audiences: []
    algorithms: [HS256, XX1]
    leeway: 10m
  - issuer: https://b.example
    audiences: [x]
policies:
  - name: p1
    tier: nope
    match: { path: { regex: '(' } }
  - name: p1
    anonymous: true
    scopes: [a]
  - name: p3
    unknown_field: true
  - name: p4
    min_acr: platinum
    principals: [not-spiffe]
";
    let paths: Vec<String> = errors(yaml).into_iter().map(|(p, _)| p).collect();
    for expected in [
        "server.max_token_bytes",
        "surprise",
        "issuers[0].jwks_uri",
        "issuers[0].audiences",
        "issuers[0].algorithms[0]",
        "issuers[0].algorithms[1]",
        "issuers[0].leeway",
        "issuers[1]",
        "policies[0].tier",
        "policies[0].match.path.regex",
        "policies[1].name",
        "policies[1]",
        "policies[2].unknown_field",
        "policies[3].min_acr",
        "policies[3].principals[0]",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "no error at {expected}; got {paths:#?}"
        );
    }
}

#[test]
fn defaults_are_filled_in() {
    let c = load("policies:\n  - name: p\n    scopes: [read]\n").unwrap();
    assert_eq!(c.server.max_token_bytes, 8192);
    assert_eq!(c.server.admin_addr.to_string(), "127.0.0.1:9090");
    assert_eq!(c.server.grpc_max_connections, 4096);
    assert_eq!(c.server.grpc_read_timeout, Duration::from_secs(10));
    assert_eq!(c.default_action, DefaultAction::Deny);
    assert_eq!(c.acr_levels, ["pwd", "mfa", "phr"]);
    let i = &c.issuers[0];
    assert_eq!(i.leeway, Duration::from_secs(30));
    assert_eq!(i.keys.refresh_interval, Duration::from_secs(300));
    assert_eq!(i.keys.refetch_cooldown, Duration::from_secs(10));
    let headers: Vec<&str> = c.identity.all().map(|h| h.as_str()).collect();
    for h in [
        "x-auth-subject",
        "x-auth-issuer",
        "x-auth-scopes",
        "x-auth-acr",
        "x-auth-session",
        "x-auth-policy",
    ] {
        assert!(headers.contains(&h), "{h}");
    }
}

#[test]
fn tiers_preset_and_policies_override() {
    let c = load(
        "policies:
  - name: a
    tier: admin
  - name: c
    tier: confidential
    max_token_lifetime: 5m
    min_acr: phr
  - name: custom
    tier: partner
tiers:
  partner: { max_token_age: 2m }
",
    )
    .unwrap();
    let p: Vec<_> = c.policies.iter().collect();
    assert_eq!(
        p[0].token_limits.max_lifetime,
        Some(Duration::from_secs(600))
    );
    assert_eq!(p[0].max_auth_age, Some(Duration::from_secs(300)));
    assert_eq!(p[0].min_acr.as_ref().unwrap().acr_values, "phr");
    assert!(p[0].remove_authorization);
    assert_eq!(
        p[1].token_limits.max_lifetime,
        Some(Duration::from_secs(300))
    );
    assert_eq!(p[1].min_acr.as_ref().unwrap().rank, 2);
    assert_eq!(p[2].token_limits.max_age, Some(Duration::from_secs(120)));
}

#[test]
fn tier_acr_must_exist_in_custom_levels() {
    let yaml = format!(
        "{ISSUER}acr_levels: [low, high]\npolicies:\n  - name: c\n    tier: confidential\n"
    );
    let errs = errors(&yaml);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "policies[0].min_acr");
    assert!(errs[0].1.contains("tier `confidential`"), "{}", errs[0].1);
}

#[test]
fn relative_jwks_files_resolve_beside_the_config() {
    let yaml =
        "issuers:\n  - issuer: https://i\n    jwks_file: keys/jwks.json\n    audiences: [a]\n";
    let c = Config::from_yaml(yaml, Path::new("/etc/zt-authz")).unwrap();
    assert_eq!(
        c.issuers[0].keys.source,
        crate::keys::KeySource::File("/etc/zt-authz/keys/jwks.json".into())
    );
}

#[test]
fn identity_headers_must_be_safe() {
    let errs = errors(&format!(
        "{ISSUER}identity_headers:\n  claims: {{ sub: authorization, email: 'bad header' }}\n  policy: x-auth-policy\n"
    ));
    let paths: Vec<_> = errs.iter().map(|e| e.0.as_str()).collect();
    assert!(paths.contains(&"identity_headers.claims.sub"), "{errs:?}");
    assert!(paths.contains(&"identity_headers.claims.email"), "{errs:?}");
    // Names CGI-style stacks would share with other spellings.
    for name in ["x_user_name", "X.Auth.Nick", "x~auth"] {
        let errs = errors(&format!(
            "{ISSUER}identity_headers:\n  claims: {{ name: '{name}' }}\n"
        ));
        assert!(
            errs.iter()
                .any(|e| e.0 == "identity_headers" && e.1.contains("only letters, digits and `-`")),
            "{name}: {errs:?}"
        );
    }
}

#[test]
fn token_policies_need_an_issuer() {
    let errs = errors("policies:\n  - name: p\n");
    assert_eq!(errs[0].0, "issuers");
    assert!(
        Config::from_yaml(
            "policies:\n  - name: p\n    anonymous: true\n",
            Path::new(".")
        )
        .is_ok()
    );
}

#[test]
fn revocations_are_kept_as_long_as_any_issuer_tolerates_skew() {
    let skewed = |issuer_leeway: &str, revocations: &str| {
        format!(
            "
issuers:
  - issuer: https://a.example
    jwks_uri: https://a.example/jwks
    audiences: [api]
    leeway: {issuer_leeway}
  - issuer: https://b.example
    jwks_uri: https://b.example/jwks
    audiences: [api]
{revocations}"
        )
    };
    let config = |yaml: String| Config::from_yaml(&yaml, Path::new(".")).unwrap();
    // Unset: the larger of 30 s and the largest issuer leeway.
    let wide = config(skewed("5m", ""));
    assert_eq!(wide.revocations.leeway, Duration::from_secs(300));
    let narrow = config(skewed("10s", ""));
    assert_eq!(narrow.revocations.leeway, Duration::from_secs(30));
    let set = config(skewed("1m", "revocations: { leeway: 2m }"));
    assert_eq!(set.revocations.leeway, Duration::from_secs(120));
    // Set below an issuer's: a revoked token would outlive its entry.
    let refused = errors(&skewed("5m", "revocations: { leeway: 30s }"));
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, "revocations.leeway");
    assert!(
        refused[0].1.contains("issuers[0].leeway") && refused[0].1.contains("5m"),
        "{refused:?}"
    );
    let summary = wide.summary();
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("revocations:") && l.contains("leeway 5m")),
        "{summary}"
    );
}

#[test]
fn a_logout_audience_is_never_an_access_audience() {
    let refused = errors(
        "
issuers:
  - issuer: https://a.example
    jwks_uri: https://a.example/jwks
    audiences: [api, web]
    logout_audiences: [web]
",
    );
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, "issuers[0].logout_audiences");
    assert!(refused[0].1.contains("`web`"), "{refused:?}");
}

#[test]
fn a_redis_url_serve_cannot_use_is_refused_without_showing_it() {
    for url in [
        "redis://:s3cret@127.0.0.1:notaport",
        "redis://:s3cret@127.0.0.1:6379/abc",
        "redis://:s3cret@[::1",
    ] {
        let refused = errors(&format!(
            "revocations: {{ store: redis, redis_url: \"{url}\" }}\n"
        ));
        assert_eq!(refused.len(), 1, "{url}: {refused:?}");
        assert_eq!(refused[0].0, "revocations.redis_url");
        assert!(!refused[0].1.contains("s3cret"), "{refused:?}");
    }
    for url in [
        "redis://:s3cret@127.0.0.1:6379/2",
        "rediss://:s3cret@redis.example.internal:6380",
    ] {
        let yaml = format!("revocations: {{ store: redis, redis_url: \"{url}\" }}\n");
        assert!(
            Config::from_yaml(&yaml, Path::new(".")).is_ok(),
            "{url} refused"
        );
    }
}

#[test]
fn the_longest_token_lifetime_is_bounded() {
    for bad in ["0s", "59s", "31d", "18446744073709551615s"] {
        let refused = errors(&format!(
            "revocations: {{ store: memory, max_token_lifetime: {bad} }}\n"
        ));
        assert_eq!(refused.len(), 1, "{bad}: {refused:?}");
        assert_eq!(refused[0].0, "revocations.max_token_lifetime", "{bad}");
    }
    for good in ["1m", "24h", "30d"] {
        let yaml = format!("revocations: {{ store: memory, max_token_lifetime: {good} }}\n");
        assert!(Config::from_yaml(&yaml, Path::new(".")).is_ok(), "{good}");
    }
}

#[test]
fn the_grpc_ports_bounds_are_bounded_themselves() {
    for (server, path) in [
        ("grpc_max_connections: 0", "server.grpc_max_connections"),
        ("grpc_max_connections: 70000", "server.grpc_max_connections"),
        ("grpc_read_timeout: 10ms", "server.grpc_read_timeout"),
        ("grpc_read_timeout: 1h", "server.grpc_read_timeout"),
    ] {
        let yaml =
            format!("server: {{ {server} }}\n{ISSUER}policies:\n  - name: p\n    scopes: [read]\n");
        let paths: Vec<String> = errors(&yaml).into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, [path], "{server}");
    }
}
