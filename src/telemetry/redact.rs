//! Request text quoted in a log line, with anything shaped like a JOSE
//! token blanked out. The path and `x-request-id` are the caller's own
//! text, and a caller may carry a token there (a link with a token in its
//! path, a client that reuses its token as a request id); a Rego error may
//! quote the `Authorization` header. The log must keep none of them.

use std::fmt::{self, Write as _};
use std::sync::LazyLock;

use percent_encoding::percent_decode_str;
use regex::{Captures, Regex};

/// A compact JWS or JWE: a base64url JSON header (so it starts with `ey`,
/// the encoding of `{`), then two or more dot-separated parts. Or one
/// base64url JSON object (`eyJ` is `{"`) wherever it sits, so a header or
/// payload split off by any separator goes too.
static JOSE_LIKE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"ey[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){2,}|eyJ[A-Za-z0-9_-]{8,}").ok()
});

/// A base64url run of 16 or more: a signature split off from its token,
/// or a piece of one cut smaller. Blanked when it mixes upper case, lower
/// case and digits, as random base64url does (a slug, a UUID or a hex
/// digest does not).
static LONG_RUN: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"[A-Za-z0-9_-]{16,}").ok());

/// Shows `text`, percent-decoded once (a token can be spelled `%65yJ…`
/// or split by `%2E`), with every token-shaped run replaced by `[token]`,
/// and with control characters (line breaks, terminal escapes), bidi
/// controls and `\\` written as escapes: a caller who could write a line
/// break into the log could forge a decision line.
pub struct WithoutTokens<'a>(pub &'a str);

impl fmt::Display for WithoutTokens<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Some(jose), Some(long)) = (JOSE_LIKE.as_ref(), LONG_RUN.as_ref()) else {
            // Without the patterns nothing is known to be safe to show.
            return f.write_str("(withheld)");
        };
        let decoded = percent_decode_str(self.0).decode_utf8_lossy();
        let without_jose = jose.replace_all(&decoded, "[token]");
        let shown = long.replace_all(&without_jose, |m: &Captures<'_>| {
            if looks_random(&m[0]) {
                "[token]".to_owned()
            } else {
                m[0].to_owned()
            }
        });
        write_escaped(f, &shown, Escape::Controls)
    }
}

/// `WithoutTokens` for a request's own text (path, method, request id,
/// `kid`), which must stay one value: whitespace and `"` are escaped too,
/// so that no `key="value"` of the caller's reads as a field of the line.
pub struct OneValue<'a>(pub &'a str);

impl fmt::Display for OneValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(self.0.len());
        fmt::write(&mut text, format_args!("{}", WithoutTokens(self.0)))?;
        write_escaped(f, &text, Escape::Spaces)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// Control and bidi characters, and `\\`.
    Controls,
    /// Whitespace and `"` as well; `\\` is already escaped.
    Spaces,
}

fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str, escape: Escape) -> fmt::Result {
    for c in text.chars() {
        match (c, escape) {
            ('\\', Escape::Controls) | ('"', Escape::Spaces) => write!(f, "\\{c}")?,
            ('\n', _) => f.write_str("\\n")?,
            ('\r', _) => f.write_str("\\r")?,
            ('\t', _) => f.write_str("\\t")?,
            (c, _) if c.is_control() || is_bidi_control(c) => {
                write!(f, "\\u{{{:x}}}", u32::from(c))?
            }
            (c, Escape::Spaces) if c.is_whitespace() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            (c, _) => f.write_char(c)?,
        }
    }
    Ok(())
}

