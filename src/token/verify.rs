//! Steps 5–8 of the pipeline: from a bearer string to `VerifiedClaims`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::Value;

use super::cache::TokenCache;
use super::header::{JoseHeader, other_jwt_type, typ_matches};
use super::header_cache::HeaderCache;
use super::jws::{CompactJws, Unverified, printable};
use super::registered::TypedClaims;
use super::{TokenError, TokenLimits, VerifiedClaims};
use crate::clock::SharedClock;
use crate::keys::{IssuerKeys, KeyLookup};

/// What is trusted about one issuer.
#[derive(Debug)]
pub struct IssuerTrust {
    /// The issuer, spelt exactly as the token's `iss` must be.
    pub issuer: Arc<str>,
    /// Access-token audiences; the token's `aud` must contain one.
    pub audiences: Vec<String>,
    /// Audiences of back-channel logout tokens (the relying parties'
    /// client ids); empty means this issuer's logout tokens are refused.
    pub logout_audiences: Vec<String>,
    /// Signature algorithms accepted from this issuer.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on every time comparison.
    pub leeway: Duration,
    /// The issuer's own `exp − iat` limit, if any.
    pub max_token_lifetime: Option<Duration>,
    /// The `typ` every access token of this issuer must carry, if set.
    pub required_typ: Option<String>,
    /// How DPoP proofs for this issuer's tokens are checked.
    pub dpop: Arc<crate::binding::DpopSettings>,
    /// The issuer's key store.
    pub keys: Arc<IssuerKeys>,
}

/// A token that passed verification and its time checks.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Its claims.
    pub claims: Arc<VerifiedClaims>,
    /// Its issuer's settings, as this snapshot has them.
    pub trust: Arc<IssuerTrust>,
    /// The Unix time its lifetime was judged at. The rest of a decision
    /// judges by the same instant, so no two steps see different times.
    pub now: f64,
}

/// A refused token: why, and what was learned about it on the way, for the
/// decision log. `issuer` is set only when it names a configured issuer;
/// `kid` is the header's, cut to 64 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Why the token was refused.
    pub error: TokenError,
    /// The configured issuer the token named, once known.
    pub issuer: Option<Arc<str>>,
    /// The header's `kid`, made printable and cut to 64 characters.
    pub kid: Option<String>,
}

