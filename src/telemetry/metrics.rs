//! Prometheus metrics. Decision counters and latency are recorded as they
//! happen; everything that is state (keys, cache, revocations, reloads) is
//! read from the running service when `/metrics` is scraped. Labels never
//! carry a subject, a `jti` or a token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use super::sharded::{ShardedCounter, ShardedHistogram};

use crate::authorizer::{CheckInput, DecisionRecorder};
use crate::decision::Decision;
use crate::reload::Reloader;
use crate::revocation::{RevocationEvents, Revocations};
use crate::snapshot::Snapshot;

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
    /// Reads the current snapshot; `None` once the app is gone.
    pub snapshot: Box<dyn Fn() -> Option<Arc<Snapshot>> + Send + Sync>,
    /// The revocation service, for active revocations by kind.
    pub revocations: Weak<Revocations>,
    /// The reloader, for reload counts.
    pub reloader: Weak<Reloader>,
}

/// Every Prometheus metric of the service, in its own registry.
pub struct Metrics {
    registry: Registry,
    decisions: IntCounterVec,
    /// Allows by policy, kept per thread (every Check writes one) and
    /// copied into `decisions` at scrape; denials go to `decisions` at once.
    allows: Allows,
    check_seconds: CheckDurations,
    propagation_seconds: Histogram,
    sync_rejected: IntCounterVec,
    jwks_fetches: IntCounterVec,
    jwks_keys: IntGaugeVec,
    jwks_last_success: IntGaugeVec,
    cache_hits: IntCounter,
    cache_misses: IntCounter,
    revocations_active: IntGaugeVec,
    reloads: IntCounterVec,
    ssf_events: IntCounterVec,
    sources: OnceLock<Sources>,
    /// One scrape at a time: state is copied into the registry, then encoded.
    scrape: Mutex<()>,
}

/// Creates metrics and registers them in one step, so none is forgotten.
struct Register(Registry);

impl Register {
    fn add<C: prometheus::core::Collector + Clone + 'static>(
        &self,
        c: prometheus::Result<C>,
    ) -> prometheus::Result<C> {
        let c = c?;
        self.0.register(Box::new(c.clone()))?;
        Ok(c)
    }

    fn counters(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<IntCounterVec> {
        self.add(IntCounterVec::new(Opts::new(name, help), labels))
    }

    fn gauges(&self, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntGaugeVec> {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels))
    }

    fn counter(&self, name: &str, help: &str) -> prometheus::Result<IntCounter> {
        self.add(IntCounter::with_opts(Opts::new(name, help)))
    }

    fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> prometheus::Result<Histogram> {
        self.add(Histogram::with_opts(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        ))
    }
}

impl Metrics {
    /// Registers every metric; state is read only once `set_sources` is called.
    pub fn new() -> Arc<Self> {
        // Metric definitions are constants; registering them cannot fail
        // except through a programming error caught by the tests.
        #[allow(clippy::expect_used)]
        let m = Self::define(Register(Registry::new())).expect("metric definitions are valid");
        Arc::new(m)
    }

