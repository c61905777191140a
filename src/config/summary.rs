//! The normalised summary `check-config` prints: what the service will do,
//! with every default filled in.

use std::fmt::Write;
use std::time::Duration;

use super::{Config, DefaultAction};
use crate::policy::Policy;
use crate::revocation::StoreSettings;

fn dur(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn opt(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), dur)
}

pub fn render(c: &Config) -> String {
    let mut out = String::new();
    general(&mut out, c);
    issuers(&mut out, c);
    policies(&mut out, c);
    out
}

fn general(out: &mut String, c: &Config) {
    let s = &c.server;
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "server: grpc {} admin {} realm {:?} max_token_bytes {}",
        s.grpc_addr, s.admin_addr, s.realm, s.max_token_bytes
    );
    let _ = writeln!(
        out,
        "acr_levels (weakest first): {}",
        c.acr_levels.join(" < ")
    );
    let _ = writeln!(
        out,
        "default_action: {}",
        match c.default_action {
            DefaultAction::Deny => "deny",
            DefaultAction::Allow => "allow",
        }
    );
    let r = &c.revocations;
    // The Redis URL may carry a password: only its prefix is shown.
    let store = match &r.store {
        StoreSettings::Memory => "memory".to_string(),
        StoreSettings::Embedded { path } => format!("embedded {}", path.display()),
        StoreSettings::Redis {
            path,
            prefix,
            hmac_key,
            ..
        } => format!(
            "redis (prefix {prefix}, {}) + {}",
            if hmac_key.is_some() {
                "signed"
            } else {
                "unsigned"
            },
            path.display()
        ),
    };
    let _ = writeln!(
        out,
        "revocations: store {store} max_token_lifetime {} leeway {}",
        dur(r.max_token_lifetime),
        dur(r.leeway)
    );
    let headers: Vec<String> = c
        .identity
        .claims
        .iter()
        .map(|(claim, h)| format!("{claim}->{h}"))
        .collect();
    let _ = writeln!(
        out,
        "identity headers: {} policy->{}",
        headers.join(" "),
        c.identity.policy.as_ref().map_or("-", |h| h.as_str())
    );
}

fn issuers(out: &mut String, c: &Config) {
    let _ = writeln!(out, "issuers ({}):", c.issuers.len());
    for i in &c.issuers {
        let algs: Vec<String> = i.algorithms.iter().map(|a| format!("{a:?}")).collect();
        let _ = writeln!(out, "  - {}", i.issuer);
        let _ = writeln!(
            out,
            "      keys: {} (refresh {}, refetch cool-down {})",
            i.keys.source.describe(),
            dur(i.keys.refresh_interval),
            dur(i.keys.refetch_cooldown)
        );
        let _ = writeln!(
            out,
            "      audiences: {}  logout audiences: {}  algorithms: {}  leeway: {}  max lifetime: {}  typ: {}",
            i.audiences.join(","),
            if i.logout_audiences.is_empty() {
                "-".to_string()
            } else {
                i.logout_audiences.join(",")
            },
            algs.join(","),
            dur(i.leeway),
            opt(i.max_token_lifetime),
            i.required_typ.as_deref().unwrap_or("-")
        );
    }
}

fn policies(out: &mut String, c: &Config) {
    let _ = writeln!(out, "policies in match order ({}):", c.policies.len());
    for (n, p) in c.policies.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {} [{}] {}",
            n + 1,
            p.name,
            p.tier.as_deref().unwrap_or("no tier"),
            p.route.describe()
        );
        if p.anonymous {
            let _ = writeln!(out, "       anonymous");
        } else {
            requirements(out, p);
        }
        if !p.principals.is_empty() {
            let _ = writeln!(out, "       principals: {}", p.principals.join(", "));
        }
        if let Some(rego) = &p.rego {
            let _ = writeln!(
                out,
                "       rego: {}  sets: {}",
                rego.query(),
                if rego.headers().is_empty() {
                    "-".to_string()
                } else {
                    rego.headers()
                        .iter()
                        .map(|h| h.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                }
            );
        }
        if p.remove_authorization {
            let _ = writeln!(out, "       removes Authorization before the workload");
        }
    }
}

fn requirements(out: &mut String, p: &Policy) {
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(" ")
        }
    };
    let claims: Vec<String> = p
        .claims
        .iter()
        .map(|c| format!("{}∈{{{}}}", c.claim, c.allowed.join(",")))
        .collect();
    let _ = writeln!(
        out,
        "       scopes: {}  claims: {}  min acr: {}  max auth age: {}  max lifetime: {}  max age: {}",
        list(p.scopes.clone()),
        list(claims),
        p.min_acr
            .as_ref()
            .map_or("-", |a| a.acr_values.split(' ').next().unwrap_or("-")),
        opt(p.max_auth_age),
        opt(p.token_limits.max_lifetime),
        opt(p.token_limits.max_age),
    );
    if let Some(c) = p.sender_constraint {
        let _ = writeln!(
            out,
            "       sender constraint: {}",
            format!("{c:?}").to_ascii_lowercase()
        );
    }
}
