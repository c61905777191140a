//! From YAML text to a checked `Config`, collecting every error on the way.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use jsonwebtoken::Algorithm;
use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;
use url::Url;

use super::file::{
    ClaimConditionFile, IdentityHeadersFile, IssuerFile, PolicyFile, ServerFile, TierFile,
};
use super::{
    Config, ConfigError, ConfigErrors, DefaultAction, IdentityHeaders, IssuerSettings, LogFormat,
    ServerSettings, tiers,
};
use crate::keys::{FetchSettings, KeySettings, KeySource, url_allowed};
use crate::policy::{AcrRequirement, ClaimCondition, PathMatch, Policy, PolicySet, RouteMatch};
use crate::token::TokenLimits;

const MAX_LEEWAY: Duration = Duration::from_secs(300);
const DEFAULT_ALGORITHMS: &[Algorithm] = &[Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];
/// Headers this service must never be told to set.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "cookie",
    "x-forwarded-for",
    "x-request-id",
];

#[derive(Default)]
struct Errors(Vec<ConfigError>);

impl Errors {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Deserialises one section, recording where in it a failure happened.
    fn parse<T: DeserializeOwned>(&mut self, path: &str, value: Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let inner = e.path().to_string();
                let at = if inner == "." {
                    path.to_string()
                } else {
                    format!("{path}.{inner}")
                };
                self.add(at, e.inner().to_string());
                None
            }
        }
    }
}

pub fn compile(text: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
    let mut errs = Errors::default();
    let root: Value = serde_yaml_ng::from_str(text).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            path: "(file)".into(),
            message: format!("not valid YAML: {e}"),
        }])
    })?;
    let Value::Mapping(root) = root else {
        return Err(ConfigErrors(vec![ConfigError {
            path: "(file)".into(),
            message: "the top level must be a mapping".into(),
        }]));
    };

    let mut sections: BTreeMap<String, Value> = BTreeMap::new();
    for (key, value) in root {
        match key.as_str() {
            Some(k @ ("server" | "acr_levels" | "default_action" | "identity_headers" | "tiers" | "issuers" | "policies")) => {
                sections.insert(k.to_string(), value);
            }
            Some(other) => errs.add(other, "unknown key; expected one of server, acr_levels, default_action, identity_headers, tiers, issuers, policies"),
            None => errs.add("(file)", "top-level keys must be strings"),
        }
    }
    let mut take = |name: &str| sections.remove(name).filter(|v| !v.is_null());

    let server = take("server")
        .map_or(Some(ServerFile::default()), |v| errs.parse("server", v))
        .and_then(|s| server_settings(s, &mut errs));
    let acr_levels = acr_levels(take("acr_levels"), &mut errs);
    let default_action =
        match take("default_action").map(|v| errs.parse::<String>("default_action", v)) {
            None => DefaultAction::Deny,
            Some(Some(s)) if s == "deny" => DefaultAction::Deny,
            Some(Some(s)) if s == "allow" => DefaultAction::Allow,
            Some(Some(_)) => {
                errs.add("default_action", "must be `deny` or `allow`");
                DefaultAction::Deny
            }
            Some(None) => DefaultAction::Deny,
        };
    let identity = take("identity_headers")
        .map_or(Some(IdentityHeadersFile::default()), |v| {
            errs.parse("identity_headers", v)
        })
        .map(|f| identity_headers(f, &mut errs));
    let mut tier_table = tiers::builtin();
    if let Some(v) = take("tiers")
        && let Some(custom) = errs.parse::<BTreeMap<String, TierFile>>("tiers", v)
    {
        tier_table.extend(custom);
    }
    let issuers: Vec<IssuerSettings> = list(take("issuers"), "issuers", &mut errs)
        .into_iter()
        .filter_map(|(path, v)| {
            let file = errs.parse::<IssuerFile>(&path, v)?;
            issuer_settings(&path, file, base_dir, &mut errs)
        })
        .collect();
    let mut seen = HashSet::new();
    for (i, iss) in issuers.iter().enumerate() {
        if !seen.insert(iss.issuer.clone()) {
            errs.add(
                format!("issuers[{i}].issuer"),
                format!("issuer {} is configured twice", iss.issuer),
            );
        }
    }

    let mut policies = Vec::new();
    let mut names = HashSet::new();
    for (path, v) in list(take("policies"), "policies", &mut errs) {
        let Some(file) = errs.parse::<PolicyFile>(&path, v) else {
            continue;
        };
        if !names.insert(file.name.clone()) {
            errs.add(
                format!("{path}.name"),
                format!("policy name `{}` is used twice", file.name),
            );
        }
        if let Some(p) = policy(&path, file, &tier_table, &acr_levels, &mut errs) {
            policies.push(p);
        }
    }
    if issuers.is_empty() && policies.iter().any(|p| !p.anonymous) {
        errs.add(
            "issuers",
            "policies require tokens but no issuer is configured",
        );
    }

    match (server, identity, errs.0.is_empty()) {
        (Some(server), Some(identity), true) => Ok(Config {
            server,
            acr_levels,
            default_action,
            identity,
            issuers,
            policies: PolicySet::new(policies),
        }),
        _ => Err(ConfigErrors(errs.0)),
    }
}

