//! Loading an issuer's key set from where the config says it lives.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::jwks::{JwksError, KeySet};

/// A JWKS or discovery document larger than this is refused.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Where an issuer's JWKS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS URL (`jwks_uri`).
    JwksUri(Url),
    /// OIDC discovery: the document's `jwks_uri` is fetched next.
    Discovery(Url),
    /// A local JWKS file (`jwks_file`), resolved against the config file's directory.
    File(PathBuf),
}

/// How key documents are fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSettings {
    /// Whole-request timeout of one fetch.
    pub timeout: Duration,
    /// Accept plain-HTTP key URLs for hosts other than loopback.
    pub allow_insecure_http: bool,
}

pub struct Fetched {
    pub set: KeySet,
    /// `Cache-Control: max-age` of the JWKS response, if it had one.
    pub max_age: Option<Duration>,
}

/// Why an issuer's key set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request failed or timed out.
    #[error("request to {url} failed: {reason}")]
    Http {
        /// The URL requested.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered with a status other than 2xx.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The document is larger than `MAX_DOCUMENT_BYTES`.
    #[error("{url} sent more than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge {
        /// The URL requested.
        url: String,
    },
    /// The discovery document cannot be parsed, names another issuer, or has a bad `jwks_uri`.
    #[error("discovery document at {url} is unusable: {reason}")]
    Discovery {
        /// The discovery URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Discovery named a plain-HTTP `jwks_uri` that is not allowed; holds that URL.
    #[error(
        "refusing plain-HTTP key URL {0}: use https, a loopback address, or allow_insecure_http"
    )]
    Insecure(String),
    /// The key file could not be read.
    #[error("reading {path}: {reason}")]
    File {
        /// The file's path.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The document is not a usable JWKS.
    #[error(transparent)]
    Jwks(#[from] JwksError),
}

impl KeySource {
    /// Loads and parses the key set; a discovery document must name `issuer`.
    pub async fn fetch(
        &self,
        client: &reqwest::Client,
        settings: &FetchSettings,
        issuer: &str,
    ) -> Result<Fetched, FetchError> {
        match self {
            Self::File(path) => {
                let bytes = tokio::fs::read(path).await.map_err(|e| FetchError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                Ok(Fetched {
                    set: KeySet::parse(&bytes)?,
                    max_age: None,
                })
            }
            Self::JwksUri(url) => fetch_jwks(client, url, settings).await,
            Self::Discovery(url) => {
                let jwks_uri = discover(client, url, settings, issuer).await?;
                fetch_jwks(client, &jwks_uri, settings).await
            }
        }
    }

    /// Where the keys come from, in one line for the config summary.
    pub fn describe(&self) -> String {
        match self {
            Self::JwksUri(u) => format!("jwks_uri {}", shown(u)),
            Self::Discovery(u) => format!("discovery {}", shown(u)),
            Self::File(p) => format!("jwks_file {}", p.display()),
        }
    }
}

/// A URL as logs, `/readyz` and the config summary show it: a user, a
/// password and a query (which may hold an API key) are replaced by `***`.
pub fn shown(url: &Url) -> String {
    let userinfo = if url.username().is_empty() && url.password().is_none() {
        ""
    } else {
        "***@"
    };
    let host = url.host_str().unwrap_or_default();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let query = if url.query().is_some() { "?***" } else { "" };
    format!(
        "{}://{userinfo}{host}{port}{}{query}",
        url.scheme(),
        url.path()
    )
}

/// Plain HTTP is accepted only for loopback hosts, or when explicitly allowed.
pub fn url_allowed(url: &Url, allow_insecure_http: bool) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => allow_insecure_http || is_loopback(url),
        _ => false,
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    jwks_uri: String,
}

async fn discover(
    client: &reqwest::Client,
    url: &Url,
    settings: &FetchSettings,
    issuer: &str,
) -> Result<Url, FetchError> {
    let (bytes, _) = get(client, url, settings).await?;
    let bad = |reason: String| FetchError::Discovery {
        url: shown(url),
        reason,
    };
    let doc: DiscoveryDocument = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    // OIDC Discovery §4.3: the document must name the issuer we asked about.
    if doc.issuer != issuer {
        return Err(bad(format!("it names issuer {:?}", doc.issuer)));
    }
    let jwks_uri = Url::parse(&doc.jwks_uri).map_err(|e| bad(format!("jwks_uri: {e}")))?;
    if !url_allowed(&jwks_uri, settings.allow_insecure_http) {
        return Err(FetchError::Insecure(shown(&jwks_uri)));
    }
    Ok(jwks_uri)
}

async fn fetch_jwks(
    client: &reqwest::Client,
    url: &Url,
    settings: &FetchSettings,
) -> Result<Fetched, FetchError> {
    let (bytes, max_age) = get(client, url, settings).await?;
    Ok(Fetched {
        set: KeySet::parse(&bytes)?,
        max_age,
    })
}

/// GET with a whole-request timeout and a size cap that holds even when the
/// server lies about, or omits, `Content-Length`.
async fn get(
    client: &reqwest::Client,
    url: &Url,
    settings: &FetchSettings,
) -> Result<(Vec<u8>, Option<Duration>), FetchError> {
    // reqwest's message names the URL as it is; ours names it shown.
    let http_err = |e: reqwest::Error| FetchError::Http {
        url: shown(url),
        reason: e.without_url().to_string(),
    };
    let request = async {
        let mut response = client
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(http_err)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: shown(url),
                status: status.as_u16(),
            });
        }
        let max_age = response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .and_then(cache_max_age);
        let too_large = || FetchError::TooLarge { url: shown(url) };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http_err)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
    };
    tokio::time::timeout(settings.timeout, request)
        .await
        .map_err(|_| FetchError::Http {
            url: shown(url),
            reason: format!("timed out after {:?}", settings.timeout),
        })?
}

/// `max-age` of a Cache-Control value; `no-store`/`no-cache` count as 0.
fn cache_max_age(value: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(secs) = lower.strip_prefix("max-age=") {
            max_age = secs
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control() {
        assert_eq!(
            cache_max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            cache_max_age("Max-Age=\"60\""),
            Some(Duration::from_secs(60))
        );
        assert_eq!(cache_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(cache_max_age("public"), None);
        assert_eq!(cache_max_age("max-age=abc"), None);
    }

    #[test]
    fn a_shown_url_keeps_no_credentials() {
        let u = |s: &str| Url::parse(s).unwrap();
        for (url, seen) in [
            ("https://idp.example/jwks", "https://idp.example/jwks"),
            (
                "http://user:s3cret@127.0.0.1:8080/jwks?api_key=K3Y#frag",
                "http://***@127.0.0.1:8080/jwks?***",
            ),
            ("https://token@idp.example/k", "https://***@idp.example/k"),
            ("https://idp.example/k?", "https://idp.example/k?***"),
        ] {
            assert_eq!(shown(&u(url)), seen, "{url}");
        }
    }

    #[test]
    fn plain_http_only_for_loopback() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(url_allowed(&u("https://idp.example.com/jwks"), false));
        assert!(url_allowed(&u("http://127.0.0.1:8080/jwks"), false));
        assert!(url_allowed(&u("http://[::1]/jwks"), false));
        assert!(url_allowed(&u("http://localhost/jwks"), false));
        assert!(!url_allowed(&u("http://idp.example.com/jwks"), false));
        assert!(url_allowed(&u("http://idp.example.com/jwks"), true));
        assert!(!url_allowed(&u("ftp://idp.example.com/jwks"), true));
    }
}
