//! Builds the descriptor set that server reflection serves.
//!
//! The Envoy API types come from the `envoy-types` crate, which ships the
//! compiled descriptors of every Envoy proto. Reflection only needs the
//! ext_authz service and what it imports, so this keeps that closure and
//! writes it to `OUT_DIR/ext_authz_descriptor.bin`. Copying Envoy's `.proto`
//! files into this repository would duplicate what the crate already pins.

// A build script reports failure by panicking; there is no caller to return to.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use prost::Message;
use prost_types::{FileDescriptorProto, FileDescriptorSet};

const ROOT_FILE: &str = "envoy/service/auth/v3/external_auth.proto";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let descriptors = envoy_types_descriptors();
    let all = FileDescriptorSet::decode(descriptors.as_slice())
        .unwrap_or_else(|e| panic!("envoy-types descriptor set does not decode: {e}"));
    let by_name: HashMap<&str, &FileDescriptorProto> =
        all.file.iter().map(|f| (f.name(), f)).collect();

    let mut keep = BTreeSet::new();
    let mut stack = vec![ROOT_FILE.to_string()];
    while let Some(name) = stack.pop() {
        if !keep.insert(name.clone()) {
            continue;
        }
        let file = by_name
            .get(name.as_str())
            .unwrap_or_else(|| panic!("descriptor for {name} missing from envoy-types"));
        stack.extend(file.dependency.iter().cloned());
    }
    let closure = FileDescriptorSet {
        file: all
            .file
            .iter()
            .filter(|f| keep.contains(f.name()))
            .cloned()
            .collect(),
    };
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    std::fs::write(
        out.join("ext_authz_descriptor.bin"),
        closure.encode_to_vec(),
    )
    .expect("write descriptor set");
}

/// Reads `src/generated/types.bin` from the envoy-types package this build
/// resolved: the version pinned in Cargo.lock, unpacked by cargo under
/// `$CARGO_HOME/registry/src/<index>/envoy-types-<version>/`. (`cargo
/// metadata` would say the same but wants every platform's and every
/// dev-dependency's sources on disk, which a plain `cargo build` does not
/// fetch.)
fn envoy_types_descriptors() -> Vec<u8> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let lock =
        std::fs::read_to_string(manifest_dir.join("Cargo.lock")).expect("Cargo.lock is committed");
    println!("cargo:rerun-if-changed=Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"envoy-types\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .expect("envoy-types is in Cargo.lock");
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cargo"));
    let registry = cargo_home.join("registry/src");
    let package = format!("envoy-types-{version}");
    let path = std::fs::read_dir(&registry)
        .unwrap_or_else(|e| panic!("read {}: {e}", registry.display()))
        .filter_map(Result::ok)
        .map(|index| index.path().join(&package).join("src/generated/types.bin"))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{package} sources not found under {}", registry.display()));
    println!("cargo:rerun-if-changed={}", path.display());
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