    fn define(r: Register) -> prometheus::Result<Metrics> {
        let build = r.gauges(
            "zt_authz_build_info",
            "Build information; always 1.",
            &["version"],
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        Ok(Metrics {
            decisions: r.counters(
                "zt_authz_decisions_total",
                "Check decisions by result, reason and policy.",
                &["result", "reason", "policy"],
            )?,
            allows: Allows::default(),
            check_seconds: r.add(CheckDurations::new(
                "zt_authz_check_duration_seconds",
                "Time to decide one Check.",
                CHECK_BUCKETS,
            ))?,
            propagation_seconds: r.histogram(
                "zt_authz_revocation_propagation_seconds",
                "From a revocation's acceptance on one replica to its application here.",
                PROPAGATION_BUCKETS,
            )?,
            sync_rejected: r.counters(
                "zt_authz_revocation_sync_rejected_total",
                "Revocation messages and entries from Redis that were ignored, by why: unsealed (no valid HMAC tag), invalid, or stale (a lift older than the revocation it names).",
                &["why"],
            )?,
            jwks_fetches: r.counters(
                "zt_authz_jwks_fetch_total",
                "Key set fetches by issuer and outcome.",
                &["issuer", "outcome"],
            )?,
            jwks_keys: r.gauges("zt_authz_jwks_keys", "Signing keys in use per issuer.", &["issuer"])?,
            jwks_last_success: r.gauges(
                "zt_authz_jwks_last_success_timestamp_seconds",
                "When each issuer's keys were last fetched successfully.",
                &["issuer"],
            )?,
            // Kept by the cache itself and copied at scrape; a config reload
            // starts a new cache, which Prometheus sees as a counter reset.
            cache_hits: r.counter("zt_authz_token_cache_hits_total", "Verified-token cache hits.")?,
            cache_misses: r.counter(
                "zt_authz_token_cache_misses_total",
                "Verified-token cache misses.",
            )?,
            revocations_active: r.gauges(
                "zt_authz_revocations_active",
                "Unexpired revocations by kind.",
                &["kind"],
            )?,
            reloads: r.counters(
                "zt_authz_config_reloads_total",
                "Config reloads by outcome.",
                &["outcome"],
            )?,
            ssf_events: r.counters(
                "zt_authz_ssf_events_total",
                "Security events received, by event and outcome (applied, ignored, refused).",
                &["event", "outcome"],
            )?,
            registry: r.0,
            sources: OnceLock::new(),
            scrape: Mutex::new(()),
        })
    }

    /// Counts one received security event; `event` is a fixed short name.
    pub fn ssf_event(&self, event: &str, outcome: &str) {
        self.ssf_events.with_label_values(&[event, outcome]).inc();
    }

    /// Tells the scrape where to read state from; only the first call counts.
    pub fn set_sources(&self, sources: Sources) {
        let _ = self.sources.set(sources);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.copy_state(self.sources.get());
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    fn copy_state(&self, s: Option<&Sources>) {
        for (policy, allowed) in self.allows.by_policy.load().iter() {
            let counter = self
                .decisions
                .with_label_values(&["allow", "allowed", policy]);
            counter.reset();
            counter.inc_by(allowed.get());
        }
        let Some(s) = s else { return };
        let (Some(snapshot), Some(revocations), Some(reloader)) = (
            (s.snapshot)(),
            s.revocations.upgrade(),
            s.reloader.upgrade(),
        ) else {
            return;
        };
        self.jwks_fetches.reset();
        self.jwks_keys.reset();
        self.jwks_last_success.reset();
        for trust in snapshot.verifier.issuers() {
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
        let cache = snapshot.verifier.cache();
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
    /// Where decisions are counted and timed.
    pub metrics: Arc<Metrics>,
    /// The recorder each decision is handed to next.
    pub next: Arc<dyn DecisionRecorder>,
}

impl DecisionRecorder for MetricsRecorder {
    fn record(&self, input: &CheckInput<'_>, decision: &Decision, elapsed: Duration) {
        let m = &self.metrics;
        m.check_seconds.0.histogram.observe(elapsed);
        match decision {
            Decision::Allow(a) => m.allows.count(&a.policy),
            Decision::Deny(d) => m
                .decisions
                .with_label_values(&["deny", d.reason.label(), d.policy.as_deref().unwrap_or("")])
                .inc(),
        }
        self.next.record(input, decision, elapsed);
    }
}

/// Allows by policy name. Read on every allow without a lock; a policy
/// seen for the first time is added under one.
#[derive(Default)]
struct Allows {
    by_policy: ArcSwap<HashMap<Arc<str>, Arc<ShardedCounter>>>,
    adding: Mutex<()>,
}

impl Allows {
    fn count(&self, policy: &Arc<str>) {
        if let Some(counter) = self.by_policy.load().get(policy) {
            counter.inc();
            return;
        }
        let _one = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        let mut grown = HashMap::clone(&self.by_policy.load());
        grown
            .entry(policy.clone())
            .or_insert_with(|| Arc::new(ShardedCounter::default()))
            .inc();
        self.by_policy.store(Arc::new(grown));
    }
}

/// `zt_authz_check_duration_seconds`: a histogram every Check writes,
/// kept per thread and summed when scraped.
#[derive(Clone)]
struct CheckDurations(Arc<CheckDurationsInner>);

struct CheckDurationsInner {
    desc: Desc,
    histogram: ShardedHistogram,
}

impl CheckDurations {
    fn new(name: &str, help: &str, buckets: &[f64]) -> prometheus::Result<Self> {
        Ok(Self(Arc::new(CheckDurationsInner {
            desc: Desc::new(name.into(), help.into(), Vec::new(), HashMap::new())?,
            histogram: ShardedHistogram::new(buckets),
        })))
    }
}

impl Collector for CheckDurations {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let totals = self.0.histogram.totals();
        let mut histogram = proto::Histogram::default();
        histogram.set_sample_count(totals.count);
        histogram.set_sample_sum(totals.sum_seconds);
        histogram.set_bucket(
            totals
                .cumulative
                .into_iter()
                .map(|(bound, n)| {
                    let mut bucket = proto::Bucket::default();
                    bucket.set_upper_bound(bound);
                    bucket.set_cumulative_count(n);
                    bucket
                })
                .collect(),
        );
        let mut metric = proto::Metric::default();
        metric.set_histogram(histogram);
        let mut family = MetricFamily::default();
        family.set_name(self.0.desc.fq_name.clone());
        family.set_help(self.0.desc.help.clone());
        family.set_field_type(MetricType::HISTOGRAM);
        family.set_metric(vec![metric]);
        vec![family]
    }
}

/// Observes propagation delays, then hands them on.
pub struct MetricsEvents {
    /// Where propagation delays and rejected entries are recorded.
    pub metrics: Arc<Metrics>,
    /// The handler each event is passed to next.
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
