//! From YAML text to a checked `Config`, collecting every error on the way.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use http::HeaderName;
use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use super::file::{
    AdminFile, IdentityHeadersFile, IssuerFile, PolicyFile, RevocationsFile, ServerFile, SsfFile,
    TierFile,
};
use super::{
    Config, ConfigError, ConfigErrors, DefaultAction, IdentityHeaders, IssuerSettings, issuers,
    policies, sections, ssf, tiers,
};
use crate::policy::{Policy, PolicySet};

/// The largest leeway an issuer (or the revocations) may be given.
pub(crate) const MAX_LEEWAY: Duration = Duration::from_secs(300);

#[derive(Default)]
pub(super) struct Errors(pub(super) Vec<ConfigError>);

impl Errors {
    pub(super) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Deserialises one section, recording where in it a failure happened.
    pub(super) fn parse<T: DeserializeOwned>(&mut self, path: &str, value: Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let inner = e.path().to_string();
                let at = if inner == "." {
                    path.to_string()
                } else {
                    format!("{path}.{inner}")
                };
                self.add(at, e.inner().to_string());
                None
            }
        }
    }
}

pub fn compile(text: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
    let mut errs = Errors::default();
    let mut sections = top_level_sections(text, &mut errs)?;
    let mut take = |name: &str| sections.remove(name).filter(|v| !v.is_null());

    let server = take("server")
        .map_or(Some(ServerFile::default()), |v| errs.parse("server", v))
        .and_then(|s| sections::server_settings(s, &mut errs));
    let acr_levels = sections::acr_levels(take("acr_levels"), &mut errs);
    let default_action = default_action(take("default_action"), &mut errs);
    let identity = take("identity_headers")
        .map_or(Some(IdentityHeadersFile::default()), |v| {
            errs.parse("identity_headers", v)
        })
        .map(|f| sections::identity_headers(f, &mut errs));
    let mut tier_table = tiers::builtin();
    if let Some(v) = take("tiers")
        && let Some(custom) = errs.parse::<BTreeMap<String, TierFile>>("tiers", v)
    {
        tier_table.extend(custom);
    }
    let issuers = issuer_list(take("issuers"), base_dir, &mut errs);
    let policies = policy_list(
        take("policies"),
        &tier_table,
        &acr_levels,
        base_dir,
        &mut errs,
    );
    if let Some(identity) = &identity {
        rego_headers_are_not_identity(&policies, identity, &mut errs);
        guarded_headers_are_plain(&policies, identity, &mut errs);
    }
    if issuers.is_empty() && policies.iter().any(|p| !p.anonymous) {
        errs.add(
            "issuers",
            "policies require tokens but no issuer is configured",
        );
    }

    let revocations = take("revocations")
        .map_or(Some(RevocationsFile::default()), |v| {
            errs.parse("revocations", v)
        })
        .and_then(|f| sections::revocation_settings(f, &issuers, base_dir, &mut errs));
    let transmitters = take("ssf")
        .map_or(Some(SsfFile::default()), |v| errs.parse("ssf", v))
        .map(|f| ssf::transmitters(f, &issuers, base_dir, &mut errs))
        .unwrap_or_default();
    let admin = take("admin")
        .map_or(Some(AdminFile::default()), |v| errs.parse("admin", v))
        .map(|f| sections::admin_auth(f, server.as_ref(), &issuers, &mut errs));

    match (server, identity, revocations, admin, errs.0.is_empty()) {
        (Some(server), Some(identity), Some(revocations), Some(admin), true) => Ok(Config {
            server,
            acr_levels,
            default_action,
            identity,
            issuers,
            policies: PolicySet::new(policies),
            revocations,
            admin,
            transmitters,
        }),
        _ => Err(ConfigErrors(errs.0)),
    }
}

/// The file's top-level mapping, split into its known sections.
fn top_level_sections(
    text: &str,
    errs: &mut Errors,
) -> Result<BTreeMap<String, Value>, ConfigErrors> {
    let whole_file = |message: String| {
        ConfigErrors(vec![ConfigError {
            path: "(file)".into(),
            message,
        }])
    };
    let root: Value =
        serde_yaml_ng::from_str(text).map_err(|e| whole_file(format!("not valid YAML: {e}")))?;
    let Value::Mapping(root) = root else {
        return Err(whole_file("the top level must be a mapping".into()));
    };
    let mut sections = BTreeMap::new();
    for (key, value) in root {
        match key.as_str() {
            Some(k @ ("server" | "acr_levels" | "default_action" | "identity_headers" | "tiers" | "issuers" | "policies" | "revocations" | "admin" | "ssf")) => {
                sections.insert(k.to_string(), value);
            }
            Some(other) => errs.add(other, "unknown key; expected one of server, acr_levels, default_action, identity_headers, tiers, issuers, policies, revocations, admin, ssf"),
            None => errs.add("(file)", "top-level keys must be strings"),
        }
    }
    Ok(sections)
}

