//! zt-authz: the policy decision point behind Envoy's ext_authz filter.
//!
//! The domain (config, tokens, keys, policies, decisions) knows nothing about
//! protocols; `grpc` and `admin` translate at the edges.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod app;
pub mod authorizer;
pub mod binding;
pub mod clock;
pub mod config;
pub mod decision;
pub mod dev;
pub mod grpc;
pub mod keys;
pub mod listen;
pub mod pipeline;
pub mod policy;
pub mod rego;
pub mod reload;
pub mod revocation;
pub mod snapshot;
pub mod ssf;
pub mod telemetry;
pub mod token;

/// Installs the one crypto provider jsonwebtoken uses. Call once at start-up;
/// later calls are harmless.
pub fn install_crypto_provider() {
    // An Err only says a provider is already installed, which is what we want.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}
