//! A flood of distinct invalid tokens: each is refused, none is kept, and
//! memory stays flat. Alone in its file (its own process), so that the RSS
//! it measures is its own.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::app::check_request;
use common::{KeyServer, TestApp, now, standard_config};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use serde_json::json;

fn denied(r: &envoy_types::pb::envoy::service::auth::v3::CheckResponse) -> bool {
    matches!(r.http_response, Some(HttpResponse::DeniedResponse(_)))
}

#[tokio::test]
async fn a_flood_of_unique_invalid_tokens_leaves_no_trace_in_memory() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&standard_config(&ks, &other)).await;
    let good = ks.token(json!({}));
    let (input, _) = good.rsplit_once('.').unwrap();
    let runtime = app.running.authorizer.snapshot();
    let before = rss();
    for i in 0..20_000u32 {
        let forged = format!(
            "{input}.{}",
            base64_of(&format!("forged-signature-{i:08}-{}", "x".repeat(200)))
        );
        assert!(denied(
            &app.check(&check_request("/orders", Some(&forged))).await
        ));
    }
    assert_eq!(
        runtime.verifier.cache().entry_count(),
        0,
        "invalid tokens were cached"
    );
    let grown = rss().saturating_sub(before);
    assert!(grown < 32 * 1024 * 1024, "RSS grew by {grown} bytes");
    // Expired and otherwise time-invalid tokens are not cached either.
    let expired = ks.token(json!({"exp": now() - 3600}));
    assert!(denied(
        &app.check(&check_request("/orders", Some(&expired))).await
    ));
    assert_eq!(runtime.verifier.cache().entry_count(), 0);
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        * 1024
}
