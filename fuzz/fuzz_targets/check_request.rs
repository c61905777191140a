//! Arbitrary protobuf bytes as a CheckRequest, through the whole Check
//! handler: a response, always with an explicit status; never a panic.
#![no_main]

#[path = "pipeline.rs"]
mod pipeline;

use envoy_types::pb::envoy::service::auth::v3::CheckRequest;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let p = pipeline::pipeline();
    let Ok(request) = CheckRequest::decode(data) else {
        return;
    };
    let response = p.rt.block_on(p.service.answer(&request));
    assert!(response.status.is_some());
    assert!(response.http_response.is_some());
});
