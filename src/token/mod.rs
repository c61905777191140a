//! Bearer tokens: extraction, the JOSE header, verification and the verified
//! claims that policy evaluation consumes.

mod bearer;
mod cache;
mod claims;
mod error;
mod header;
mod header_cache;
mod json;
mod jws;
mod registered;
mod scan;
mod verify;

use std::time::Duration;

pub use bearer::{
    BearerError, Scheme, check_token_characters, extract_bearer, extract_credentials,
    split_credentials,
};
pub use cache::TokenCache;
pub use claims::{EncodedAllow, VerifiedClaims};
pub use error::TokenError;
pub use json::{ObjectError, asks_more_than_plain_jws, names_one_another_way, unique_object};
pub use verify::{IssuerTrust, Rejection, Verified, Verifier};

/// Lifetime (`exp − iat`) and age (`now − iat`) limits for one check: the
/// tighter of the issuer's and the policy's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenLimits {
    /// Longest accepted `exp − iat`, if limited.
    pub max_lifetime: Option<Duration>,
    /// Longest accepted `now − iat`, if limited.
    pub max_age: Option<Duration>,
}

impl TokenLimits {
    /// The stricter of the two limits, field by field.
    pub fn tightest(self, other: TokenLimits) -> TokenLimits {
        fn min(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        TokenLimits {
            max_lifetime: min(self.max_lifetime, other.max_lifetime),
            max_age: min(self.max_age, other.max_age),
        }
    }
}
