//! Bearer extraction, token parsing and verification against a fixed key
//! set. Nothing may panic, and nothing but the pipeline's own valid tokens
//! may verify.
#![no_main]

#[path = "pipeline.rs"]
mod pipeline;

use libfuzzer_sys::fuzz_target;
use zt_authz::token::{TokenLimits, extract_bearer};

fuzz_target!(|data: &[u8]| {
    let p = pipeline::pipeline();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let header = format!("Bearer {text}");
    let Ok(token) = extract_bearer(Some(&header), 8192) else {
        return;
    };
    let verifier = &p.authorizer.snapshot().verifier;
    if let Ok(verified) =
        p.rt.block_on(verifier.verify(token, TokenLimits::default()))
    {
        // Only something this process signed can verify.
        assert_eq!(verified.claims.issuer(), pipeline::ISSUER);
    }
});