fn list(value: Option<Value>, name: &str, errs: &mut Errors) -> Vec<(String, Value)> {
    match value {
        None => Vec::new(),
        Some(Value::Sequence(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("{name}[{i}]"), v))
            .collect(),
        Some(_) => {
            errs.add(name, "must be a list");
            Vec::new()
        }
    }
}

fn server_settings(f: ServerFile, errs: &mut Errors) -> Option<ServerSettings> {
    let realm = f.realm.unwrap_or_else(|| "zt-authz".into());
    if !is_quotable(&realm) {
        errs.add(
            "server.realm",
            "must be printable text without quotes or backslashes",
        );
    }
    let max_token_bytes = f.max_token_bytes.unwrap_or(8192);
    if !(512..=65536).contains(&max_token_bytes) {
        errs.add("server.max_token_bytes", "must be between 512 and 65536");
    }
    let log_format = match f.log_format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(_) => {
            errs.add("server.log_format", "must be `text` or `json`");
            LogFormat::Text
        }
    };
    let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
    Some(ServerSettings {
        grpc_addr: f
            .grpc_addr
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 9000))),
        admin_addr: f.admin_addr.unwrap_or(loopback(9090)),
        realm,
        max_token_bytes,
        start_without_keys: f.start_without_keys.unwrap_or(false),
        reload_interval: f.reload_interval.map_or(Duration::from_secs(5), |d| d.0),
        shutdown_grace: f.shutdown_grace.map_or(Duration::from_secs(10), |d| d.0),
        log_format,
    })
}

fn acr_levels(value: Option<Value>, errs: &mut Errors) -> Vec<String> {
    let levels = match value {
        None => {
            return tiers::DEFAULT_ACR_LEVELS
                .iter()
                .map(|s| s.to_string())
                .collect();
        }
        Some(v) => errs
            .parse::<Vec<String>>("acr_levels", v)
            .unwrap_or_default(),
    };
    let mut seen = HashSet::new();
    for (i, l) in levels.iter().enumerate() {
        if l.is_empty() || l.contains(' ') || !is_quotable(l) {
            errs.add(
                format!("acr_levels[{i}]"),
                "must be non-empty, without spaces or quotes",
            );
        }
        if !seen.insert(l) {
            errs.add(format!("acr_levels[{i}]"), format!("`{l}` is listed twice"));
        }
    }
    levels
}

fn identity_headers(f: IdentityHeadersFile, errs: &mut Errors) -> IdentityHeaders {
    let claims_map = f.claims.unwrap_or_else(|| {
        [
            ("sub", "x-auth-subject"),
            ("iss", "x-auth-issuer"),
            ("scope", "x-auth-scopes"),
            ("acr", "x-auth-acr"),
            ("sid", "x-auth-session"),
        ]
        .into_iter()
        .map(|(c, h)| (c.to_string(), h.to_string()))
        .collect()
    });
    let mut header = |path: String, name: &str| -> Option<HeaderName> {
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with(':') {
            errs.add(
                path,
                format!("`{name}` is reserved and cannot carry identity"),
            );
            return None;
        }
        HeaderName::from_str(&lower)
            .map_err(|_| errs.add(path, format!("`{name}` is not a valid header name")))
            .ok()
    };
    let mut claims = Vec::new();
    for (claim, name) in &claims_map {
        if let Some(h) = header(format!("identity_headers.claims.{claim}"), name) {
            claims.push((claim.clone(), h));
        }
    }
    let policy = header(
        "identity_headers.policy".into(),
        f.policy.as_deref().unwrap_or("x-auth-policy"),
    );
    let mut seen = HashSet::new();
    for h in claims.iter().map(|(_, h)| h).chain(policy.iter()) {
        if !seen.insert(h.clone()) {
            errs.add(
                "identity_headers",
                format!("header `{h}` is used for two things"),
            );
        }
    }
    IdentityHeaders { claims, policy }
}

