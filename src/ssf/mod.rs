//! A Shared Signals receiver (RFC 8935 push): Security Event Tokens from
//! configured transmitters, verified like any token, turned into
//! revocations bound to the subject's issuer and fanned out like any other.

mod events;
mod verify;

use std::collections::HashMap;
use std::sync::Arc;

pub use events::{Action, EventKind, plan};
pub use verify::{MAX_SET_BYTES, SetClaims, verify_set};

use crate::config::TransmitterSettings;
use crate::keys::IssuerKeys;

/// The `Content-Type` of a pushed SET (RFC 8935 §2).
pub const SET_CONTENT_TYPE: &str = "application/secevent+jwt";

/// A configured transmitter and its key store.
#[derive(Debug)]
pub struct Transmitter {
    /// What was configured.
    pub settings: TransmitterSettings,
    /// Its keys, fetched and refreshed like an issuer's.
    pub keys: Arc<IssuerKeys>,
}

/// Transmitters by issuer.
pub type Transmitters = HashMap<String, Arc<Transmitter>>;

/// RFC 8935 §2.3 error codes, with a description for the transmitter's
/// operator. Descriptions never quote the SET. [`SetError::NOT_YET`] is not
/// one of them: it says the SET could not be judged yet, and is answered
/// with a 503 the transmitter retries on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct SetError {
    /// `invalid_request`, `invalid_key`, `invalid_issuer`, `invalid_audience`.
    pub code: &'static str,
    /// What is wrong.
    pub description: String,
}

impl SetError {
    /// The code of a SET that cannot be judged yet.
    pub const NOT_YET: &'static str = "temporarily_unavailable";

    /// `invalid_request` with a description.
    pub fn request(description: impl Into<String>) -> Self {
        Self {
            code: "invalid_request",
            description: description.into(),
        }
    }

    /// Whether the transmitter should send the SET again later.
    pub fn is_temporary(&self) -> bool {
        self.code == Self::NOT_YET
    }

    /// An error with `code`.
    pub fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

#[cfg(test)]
mod tests;
