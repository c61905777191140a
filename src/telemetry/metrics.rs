//! Prometheus metrics. Decision counters and latency are recorded as they
//! happen; everything that is state (keys, cache, revocations, reloads) is
//! read from the running service when `/metrics` is scraped. Labels never
//! carry a subject, a `jti` or a token.

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::authorizer::{CheckInput, DecisionRecorder};
use crate::decision::Decision;
use crate::reload::Reloader;
use crate::revocation::{RevocationEvents, Revocations};
use crate::runtime::Runtime;

/// Buckets from 10 µs: the cached path takes a few µs in process.
const CHECK_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 1.0,
];
const PROPAGATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// What the scrape reads state from; set once the app is built. Weak, as
/// the authorizer holds the metrics (through its recorder): strong
/// references here would keep a stopped app alive.
pub struct Sources {
    pub runtime: Box<dyn Fn() -> Option<Arc<Runtime>> + Send + Sync>,
    pub revocations: Weak<Revocations>,
    pub reloader: Weak<Reloader>,
}

pub struct Metrics {
    registry: Registry,
    decisions: IntCounterVec,
    check_seconds: Histogram,
    propagation_seconds: Histogram,
    sync_rejected: IntCounterVec,
    jwks_fetches: IntCounterVec,
    jwks_keys: IntGaugeVec,
    jwks_last_success: IntGaugeVec,
    cache_hits: IntCounter,
    cache_misses: IntCounter,
    revocations_active: IntGaugeVec,
    reloads: IntCounterVec,
    sources: OnceLock<Sources>,
    /// One scrape at a time: state is copied into the registry, then encoded.
    scrape: Mutex<()>,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        // Metric definitions are constants; registering them cannot fail
        // except through a programming error caught by the tests.
        #[allow(clippy::expect_used)]
        let m = (|| -> prometheus::Result<Metrics> {
            let registry = Registry::new();
            let decisions = IntCounterVec::new(
                opts(
                    "zt_authz_decisions_total",
                    "Check decisions by result, reason and policy.",
                ),
                &["result", "reason", "policy"],
            )?;
            let check_seconds = Histogram::with_opts(
                HistogramOpts::new(
                    "zt_authz_check_duration_seconds",
                    "Time to decide one Check.",
                )
                .buckets(CHECK_BUCKETS.to_vec()),
            )?;
            let propagation_seconds = Histogram::with_opts(
                HistogramOpts::new(
                    "zt_authz_revocation_propagation_seconds",
                    "From a revocation's acceptance on one replica to its application here.",
                )
                .buckets(PROPAGATION_BUCKETS.to_vec()),
            )?;
            let sync_rejected = IntCounterVec::new(
                opts(
                    "zt_authz_revocation_sync_rejected_total",
                    "Revocation messages and entries from Redis that were ignored, by why: no valid HMAC tag, or invalid content.",
                ),
                &["why"],
            )?;
            let jwks_fetches = IntCounterVec::new(
                opts(
                    "zt_authz_jwks_fetch_total",
                    "Key set fetches by issuer and outcome.",
                ),
                &["issuer", "outcome"],
            )?;
            let jwks_keys = IntGaugeVec::new(
                opts("zt_authz_jwks_keys", "Signing keys in use per issuer."),
                &["issuer"],
            )?;
            let jwks_last_success = IntGaugeVec::new(
                opts(
                    "zt_authz_jwks_last_success_timestamp_seconds",
                    "When each issuer's keys were last fetched successfully.",
                ),
                &["issuer"],
            )?;
            // Kept by the cache itself and copied at scrape; a config reload
            // starts a new cache, which Prometheus sees as a counter reset.
            let cache_hits = IntCounter::with_opts(opts(
                "zt_authz_token_cache_hits_total",
                "Verified-token cache hits.",
            ))?;
            let cache_misses = IntCounter::with_opts(opts(
                "zt_authz_token_cache_misses_total",
                "Verified-token cache misses.",
            ))?;
            let revocations_active = IntGaugeVec::new(
                opts(
                    "zt_authz_revocations_active",
                    "Unexpired revocations by kind.",
                ),
                &["kind"],
            )?;
            let reloads = IntCounterVec::new(
                opts(
                    "zt_authz_config_reloads_total",
                    "Config reloads by outcome.",
                ),
                &["outcome"],
            )?;
            let build = IntGaugeVec::new(
                opts("zt_authz_build_info", "Build information; always 1."),
                &["version"],
            )?;
            build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
            for c in [
                Box::new(decisions.clone()) as Box<dyn prometheus::core::Collector>,
                Box::new(check_seconds.clone()),
                Box::new(propagation_seconds.clone()),
                Box::new(sync_rejected.clone()),
                Box::new(jwks_fetches.clone()),
                Box::new(jwks_keys.clone()),
                Box::new(jwks_last_success.clone()),
                Box::new(cache_hits.clone()),
                Box::new(cache_misses.clone()),
                Box::new(revocations_active.clone()),
                Box::new(reloads.clone()),
                Box::new(build),
            ] {
                registry.register(c)?;
            }
            Ok(Metrics {
                registry,
                decisions,
                check_seconds,
                propagation_seconds,
                sync_rejected,
                jwks_fetches,
                jwks_keys,
                jwks_last_success,
                cache_hits,
                cache_misses,
                revocations_active,
                reloads,
                sources: OnceLock::new(),
                scrape: Mutex::new(()),
            })
        })()
        .expect("metric definitions are valid");
        Arc::new(m)
    }

    pub fn set_sources(&self, sources: Sources) {
        let _ = self.sources.set(sources);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = self.sources.get() {
            self.copy_state(s);
        }
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    fn copy_state(&self, s: &Sources) {
        let (Some(runtime), Some(revocations), Some(reloader)) =
            ((s.runtime)(), s.revocations.upgrade(), s.reloader.upgrade())
        else {
            return;
        };
        self.jwks_fetches.reset();
        self.jwks_keys.reset();
        self.jwks_last_success.reset();
        for trust in runtime.verifier.issuers() {
            let issuer = &*trust.issuer;
            let (attempts, failures) = (trust.keys.fetch_attempts(), trust.keys.fetch_failures());
            self.jwks_fetches
                .with_label_values(&[issuer, "success"])
                .inc_by(attempts.saturating_sub(failures));
            self.jwks_fetches
                .with_label_values(&[issuer, "failure"])
                .inc_by(failures);
            let (keys, fetched_at) = trust.keys.key_count_and_fetched_at().unwrap_or((0, 0.0));
            self.jwks_keys.with_label_values(&[issuer]).set(keys as i64);
            self.jwks_last_success
                .with_label_values(&[issuer])
                .set(fetched_at as i64);
        }
        let cache = runtime.verifier.cache();
        self.cache_hits.reset();
        self.cache_hits.inc_by(cache.hits());
        self.cache_misses.reset();
        self.cache_misses.inc_by(cache.misses());
        for (kind, n) in revocations.index().active_by_kind() {
            self.revocations_active
                .with_label_values(&[kind.as_str()])
                .set(n as i64);
        }
        self.reloads.reset();
        self.reloads
            .with_label_values(&["success"])
            .inc_by(reloader.applied());
        self.reloads
            .with_label_values(&["failure"])
            .inc_by(reloader.failures());
    }
}

