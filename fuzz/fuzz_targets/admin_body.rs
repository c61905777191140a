//! Admin API bodies: revocation requests and back-channel logout tokens.
#![no_main]

#[path = "pipeline.rs"]
mod pipeline;

use libfuzzer_sys::fuzz_target;
use zt_authz::revocation::NewRevocation;

fuzz_target!(|data: &[u8]| {
    if let Ok(new) = serde_json::from_slice::<NewRevocation>(data) {
        let rules = zt_authz::revocation::ExpiryRules {
            max_token_lifetime: 3600.0,
            leeway: 30.0,
        };
        if let Ok(r) = new.into_revocation(1_800_000_000.0, &rules, "fuzz") {
            assert!(r.expires_at > 1_800_000_000.0);
            assert!(!r.target.value().is_empty());
        }
    }
    let p = pipeline::pipeline();
    if let Ok(text) = std::str::from_utf8(data) {
        let verifier = &p.authorizer.runtime().verifier;
        let _ = p.rt.block_on(verifier.verify_logout_token(text));
    }
});