fn default_action(value: Option<Value>, errs: &mut Errors) -> DefaultAction {
    match value.map(|v| errs.parse::<String>("default_action", v)) {
        Some(Some(s)) if s == "allow" => DefaultAction::Allow,
        Some(Some(s)) if s != "deny" => {
            errs.add("default_action", "must be `deny` or `allow`");
            DefaultAction::Deny
        }
        _ => DefaultAction::Deny,
    }
}

fn issuer_list(value: Option<Value>, base_dir: &Path, errs: &mut Errors) -> Vec<IssuerSettings> {
    let issuers: Vec<IssuerSettings> = list(value, "issuers", errs)
        .into_iter()
        .filter_map(|(path, v)| {
            let file = errs.parse::<IssuerFile>(&path, v)?;
            issuers::issuer_settings(&path, file, base_dir, errs)
        })
        .collect();
    let mut seen = HashSet::new();
    for (i, iss) in issuers.iter().enumerate() {
        if !seen.insert(iss.issuer.clone()) {
            errs.add(
                format!("issuers[{i}].issuer"),
                format!("issuer {} is configured twice", iss.issuer),
            );
        }
    }
    issuers
}

fn policy_list(
    value: Option<Value>,
    tiers: &BTreeMap<String, TierFile>,
    acr_levels: &[String],
    base_dir: &Path,
    errs: &mut Errors,
) -> Vec<Policy> {
    let mut policies = Vec::new();
    let mut names = HashSet::new();
    for (path, v) in list(value, "policies", errs) {
        let Some(file) = errs.parse::<PolicyFile>(&path, v) else {
            continue;
        };
        if !names.insert(file.name.clone()) {
            errs.add(
                format!("{path}.name"),
                format!("policy name `{}` is used twice", file.name),
            );
        }
        if let Some(p) = policies::policy(&path, file, tiers, acr_levels, base_dir, errs) {
            policies.push(p);
        }
    }
    policies
}

/// A Rego policy may not set an identity header: those carry only what
/// zt-authz verified.
fn rego_headers_are_not_identity(
    policies: &[Policy],
    identity: &IdentityHeaders,
    errs: &mut Errors,
) {
    for p in policies {
        let Some(rego) = &p.rego else { continue };
        for h in rego
            .headers()
            .iter()
            .filter(|h| identity.all().any(|i| i == *h))
        {
            errs.add(
                format!("policies[name={}].rego.headers", p.name),
                format!("`{h}` is an identity header; only zt-authz sets it"),
            );
        }
    }
}

/// Headers zt-authz sets or strips (identity headers, a Rego policy's
/// `headers`) may hold only letters, digits and `-`. CGI-style stacks read
/// every other character as `_`, so `x_user` would be `x-user` and `x.user`
/// to them as well: with names this plain, step 0 can refuse every other
/// spelling of them, and `headers_to_remove` covers the one left.
fn guarded_headers_are_plain(policies: &[Policy], identity: &IdentityHeaders, errs: &mut Errors) {
    let plain = |h: &HeaderName| {
        h.as_str()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let complaint = |h: &HeaderName| {
        format!(
            "`{h}` may hold only letters, digits and `-`: CGI-style stacks read its other characters as `_`, so other spellings would reach the workload as this header"
        )
    };
    for h in identity.all().filter(|h| !plain(h)) {
        errs.add("identity_headers", complaint(h));
    }
    for p in policies {
        let Some(rego) = &p.rego else { continue };
        for h in rego.headers().iter().filter(|h| !plain(h)) {
            errs.add(
                format!("policies[name={}].rego.headers", p.name),
                complaint(h),
            );
        }
    }
}

fn list(value: Option<Value>, name: &str, errs: &mut Errors) -> Vec<(String, Value)> {
    match value {
        None => Vec::new(),
        Some(Value::Sequence(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("{name}[{i}]"), v))
            .collect(),
        Some(_) => {
            errs.add(name, "must be a list");
            Vec::new()
        }
    }
}

/// Safe inside a quoted-string of a `WWW-Authenticate` header.
pub(super) fn is_quotable(s: &str) -> bool {
    s.chars()
        .all(|c| (' '..='~').contains(&c) && c != '"' && c != '\\')
}