fn issuer_settings(
    path: &str,
    f: IssuerFile,
    base_dir: &Path,
    errs: &mut Errors,
) -> Option<IssuerSettings> {
    let before = errs.0.len();
    if f.issuer.is_empty() {
        errs.add(format!("{path}.issuer"), "must not be empty");
    }
    let url = |key: &str, s: &str, errs: &mut Errors| -> Option<Url> {
        let at = format!("{path}.{key}");
        match Url::parse(s) {
            Err(e) => errs.add(at, format!("not a URL: {e}")),
            Ok(u) if !url_allowed(&u, f.allow_insecure_http) => errs.add(
                at,
                "must be https (plain http only for loopback, or with allow_insecure_http: true)",
            ),
            Ok(u) => return Some(u),
        }
        None
    };
    let source = match (&f.jwks_uri, &f.discovery_url, &f.jwks_file) {
        (Some(u), None, None) => url("jwks_uri", u, errs).map(KeySource::JwksUri),
        (None, Some(u), None) => url("discovery_url", u, errs).map(KeySource::Discovery),
        (None, None, Some(p)) => Some(KeySource::File(base_dir.join(p))),
        _ => {
            errs.add(
                path,
                "needs exactly one of jwks_uri, discovery_url, jwks_file",
            );
            None
        }
    };
    if f.audiences.is_empty() || f.audiences.iter().any(String::is_empty) {
        errs.add(
            format!("{path}.audiences"),
            "list at least one non-empty audience",
        );
    }
    let algorithms = match &f.algorithms {
        None => DEFAULT_ALGORITHMS.to_vec(),
        Some(names) => names
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let at = format!("{path}.algorithms[{i}]");
                match Algorithm::from_str(name) {
                    Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => {
                        errs.add(at, "HMAC algorithms are not accepted: issuers publish public keys");
                        None
                    }
                    Ok(a) => Some(a),
                    Err(_) => {
                        errs.add(at, format!("`{name}` is not a supported JWS algorithm (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)"));
                        None
                    }
                }
            })
            .collect(),
    };
    if f.algorithms.as_ref().is_some_and(Vec::is_empty) {
        errs.add(format!("{path}.algorithms"), "list at least one algorithm");
    }
    let leeway = f.leeway.map_or(Duration::from_secs(30), |d| d.0);
    if leeway > MAX_LEEWAY {
        errs.add(format!("{path}.leeway"), "must be at most 5m");
    }
    if let Some(typ) = &f.required_typ
        && (typ.is_empty() || !is_quotable(typ))
    {
        errs.add(
            format!("{path}.required_typ"),
            "must be printable text without quotes",
        );
    }
    let refresh_interval = f.refresh_interval.map_or(Duration::from_secs(300), |d| d.0);
    let refetch_cooldown = f.refetch_cooldown.map_or(Duration::from_secs(10), |d| d.0);
    let timeout = f.fetch_timeout.map_or(Duration::from_secs(5), |d| d.0);
    for (key, d, min) in [
        ("refresh_interval", refresh_interval, 1),
        ("refetch_cooldown", refetch_cooldown, 0),
        ("fetch_timeout", timeout, 1),
    ] {
        if d < Duration::from_millis(min * 100) {
            errs.add(format!("{path}.{key}"), "is too short");
        }
    }
    if errs.0.len() != before {
        return None;
    }
    Some(IssuerSettings {
        issuer: f.issuer,
        audiences: f.audiences,
        algorithms,
        leeway,
        max_token_lifetime: f.max_token_lifetime.map(|d| d.0),
        required_typ: f.required_typ,
        keys: KeySettings {
            source: source?,
            fetch: FetchSettings {
                timeout,
                allow_insecure_http: f.allow_insecure_http,
            },
            refresh_interval,
            refetch_cooldown,
        },
    })
}

