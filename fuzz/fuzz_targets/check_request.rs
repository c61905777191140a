//! Arbitrary bytes as a received CheckRequest, through the whole Check
//! handler: a response (a denial when they are no CheckRequest), always
//! with an explicit status; never a panic.
#![no_main]

#[path = "pipeline.rs"]
mod pipeline;

use libfuzzer_sys::fuzz_target;
use prost::bytes::Bytes;
use zt_authz::grpc::CheckMessage;

fuzz_target!(|data: &[u8]| {
    let p = pipeline::pipeline();
    let request = CheckMessage::decode(Bytes::copy_from_slice(data));
    let response = p.rt.block_on(p.service.answer_message(&request));
    assert!(response.status.is_some());
    assert!(response.http_response.is_some());
});
