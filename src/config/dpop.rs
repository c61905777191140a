//! `issuers[].dpop`: proof algorithms, the `iat` window, server nonces and
//! the replay cache bound.

use std::path::Path;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::compile::Errors;
use super::file::DpopFile;
use crate::binding::{DpopSettings, NonceKey, NonceSettings};

const MIN_NONCE_KEY_BYTES: usize = 32;

pub(super) fn dpop_settings(
    path: &str,
    f: DpopFile,
    base_dir: &Path,
    errs: &mut Errors,
) -> DpopSettings {
    let at = format!("{path}.dpop");
    let defaults = DpopSettings::default();
    let algorithms = match f.algorithms.as_deref() {
        None => defaults.algorithms.clone(),
        Some(names) => super::issuers::algorithms(&at, Some(names), errs),
    };
    if algorithms
        .iter()
        .any(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
    {
        errs.add(
            format!("{at}.algorithms"),
            "DPoP proofs are signed with asymmetric keys only",
        );
    }
    let iat_window = f.iat_window.map_or(defaults.iat_window, |d| d.0);
    if iat_window < Duration::from_secs(1) || iat_window > Duration::from_secs(600) {
        errs.add(format!("{at}.iat_window"), "must be from 1s to 10m");
    }
    let lifetime = f.nonce_lifetime.map_or(Duration::from_secs(300), |d| d.0);
    if lifetime < Duration::from_secs(10) || lifetime > Duration::from_secs(3600) {
        errs.add(format!("{at}.nonce_lifetime"), "must be from 10s to 1h");
    }
    let nonce = match (f.require_nonce, &f.nonce_key_file) {
        (false, None) => None,
        (false, Some(_)) => {
            errs.add(
                format!("{at}.nonce_key_file"),
                "is only used with require_nonce: true",
            );
            None
        }
        (true, None) => {
            errs.add(
                format!("{at}.nonce_key_file"),
                "require_nonce needs a key file shared by every replica",
            );
            None
        }
        (true, Some(file)) => {
            nonce_key(&base_dir.join(file), &format!("{at}.nonce_key_file"), errs)
                .map(|key| NonceSettings { key, lifetime })
        }
    };
    let replay_cache_entries = f
        .replay_cache_entries
        .unwrap_or(defaults.replay_cache_entries);
    if !(1_000..=100_000_000).contains(&replay_cache_entries) {
        errs.add(
            format!("{at}.replay_cache_entries"),
            "must be from 1000 to 100000000",
        );
    }
    DpopSettings {
        algorithms,
        iat_window,
        nonce,
        replay_cache_entries,
        trust_forwarded_proto: f.trust_forwarded_proto,
    }
}

fn nonce_key(file: &Path, at: &str, errs: &mut Errors) -> Option<NonceKey> {
    match std::fs::read(file) {
        Err(e) => {
            errs.add(at, format!("cannot read {}: {e}", file.display()));
            None
        }
        Ok(bytes) if bytes.trim_ascii_end().len() < MIN_NONCE_KEY_BYTES => {
            errs.add(
                at,
                format!("the key must be at least {MIN_NONCE_KEY_BYTES} bytes"),
            );
            None
        }
        Ok(bytes) => Some(NonceKey::new(bytes.trim_ascii_end())),
    }
}
