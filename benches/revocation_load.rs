//! Revocation load figures: propagation A → B through a real Redis (p50,
//! p99 over 1,000 revocations) and resident memory with 1,000,000 active
//! `jti` revocations. Prints a markdown table.
//!
//! `cargo bench --bench revocation_load` runs the full sizes; under
//! `cargo test` (no `--bench` argument) it runs a small smoke version.
//! Needs `redis-server` on PATH.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zt_authz::clock::{SharedClock, SystemClock};
use zt_authz::revocation::{
    NewRevocation, NoEvents, RevocationSettings, Revocations, StoreSettings,
};

struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn redis(dir: &Path) -> Redis {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Wrapped at once so that Drop kills and reaps it on every path.
    let server = Redis(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH"),
        port,
    );
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    for _ in 0..400 {
        if client.get_multiplexed_async_connection().await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("redis-server did not start");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn propagation(n: usize) -> (Duration, Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let server = redis(dir.path()).await;
    let clock: SharedClock = Arc::new(SystemClock);
    let replica = |name: &str| RevocationSettings {
        store: StoreSettings::Redis {
            path: dir.path().join(format!("{name}.redb")),
            url: format!("redis://127.0.0.1:{}", server.1),
            prefix: "bench".into(),
            hmac_key: None,
        },
        max_token_lifetime: Duration::from_secs(3600),
        leeway: Duration::from_secs(30),
        catch_up_timeout: Duration::from_secs(30),
    };
    let a = Revocations::open(&replica("a"), clock.clone(), Arc::new(NoEvents)).unwrap();
    let b = Revocations::open(&replica("b"), clock.clone(), Arc::new(NoEvents)).unwrap();
    a.start();
    b.start();
    while !(a.shared_store_connected() && b.shared_store_connected()) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let index_b = b.index();
    let mut delays = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        let stored = a
            .revoke(NewRevocation {
                kind: "jti".into(),
                value: format!("prop-{i}"),
                issuer: None,
                issued_before: None,
                expires_at: None,
                reason: None,
            })
            .await
            .unwrap();
        // From the moment A was asked (its fsync and the push to Redis
        // included) until B enforces it.
        while !index_b.contains(&stored.id) {
            if started.elapsed() > Duration::from_secs(5) {
                panic!("revocation {i} did not reach B");
            }
            tokio::task::yield_now().await;
        }
        delays.push(started.elapsed());
    }
    delays.sort();
    (
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        *delays.last().unwrap(),
    )
}

fn memory(n: usize) -> (u64, u64) {
    let index = zt_authz::revocation::RevocationIndex::new(Arc::new(SystemClock));
    let before = support::rss_bytes();
    support::fill(&index, n);
    let after = support::rss_bytes();
    assert_eq!(index.len(), n);
    (before, after)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (revocations, entries) = if full {
        (1000, 1_000_000)
    } else {
        (20, 10_000)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (p50, p99, max) = rt.block_on(propagation(revocations));
    let (before, after) = memory(entries);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!(
        "| propagation A → B p50 ({revocations} revocations) | {:.2} ms | |",
        p50.as_secs_f64() * 1e3
    );
    println!(
        "| propagation A → B p99 | {:.2} ms | ≤ 100 ms |",
        p99.as_secs_f64() * 1e3
    );
    println!(
        "| propagation A → B max | {:.2} ms | < 1 s |",
        max.as_secs_f64() * 1e3
    );
    println!(
        "| RSS before / after {entries} jti revocations | {:.1} / {:.1} MiB | ≤ 200 MiB |",
        mib(before),
        mib(after)
    );
    println!(
        "| index cost per entry | {:.0} bytes | |",
        (after.saturating_sub(before)) as f64 / entries as f64
    );
}
