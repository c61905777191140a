//! Arbitrary protobuf bytes as a CheckRequest, turned into the Rego input
//! document and evaluated by a policy that reads every part of it: an
//! answer or an error, never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prost::bytes::Bytes;
use zt_authz::grpc::{CheckMessage, RequestView};
use zt_authz::rego::{RegoLimits, RegoModule, RegoPolicy, RequestDocument};

const POLICY: &str = r#"package fuzz
default allow := false
allow if {
	http := input.attributes.request.http
	startswith(http.path, "/")
	count(input.parsed_path) > 0
	some name, values in input.parsed_query
	count(values) >= 0
	is_string(name)
	object.get(http.headers, "x-a", "") != "never"
	object.get(input.attributes, ["source", "principal"], "") != "never"
}
"#;

fn policy() -> &'static RegoPolicy {
    static POLICY_ONCE: OnceLock<RegoPolicy> = OnceLock::new();
    POLICY_ONCE.get_or_init(|| {
        let module = RegoModule {
            name: "fuzz.rego".into(),
            text: POLICY.into(),
        };
        RegoPolicy::compile(&[module], regorus::Value::Null, "data.fuzz.allow", Vec::new(), RegoLimits::default())
            .expect("the fuzz policy compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    let request = CheckMessage::decode(Bytes::copy_from_slice(data));
    let Ok(view) = RequestView::of(&request) else {
        return;
    };
    if let Ok(doc) = view.opa_input() {
        let _ = policy().evaluate(regorus::Value::from(doc));
    }
});
