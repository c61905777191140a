//! Step 9: is a verified token revoked? The check runs on every request, so
//! implementations answer from memory without I/O.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::token::VerifiedClaims;

pub trait RevocationCheck: Send + Sync + 'static {
    fn is_revoked(&self, claims: &VerifiedClaims) -> bool;
}

/// A token matches a revocation by `jti`, by `sid`, or by `sub` or `iss`
/// with an `iat` before a cut-off.
#[derive(Debug, Clone, PartialEq)]
pub enum Revocation {
    Jti(String),
    Sid(String),
    SubjectBefore { sub: String, issued_before: f64 },
    IssuerBefore { iss: String, issued_before: f64 },
}

/// Revocations held in process memory only.
#[derive(Debug, Default)]
pub struct InMemoryRevocations {
    jti: RwLock<HashMap<String, ()>>,
    sid: RwLock<HashMap<String, ()>>,
    sub: RwLock<HashMap<String, f64>>,
    iss: RwLock<HashMap<String, f64>>,
}

impl InMemoryRevocations {
    pub fn revoke(&self, r: Revocation) {
        // A poisoned lock only means another thread panicked mid-insert; the
        // map itself is still usable.
        match r {
            Revocation::Jti(j) => {
                self.jti
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(j, ());
            }
            Revocation::Sid(s) => {
                self.sid
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(s, ());
            }
            Revocation::SubjectBefore { sub, issued_before } => {
                self.sub
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(sub, issued_before);
            }
            Revocation::IssuerBefore { iss, issued_before } => {
                self.iss
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(iss, issued_before);
            }
        }
    }
}

impl RevocationCheck for InMemoryRevocations {
    fn is_revoked(&self, c: &VerifiedClaims) -> bool {
        let read = |m: &RwLock<HashMap<String, ()>>, key: Option<&str>| {
            key.is_some_and(|k| m.read().unwrap_or_else(|e| e.into_inner()).contains_key(k))
        };
        // Without iat a cut-off cannot be cleared, so the token counts as
        // issued before it.
        let before = |m: &RwLock<HashMap<String, f64>>, key: Option<&str>| {
            key.and_then(|k| m.read().unwrap_or_else(|e| e.into_inner()).get(k).copied())
                .is_some_and(|cutoff| c.iat().is_none_or(|iat| iat < cutoff))
        };
        read(&self.jti, c.jti())
            || read(&self.sid, c.sid())
            || before(&self.sub, c.subject())
            || before(&self.iss, Some(c.issuer()))
    }
}
