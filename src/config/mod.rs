//! Configuration: read from YAML, checked as a whole, compiled for the hot
//! path. Every error in a file is reported at once, each with its key path.

mod compile;
mod file;
mod issuers;
mod policies;
mod sections;
mod summary;
mod tiers;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use http::HeaderName;
use jsonwebtoken::Algorithm;

use crate::keys::KeySettings;
use crate::policy::PolicySet;
use crate::revocation::RevocationSettings;

pub use tiers::DEFAULT_ACR_LEVELS;

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSettings,
    /// `acr` values, weakest first.
    pub acr_levels: Vec<String>,
    pub default_action: DefaultAction,
    pub identity: IdentityHeaders,
    pub issuers: Vec<IssuerSettings>,
    pub policies: PolicySet,
    pub revocations: RevocationSettings,
    pub admin: AdminAuth,
}

/// Who may call the revocation API on the admin port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAuth {
    /// The API answers 401 to everyone.
    Disabled,
    /// Anyone who can reach the (loopback) admin port.
    Unauthenticated,
    /// A bearer JWT of `issuer`, verified like any other, carrying `scope`.
    Jwt { issuer: String, scope: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub grpc_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The `realm` of every `WWW-Authenticate` challenge.
    pub realm: String,
    pub max_token_bytes: usize,
    /// Verified tokens remembered; 0 turns the cache off.
    pub token_cache_entries: u64,
    /// Report ready even if an issuer's first key fetch failed.
    pub start_without_keys: bool,
    /// How often the config file is checked for changes; zero turns it off.
    pub reload_interval: Duration,
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// What happens to a request no policy matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    Deny,
    Allow,
}

#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    /// (claim, header) pairs; the claim `scope` means the normalised scopes.
    pub claims: Vec<(String, HeaderName)>,
    pub policy: Option<HeaderName>,
}

impl IdentityHeaders {
    /// Every header this service may set, hence must strip when it does not.
    pub fn all(&self) -> impl Iterator<Item = &HeaderName> {
        self.claims.iter().map(|(_, h)| h).chain(self.policy.iter())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSettings {
    pub issuer: String,
    pub audiences: Vec<String>,
    /// Audiences of this issuer's back-channel logout tokens.
    pub logout_audiences: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    pub leeway: Duration,
    pub max_token_lifetime: Option<Duration>,
    pub required_typ: Option<String>,
    pub keys: KeySettings,
}

/// One problem in a config file, located by its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

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
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                path: path.display().to_string(),
                message: format!("cannot read: {e}"),
            }])
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_yaml(&text, base)
    }

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

    pub fn acr_rank(&self, acr: &str) -> Option<usize> {
        self.acr_levels.iter().position(|l| l == acr)
    }
}

#[cfg(test)]
mod tests;
