//! The small top-level sections: server, acr levels, identity headers,
//! revocations, admin.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use http::HeaderName;
use serde_yaml_ng::Value;

use super::compile::{Errors, MAX_LEEWAY, is_quotable};
use super::file::{AdminFile, IdentityHeadersFile, RevocationsFile, ServerFile};
use super::{AdminAuth, IdentityHeaders, IssuerSettings, LogFormat, ServerSettings, tiers};
use crate::revocation::{HmacKey, RevocationSettings, StoreSettings};

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

pub(super) fn server_settings(f: ServerFile, errs: &mut Errors) -> Option<ServerSettings> {
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
    let admin_max_connections = f.admin_max_connections.unwrap_or(256);
    if !(1..=65_536).contains(&admin_max_connections) {
        errs.add(
            "server.admin_max_connections",
            "must be between 1 and 65536",
        );
    }
    let grpc_max_connections = f.grpc_max_connections.unwrap_or(4096);
    if !(1..=65_536).contains(&grpc_max_connections) {
        errs.add("server.grpc_max_connections", "must be between 1 and 65536");
    }
    let grpc_read_timeout = f.grpc_read_timeout.map_or(Duration::from_secs(10), |d| d.0);
    if !(Duration::from_millis(100)..=Duration::from_secs(300)).contains(&grpc_read_timeout) {
        errs.add("server.grpc_read_timeout", "must be between 100ms and 5m");
    }
    let admin_read_timeout = f
        .admin_read_timeout
        .map_or(Duration::from_secs(10), |d| d.0);
    if !(Duration::from_millis(100)..=Duration::from_secs(300)).contains(&admin_read_timeout) {
        errs.add("server.admin_read_timeout", "must be between 100ms and 5m");
    }
    let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
    Some(ServerSettings {
        grpc_addr: f
            .grpc_addr
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 9000))),
        admin_addr: f.admin_addr.unwrap_or(loopback(9090)),
        realm,
        max_token_bytes,
        token_cache_entries: f.token_cache_entries.unwrap_or(10_000),
        start_without_keys: f.start_without_keys.unwrap_or(false),
        reload_interval: f.reload_interval.map_or(Duration::from_secs(5), |d| d.0),
        shutdown_grace: f.shutdown_grace.map_or(Duration::from_secs(10), |d| d.0),
        log_format,
        admin_max_connections,
        grpc_max_connections,
        grpc_read_timeout,
        admin_read_timeout,
    })
}