/// Counts and times every decision, then hands it to the next recorder
/// (the decision log).
pub struct MetricsRecorder {
    pub metrics: Arc<Metrics>,
    pub next: Arc<dyn DecisionRecorder>,
}

impl DecisionRecorder for MetricsRecorder {
    fn record(&self, input: &CheckInput<'_>, decision: &Decision, elapsed: Duration) {
        let m = &self.metrics;
        m.check_seconds.observe(elapsed.as_secs_f64());
        match decision {
            Decision::Allow(a) => m
                .decisions
                .with_label_values(&["allow", "allowed", &a.policy])
                .inc(),
            Decision::Deny(d) => m
                .decisions
                .with_label_values(&["deny", d.reason.label(), d.policy.as_deref().unwrap_or("")])
                .inc(),
        }
        self.next.record(input, decision, elapsed);
    }
}

/// Observes propagation delays, then hands them on.
pub struct MetricsEvents {
    pub metrics: Arc<Metrics>,
    pub next: Arc<dyn RevocationEvents>,
}

impl RevocationEvents for MetricsEvents {
    fn propagated(&self, delay_secs: f64) {
        self.metrics.propagation_seconds.observe(delay_secs);
        self.next.propagated(delay_secs);
    }

    fn rejected_from_shared_store(&self, why: &'static str) {
        self.metrics.sync_rejected.with_label_values(&[why]).inc();
        self.next.rejected_from_shared_store(why);
    }
}
