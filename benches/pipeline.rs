//! Criterion benchmarks of the in-process decision pipeline (no sockets).
//! `cargo bench --bench pipeline`; under `cargo test` each runs once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use zt_authz::dev::DevAlg;
use zt_authz::grpc::CheckMessage;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Check with no revocations and with a million: the lookup is a hash
/// probe, so the two should be equal within noise.
fn revocations(c: &mut Criterion) {
    let rt = runtime();
    let empty = rt.block_on(support::pipeline(1));
    let full = rt.block_on(support::pipeline(1));
    // `cargo test` runs each benchmark once as a smoke test: keep it quick.
    let entries = if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    };
    support::fill(&full.revocations.index(), entries);
    let mut group = c.benchmark_group("check_with_revocations");
    // Empty, full, then empty again: a drift of the machine between runs
    // shows as a difference between the two empty runs.
    for (name, p) in [("empty", &empty), ("1M", &full), ("empty_again", &empty)] {
        let token = p.token(DevAlg::ES256, "bench-jti");
        let request = CheckMessage::of(&support::request(&token));
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| p.service.answer_message(&request))
        });
    }
    group.finish();
}

/// The revocation probe alone, on verified claims.
fn revocation_lookup(c: &mut Criterion) {
    use zt_authz::revocation::RevocationCheck;
    let rt = runtime();
    let p = rt.block_on(support::pipeline(1));
    let token = p.token(DevAlg::ES256, "bench-jti");
    let runtime = p.authorizer.snapshot();
    let claims = rt
        .block_on(runtime.verifier.verify(&token, Default::default()))
        .unwrap()
        .claims;
    let index = p.revocations.index();
    let mut group = c.benchmark_group("revocation_lookup");
    group.bench_function("empty", |b| b.iter(|| index.is_revoked(&claims)));
    let full = std::env::args().any(|a| a == "--bench");
    support::fill(&index, if full { 1_000_000 } else { 10_000 });
    group.bench_function("1M", |b| b.iter(|| index.is_revoked(&claims)));
    group.finish();
}

/// A token seen before: no signature work.
fn cached_allow(c: &mut Criterion) {
    let rt = runtime();
    let p = rt.block_on(support::pipeline(1));
    let request = CheckMessage::of(&support::request(&p.token(DevAlg::RS256, "cached")));
    c.bench_function("cached_allow", |b| {
        b.to_async(&rt).iter(|| p.service.answer_message(&request))
    });
}

/// The same cached token decided on one thread, then on both cores at
/// once, as under load (ghz sends one token), with metrics recorded as the
/// server records them. Each iteration is one Check on each thread, so
/// what `2_threads` takes above `1_thread` is what the shared state a
/// decision writes (counters, reference counts, the cache's bookkeeping)
/// costs when both cores write it.
fn contended_allow(c: &mut Criterion) {
    use std::time::{Duration, Instant};
    use zt_authz::grpc::Reply;
    let rt = runtime();
    let p = rt.block_on(support::pipeline_with_metrics(1));
    let call = tonic::Request::new(CheckMessage::of(&support::request(
        &p.token(DevAlg::RS256, "contended"),
    )));
    // Warm: the first Check verifies and keeps the encoded allow.
    rt.block_on(p.service.reply(&call));
    let (p, call) = (&p, &call);
    let threads = |n: usize| {
        move |iters: u64| {
            let start = std::sync::Barrier::new(n);
            let took: Vec<Duration> = std::thread::scope(|s| {
                let spawned: Vec<_> = (0..n)
                    .map(|_| {
                        s.spawn(|| {
                            let local = runtime();
                            start.wait();
                            let began = Instant::now();
                            local.block_on(async {
                                for _ in 0..iters {
                                    match p.service.reply(call).await {
                                        Reply::Kept(claims) => {
                                            let kept = Reply::kept_bytes(&claims).map(<[u8]>::len);
                                            std::hint::black_box(kept.ok());
                                        }
                                        Reply::Encoded(_)
                                        | Reply::Written(_)
                                        | Reply::Message(_) => {
                                            panic!("a cached token's allow is reused")
                                        }
                                    }
                                }
                            });
                            began.elapsed()
                        })
                    })
                    .collect();
                spawned.into_iter().map(|t| t.join().unwrap()).collect()
            });
            took.into_iter().max().unwrap_or_default()
        }
    };
    let mut group = c.benchmark_group("contended_allow");
    group.bench_function("1_thread", |b| b.iter_custom(threads(1)));
    group.bench_function("2_threads", |b| b.iter_custom(threads(2)));
    group.finish();
}

/// A cached token's allow as the gRPC server sends it: encoded once and
/// reused (`CheckService::reply`). (An allow written per Check, as on a
/// cache miss, is in the `uncached` figures.)
fn encoded_allow(c: &mut Criterion) {
    use zt_authz::grpc::Reply;
    let rt = runtime();
    let p = rt.block_on(support::pipeline(1));
    let request = CheckMessage::of(&support::request(&p.token(DevAlg::RS256, "reused")));
    let call = tonic::Request::new(request);
    // The first reply writes the allow and keeps it with the token.
    rt.block_on(p.service.reply(&call));
    let mut group = c.benchmark_group("encoded_allow");
    group.bench_function("reused", |b| {
        b.to_async(&rt).iter(|| async {
            match p.service.reply(&call).await {
                Reply::Kept(claims) => Reply::kept_bytes(&claims).map(<[u8]>::len).ok(),
                Reply::Encoded(_) | Reply::Written(_) | Reply::Message(_) => {
                    panic!("a cached token's allow is reused")
                }
            }
        })
    });
    group.finish();
}

