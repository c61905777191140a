//! Request text quoted in a log line, with anything shaped like a JOSE
//! token blanked out. The path and `x-request-id` are the caller's own
//! text, and a caller may carry a token there (a link with a token in its
//! path, a client that reuses its token as a request id); a Rego error may
//! quote the `Authorization` header. The log must keep none of them.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// A compact JWS or JWE: a base64url JSON header (so it starts with `ey`,
/// the encoding of `{`), then two or more dot-separated base64url parts.
/// Or, wherever it sits and whatever separates it from the rest, one
/// base64url JSON object (`eyJ` is `{"`): a header or payload split off by
/// `/` or `%2E` is blanked too, and a signature alone replays nothing.
static JOSE_LIKE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"ey[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){2,}|eyJ[A-Za-z0-9_-]{8,}").ok()
});

/// Shows `text` with every token-shaped run replaced by `[token]`.
pub struct WithoutTokens<'a>(pub &'a str);

impl fmt::Display for WithoutTokens<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match JOSE_LIKE.as_ref() {
            Some(re) => f.write_str(&re.replace_all(self.0, "[token]")),
            // Without the pattern nothing is known to be safe to show.
            None => f.write_str("(withheld)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        WithoutTokens(text).to_string()
    }

    #[test]
    fn tokens_are_blanked_wherever_they_sit() {
        let jws = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_";
        assert_eq!(shown(&format!("/verify/{jws}")), "/verify/[token]");
        assert_eq!(shown(&format!("/a/{jws}/b")), "/a/[token]/b");
        assert_eq!(shown(&format!("{jws},{jws}")), "[token],[token]");
        assert_eq!(
            shown(&format!(r#"headers.authorization == "Bearer {jws}""#)),
            r#"headers.authorization == "Bearer [token]""#
        );
        // Unsigned, and a five-part JWE.
        assert_eq!(shown("/x/eyJhbGciOiJub25lIn0.eyJhIjoxfQ."), "/x/[token]");
        assert_eq!(shown("eyJlbmMiOiJBIn0.k.iv.ct.tag"), "[token]");
        // Split by other separators: header and payload go.
        let (header, payload) = ("eyJhbGciOiJSUzI1NiJ9", "eyJzdWIiOiJhIn0");
        assert_eq!(
            shown(&format!("/a/{header}/{payload}/c2ln-_")),
            "/a/[token]/[token]/c2ln-_"
        );
        assert_eq!(
            shown(&format!("/a?t={header}%2E{payload}%2Ec2ln")),
            "/a?t=[token]%2E[token]%2Ec2ln"
        );
    }

    #[test]
    fn other_dotted_text_is_kept() {
        for text in [
            "/orders/7",
            "/files/report.final.pdf",
            "/hosts/www.example.com",
            "/v1.2.3/eyes",
            "/eyewitness-accounts-2024",
            "/eyJ",
            "req-42",
            "",
        ] {
            assert_eq!(shown(text), text);
        }
    }
}
