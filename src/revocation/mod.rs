//! Revocations (README, "Revocation"): what they are, how long they live, and the
//! in-memory index step 9 of the pipeline reads on every request.

mod catch_up;
mod index;
mod model;
mod push;
mod remote;
mod request;
mod seal;
mod service;
mod store;
mod sync;

pub use index::RevocationIndex;
pub use model::{
    ExpiryRules, Kind, MAX_REVOCATION_VALUE, NewRevocation, Revocation, RevocationError, Target,
    TokenKeys, revocation_id,
};
pub use seal::HmacKey;
pub use service::{
    NoEvents, RevocationEvents, RevocationSettings, Revocations, RevokeError, StoreSettings,
};
pub use store::{Page, StoreError};

use crate::token::VerifiedClaims;

/// Step 9: is this verified token revoked? Answered from memory, without
/// I/O or lock contention.
pub trait RevocationCheck: Send + Sync + 'static {
    /// Whether the verified token is revoked now.
    fn is_revoked(&self, claims: &VerifiedClaims) -> bool;
}
