//! Route matching, compiled once at config load.

use globset::{Glob, GlobBuilder, GlobMatcher};
use regex::Regex;

/// What a policy's `match` block selects. Empty parts match everything.
#[derive(Debug, Clone)]
pub struct RouteMatch {
    hosts: Vec<HostPattern>,
    path: PathMatch,
    methods: Vec<String>,
}

#[derive(Debug, Clone)]
enum HostPattern {
    /// Lower-cased literal host; the common case needs no glob engine.
    Exact(String),
    Glob(GlobMatcher),
}

#[derive(Debug, Clone)]
pub enum PathMatch {
    Any,
    Exact(String),
    /// A plain string prefix, as Envoy's route `prefix`: `/orders` also
    /// matches `/ordersX`.
    Prefix(String),
    /// Anchored: the regex must match the whole path.
    Regex(Regex),
}

impl RouteMatch {
    pub fn new(hosts: Vec<String>, path: PathMatch, methods: Vec<String>) -> Result<Self, String> {
        let hosts = hosts
            .into_iter()
            .map(|h| HostPattern::parse(&h))
            .collect::<Result<_, _>>()?;
        let methods = methods
            .into_iter()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        Ok(Self {
            hosts,
            path,
            methods,
        })
    }

    /// `host` as Envoy forwards it (`:authority`, maybe with a port); `path`
    /// without its query string.
    pub fn matches(&self, host: &str, path: &str, method: &str) -> bool {
        self.method_matches(method) && self.path.matches(path) && self.host_matches(host)
    }

    fn method_matches(&self, method: &str) -> bool {
        self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
    }

    fn host_matches(&self, host: &str) -> bool {
        if self.hosts.is_empty() {
            return true;
        }
        let host = strip_port(host);
        self.hosts.iter().any(|p| p.matches(host))
    }

    pub fn describe(&self) -> String {
        let hosts = if self.hosts.is_empty() {
            "*".to_string()
        } else {
            self.hosts
                .iter()
                .map(HostPattern::describe)
                .collect::<Vec<_>>()
                .join(",")
        };
        let methods = if self.methods.is_empty() {
            "ANY".to_string()
        } else {
            self.methods.join(",")
        };
        format!(
            "host={hosts} path={} methods={methods}",
            self.path.describe()
        )
    }
}

impl HostPattern {
    fn parse(pattern: &str) -> Result<Self, String> {
        let lower = pattern.to_ascii_lowercase();
        if !lower.contains(['*', '?', '[', '{']) {
            return Ok(Self::Exact(lower));
        }
        let glob: Glob = GlobBuilder::new(&lower)
            .case_insensitive(true)
            .literal_separator(false)
            .build()
            .map_err(|e| format!("host glob `{pattern}` is invalid: {e}"))?;
        Ok(Self::Glob(glob.compile_matcher()))
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(h) => h.eq_ignore_ascii_case(host),
            Self::Glob(g) => g.is_match(host),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Exact(h) => h.clone(),
            Self::Glob(g) => g.glob().glob().to_string(),
        }
    }
}

impl PathMatch {
    pub fn regex(pattern: &str) -> Result<Self, String> {
        Regex::new(&format!("^(?:{pattern})$"))
            .map(Self::Regex)
            .map_err(|e| format!("path regex is invalid: {e}"))
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(p) => p == path,
            Self::Prefix(p) => path.starts_with(p.as_str()),
            Self::Regex(r) => r.is_match(path),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Any => "*".into(),
            Self::Exact(p) => format!("={p}"),
            Self::Prefix(p) => format!("{p}*"),
            Self::Regex(r) => format!("~{}", r.as_str()),
        }
    }
}

/// `example.com:8443` → `example.com`; `[::1]:80` → `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(hosts: &[&str], path: PathMatch, methods: &[&str]) -> RouteMatch {
        RouteMatch::new(
            hosts.iter().map(|s| s.to_string()).collect(),
            path,
            methods.iter().map(|s| s.to_string()).collect(),
        )
        .unwrap()
    }

    #[test]
    fn hosts_match_case_insensitively_without_port() {
        let r = route(&["*.Example.com", "api.local"], PathMatch::Any, &[]);
        assert!(r.matches("orders.example.COM:8443", "/", "GET"));
        assert!(r.matches("API.local", "/", "GET"));
        assert!(r.matches("api.local:80", "/", "GET"));
        assert!(!r.matches("example.org", "/", "GET"));
        assert!(!r.matches("api.local.evil", "/", "GET"));
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets() {
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("host:"), "host:");
    }

    #[test]
    fn prefix_is_a_plain_string_prefix() {
        let r = route(&[], PathMatch::Prefix("/orders".into()), &[]);
        assert!(r.matches("h", "/orders", "GET"));
        assert!(r.matches("h", "/ordersX", "GET"));
        assert!(!r.matches("h", "/Orders", "GET"));
    }

    #[test]
    fn regex_must_match_whole_path() {
        let r = route(&[], PathMatch::regex("/items/[0-9]+").unwrap(), &[]);
        assert!(r.matches("h", "/items/42", "GET"));
        assert!(!r.matches("h", "/items/42/x", "GET"));
        assert!(!r.matches("h", "/v1/items/42", "GET"));
    }

    #[test]
    fn methods_filter() {
        let r = route(&[], PathMatch::Exact("/a".into()), &["get", "POST"]);
        assert!(r.matches("h", "/a", "GET"));
        assert!(r.matches("h", "/a", "post"));
        assert!(!r.matches("h", "/a", "DELETE"));
        assert!(!r.matches("h", "/a/", "GET"));
    }
}