/// A cached check under the orders policy written natively and in Rego
/// (benches/rego/orders.rego): the price of the in-process Rego engine.
fn rego_vs_native(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("cached_policy");
    for (name, policies) in [
        ("native", support::NATIVE_ORDERS),
        ("rego", support::REGO_ORDERS),
    ] {
        let p = rt.block_on(support::pipeline_with_policies(policies, true));
        let request = CheckMessage::of(&support::request(&p.token(DevAlg::RS256, name)));
        let allowed = rt.block_on(p.service.answer_message(&request));
        assert_eq!(
            allowed.status.map(|s| s.code),
            Some(0),
            "{name} does not allow the request"
        );
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| p.service.answer_message(&request))
        });
    }
    group.finish();
}

/// The price of DPoP on a cached token: the proof's signature (ES256),
/// its claims, the key thumbprint and the replay probe, per Check, next to
/// the same cached Check with a bearer token. Each iteration gets a fresh
/// proof, made outside the timing.
fn dpop(c: &mut Criterion) {
    let rt = runtime();
    let p = rt.block_on(support::pipeline(1));
    let client = zt_authz::dev::DevKeys::generate("client").unwrap();
    let token = p.bound_token(&client, "dpop");
    let fresh = || {
        let proof = client.dpop_proof(
            DevAlg::ES256,
            "GET",
            support::HTU,
            &token,
            &serde_json::json!({}),
        );
        CheckMessage::of(&support::dpop_request(&token, &proof))
    };
    let first = rt.block_on(p.service.answer_message(&fresh()));
    assert_eq!(
        first.status.map(|s| s.code),
        Some(0),
        "the DPoP request is not allowed"
    );
    let bearer = CheckMessage::of(&support::request(&p.token(DevAlg::RS256, "bearer")));
    let mut group = c.benchmark_group("dpop");
    group.bench_function("cached_bearer", |b| {
        b.to_async(&rt).iter(|| p.service.answer_message(&bearer))
    });
    let service = &p.service;
    group.bench_function("cached_dpop", |b| {
        b.to_async(&rt).iter_batched(
            fresh,
            |r| async move { service.answer_message(&r).await },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Every check verifies the signature (cache off), per algorithm; and the
/// raw verification alone, the floor of that path.
fn uncached_and_raw(c: &mut Criterion) {
    let rt = runtime();
    let p = rt.block_on(support::pipeline_with(1, false));
    let mut uncached = c.benchmark_group("uncached_allow");
    for alg in DevAlg::ALL {
        let request = CheckMessage::of(&support::request(&p.token(alg, "uncached")));
        uncached.bench_function(alg.name(), |b| {
            b.to_async(&rt).iter(|| p.service.answer_message(&request))
        });
    }
    uncached.finish();
    // Raw verification as zt-authz makes it (each key parsed once per
    // algorithm) and through jsonwebtoken's own verify (parsed per call).
    let keys: Vec<_> = DevAlg::ALL
        .into_iter()
        .map(|alg| {
            let token = p.token(alg, "raw");
            let (input, signature) = token.rsplit_once('.').unwrap();
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(p.keys.jwk(alg)).unwrap();
            let key = zt_authz::keys::VerifyKey::from_jwk(&jwk).unwrap();
            let algorithm: jsonwebtoken::Algorithm = alg.name().parse().unwrap();
            assert!(key.verify(algorithm, input.as_bytes(), signature));
            (
                alg,
                algorithm,
                key,
                input.to_string(),
                signature.to_string(),
            )
        })
        .collect();
    let mut raw = c.benchmark_group("raw_verify");
    for (alg, algorithm, key, input, signature) in &keys {
        raw.bench_function(alg.name(), |b| {
            b.iter(|| key.verify(*algorithm, input.as_bytes(), signature))
        });
    }
    raw.finish();
    let mut raw_jwt = c.benchmark_group("raw_verify_jsonwebtoken");
    for (alg, algorithm, key, input, signature) in &keys {
        raw_jwt.bench_function(alg.name(), |b| {
            b.iter(|| {
                jsonwebtoken::crypto::verify(
                    signature,
                    input.as_bytes(),
                    key.decoding(),
                    *algorithm,
                )
                .unwrap()
            })
        });
    }
    raw_jwt.finish();
}

/// A tampered signature: the cost of refusing a forged token.
fn bad_signature(c: &mut Criterion) {
    let rt = runtime();
    let p = rt.block_on(support::pipeline(1));
    let token = p.token(DevAlg::RS256, "forged");
    let (input, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{input}.{}", "A".repeat(342));
    let request = CheckMessage::of(&support::request(&forged));
    c.bench_function("bad_signature", |b| {
        b.to_async(&rt).iter(|| p.service.answer_message(&request))
    });
}

/// Policy choice with 1, 50 and 500 policies; the request matches the last.
fn policy_choice(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("policy_choice");
    for n in [1, 50, 500] {
        let p = rt.block_on(support::pipeline(n));
        let request = CheckMessage::of(&support::request(&p.token(DevAlg::RS256, "policies")));
        group.bench_function(n.to_string(), |b| {
            b.to_async(&rt).iter(|| p.service.answer_message(&request))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    cached_allow,
    encoded_allow,
    contended_allow,
    rego_vs_native,
    dpop,
    uncached_and_raw,
    bad_signature,
    policy_choice,
    revocations,
    revocation_lookup
);
criterion_main!(benches);
