//! Configuration: read from YAML, checked as a whole, compiled for the hot
//! path. Every error in a file is reported at once, each with its key path.

mod compile;
mod dpop;
mod file;
mod issuers;
mod policies;
mod rego;
mod sections;
mod ssf;
mod summary;
mod tiers;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use jsonwebtoken::Algorithm;

pub(crate) use compile::MAX_LEEWAY;
pub use ssf::TransmitterSettings;

use crate::binding::DpopSettings;
use crate::keys::KeySettings;
use crate::policy::PolicySet;
use crate::revocation::RevocationSettings;

pub use tiers::DEFAULT_ACR_LEVELS;

/// A checked configuration, ready for the decision pipeline.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen addresses and service-wide limits (`server`).
    pub server: ServerSettings,
    /// `acr` values, weakest first.
    pub acr_levels: Vec<String>,
    /// What happens to a request no policy matches.
    pub default_action: DefaultAction,
    /// The identity headers an allow sets (`identity_headers`).
    pub identity: IdentityHeaders,
    /// The trusted token issuers.
    pub issuers: Vec<IssuerSettings>,
    /// The route policies, in match order.
    pub policies: PolicySet,
    /// Where revocations are stored and how long they are kept.
    pub revocations: RevocationSettings,
    /// Who may call the revocation API.
    pub admin: AdminAuth,
    /// Shared Signals transmitters whose events are received.
    pub transmitters: Vec<TransmitterSettings>,
}

/// Who may call the revocation API on the admin port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAuth {
    /// The API answers 401 to everyone.
    Disabled,
    /// Anyone who can reach the (loopback) admin port.
    Unauthenticated,
    /// A bearer JWT of `issuer`, verified like any other, carrying `scope`.
    Jwt {
        /// The configured issuer whose tokens are accepted.
        issuer: String,
        /// The scope an admin token must carry.
        scope: String,
    },
}

/// The `server` section: listen addresses and service-wide limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Where the ext_authz, health and reflection gRPC services listen.
    pub grpc_addr: SocketAddr,
    /// Where the admin HTTP port listens.
    pub admin_addr: SocketAddr,
    /// The `realm` of every `WWW-Authenticate` challenge.
    pub realm: String,
    /// Longest bearer token accepted; a longer one is refused.
    pub max_token_bytes: usize,
    /// Verified tokens remembered; 0 turns the cache off.
    pub token_cache_entries: u64,
    /// Report ready even if an issuer's first key fetch failed.
    pub start_without_keys: bool,
    /// How often the config file is checked for changes; zero turns it off.
    pub reload_interval: Duration,
    /// Longest wait for in-flight checks at shutdown.
    pub shutdown_grace: Duration,
    /// Connections the admin port serves at once; more wait to be accepted.
    pub admin_max_connections: usize,
    /// Connections the gRPC port serves at once; more wait to be accepted.
    pub grpc_max_connections: usize,
    /// How long a `Check` call's message may take to arrive.
    pub grpc_read_timeout: Duration,
    /// How long the admin port waits for a request's headers (an idle
    /// connection included) or its body before it gives up.
    pub admin_read_timeout: Duration,
    /// How log lines are written.
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// What happens to a request no policy matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    /// Deny with 403 `access_denied`.
    Deny,
    /// Allow without reading a token; identity headers are still stripped.
    Allow,
}

/// The headers an allow sets to tell the workload who is calling.
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    /// (claim, header) pairs; the claim `scope` means the normalised scopes.
    pub claims: Vec<(String, HeaderName)>,
    /// The header that carries the name of the policy that allowed the request, if any.
    pub policy: Option<HeaderName>,
}

impl IdentityHeaders {
    /// Every header this service may set, hence must strip when it does not.
    pub fn all(&self) -> impl Iterator<Item = &HeaderName> {
        self.claims.iter().map(|(_, h)| h).chain(self.policy.iter())
    }
}

/// One trusted issuer (`issuers[]`), checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSettings {
    /// The `iss` a token must carry, compared exactly.
    pub issuer: String,
    /// Access-token audiences; a token's `aud` must contain one.
    pub audiences: Vec<String>,
    /// Audiences of this issuer's back-channel logout tokens.
    pub logout_audiences: Vec<String>,
    /// Signature algorithms accepted from this issuer.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on every time comparison.
    pub leeway: Duration,
    /// Longest `exp − iat` this issuer's tokens may have, if limited.
    pub max_token_lifetime: Option<Duration>,
    /// The `typ` every access token of this issuer must carry, if set.
    pub required_typ: Option<String>,
    /// How DPoP proofs for this issuer's tokens are checked.
    pub dpop: Arc<DpopSettings>,
    /// Where this issuer's keys come from and how often they are refreshed.
    pub keys: KeySettings,
}

/// One problem in a config file, located by its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Key path of the problem, e.g. `policies[2].match.path.regex`.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

/// Every problem found in a config file, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} error{} in the configuration:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {}: {}", e.path, e.message)?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads and checks a config file. Relative `jwks_file` paths are taken
    /// from the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Self::read(path).1
    }

    /// Reads a config file once: its bytes (when it could be read) and the
    /// config they make. Blocking; relative paths as `load`.
    pub fn read(path: &Path) -> (Option<Vec<u8>>, Result<Config, ConfigErrors>) {
        let unreadable = |message: String| {
            ConfigErrors(vec![ConfigError {
                path: path.display().to_string(),
                message,
            }])
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return (None, Err(unreadable(format!("cannot read: {e}")))),
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let config = match std::str::from_utf8(&bytes) {
            Ok(text) => Self::from_yaml(text, base),
            Err(_) => Err(unreadable("not UTF-8 text".into())),
        };
        (Some(bytes), config)
    }

    /// Checks config text; relative file paths in it are taken from `base_dir`.
    pub fn from_yaml(text: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
        compile::compile(text, base_dir)
    }

    /// The normalised form printed by `check-config`.
    pub fn summary(&self) -> String {
        summary::render(self)
    }

    /// Settings that are valid but probably not what was meant.
    pub fn warnings(&self) -> Vec<String> {
        let retention = self.revocations.max_token_lifetime;
        self.issuers
            .iter()
            .enumerate()
            .filter(|(_, i)| i.max_token_lifetime.is_some_and(|max| max > retention))
            .map(|(n, i)| {
                format!(
                    "issuers[{n}].max_token_lifetime is longer than revocations.max_token_lifetime ({}): tokens of {} that live longer are refused",
                    humantime::format_duration(retention),
                    i.issuer
                )
            })
            .collect()
    }

    /// Position of `acr` in `acr_levels` (higher is stronger); `None` for an unknown value.
    pub fn acr_rank(&self, acr: &str) -> Option<usize> {
        self.acr_levels.iter().position(|l| l == acr)
    }
}

#[cfg(test)]
mod tests;
