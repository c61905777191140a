//! `htu` (RFC 9449 §4.3): the request URI without query and fragment,
//! compared after RFC 3986 §6.2.2–6.2.3 normalisation: scheme and host
//! lower-cased, default port dropped, dot segments removed, an empty path
//! made `/`, percent-escapes upper-cased and unreserved ones decoded.

use url::Url;

/// The parts of a request Envoy reports, from which its URI is built.
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestUri<'a> {
    /// Envoy's `scheme` (`http` / `https`).
    pub scheme: &'a str,
    /// `x-forwarded-proto`, if the request carried one.
    pub forwarded_proto: Option<&'a str>,
    /// The `:authority`.
    pub host: &'a str,
    /// The path, with or without a query.
    pub path: &'a str,
}

impl RequestUri<'_> {
    /// The normalised URI the proof's `htu` must equal.
    pub fn htu(&self, trust_forwarded_proto: bool) -> Option<String> {
        let scheme = match self.forwarded_proto {
            Some(p) if trust_forwarded_proto => p.split(',').next().unwrap_or_default().trim(),
            _ => self.scheme,
        };
        if self.host.is_empty() || !self.path.starts_with('/') {
            return None;
        }
        normalize_htu(&format!("{scheme}://{}{}", self.host, self.path))
    }
}

/// `uri` normalised for comparison, or `None` if it is not an absolute
/// http(s) URI.
pub fn normalize_htu(uri: &str) -> Option<String> {
    // The URL parser forgives surrounding and embedded whitespace; an
    // `htu` with any is not the request's URI.
    if uri
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return None;
    }
    let mut url = Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = normalize_escapes(url.path());
    url.set_path(&path);
    Some(url.into())
}

/// Upper-case hex in every escape; decode the escapes of unreserved characters.
fn normalize_escapes(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') => {
                out.push(b as char);
                i += 3;
            }
            Some(b) => {
                out.push_str(&format!("%{b:02X}"));
                i += 3;
            }
            None => {
                out.push(bytes[i] as char);
                i += 1;
            }
        }
    }
    out
}
