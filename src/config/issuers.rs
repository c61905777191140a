//! One `issuers[]` entry: where its keys are and what its tokens must be.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use url::Url;

use super::IssuerSettings;
use super::compile::{Errors, MAX_LEEWAY, is_quotable};
use super::file::IssuerFile;
use crate::keys::{FetchSettings, KeySettings, KeySource, url_allowed};

const DEFAULT_ALGORITHMS: &[Algorithm] = &[Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

pub(super) fn issuer_settings(
    path: &str,
    mut f: IssuerFile,
    base_dir: &Path,
    errs: &mut Errors,
) -> Option<IssuerSettings> {
    let before = errs.0.len();
    if f.issuer.is_empty() {
        errs.add(format!("{path}.issuer"), "must not be empty");
    }
    let source = key_source(path, &f, base_dir, errs);
    check_audiences(path, &f, errs);
    let algorithms = algorithms(path, f.algorithms.as_deref(), errs);
    let dpop = super::dpop::dpop_settings(path, f.dpop.take().unwrap_or_default(), base_dir, errs);
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
        logout_audiences: f.logout_audiences,
        algorithms,
        leeway,
        max_token_lifetime: f.max_token_lifetime.map(|d| d.0),
        required_typ: f.required_typ,
        dpop: Arc::new(dpop),
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

/// Exactly one of `jwks_uri`, `discovery_url`, `jwks_file`; URLs https
/// unless loopback or explicitly allowed.
fn key_source(path: &str, f: &IssuerFile, base_dir: &Path, errs: &mut Errors) -> Option<KeySource> {
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
    match (&f.jwks_uri, &f.discovery_url, &f.jwks_file) {
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
    }
}

fn check_audiences(path: &str, f: &IssuerFile, errs: &mut Errors) {
    if f.audiences.is_empty() || f.audiences.iter().any(String::is_empty) {
        errs.add(
            format!("{path}.audiences"),
            "list at least one non-empty audience",
        );
    }
    if f.logout_audiences.iter().any(String::is_empty) {
        errs.add(
            format!("{path}.logout_audiences"),
            "audiences must not be empty",
        );
    }
    // A logout token needs no `typ`; with a shared audience only its
    // `events` claim would tell it from an access token.
    if let Some(shared) = f.logout_audiences.iter().find(|a| f.audiences.contains(a)) {
        errs.add(
            format!("{path}.logout_audiences"),
            format!("`{shared}` is also an access-token audience: logout tokens go to the relying party's client id, not to an API"),
        );
    }
}

/// The allow-list: named JWS algorithms, never HMAC.
pub(super) fn algorithms(
    path: &str,
    names: Option<&[String]>,
    errs: &mut Errors,
) -> Vec<Algorithm> {
    let Some(names) = names else {
        return DEFAULT_ALGORITHMS.to_vec();
    };
    if names.is_empty() {
        errs.add(format!("{path}.algorithms"), "list at least one algorithm");
    }
    names
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
        .collect()
}
