//! Revocation load figures, as one markdown table:
//! - in process: propagation A → B through a real Redis (p50, p99 over
//!   1,000 revocations), the same for Shared Signals events (a SET pushed
//!   to A until B's Check denies, 300 events) and the index's memory with
//!   1,000,000 entries;
//! - the scale-and-fault run (`support/scale.rs`): two replica processes,
//!   N active revocations (default 1,000,000; `ZT_SCALE_N` for fewer) added
//!   through the bulk API, propagation on the quiet path, while replica B
//!   restarts and while Redis restarts empty, B's time to ready, RSS per
//!   entry on both replicas, and the bulk rate.
//!
//! `cargo bench --bench revocation_load` runs the full sizes; under
//! `cargo test` (no `--bench` argument) it runs a small smoke version.
//! Needs `redis-server` on PATH.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/scale.rs"]
mod scale;
#[path = "support/ssf_propagation.rs"]
mod ssf_propagation;
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
    redis_on(dir, port).await
}

/// A redis-server without persistence on `port`: started again, it is
/// empty.
async fn redis_on(dir: &Path, port: u16) -> Redis {
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

/// The scale-and-fault run; returns its table rows.
async fn scale(n: usize, probes: usize) -> Vec<String> {
    use scale::{Replica, probe_phase};
    let dir = tempfile::tempdir().unwrap();
    let mut server = redis(dir.path()).await;
    let port = server.1;
    let keys = zt_authz::dev::DevKeys::generate("bench").unwrap();
    let http = reqwest::Client::new();
    let a = Replica::start(dir.path(), "a", port, &keys);
    let mut b = Replica::start(dir.path(), "b", port, &keys);
    a.ready(&http, Duration::from_secs(30)).await;
    b.ready(&http, Duration::from_secs(30)).await;
    let (a0, b0) = (a.rss(), b.rss());
    let mut rows = Vec::new();

    // N revocations through A's bulk API, 10,000 per call.
    let started = Instant::now();
    let jtis: Vec<String> = (0..n).map(|i| format!("bulk-{i:08}")).collect();
    for chunk in jtis.chunks(10_000) {
        a.revoke_batch(&http, chunk).await;
    }
    let bulk = started.elapsed();
    let mut arrived = bulk;
    while b.readyz(&http).await.1["revocations"]["jti"].as_u64() < Some(n as u64) {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "B did not get the bulk"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        arrived = started.elapsed();
    }
    let (a1, b1) = (a.rss(), b.rss());
    let per = |after: u64, before: u64| after.saturating_sub(before) as f64 / n as f64;
    rows.push(format!("| bulk API, {n} revocations into A (10,000 per call) | {:.0} /s ({:.1} s); all on B after {:.1} s | ≥ 20,000 /s |", n as f64 / bulk.as_secs_f64(), bulk.as_secs_f64(), arrived.as_secs_f64()));
    rows.push(format!(
        "| RSS per active revocation, A (accepted them) | {:.0} B ({:.1} → {:.1} MiB) | ≤ 200 B |",
        per(a1, a0),
        mib(a0),
        mib(a1)
    ));
    rows.push(format!(
        "| RSS per active revocation, B (heard them) | {:.0} B ({:.1} → {:.1} MiB) | ≤ 200 B |",
        per(b1, b0),
        mib(b0),
        mib(b1)
    ));

    // Quiet path.
    let (quiet, _) = probe_phase(
        &http,
        &a,
        &b,
        &keys,
        "quiet",
        probes,
        Duration::from_secs(5),
    )
    .await;
    rows.push(row("quiet path", quiet));

    // B restarts with N entries: a revocation made while it is down must be
    // enforced once it serves; revocations made while it catches up reach
    // it as fast as ever.
    b.stop();
    let down = keys.mint(
        zt_authz::dev::DevAlg::RS256,
        &support::claims("while-b-down"),
    );
    a.revoke(&http, "while-b-down").await;
    let restarted = Instant::now();
    b.restart();
    let mut client = None;
    while client.is_none() {
        assert!(
            restarted.elapsed() < Duration::from_secs(300),
            "B did not come back"
        );
        client = b.check_client().await;
    }
    let serving = restarted.elapsed();
    let (restart, during_catch_up) = probe_phase(
        &http,
        &a,
        &b,
        &keys,
        "b-restart",
        probes,
        Duration::from_secs(5),
    )
    .await;
    b.ready(&http, Duration::from_secs(300)).await;
    let ready_after = restarted.elapsed();
    assert!(
        scale::revoked(&mut client, &down).await,
        "a revocation made while B was down was lost"
    );
    rows.push(row(
        &format!("while B restarts ({during_catch_up} of {probes} during its catch-up)"),
        restart,
    ));
    rows.push(format!("| B after a restart: serving / ready and correct | {:.1} s / {:.1} s | ready only once caught up |", serving.as_secs_f64(), ready_after.as_secs_f64()));

    // Redis restarts empty.
    drop(server);
    server = redis_on(dir.path(), port).await;
    let (redis_restart, _) = probe_phase(
        &http,
        &a,
        &b,
        &keys,
        "redis-restart",
        probes,
        Duration::from_secs(10),
    )
    .await;
    rows.push(row("after Redis restarts empty", redis_restart));
    let (_, body) = b.readyz(&http).await;
    let expected = n + 1 + 3 * probes;
    assert_eq!(
        body["revocations"]["jti"].as_u64(),
        Some(expected as u64),
        "none lost on B: {body}"
    );
    drop(server);
    rows
}

fn row(phase: &str, (p50, p99, max): (f64, f64, f64)) -> String {
    format!(
        "| propagation A → B, {phase}: p50 / p99 / max | {p50:.1} / {p99:.1} / {max:.1} ms | p99 ≤ 100 ms, max ≤ 1 s |"
    )
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (revocations, entries) = if full {
        (1000, 1_000_000)
    } else {
        (20, 10_000)
    };
    let scale_n = std::env::var("ZT_SCALE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 2_000 });
    let probes = if full { 200 } else { 5 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (p50, p99, max) = rt.block_on(propagation(revocations));
    let events = if full { 300 } else { 10 };
    let ssf = rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let server = redis(dir.path()).await;
        ssf_propagation::ssf_propagation(events, server.1).await
    });
    let (before, after) = memory(entries);
    let scale_rows = rt.block_on(scale(scale_n, probes));
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
        "| Shared Signals SET on A → denied on B: p50 / p99 / max ({events} events) | {:.2} / {:.2} / {:.2} ms | within 1 s |",
        ssf.0.as_secs_f64() * 1e3,
        ssf.1.as_secs_f64() * 1e3,
        ssf.2.as_secs_f64() * 1e3
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
    for r in scale_rows {
        println!("{r}");
    }
}