fn policy(
    path: &str,
    f: PolicyFile,
    tiers: &BTreeMap<String, TierFile>,
    acr_levels: &[String],
    errs: &mut Errors,
) -> Option<Policy> {
    let before = errs.0.len();
    if f.name.is_empty()
        || !f
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        errs.add(
            format!("{path}.name"),
            "must be non-empty and use only letters, digits, `-`, `_`, `.`",
        );
    }
    let base = match &f.tier {
        None => TierFile::default(),
        Some(t) => tiers.get(t).cloned().unwrap_or_else(|| {
            errs.add(
                format!("{path}.tier"),
                format!(
                    "unknown tier `{t}`; known: {}",
                    tiers.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
            TierFile::default()
        }),
    };
    let settings = f.overrides().over(&base);

    let path_match = match &f.route.path {
        None => Some(PathMatch::Any),
        Some(p) => match (&p.exact, &p.prefix, &p.regex) {
            (Some(e), None, None) => Some(PathMatch::Exact(e.clone())),
            (None, Some(pre), None) => Some(PathMatch::Prefix(pre.clone())),
            (None, None, Some(r)) => PathMatch::regex(r)
                .map_err(|e| errs.add(format!("{path}.match.path.regex"), e))
                .ok(),
            _ => {
                errs.add(
                    format!("{path}.match.path"),
                    "needs exactly one of exact, prefix, regex",
                );
                None
            }
        },
    };
    for (i, m) in f.route.methods.iter().enumerate() {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
            errs.add(
                format!("{path}.match.methods[{i}]"),
                format!("`{m}` is not an HTTP method"),
            );
        }
    }
    let route = path_match.and_then(|pm| {
        RouteMatch::new(f.route.hosts.clone(), pm, f.route.methods.clone())
            .map_err(|e| errs.add(format!("{path}.match.hosts"), e))
            .ok()
    });
    for (i, p) in f.principals.iter().enumerate() {
        if !p.starts_with("spiffe://") {
            errs.add(
                format!("{path}.principals[{i}]"),
                "must be a SPIFFE ID (spiffe://trust-domain/...)",
            );
        }
    }
    for (i, s) in f.scopes.iter().enumerate() {
        if s.is_empty() || s.contains(' ') || !is_quotable(s) {
            errs.add(
                format!("{path}.scopes[{i}]"),
                "must be non-empty, without spaces or quotes",
            );
        }
    }
    let claims = f
        .claims
        .iter()
        .map(|(claim, cond)| ClaimCondition {
            claim: claim.clone(),
            allowed: match cond {
                ClaimConditionFile::One(v) => vec![v.clone()],
                ClaimConditionFile::AnyOf(vs) => vs.clone(),
            },
        })
        .collect::<Vec<_>>();
    for c in &claims {
        if c.allowed.is_empty() {
            errs.add(
                format!("{path}.claims.{}", c.claim),
                "list at least one allowed value",
            );
        }
    }
    let min_acr =
        settings
            .min_acr
            .as_ref()
            .and_then(|acr| match acr_levels.iter().position(|l| l == acr) {
                Some(rank) => Some(AcrRequirement {
                    rank,
                    acr_values: acr_levels[rank..].join(" "),
                }),
                None => {
                    let from = if f.min_acr.is_some() {
                        "min_acr".to_string()
                    } else {
                        format!("tier `{}`'s min_acr", f.tier.as_deref().unwrap_or(""))
                    };
                    errs.add(
                        format!("{path}.min_acr"),
                        format!("{from} `{acr}` is not in acr_levels"),
                    );
                    None
                }
            });
    if f.anonymous
        && (!f.scopes.is_empty()
            || !claims.is_empty()
            || settings.min_acr.is_some()
            || settings.max_auth_age.is_some())
    {
        errs.add(path, "an anonymous policy cannot require scopes, claims, acr or auth age (it reads no token)");
    }
    if errs.0.len() != before {
        return None;
    }
    Some(Policy {
        name: Arc::from(f.name.as_str()),
        tier: f.tier,
        route: route?,
        anonymous: f.anonymous,
        principals: f.principals,
        scopes: f.scopes,
        claims,
        min_acr,
        max_auth_age: settings.max_auth_age.map(|d| d.0),
        token_limits: TokenLimits {
            max_lifetime: settings.max_token_lifetime.map(|d| d.0),
            max_age: settings.max_token_age.map(|d| d.0),
        },
        remove_authorization: settings.remove_authorization.unwrap_or(false),
    })
}

/// Safe inside a quoted-string of a `WWW-Authenticate` header.
fn is_quotable(s: &str) -> bool {
    s.chars()
        .all(|c| (' '..='~').contains(&c) && c != '"' && c != '\\')
}
