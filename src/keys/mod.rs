//! Issuer signing keys (JWKS): where they come from, how they are parsed, and
//! the in-memory snapshot verification reads.

mod fetch;
mod jwks;
mod store;

pub use fetch::{FetchError, FetchSettings, KeySource, MAX_DOCUMENT_BYTES, url_allowed};
pub use jwks::{JwksError, KeySet, MAX_KEYS, VerifyKey};
pub use store::{IssuerKeys, KeyLookup, KeySettings, KeyStatus, MIN_REFRESH};

/// The HTTP client used for every key fetch: rustls, no redirects (a
/// redirect could lead from https to somewhere not vetted at load time).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(5))
        .user_agent(concat!("zt-authz/", env!("CARGO_PKG_VERSION")))
        .build()
        // Building fails only if the TLS backend cannot initialise, which
        // happens at start-up or never.
        .unwrap_or_else(|_| reqwest::Client::new())
}
