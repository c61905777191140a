//! The immutable snapshot a `Check` reads: compiled config plus the live key
//! stores. A reload builds a new one and swaps it in whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderName;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::keys::{IssuerKeys, KeyStatus};
use crate::ssf::{Transmitter, Transmitters};
use crate::token::{IssuerTrust, TokenCache, Verifier};

/// Compiled config and key stores, as one `Check` sees them.
pub struct Snapshot {
    /// The checked configuration the snapshot was built from.
    pub config: Arc<Config>,
    /// Verifies tokens against the configured issuers and their keys.
    pub verifier: Verifier,
    /// Every identity header, stripped whenever this request does not set it.
    pub identity_headers: Vec<HeaderName>,
    /// Every header zt-authz sets or strips: the identity headers and each
    /// Rego policy's `headers`. No request may carry another spelling of
    /// one (step 0).
    pub guarded_headers: Vec<HeaderName>,
    /// Every DPoP proof algorithm some issuer accepts, space-separated, for
    /// the `DPoP` challenge's `algs`.
    pub dpop_algs: String,
    /// Shared Signals transmitters, by issuer.
    pub transmitters: Transmitters,
    /// Unique to this snapshot in the process: what an allow encoded once
    /// per token was encoded under (see `Allow::reusable`).
    pub generation: u64,
}

/// Snapshots built so far; each takes the next number.
static GENERATIONS: AtomicU64 = AtomicU64::new(0);

/// Key stores that a new snapshot created and that still need their refresh
/// task started.
pub type NewKeyStores = Vec<Arc<IssuerKeys>>;

impl Snapshot {
    /// Builds a snapshot. Issuers whose key settings did not change keep
    /// their key store (and its keys) from `previous`.
    pub fn build(
        config: Config,
        previous: Option<&Snapshot>,
        client: &reqwest::Client,
        clock: &SharedClock,
    ) -> (Snapshot, NewKeyStores) {
        let mut fresh = Vec::new();
        let trusts = config.issuers.iter().map(|settings| {
            let reused = previous
                .and_then(|p| p.verifier.trust(&settings.issuer))
                .filter(|t| t.keys.settings() == &settings.keys)
                .map(|t| t.keys.clone());
            let issuer: Arc<str> = Arc::from(settings.issuer.as_str());
            let keys = reused.unwrap_or_else(|| {
                let keys = IssuerKeys::new(
                    issuer.clone(),
                    settings.keys.clone(),
                    client.clone(),
                    clock.clone(),
                );
                fresh.push(keys.clone());
                keys
            });
            Arc::new(IssuerTrust {
                issuer,
                audiences: settings.audiences.clone(),
                logout_audiences: settings.logout_audiences.clone(),
                algorithms: settings.algorithms.clone(),
                leeway: settings.leeway,
                max_token_lifetime: settings.max_token_lifetime,
                required_typ: settings.required_typ.clone(),
                dpop: settings.dpop.clone(),
                keys,
            })
        });
        let trusts: Vec<_> = trusts.collect();
        let transmitters = config
            .transmitters
            .iter()
            .map(|settings| {
                let reused = previous
                    .and_then(|p| p.transmitters.get(&settings.trust.issuer))
                    .filter(|t| t.keys.settings() == &settings.trust.keys)
                    .map(|t| t.keys.clone());
                let keys = reused.unwrap_or_else(|| {
                    let keys = IssuerKeys::new(
                        Arc::from(settings.trust.issuer.as_str()),
                        settings.trust.keys.clone(),
                        client.clone(),
                        clock.clone(),
                    );
                    fresh.push(keys.clone());
                    keys
                });
                let transmitter = Transmitter {
                    settings: settings.clone(),
                    keys,
                };
                (settings.trust.issuer.clone(), Arc::new(transmitter))
            })
            .collect();
        let cache = TokenCache::new(config.server.token_cache_entries);
        let verifier = Verifier::new(
            trusts,
            cache,
            clock.clone(),
            config.revocations.max_token_lifetime,
        );
        let identity_headers: Vec<HeaderName> = config.identity.all().cloned().collect();
        let mut guarded_headers = identity_headers.clone();
        for h in config
            .policies
            .iter()
            .filter_map(|p| p.rego.as_ref())
            .flat_map(|r| r.headers())
        {
            if !guarded_headers.contains(h) {
                guarded_headers.push(h.clone());
            }
        }
        let mut algs: Vec<String> = Vec::new();
        for a in config.issuers.iter().flat_map(|i| &i.dpop.algorithms) {
            let name = format!("{a:?}");
            if !algs.contains(&name) {
                algs.push(name);
            }
        }
        let snapshot = Snapshot {
            config: Arc::new(config),
            verifier,
            identity_headers,
            guarded_headers,
            dpop_algs: algs.join(" "),
            transmitters,
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed),
        };
        (snapshot, fresh)
    }

    /// Each issuer and the state of its keys.
    pub fn key_status(&self) -> Vec<(Arc<str>, KeyStatus)> {
        let mut all: Vec<_> = self
            .verifier
            .issuers()
            .map(|t| (t.issuer.clone(), t.keys.status()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Each Shared Signals transmitter and the state of its keys. They do
    /// not gate readiness: Checks never need them, and a transmitter whose
    /// SETs cannot be verified yet gets an error it retries on.
    pub fn transmitter_key_status(&self) -> Vec<(String, KeyStatus)> {
        let mut all: Vec<_> = self
            .transmitters
            .iter()
            .map(|(issuer, t)| (issuer.clone(), t.keys.status()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Ready when every issuer has keys, or, when configured to start
    /// without them, when no first fetch is still pending.
    pub fn is_ready(&self) -> bool {
        let without = self.config.server.start_without_keys;
        self.verifier.issuers().all(|t| {
            let s = t.keys.status();
            s.has_keys() || (without && !matches!(s, KeyStatus::Pending))
        })
    }
}
