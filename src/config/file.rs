//! The YAML file as written by an operator: plain serde types, no meaning yet.
//! `compile` turns them into the checked, ready-to-use `Config`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration written for humans: `30s`, `5m`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{text}` is not a duration ({e}); write e.g. 30s, 5m, 1h"
                ))
            })
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ServerFile {
    pub grpc_addr: Option<SocketAddr>,
    pub admin_addr: Option<SocketAddr>,
    pub realm: Option<String>,
    pub max_token_bytes: Option<usize>,
    pub token_cache_entries: Option<u64>,
    pub start_without_keys: Option<bool>,
    pub reload_interval: Option<HumanDuration>,
    pub shutdown_grace: Option<HumanDuration>,
    pub log_format: Option<String>,
    pub admin_max_connections: Option<usize>,
    pub grpc_max_connections: Option<usize>,
    pub grpc_read_timeout: Option<HumanDuration>,
    pub admin_read_timeout: Option<HumanDuration>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityHeadersFile {
    /// claim name → header name; `scope` means the token's normalised scopes.
    pub claims: Option<BTreeMap<String, String>>,
    /// Header carrying the name of the policy that allowed the request.
    pub policy: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct IssuerFile {
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub discovery_url: Option<String>,
    pub jwks_file: Option<PathBuf>,
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default)]
    pub logout_audiences: Vec<String>,
    pub algorithms: Option<Vec<String>>,
    pub leeway: Option<HumanDuration>,
    pub max_token_lifetime: Option<HumanDuration>,
    pub required_typ: Option<String>,
    pub refresh_interval: Option<HumanDuration>,
    pub refetch_cooldown: Option<HumanDuration>,
    pub fetch_timeout: Option<HumanDuration>,
    #[serde(default)]
    pub allow_insecure_http: bool,
    pub dpop: Option<DpopFile>,
}

/// `issuers[].dpop` (README, "Sender-constrained tokens").
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DpopFile {
    pub algorithms: Option<Vec<String>>,
    pub iat_window: Option<HumanDuration>,
    pub require_nonce: bool,
    pub nonce_key_file: Option<PathBuf>,
    pub nonce_lifetime: Option<HumanDuration>,
    pub replay_cache_entries: Option<u64>,
    pub trust_forwarded_proto: bool,
}

/// Settings a tier presets and a policy may override.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct TierFile {
    pub max_token_lifetime: Option<HumanDuration>,
    pub max_token_age: Option<HumanDuration>,
    pub min_acr: Option<String>,
    pub max_auth_age: Option<HumanDuration>,
    pub remove_authorization: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub name: String,
    pub tier: Option<String>,
    #[serde(rename = "match", default)]
    pub route: MatchFile,
    #[serde(default)]
    pub anonymous: bool,
    #[serde(default)]
    pub principals: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub claims: BTreeMap<String, ClaimConditionFile>,
    pub max_token_lifetime: Option<HumanDuration>,
    pub max_token_age: Option<HumanDuration>,
    pub min_acr: Option<String>,
    pub max_auth_age: Option<HumanDuration>,
    pub remove_authorization: Option<bool>,
    pub rego: Option<RegoFile>,
    pub sender_constraint: Option<String>,
}

/// `rego:` on a policy (README, "Rego policies").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegoFile {
    pub module: OneOrMany,
    pub query: String,
    pub data: Option<String>,
    #[serde(default)]
    pub headers: Vec<String>,
    pub max_instructions: Option<usize>,
    pub time_budget: Option<HumanDuration>,
}

/// One path, or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

impl PolicyFile {
    /// The policy's own settings, shaped like a tier so that they can be laid
    /// over the tier it references.
    pub fn overrides(&self) -> TierFile {
        TierFile {
            max_token_lifetime: self.max_token_lifetime,
            max_token_age: self.max_token_age,
            min_acr: self.min_acr.clone(),
            max_auth_age: self.max_auth_age,
            remove_authorization: self.remove_authorization,
        }
    }
}

impl TierFile {
    /// `self` where set, otherwise `base`.
    pub fn over(self, base: &TierFile) -> TierFile {
        TierFile {
            max_token_lifetime: self.max_token_lifetime.or(base.max_token_lifetime),
            max_token_age: self.max_token_age.or(base.max_token_age),
            min_acr: self.min_acr.or_else(|| base.min_acr.clone()),
            max_auth_age: self.max_auth_age.or(base.max_auth_age),
            remove_authorization: self.remove_authorization.or(base.remove_authorization),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MatchFile {
    pub hosts: Vec<String>,
    pub path: Option<PathFile>,
    pub methods: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PathFile {
    pub exact: Option<String>,
    pub prefix: Option<String>,
    pub regex: Option<String>,
}

/// `role: admin` (exact) or `role: [admin, ops]` (one of).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ClaimConditionFile {
    One(String),
    AnyOf(Vec<String>),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationsFile {
    /// `embedded` (default), `redis` or `memory`.
    pub store: Option<String>,
    pub path: Option<PathBuf>,
    pub redis_url: Option<String>,
    pub redis_prefix: Option<String>,
    /// A file holding the key that authenticates Redis fan-out.
    pub redis_hmac_key_file: Option<PathBuf>,
    /// How long the first catch-up may keep a replica unready.
    pub catch_up_timeout: Option<HumanDuration>,
    pub max_token_lifetime: Option<HumanDuration>,
    pub leeway: Option<HumanDuration>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AdminFile {
    /// Issuer whose bearer tokens may call the revocation API.
    pub issuer: Option<String>,
    /// Scope those tokens must carry.
    pub scope: Option<String>,
    /// No authentication at all: only with a loopback `server.admin_addr`.
    pub unauthenticated: bool,
}

/// `ssf:` (README, "Shared Signals").
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SsfFile {
    pub transmitters: Vec<TransmitterFile>,
}

/// One `ssf.transmitters[]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransmitterFile {
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub discovery_url: Option<String>,
    pub jwks_file: Option<PathBuf>,
    pub audience: String,
    pub algorithms: Option<Vec<String>>,
    pub leeway: Option<HumanDuration>,
    pub max_age: Option<HumanDuration>,
    pub subject_issuer: Option<String>,
    pub subject_issuers: Option<Vec<String>>,
    #[serde(default)]
    pub allow_insecure_http: bool,
    pub poll_url: Option<String>,
}
