//! Why a token was rejected. Every message is safe to show the caller: none
//! carries token text, claim values or key material.

/// Why a bearer token was refused; every message is safe to show the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS of three dot-separated parts.
    #[error("the token is not a compact JWS (three base64url parts)")]
    NotCompactJws,
    /// A JWE: five parts, or an `enc` header.
    #[error("encrypted tokens (JWE) are not accepted")]
    Encrypted,
    /// The signature part is empty.
    #[error("unsigned tokens are not accepted")]
    Unsigned,
    /// The header is not base64url-encoded JSON of the expected shape.
    #[error("the token header is not valid base64url JSON")]
    BadHeader,
    /// A header member that must be a string is not one; holds its name.
    #[error("the token header's {0} is not a string")]
    HeaderMemberType(&'static str),
    /// The header has no `alg`.
    #[error("the token header has no usable alg")]
    MissingAlg,
    /// The `alg` is unknown, `none`, or not allowed for the issuer.
    #[error("the token's alg is not allowed for its issuer")]
    AlgNotAllowed,
    /// The header has a `crit` member; no extension is supported.
    #[error("the token header lists critical extensions this service does not support")]
    UnsupportedCrit,
    /// The `typ` is missing or not the one required.
    #[error("the token's typ must be {expected}")]
    WrongType {
        /// The `typ` that was required.
        expected: String,
    },
    /// The payload is not a base64url-encoded JSON object.
    #[error("the token payload is not valid base64url JSON")]
    BadPayload,
    /// An object in the header or payload names a member twice, which
    /// parsers resolve differently.
    #[error("the token names a member more than once")]
    DuplicateMember,
    /// The header or payload spells a member this service reads in a way
    /// other parsers read as that member (`SUB`, `ſub`, `sub\0`), which
    /// this service would not.
    #[error("the token spells a member it reads another way (case, or a NUL)")]
    AliasedMember,
    /// The payload has no `iss`.
    #[error("the token has no iss claim")]
    MissingIssuer,
    /// The `iss` is not a configured issuer.
    #[error("the token's issuer is not trusted")]
    UnknownIssuer,
    /// The issuer's keys have not been loaded yet (503).
    #[error("the issuer's signing keys are not available yet")]
    KeysUnavailable,
    /// No key of the issuer has the token's `kid`, after at most one refetch.
    #[error("no key of the issuer matches the token's kid")]
    UnknownKey,
    /// No `kid`, and more than one of the issuer's keys fits the `alg`.
    #[error("the token has no kid and more than one of the issuer's keys could have signed it")]
    AmbiguousKey,
    /// No candidate key of the issuer fits the token's `alg`.
    #[error("no key of the issuer fits the token's alg")]
    NoFittingKey,
    /// The signature does not verify.
    #[error("the token signature is invalid")]
    BadSignature,
    /// A required claim is absent; holds its name.
    #[error("the token has no {0} claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type; holds its name.
    #[error("the token's {0} claim has the wrong type")]
    ClaimType(&'static str),
    /// A `jti`, `sid` or `sub` longer than a revocation can name
    /// (`MAX_REVOCATION_VALUE` bytes); holds its name. Such a token could
    /// not be revoked by that claim, so it is refused.
    #[error("the token's {0} claim is longer than a revocation can name")]
    ClaimTooLong(&'static str),
    /// An empty `jti`, `sid` or `sub`; holds its name. No revocation can
    /// name an empty value, so such a token is refused.
    #[error("the token's {0} claim is empty, which no revocation can name")]
    ClaimEmpty(&'static str),
    /// A `scope` or `scp` value with a character a scope token cannot have
    /// (RFC 6749 §3.3), such as a tab: a workload splitting the forwarded
    /// scopes on whitespace would read other scopes than were checked.
    #[error(
        "the token's {0} claim is not a list of scope tokens (printable ASCII without space, \" or \\)"
    )]
    NotScopes(&'static str),
    /// `exp` has passed, leeway included.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is ahead of now by more than the leeway.
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    /// `iat` is ahead of now by more than the leeway.
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    /// `auth_time` is ahead of now by more than the leeway.
    #[error("the token's authentication time is in the future (auth_time)")]
    AuthTimeInFuture,
    /// `exp` is further from now than revocations are kept.
    #[error(
        "the token expires more than {max_secs} seconds from now, longer than revocations are kept"
    )]
    ExpiresTooLate {
        /// How long revocations are kept, in seconds.
        max_secs: u64,
    },
    /// The `typ` names another kind of JWT, such as a logout or ID token.
    #[error("the token is typed as {typ}, not as an access token")]
    NotAnAccessToken {
        /// A fixed label for that kind, safe to show the caller.
        typ: &'static str,
    },
    /// None of the token's audiences is accepted for this use.
    #[error("the token's audience is not accepted")]
    WrongAudience,
    /// A logout token from an issuer without `logout_audiences`.
    #[error("the issuer does not send back-channel logout tokens here (no logout_audiences)")]
    LogoutNotConfigured,
    /// `exp − iat` exceeds the tightest lifetime limit.
    #[error("the token's lifetime exceeds the allowed {max_secs} seconds")]
    LifetimeTooLong {
        /// That limit, in seconds.
        max_secs: u64,
    },
    /// `now − iat` exceeds the policy's age limit.
    #[error("the token is older than the allowed {max_secs} seconds")]
    TooOld {
        /// That limit, in seconds.
        max_secs: u64,
    },
}