impl Rejection {
    fn about(error: TokenError, claims: &VerifiedClaims) -> Self {
        Self {
            error,
            issuer: Some(Arc::from(claims.issuer())),
            kid: claims.kid().map(printable),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenUse {
    Access,
    Logout,
}

/// Verifies bearer tokens against the configured issuers, caching what passed.
pub struct Verifier {
    issuers: HashMap<Arc<str>, Arc<IssuerTrust>>,
    cache: TokenCache,
    /// The headers of tokens verified before.
    headers: HeaderCache,
    clock: SharedClock,
    /// How long revocations are kept. No token may live longer, or a
    /// revocation could expire while a token it matches is still valid.
    retention: Duration,
}

impl Verifier {
    /// A verifier for these issuers; no token may outlive `retention`, the revocation lifetime.
    pub fn new(
        issuers: impl IntoIterator<Item = Arc<IssuerTrust>>,
        cache: TokenCache,
        clock: SharedClock,
        retention: Duration,
    ) -> Self {
        Self {
            issuers: issuers.into_iter().map(|t| (t.issuer.clone(), t)).collect(),
            cache,
            headers: HeaderCache::default(),
            clock,
            retention,
        }
    }

    /// What is trusted about this issuer, if it is configured.
    pub fn trust(&self, issuer: &str) -> Option<&Arc<IssuerTrust>> {
        self.issuers.get(issuer)
    }

    /// Every configured issuer.
    pub fn issuers(&self) -> impl Iterator<Item = &Arc<IssuerTrust>> {
        self.issuers.values()
    }

    /// Verifies a compact JWS against the issuer it names and the limits
    /// given. A token verified before (same bytes, same issuer keys) skips
    /// the parsing and signature work; the time checks and limits run on
    /// every call. Only an unknown `kid` can make this wait: for one
    /// de-duplicated, rate-limited refetch of that issuer's keys.
    pub async fn verify(&self, token: &str, limits: TokenLimits) -> Result<Verified, Rejection> {
        match self.verify_cached(token, limits) {
            Some(result) => result,
            None => self.verify_uncached(token, limits).await,
        }
    }

    /// `verify` for a token in the cache, `None` for any other: its parsing
    /// and signature were checked when it was stored, so only the time
    /// checks and limits run.
    pub fn verify_cached(
        &self,
        token: &str,
        limits: TokenLimits,
    ) -> Option<Result<Verified, Rejection>> {
        let (claims, trust) = self.cache.get(token)?;
        Some(self.judged_now(claims, trust, limits))
    }

    /// `verify` without looking in the cache; a token that passes is stored.
    pub async fn verify_uncached(
        &self,
        token: &str,
        limits: TokenLimits,
    ) -> Result<Verified, Rejection> {
        let fresh = self.verify_fresh(token, TokenUse::Access).await?;
        let claims = Arc::new(fresh.claims);
        self.cache.insert(
            token,
            &claims,
            &fresh.trust,
            fresh.key_generation,
            self.clock.now_unix(),
        );
        self.judged_now(claims, fresh.trust, limits)
    }

    /// The time checks and limits, against one reading of the clock that
    /// the caller's later steps use too.
    fn judged_now(
        &self,
        claims: Arc<VerifiedClaims>,
        trust: Arc<IssuerTrust>,
        limits: TokenLimits,
    ) -> Result<Verified, Rejection> {
        let now = self.clock.now_unix();
        match self.check_times(&trust, &claims, limits, now) {
            Ok(()) => Ok(Verified { claims, trust, now }),
            Err(error) => Err(Rejection::about(error, &claims)),
        }
    }

    /// An OIDC Back-Channel Logout token: verified like an access token,
    /// except that `typ`, when present, must be `logout+jwt` (the issuer's
    /// `required_typ` is for access tokens). Never cached.
    pub async fn verify_logout_token(&self, token: &str) -> Result<VerifiedClaims, Rejection> {
        let fresh = self.verify_fresh(token, TokenUse::Logout).await?;
        let now = self.clock.now_unix();
        self.check_times(&fresh.trust, &fresh.claims, TokenLimits::default(), now)
            .map_err(|error| Rejection::about(error, &fresh.claims))?;
        Ok(fresh.claims)
    }

    /// Everything that does not depend on the time: header, issuer, key,
    /// signature, audience and claim types. A refusal carries what was
    /// learned before it: the header's `kid`, the issuer once trusted.
    async fn verify_fresh(&self, token: &str, usage: TokenUse) -> Result<Fresh, Rejection> {
        let unsigned = Unverified::parse(token, &self.headers).map_err(|error| Rejection {
            error,
            issuer: None,
            kid: None,
        })?;
        let kid = unsigned.header.kid.as_deref().map(printable);
        let refuse = |error, issuer| Rejection {
            error,
            issuer,
            kid: kid.clone(),
        };
        let trust = self
            .issuer_of(&unsigned)
            .map_err(|error| refuse(error, None))?;
        self.verify_for(trust, unsigned, usage)
            .await
            .map_err(|error| refuse(error, Some(trust.issuer.clone())))
    }

    /// The configured issuer the unverified `iss` names: read only to
    /// choose whose keys to check with.
    fn issuer_of(&self, unsigned: &Unverified<'_>) -> Result<&Arc<IssuerTrust>, TokenError> {
        let issuer = match unsigned.registered.get("iss") {
            None => return Err(TokenError::MissingIssuer),
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(TokenError::ClaimType("iss")),
        };
        self.issuers.get(issuer).ok_or(TokenError::UnknownIssuer)
    }

    /// The verified-token cache, for its counters.
    pub fn cache(&self) -> &TokenCache {
        &self.cache
    }

    /// The issuer's rules for this use of a token, then its key and
    /// signature, then the audience and claim types.
    async fn verify_for(
        &self,
        trust: &Arc<IssuerTrust>,
        unsigned: Unverified<'_>,
        usage: TokenUse,
    ) -> Result<Fresh, TokenError> {
        let Unverified {
            parts,
            header,
            registered,
            payload,
        } = unsigned;
        if !trust.algorithms.contains(&header.alg) {
            return Err(TokenError::AlgNotAllowed);
        }
        if usage == TokenUse::Access
            && let Some(typ) = header.typ.as_deref()
            && let Some(other) = other_jwt_type(typ, trust.required_typ.as_deref())
        {
            return Err(TokenError::NotAnAccessToken { typ: other });
        }
        // Logout tokens and SETs carry `events`; an access token never
        // does, so one without a `typ` cannot pass as the other.
        if usage == TokenUse::Access && registered.get("events").is_some() {
            return Err(TokenError::NotAnAccessToken {
                typ: "an event token (it has an events claim)",
            });
        }
        let audiences = match usage {
            TokenUse::Access => &trust.audiences,
            TokenUse::Logout if trust.logout_audiences.is_empty() => {
                return Err(TokenError::LogoutNotConfigured);
            }
            TokenUse::Logout => &trust.logout_audiences,
        };
        let expected_typ = match usage {
            TokenUse::Access => trust.required_typ.as_deref(),
            TokenUse::Logout => Some("logout+jwt"),
        };
        if let Some(expected) = expected_typ {
            let fits = match header.typ.as_deref() {
                Some(t) => typ_matches(t, expected),
                // A logout token may leave `typ` out; an access token whose
                // issuer requires one may not.
                None => usage == TokenUse::Logout,
            };
            if !fits {
                return Err(TokenError::WrongType {
                    expected: expected.to_string(),
                });
            }
        }

        let key_generation = self.check_signature(trust, &header, &parts).await?;
        self.headers.remember(parts.header, &header);

        let typed = TypedClaims::read(registered)?;
        if !typed.audiences.iter().any(|a| audiences.contains(a)) {
            return Err(TokenError::WrongAudience);
        }
        Ok(Fresh {
            claims: VerifiedClaims::new(trust.issuer.clone(), header.kid, typed, payload),
            trust: trust.clone(),
            key_generation,
        })
    }

    /// Checks the signature; returns the generation of the key set whose
    /// key verified it.
    async fn check_signature(
        &self,
        trust: &IssuerTrust,
        header: &JoseHeader,
        parts: &CompactJws<'_>,
    ) -> Result<u64, TokenError> {
        let kid = header.kid.as_deref();
        let mut lookup = trust.keys.find(kid, header.alg);
        if matches!(lookup, KeyLookup::UnknownKid) {
            // Maybe the issuer rotated: refetch once (shared, rate-limited).
            trust.keys.refetch_for_unknown_kid().await;
            lookup = trust.keys.find(kid, header.alg);
        }
        let (key, generation) = match lookup {
            KeyLookup::Found { key, generation } => (key, generation),
            KeyLookup::NoKeys => return Err(TokenError::KeysUnavailable),
            KeyLookup::UnknownKid => return Err(TokenError::UnknownKey),
            KeyLookup::Ambiguous => return Err(TokenError::AmbiguousKey),
            KeyLookup::NoneFits => return Err(TokenError::NoFittingKey),
        };
        if key.verify(header.alg, parts.signing_input.as_bytes(), parts.signature) {
            Ok(generation)
        } else {
            Err(TokenError::BadSignature)
        }
    }

    fn check_times(
        &self,
        trust: &IssuerTrust,
        c: &VerifiedClaims,
        limits: TokenLimits,
        now: f64,
    ) -> Result<(), TokenError> {
        let leeway = trust.leeway.as_secs_f64();
        if now >= c.exp() + leeway {
            return Err(TokenError::Expired);
        }
        if c.nbf().is_some_and(|nbf| nbf > now + leeway) {
            return Err(TokenError::NotYetValid);
        }
        if c.iat().is_some_and(|iat| iat > now + leeway) {
            return Err(TokenError::IssuedInFuture);
        }
        if c.auth_time().is_some_and(|t| t > now + leeway) {
            return Err(TokenError::AuthTimeInFuture);
        }
        // A token must not outlive the revocations that could match it:
        // neither from now (a `jti` or `sid` entry is kept that long) nor
        // from its issue time (a `sub` or `iss` cut-off is kept that long
        // after the cut-off).
        if c.exp() - now > self.retention.as_secs_f64() {
            return Err(TokenError::ExpiresTooLate {
                max_secs: self.retention.as_secs(),
            });
        }
        let limits = limits
            .tightest(TokenLimits {
                max_lifetime: trust.max_token_lifetime,
                max_age: None,
            })
            .tightest(TokenLimits {
                max_lifetime: Some(self.retention),
                max_age: None,
            });
        // A lifetime or age limit cannot be judged without iat.
        let iat = c.iat().ok_or(TokenError::MissingClaim("iat"))?;
        if let Some(max) = limits.max_lifetime
            && c.exp() - iat > max.as_secs_f64()
        {
            return Err(TokenError::LifetimeTooLong {
                max_secs: max.as_secs(),
            });
        }
        if let Some(max) = limits.max_age
            && now - iat > max.as_secs_f64() + leeway
        {
            return Err(TokenError::TooOld {
                max_secs: max.as_secs(),
            });
        }
        Ok(())
    }
}

/// A token verified just now, before the time checks.
struct Fresh {
    claims: VerifiedClaims,
    trust: Arc<IssuerTrust>,
    /// The issuer's key generation the signature was checked against.
    key_generation: u64,
}
