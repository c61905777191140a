//! Bounded polling: a test waits for a condition it can observe, never for
//! a fixed time.

use std::time::{Duration, Instant};

/// Polls `f` until it holds, at most `limit`; returns how long it took.
/// Panics with `what` when the limit passes.
pub async fn until(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{what} not within {limit:?}");
}