pub(super) fn acr_levels(value: Option<Value>, errs: &mut Errors) -> Vec<String> {
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

pub(super) fn identity_headers(f: IdentityHeadersFile, errs: &mut Errors) -> IdentityHeaders {
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

/// The revocation leeway when neither the file nor any issuer asks for more.
const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

pub(super) fn revocation_settings(
    f: RevocationsFile,
    issuers: &[IssuerSettings],
    base_dir: &Path,
    errs: &mut Errors,
) -> Option<RevocationSettings> {
    let path = base_dir.join(f.path.unwrap_or_else(|| "zt-authz-revocations.redb".into()));
    let store_kind = f.store.as_deref().unwrap_or("embedded");
    if f.redis_hmac_key_file.is_some() && store_kind != "redis" {
        errs.add(
            "revocations.redis_hmac_key_file",
            "applies only to store: redis",
        );
    }
    let store = match store_kind {
        "memory" => StoreSettings::Memory,
        "embedded" => StoreSettings::Embedded { path },
        "redis" => match f.redis_url {
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                // Parsed as `serve` will parse it; the error is ours, since
                // the URL may carry a password.
                if redis::Client::open(url.as_str()).is_err() {
                    errs.add(
                        "revocations.redis_url",
                        "is not a valid Redis URL: redis[s]://[user:password@]host[:port][/database number]",
                    );
                }
                StoreSettings::Redis {
                    path,
                    url,
                    prefix: f.redis_prefix.unwrap_or_else(|| "zt-authz".into()),
                    hmac_key: f
                        .redis_hmac_key_file
                        .and_then(|file| hmac_key(&base_dir.join(file), errs)),
                }
            }
            _ => {
                errs.add(
                    "revocations.redis_url",
                    "store: redis needs a redis:// or rediss:// URL",
                );
                return None;
            }
        },
        _ => {
            errs.add(
                "revocations.store",
                "must be `embedded`, `redis` or `memory`",
            );
            return None;
        }
    };
    // A default cut-off is now plus this leeway: it must reach every token
    // an issuer may stamp ahead of our clock, that issuer's leeway.
    let widest = issuers
        .iter()
        .enumerate()
        .max_by_key(|(_, i)| i.leeway)
        .map(|(n, i)| (n, i.leeway));
    let leeway = match (f.leeway, widest) {
        (Some(set), Some((n, widest))) if set.0 < widest => {
            errs.add(
                "revocations.leeway",
                format!(
                    "must be at least every issuer's leeway, but issuers[{n}].leeway is {}: a token that issuer stamps ahead of our clock would escape a default revocation cut-off",
                    humantime::format_duration(widest)
                ),
            );
            set.0
        }
        (Some(set), _) => set.0,
        (None, widest) => widest.map_or(DEFAULT_LEEWAY, |(_, w)| w.max(DEFAULT_LEEWAY)),
    };
    // A derived leeway above the cap is already an issuer's error.
    if f.leeway.is_some_and(|set| set.0 > MAX_LEEWAY) {
        errs.add("revocations.leeway", "must be at most 5m");
    }
    let max_token_lifetime = f
        .max_token_lifetime
        .map_or(Duration::from_secs(24 * 3600), |d| d.0);
    // Zero would refuse every token; an unbounded one would keep entries
    // (and accept tokens) for ever.
    if !(Duration::from_secs(60)..=Duration::from_secs(30 * 86_400)).contains(&max_token_lifetime) {
        errs.add(
            "revocations.max_token_lifetime",
            "must be between 1m and 30d",
        );
    }
    Some(RevocationSettings {
        store,
        max_token_lifetime,
        leeway,
        catch_up_timeout: f.catch_up_timeout.map_or(Duration::from_secs(60), |d| d.0),
    })
}

/// The fan-out key: the file's bytes without trailing line breaks (as a
/// Kubernetes Secret often ends). Never echoed in an error.
fn hmac_key(file: &Path, errs: &mut Errors) -> Option<HmacKey> {
    let at = "revocations.redis_hmac_key_file";
    match std::fs::read(file) {
        Err(e) => {
            errs.add(at, format!("cannot read {}: {e}", file.display()));
            None
        }
        Ok(bytes) => {
            let secret = bytes.trim_ascii_end();
            if secret.len() < HmacKey::MIN_BYTES {
                errs.add(
                    at,
                    format!("the key must be at least {} bytes", HmacKey::MIN_BYTES),
                );
                return None;
            }
            Some(HmacKey::new(secret))
        }
    }
}

pub(super) fn admin_auth(
    f: AdminFile,
    server: Option<&ServerSettings>,
    issuers: &[IssuerSettings],
    errs: &mut Errors,
) -> AdminAuth {
    match (f.unauthenticated, f.issuer, f.scope) {
        (true, None, None) => {
            if server.is_some_and(|s| !s.admin_addr.ip().is_loopback()) {
                errs.add(
                    "admin.unauthenticated",
                    "allowed only when server.admin_addr is a loopback address",
                );
            }
            AdminAuth::Unauthenticated
        }
        (false, Some(issuer), Some(scope)) => {
            if !issuers.iter().any(|i| i.issuer == issuer) {
                errs.add(
                    "admin.issuer",
                    format!("`{issuer}` is not one of the configured issuers"),
                );
            }
            if scope.is_empty() || scope.contains(' ') {
                errs.add("admin.scope", "must be one scope, without spaces");
            }
            AdminAuth::Jwt { issuer, scope }
        }
        (false, None, None) => AdminAuth::Disabled,
        (true, _, _) => {
            errs.add(
                "admin",
                "unauthenticated cannot be combined with issuer/scope",
            );
            AdminAuth::Disabled
        }
        (false, _, _) => {
            errs.add("admin", "issuer and scope go together");
            AdminAuth::Disabled
        }
    }
}