/// Characters that reorder or hide text on a terminal.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn looks_random(run: &str) -> bool {
    let has = |f: fn(&u8) -> bool| run.as_bytes().iter().any(f);
    has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase) && has(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        OneValue(text).to_string()
    }

    #[test]
    fn a_caller_cannot_break_the_line_or_the_field() {
        // A forged decision line after a line break, a terminal escape, a
        // quoted field after a space, and the same percent-encoded.
        let forged = "/x\n2026-11-23T20:00:00Z  INFO allowed decision=\"allow\"\r";
        assert_eq!(
            shown(forged),
            "/x\\n2026-11-23T20:00:00Z\\u{20}\\u{20}INFO\\u{20}allowed\\u{20}decision=\\\"allow\\\"\\r"
        );
        assert_eq!(shown("/x%0A%1b%5b2J%09"), "/x\\n\\u{1b}[2J\\t");
        assert_eq!(shown("/a%20b\\c"), "/a\\u{20}b\\\\c");
        assert_eq!(shown("/\u{202e}txt.exe"), "/\\u{202e}txt.exe");
        for s in [forged, "/x%0A%0D%1B", "a\u{85}b\u{2028}c"] {
            let out = shown(s);
            assert!(
                !out.chars().any(|c| c.is_control() || c.is_whitespace()),
                "{out:?}"
            );
        }
        // Ordinary paths are shown as they are; a Rego message keeps its
        // spaces and quotes, never its line breaks.
        assert_eq!(shown("/orders/7?q=1&r=a,b"), "/orders/7?q=1&r=a,b");
        assert_eq!(
            WithoutTokens("input.x == \"a b\"\nforged").to_string(),
            "input.x == \"a b\"\\nforged"
        );
    }

    #[test]
    fn tokens_are_blanked_wherever_they_sit() {
        let jws = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_";
        assert_eq!(shown(&format!("/verify/{jws}")), "/verify/[token]");
        assert_eq!(shown(&format!("/a/{jws}/b")), "/a/[token]/b");
        assert_eq!(shown(&format!("{jws},{jws}")), "[token],[token]");
        assert_eq!(
            WithoutTokens(&format!(r#"headers.authorization == "Bearer {jws}""#)).to_string(),
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
        // Percent-encoded, in whole or in part: decoded before it is judged.
        assert_eq!(
            shown(&format!("/a?t={header}%2E{payload}%2Ec2ln")),
            "/a?t=[token]"
        );
        assert_eq!(
            shown("/orders/ey%4AhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"),
            "/orders/[token]"
        );
        assert_eq!(
            shown("/o/%65yJhbGciOiJSUzI1NiJ9%252EeyJzdWIiOiJhIn0"),
            "/o/[token]%2E[token]"
        );
        // A signature cut into pieces of 16 or more: each is blanked.
        let pieces = "/p/APrZey8uWUV_5u0y/hCoEOTG06nii_bp1/A_IW6iAKTw_Y1Klz";
        assert_eq!(shown(pieces), "/p/[token]/[token]/[token]");
        // A signature alone, split off by anything: a long random run.
        let sig = "Y_I2kq8vN3hT5wXzR1mB7cD9eF0gH4jK6lL8nP2qS4tU6vW8xZ0aB2cD4eF6gH8j";
        let double = shown(&format!("{header}%252F{payload}%252F{sig}"));
        assert!(!double.contains(&sig[..16]), "{double}");
        assert!(!double.contains("eyJ"), "{double}");
        for sep in ["/", ",", ";", "~", "\\", "%20", " ", "+", "!", "%2F"] {
            assert_eq!(
                shown(&format!("{header}{sep}{payload}{sep}{sig}")),
                format!("[token]{}[token]{}[token]", decoded(sep), decoded(sep)),
                "{sep}"
            );
        }
    }

    /// How a separator is shown: decoded, then escaped.
    fn decoded(sep: &str) -> &str {
        match sep {
            "%20" | " " => "\\u{20}",
            "%2F" => "/",
            "\\" => "\\\\",
            other => other,
        }
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
            "/requests/550e8400-e29b-41d4-a716-446655440000",
            "/blobs/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "/how-to-configure-istio-with-zt-authz-for-production-clusters",
            "/search?q=a%2",
            "req-42",
            "",
        ] {
            assert_eq!(shown(text), text);
        }
    }
}
