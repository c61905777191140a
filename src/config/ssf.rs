//! `ssf.transmitters[]`: who may push Security Event Tokens, with which
//! keys, to which audience, and whose users their subjects are.

use std::path::Path;
use std::time::Duration;

use super::compile::Errors;
use super::file::{IssuerFile, SsfFile};
use super::{IssuerSettings, issuers};

/// One transmitter, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransmitterSettings {
    /// The transmitter's `iss`, keys, algorithms and leeway; `audiences`
    /// holds the one audience that names this receiver.
    pub trust: IssuerSettings,
    /// Oldest `iat` accepted, before leeway.
    pub max_age: Duration,
    /// The token issuer whose users `opaque` subjects name.
    pub subject_issuer: String,
    /// Every token issuer whose users this transmitter may name in
    /// `iss_sub` subjects; by default only `subject_issuer`.
    pub subject_issuers: Vec<String>,
}

pub(super) fn transmitters(
    f: SsfFile,
    token_issuers: &[IssuerSettings],
    base_dir: &Path,
    errs: &mut Errors,
) -> Vec<TransmitterSettings> {
    let mut out = Vec::new();
    for (i, t) in f.transmitters.into_iter().enumerate() {
        let path = format!("ssf.transmitters[{i}]");
        if t.poll_url.is_some() {
            errs.add(
                format!("{path}.poll_url"),
                "poll delivery (RFC 8936) is not supported; have the transmitter push to /v1/ssf/events",
            );
        }
        if out
            .iter()
            .any(|o: &TransmitterSettings| o.trust.issuer == t.issuer)
        {
            errs.add(
                format!("{path}.issuer"),
                format!("transmitter {} is configured twice", t.issuer),
            );
        }
        let subject_issuer = t.subject_issuer.clone().unwrap_or_else(|| t.issuer.clone());
        let subject_issuers = t
            .subject_issuers
            .clone()
            .unwrap_or_else(|| vec![subject_issuer.clone()]);
        for (key, named) in std::iter::once(("subject_issuer", &subject_issuer))
            .chain(subject_issuers.iter().map(|s| ("subject_issuers", s)))
        {
            if !token_issuers.iter().any(|i| &i.issuer == named) {
                errs.add(
                    format!("{path}.{key}"),
                    format!("`{named}` is not one of issuers[]: its subjects would match no token"),
                );
            }
        }
        let max_age = t.max_age.map_or(Duration::from_secs(300), |d| d.0);
        if max_age < Duration::from_secs(10) || max_age > Duration::from_secs(86_400) {
            errs.add(format!("{path}.max_age"), "must be from 10s to 24h");
        }
        let file = IssuerFile {
            issuer: t.issuer,
            jwks_uri: t.jwks_uri,
            discovery_url: t.discovery_url,
            jwks_file: t.jwks_file,
            audiences: vec![t.audience],
            algorithms: t.algorithms,
            leeway: t.leeway,
            allow_insecure_http: t.allow_insecure_http,
            ..IssuerFile::default()
        };
        if let Some(trust) = issuers::issuer_settings(&path, file, base_dir, errs) {
            out.push(TransmitterSettings {
                trust,
                max_age,
                subject_issuer,
                subject_issuers,
            });
        }
    }
    out
}
