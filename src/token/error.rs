//! Why a token was rejected. Every message is safe to show the caller: none
//! carries token text, claim values or key material.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a compact JWS (three base64url parts)")]
    NotCompactJws,
    #[error("encrypted tokens (JWE) are not accepted")]
    Encrypted,
    #[error("unsigned tokens are not accepted")]
    Unsigned,
    #[error("the token header is not valid base64url JSON")]
    BadHeader,
    #[error("the token header has no usable alg")]
    MissingAlg,
    #[error("the token's alg is not allowed for its issuer")]
    AlgNotAllowed,
    #[error("the token header lists critical extensions this service does not support")]
    UnsupportedCrit,
    #[error("the token's typ must be {expected}")]
    WrongType { expected: String },
    #[error("the token payload is not valid base64url JSON")]
    BadPayload,
    #[error("the token has no iss claim")]
    MissingIssuer,
    #[error("the token's issuer is not trusted")]
    UnknownIssuer,
    #[error("the issuer's signing keys are not available yet")]
    KeysUnavailable,
    #[error("no key of the issuer matches the token's kid")]
    UnknownKey,
    #[error("the token has no kid and more than one of the issuer's keys could have signed it")]
    AmbiguousKey,
    #[error("no key of the issuer fits the token's alg")]
    NoFittingKey,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token has no {0} claim")]
    MissingClaim(&'static str),
    #[error("the token's {0} claim has the wrong type")]
    ClaimType(&'static str),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    #[error("the token's authentication time is in the future (auth_time)")]
    AuthTimeInFuture,
    #[error(
        "the token expires more than {max_secs} seconds from now, longer than revocations are kept"
    )]
    ExpiresTooLate { max_secs: u64 },
    #[error("the token is typed as {typ}, not as an access token")]
    NotAnAccessToken { typ: &'static str },
    #[error("the token's audience is not accepted")]
    WrongAudience,
    #[error("the issuer does not send back-channel logout tokens here (no logout_audiences)")]
    LogoutNotConfigured,
    #[error("the token's lifetime exceeds the allowed {max_secs} seconds")]
    LifetimeTooLong { max_secs: u64 },
    #[error("the token is older than the allowed {max_secs} seconds")]
    TooOld { max_secs: u64 },
}
