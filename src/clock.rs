//! Time, injected so that expiry, leeway and cool-down logic can be tested.

use std::sync::Arc;
#[cfg(any(test, feature = "test-util"))]
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as JWT NumericDates are.
pub trait Clock: Send + Sync + 'static {
    /// The current time, with sub-second precision.
    fn now_unix(&self) -> f64;
}

/// The clock every component shares, so tests can put a `ManualClock` in.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs_f64()
    }
}

/// A clock that only moves when told to; for tests (the `test-util`
/// feature), never in the service.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Default)]
pub struct ManualClock {
    millis: AtomicU64,
}

#[cfg(any(test, feature = "test-util"))]
impl ManualClock {
    /// A clock standing at `unix_secs`.
    pub fn at(unix_secs: u64) -> Arc<Self> {
        Arc::new(Self {
            millis: AtomicU64::new(unix_secs * 1000),
        })
    }

    /// Moves the clock forward by `by`, to the millisecond.
    pub fn advance(&self, by: Duration) {
        self.millis
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Clock for ManualClock {
    fn now_unix(&self) -> f64 {
        self.millis.load(Ordering::SeqCst) as f64 / 1000.0
    }
}
