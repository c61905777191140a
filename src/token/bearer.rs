//! Step 4: exactly one `Authorization: Bearer <token>`.

/// Why the `Authorization` header holds no usable bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    /// No `Authorization` header.
    #[error("no bearer token")]
    Missing,
    /// Not exactly one well-formed Bearer token; holds the reason shown to the caller.
    #[error("{0}")]
    Malformed(&'static str),
    /// The token is longer than `server.max_token_bytes`.
    #[error("the bearer token is larger than the configured limit")]
    TooLarge,
}

/// How the token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP`, with a proof in the `DPoP` header (RFC 9449).
    Dpop,
}

const WRONG_SCHEME: &str = "the Authorization header must use the Bearer or DPoP scheme";

/// Takes the value of the `authorization` header as Envoy forwards it; only
/// the Bearer scheme (the admin API).
pub fn extract_bearer(header: Option<&str>, max_bytes: usize) -> Result<&str, BearerError> {
    match extract_credentials(header, max_bytes) {
        Ok((Scheme::Bearer, token)) => Ok(token),
        Ok((Scheme::Dpop, _)) | Err(BearerError::Malformed(WRONG_SCHEME)) => Err(
            BearerError::Malformed("the Authorization header must use the Bearer scheme"),
        ),
        Err(e) => Err(e),
    }
}

/// Step 4: one `Bearer` or `DPoP` token from the `authorization` header.
/// Two headers arrive joined with `,`, so a comma anywhere is malformed.
pub fn extract_credentials(
    header: Option<&str>,
    max_bytes: usize,
) -> Result<(Scheme, &str), BearerError> {
    let (scheme, token) = split_credentials(header, max_bytes)?;
    check_token_characters(token)?;
    Ok((scheme, token))
}

/// `extract_credentials` short of [`check_token_characters`]: the scheme,
/// and a token that is there and not too large. For a caller that finds
/// the token among those it checked before, and checks the others.
pub fn split_credentials(
    header: Option<&str>,
    max_bytes: usize,
) -> Result<(Scheme, &str), BearerError> {
    let value = header.ok_or(BearerError::Missing)?;
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Err(BearerError::Malformed(WRONG_SCHEME));
    };
    let token = rest.trim_start_matches([' ', '\t']);
    if token.is_empty() {
        return Err(BearerError::Malformed("the bearer token is empty"));
    }
    if token.len() > max_bytes {
        return Err(BearerError::TooLarge);
    }
    Ok((scheme, token))
}

/// RFC 6750 b64token: no whitespace or other characters inside. Two
/// headers arrive joined with `,`, which is named on its own.
pub fn check_token_characters(token: &str) -> Result<(), BearerError> {
    if is_b64token(token.as_bytes()) {
        return Ok(());
    }
    Err(BearerError::Malformed(if token.contains(',') {
        "more than one Authorization header, or a comma in the token"
    } else {
        "the bearer token contains characters a token cannot have"
    }))
}

/// Whether every byte is an RFC 6750 b64token character. This runs over
/// every byte of every token, so it has no early exit and no table: the
/// compiler turns it into vector compares.
fn is_b64token(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| ok & is_b64token_byte(b))
}

fn is_b64token_byte(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter
        | digit
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
        | (b == b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(Option<&str>, Result<&str, BearerError>)] = &[
            (None, Err(BearerError::Missing)),
            (Some("Bearer abc.def.ghi"), Ok("abc.def.ghi")),
            (Some("bearer abc"), Ok("abc")),
            (Some("BEARER   abc"), Ok("abc")),
            (
                Some("Bearer"),
                Err(BearerError::Malformed("the bearer token is empty")),
            ),
            (
                Some("Bearer "),
                Err(BearerError::Malformed("the bearer token is empty")),
            ),
            (
                Some("Basic dXNlcjpwYXNz"),
                Err(BearerError::Malformed(
                    "the Authorization header must use the Bearer scheme",
                )),
            ),
            (
                Some("Bearer a,Bearer b"),
                Err(BearerError::Malformed(
                    "more than one Authorization header, or a comma in the token",
                )),
            ),
            (
                Some("Bearer a b"),
                Err(BearerError::Malformed(
                    "the bearer token contains characters a token cannot have",
                )),
            ),
            (Some("Bearer aaaaaaaaaaaaaaaaa"), Err(BearerError::TooLarge)),
        ];
        for (header, expected) in cases {
            assert_eq!(&extract_bearer(*header, 16), expected, "header {header:?}");
        }
    }

    #[test]
    fn b64token_bytes_are_exactly_rfc6750s() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=');
            assert_eq!(is_b64token_byte(b), expected, "byte {b:#04x}");
            let token = [b'a', b, b'z'];
            assert_eq!(
                is_b64token(&token),
                expected,
                "byte {b:#04x} inside a token"
            );
        }
        assert!(is_b64token(b""));
    }

    #[test]
    fn dpop_is_a_scheme_of_check_not_of_the_admin_api() {
        assert_eq!(
            extract_credentials(Some("DPoP abc"), 16),
            Ok((Scheme::Dpop, "abc"))
        );
        assert_eq!(
            extract_credentials(Some("dpop   abc"), 16),
            Ok((Scheme::Dpop, "abc"))
        );
        assert_eq!(
            extract_credentials(Some("Bearer abc"), 16),
            Ok((Scheme::Bearer, "abc"))
        );
        assert_eq!(
            extract_credentials(Some("DPoP a,DPoP b"), 16).map(|_| ()),
            Err(BearerError::Malformed(
                "more than one Authorization header, or a comma in the token"
            ))
        );
        assert_eq!(
            extract_credentials(Some("Basic abc"), 16),
            Err(BearerError::Malformed(WRONG_SCHEME))
        );
        assert_eq!(
            extract_bearer(Some("DPoP abc"), 16),
            Err(BearerError::Malformed(
                "the Authorization header must use the Bearer scheme"
            ))
        );
    }
}
