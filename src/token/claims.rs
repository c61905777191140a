//! The claims of a token whose signature and registered claims were checked.

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

#[cfg(test)]
use super::registered::Registered;
use super::registered::TypedClaims;
use crate::decision::AllowFor;
use crate::revocation::TokenKeys;

/// Claims that passed verification. Only `Verifier` can make one, so policy
/// code that takes `&VerifiedClaims` cannot run on an unchecked token.
#[derive(Debug, Clone)]
pub struct VerifiedClaims {
    issuer: Arc<str>,
    kid: Option<String>,
    subject: Option<String>,
    jti: Option<String>,
    sid: Option<String>,
    exp: f64,
    nbf: Option<f64>,
    iat: Option<f64>,
    auth_time: Option<f64>,
    acr: Option<String>,
    scopes: Vec<String>,
    /// `cnf`, kept apart from `all` because every check looks for it.
    cnf: Option<Value>,
    /// The payload as decoded, its objects already checked for repeated
    /// member names: every claim, read into `all` only when one outside
    /// the registered ones is asked for.
    payload: Vec<u8>,
    all: OnceLock<Map<String, Value>>,
    /// The claims as a Rego value, built on first use by a Rego policy and
    /// kept with the cached claims, so a cached token is converted once.
    rego: OnceLock<regorus::Value>,
    /// The first reusable allow the gRPC edge encoded for this token.
    encoded_allow: OnceLock<EncodedAllow>,
    /// The revocation index keys of this token, worked out at its first probe.
    revocation_keys: OnceLock<TokenKeys>,
}

/// An allow response as the gRPC edge encoded it, and what it was decided
/// under. The bytes hold the identity headers sent to the workload, never
/// the token.
#[derive(Clone)]
pub struct EncodedAllow {
    /// The snapshot and policy it was decided under.
    pub decided_for: AllowFor,
    /// The encoded response.
    pub bytes: Arc<[u8]>,
}

impl std::fmt::Debug for EncodedAllow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedAllow")
            .field("decided_for", &self.decided_for)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl VerifiedClaims {
    pub(super) fn new(
        issuer: Arc<str>,
        kid: Option<String>,
        typed: TypedClaims,
        payload: Vec<u8>,
    ) -> Self {
        Self {
            issuer,
            kid,
            subject: typed.subject,
            jti: typed.jti,
            sid: typed.sid,
            exp: typed.exp,
            nbf: typed.nbf,
            iat: typed.iat,
            auth_time: typed.auth_time,
            acr: typed.acr,
            scopes: typed.scopes,
            cnf: typed.cnf,
            payload,
            all: OnceLock::new(),
            rego: OnceLock::new(),
            encoded_allow: OnceLock::new(),
            revocation_keys: OnceLock::new(),
        }
    }

    /// The allow encoded for this token under `decided_for`, if there is one.
    pub fn encoded_allow(&self, decided_for: &AllowFor) -> Option<&EncodedAllow> {
        self.encoded_allow_under(decided_for.generation, &decided_for.policy)
    }

    /// `encoded_allow` for the policy of that name in the snapshot of
    /// that generation, without building an `AllowFor` to ask.
    pub fn encoded_allow_under(&self, generation: u64, policy: &str) -> Option<&EncodedAllow> {
        self.encoded_allow
            .get()
            .filter(|e| e.decided_for.generation == generation && *e.decided_for.policy == *policy)
    }

    /// The encoded allow kept with the token, whatever it was decided
    /// under. Only the first is ever kept, so once `encoded_allow` found
    /// it for a decision these bytes stay that decision's answer.
    pub fn kept_answer(&self) -> Option<&[u8]> {
        self.encoded_allow.get().map(|e| &*e.bytes)
    }

    /// Whether an encoded allow is kept with the token, for whatever policy
    /// and snapshot.
    pub fn keeps_an_encoded_allow(&self) -> bool {
        self.encoded_allow.get().is_some()
    }

    /// Keeps an encoded allow with the token. Only the first is kept: a
    /// token used under another policy, or a later snapshot, is encoded
    /// each time.
    pub fn keep_encoded_allow(&self, encoded: EncodedAllow) {
        let _ = self.encoded_allow.set(encoded);
    }

    /// The configured issuer the token's `iss` matched.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// The header's `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    /// The `sub` claim, if present.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
    /// The `jti` claim, if present.
    pub fn jti(&self) -> Option<&str> {
        self.jti.as_deref()
    }
    /// The `sid` (session id) claim, if present.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }
    /// The `exp` claim, in Unix seconds.
    pub fn exp(&self) -> f64 {
        self.exp
    }
    /// The `nbf` claim, in Unix seconds, if present.
    pub fn nbf(&self) -> Option<f64> {
        self.nbf
    }
    /// The `iat` claim, in Unix seconds, if present.
    pub fn iat(&self) -> Option<f64> {
        self.iat
    }
    /// When the user authenticated (`auth_time`), in Unix seconds, if present.
    pub fn auth_time(&self) -> Option<f64> {
        self.auth_time
    }
    /// The `acr` claim, if present.
    pub fn acr(&self) -> Option<&str> {
        self.acr.as_deref()
    }
    /// The normalised scopes: `scope` split on spaces, or `scp` when `scope` is absent.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
    /// Whether the token carries exactly this scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
    /// Any claim, as the token carried it.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        match name {
            "cnf" => self.cnf.as_ref(),
            _ => self.all().get(name),
        }
    }
    /// For the string claims read when the token was verified (`iss`,
    /// `sub`, `jti`, `sid`, `acr`), the claim's value or `None` when the
    /// token has none, without reading the rest of its claims. For any
    /// other name, `None`: ask `claim`.
    pub fn verified_string(&self, name: &str) -> Option<Option<&str>> {
        Some(match name {
            "iss" => Some(&*self.issuer),
            "sub" => self.subject(),
            "jti" => self.jti(),
            "sid" => self.sid(),
            "acr" => self.acr(),
            _ => return None,
        })
    }
    /// Every claim, as the token carried them.
    pub fn all(&self) -> &Map<String, Value> {
        // The payload was read with the same parser when the token was
        // verified, and refused unless every member name was unique, so
        // it reads again into the same claims; the empty map for a
        // failure that cannot happen would match no claim condition.
        self.all
            .get_or_init(|| serde_json::from_slice(&self.payload).unwrap_or_default())
    }
    /// The token's revocation index keys: `derive(self)`, computed once
    /// per verified token.
    pub fn revocation_keys(&self, derive: impl FnOnce(&Self) -> TokenKeys) -> &TokenKeys {
        self.revocation_keys.get_or_init(|| derive(self))
    }
    /// `build(self)`, computed once per verified token.
    pub fn rego_document(&self, build: impl FnOnce(&Self) -> regorus::Value) -> regorus::Value {
        self.rego.get_or_init(|| build(self)).clone()
    }
}

