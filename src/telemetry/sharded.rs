//! Counters and a histogram that every Check writes, kept per thread.
//!
//! A Prometheus counter is one atomic that both cores write on every
//! Check, so its cache line moves between them each time: with two
//! threads deciding at once, the counters, histogram and label lookups of
//! one decision cost about 0.3 µs more than on one thread (`cargo bench
//! --bench pipeline -- contended_allow`). Here each thread adds to its own
//! cache line, and a scrape sums the shards.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;

/// Shards per metric; threads beyond this share one, which is still
/// correct, only slower.
const SHARDS: usize = 8;

/// This thread's shard.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// A count that only goes up.
pub struct ShardedCounter {
    shards: [CachePadded<AtomicU64>; SHARDS],
}

impl Default for ShardedCounter {
    fn default() -> Self {
        Self {
            shards: std::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))),
        }
    }
}

impl ShardedCounter {
    /// Adds one.
    pub fn inc(&self) {
        self.shards[shard()].fetch_add(1, Ordering::Relaxed);
    }

    /// The total so far.
    pub fn get(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// Durations in fixed buckets, with their count and sum.
pub struct ShardedHistogram {
    /// Upper bounds in seconds, ascending.
    bounds: Vec<f64>,
    shards: Box<[CachePadded<HistogramShard>]>,
}

struct HistogramShard {
    /// Per bucket, not cumulative; the last is above every bound.
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    /// Nanoseconds, so that the sum is an integer add.
    sum_nanos: AtomicU64,
}

/// What a scrape reads: cumulative counts per bound, then count and sum.
pub struct HistogramTotals {
    /// `(upper bound, observations at or below it)`, ascending.
    pub cumulative: Vec<(f64, u64)>,
    /// Every observation.
    pub count: u64,
    /// Their sum in seconds.
    pub sum_seconds: f64,
}

impl ShardedHistogram {
    /// A histogram with these upper bounds (seconds, ascending).
    pub fn new(bounds: &[f64]) -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                CachePadded::new(HistogramShard {
                    buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
                    count: AtomicU64::new(0),
                    sum_nanos: AtomicU64::new(0),
                })
            })
            .collect();
        Self {
            bounds: bounds.to_vec(),
            shards,
        }
    }

    /// Records one duration.
    pub fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = self
            .bounds
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(self.bounds.len());
        let shard = &self.shards[shard()];
        if let Some(b) = shard.buckets.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        shard.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        shard.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The shards added up.
    pub fn totals(&self) -> HistogramTotals {
        let mut per_bucket = vec![0u64; self.bounds.len() + 1];
        let (mut count, mut sum_nanos) = (0u64, 0u128);
        for shard in self.shards.iter() {
            for (total, b) in per_bucket.iter_mut().zip(shard.buckets.iter()) {
                *total = total.wrapping_add(b.load(Ordering::Relaxed));
            }
            count = count.wrapping_add(shard.count.load(Ordering::Relaxed));
            sum_nanos += u128::from(shard.sum_nanos.load(Ordering::Relaxed));
        }
        let mut running = 0u64;
        let cumulative = self
            .bounds
            .iter()
            .zip(&per_bucket)
            .map(|(&bound, &n)| {
                running = running.wrapping_add(n);
                (bound, running)
            })
            .collect();
        HistogramTotals {
            cumulative,
            count,
            sum_seconds: sum_nanos as f64 / 1e9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up() {
        let counter = ShardedCounter::default();
        let histogram = ShardedHistogram::new(&[0.001, 0.01]);
        std::thread::scope(|s| {
            for t in 0..12u64 {
                let (counter, histogram) = (&counter, &histogram);
                s.spawn(move || {
                    for _ in 0..1000 {
                        counter.inc();
                        histogram.observe(Duration::from_micros(500 + t * 1000));
                    }
                });
            }
        });
        assert_eq!(counter.get(), 12_000);
        let totals = histogram.totals();
        assert_eq!(totals.count, 12_000);
        // 0.5 ms lands in the first bucket, 1.5–9.5 ms in the second,
        // 10.5 and 11.5 ms above both.
        assert_eq!(totals.cumulative, vec![(0.001, 1000), (0.01, 10_000)]);
        let expected: f64 = (0..12).map(|t| 1000.0 * (0.0005 + t as f64 * 0.001)).sum();
        assert!(
            (totals.sum_seconds - expected).abs() < 1e-6,
            "{}",
            totals.sum_seconds
        );
    }

    #[test]
    fn a_duration_on_a_bound_is_in_that_bucket() {
        let histogram = ShardedHistogram::new(&[0.001]);
        histogram.observe(Duration::from_millis(1));
        histogram.observe(Duration::from_secs(u64::MAX));
        let totals = histogram.totals();
        assert_eq!(totals.cumulative, vec![(0.001, 1)]);
        assert_eq!(totals.count, 2);
    }
}