#[cfg(test)]
impl VerifiedClaims {
    /// Claims as if verified, for unit tests of the code that consumes them;
    /// outside tests only the verifier can make `VerifiedClaims`.
    pub(crate) fn for_test(issuer: &str, claims: Value) -> Self {
        let payload = serde_json::to_vec(&claims).unwrap();
        let registered = Registered::scan(&payload).unwrap();
        let typed = TypedClaims::read(registered).unwrap_or_else(|e| panic!("test claims: {e}"));
        Self::new(Arc::from(issuer), None, typed, payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_claims_kept_apart_are_the_claims_the_token_carried() {
        let token = json!({
            "iss": "https://issuer.test", "sub": "alice", "sid": "s1", "acr": "mfa",
            "aud": "a", "exp": 1, "cnf": {"jkt": "x"}, "team": ["a", "b"]
        });
        let with = VerifiedClaims::for_test("https://issuer.test", token.clone());
        let without =
            VerifiedClaims::for_test("https://issuer.test", json!({"aud": "a", "exp": 1}));
        for claims in [&with, &without] {
            for name in ["iss", "sub", "jti", "sid", "acr"] {
                let whole = serde_json::from_slice::<Map<String, Value>>(&claims.payload).unwrap();
                let expected = match name {
                    // `iss` is the configured issuer it matched.
                    "iss" => Some(claims.issuer()),
                    _ => whole.get(name).and_then(Value::as_str),
                };
                assert_eq!(claims.verified_string(name), Some(expected), "{name}");
            }
            assert_eq!(claims.verified_string("team"), None);
        }
        assert_eq!(with.claim("cnf"), Some(&token["cnf"]));
        assert_eq!(without.claim("cnf"), None);
        // Nothing above needed the other claims read.
        assert!(with.all.get().is_none());
        assert_eq!(with.claim("team"), Some(&json!(["a", "b"])));
        assert_eq!(with.all(), token.as_object().unwrap());
    }
}
