//! Route matching, compiled once at config load.

use globset::{Glob, GlobBuilder, GlobMatcher};
use regex::Regex;

use super::host::{ipv4_literal, ipv6_literal};

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

/// How a policy matches the request path (without the query string).
#[derive(Debug, Clone)]
pub enum PathMatch {
    /// Every path.
    Any,
    /// Exactly this path.
    Exact(String),
    /// A plain string prefix, as Envoy's route `prefix`: `/orders` also
    /// matches `/ordersX`.
    Prefix(String),
    /// Anchored: the regex must match the whole path.
    Regex(Regex),
}

impl RouteMatch {
    /// Compiles host globs and upper-cases methods; `Err` names an invalid glob.
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

    /// `host` as `normalize_host` returns it; `path` without its query
    /// string.
    pub fn matches(&self, host: &str, path: &str, method: &str) -> bool {
        self.method_matches(method) && self.path.matches(path) && self.host_matches(host)
    }

    fn method_matches(&self, method: &str) -> bool {
        self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
    }

    fn host_matches(&self, host: &str) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|p| p.matches(host))
    }

    /// The literal hosts the route is limited to, when every one of them is
    /// literal; `None` for any host or when a glob is among them.
    pub fn literal_hosts(&self) -> Option<Vec<&str>> {
        if self.hosts.is_empty() {
            return None;
        }
        self.hosts
            .iter()
            .map(|h| match h {
                HostPattern::Exact(h) => Some(h.as_str()),
                HostPattern::Glob(_) => None,
            })
            .collect()
    }

    /// A literal every matching path starts with (an exact path, or a
    /// prefix); `None` for any path or a regex.
    pub fn literal_path_prefix(&self) -> Option<&str> {
        match &self.path {
            PathMatch::Exact(p) | PathMatch::Prefix(p) => Some(p),
            PathMatch::Any | PathMatch::Regex(_) => None,
        }
    }

    /// The route in one line, for the config summary.
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
        // Read as request hosts are normalised, so `Example.com.` in a file
        // means `example.com` and `[0:0::1]` means `[::1]`.
        let lower = pattern.to_ascii_lowercase();
        if let Some(address) = ipv6_literal(&lower) {
            return Ok(Self::Exact(address));
        }
        if lower.starts_with('[') {
            return Err(format!(
                "host `{pattern}` starts with `[` but is not an IPv6 address in brackets, such as `[2001:db8::1]`"
            ));
        }
        if lower.contains(':') {
            return Err(format!(
                "host `{pattern}` has a port, but hosts are matched without their port"
            ));
        }
        let lower = lower.trim_end_matches('.').to_string();
        if let Some(address) = ipv4_literal(&lower) {
            return Ok(Self::Exact(address.to_string()));
        }
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
    /// A whole-path regex; `Err` if the pattern is invalid on its own.
    pub fn regex(pattern: &str) -> Result<Self, String> {
        // Checked alone first: `/a)|(/b` only compiles once wrapped, and
        // then escapes the anchors.
        Regex::new(pattern).map_err(|e| format!("path regex is invalid: {e}"))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::normalize_host;

    struct Route(RouteMatch);

    impl Route {
        /// Matches as `PolicySet::select` does: the host normalised first.
        fn matches(&self, host: &str, path: &str, method: &str) -> bool {
            self.0.matches(&normalize_host(host), path, method)
        }
    }

    fn route(hosts: &[&str], path: PathMatch, methods: &[&str]) -> Route {
        Route(
            RouteMatch::new(
                hosts.iter().map(|s| s.to_string()).collect(),
                path,
                methods.iter().map(|s| s.to_string()).collect(),
            )
            .unwrap(),
        )
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
    fn every_spelling_of_a_host_is_one_host() {
        let exact = route(&["admin.example.com"], PathMatch::Any, &[]);
        let glob = route(&["*.example.com"], PathMatch::Any, &[]);
        let dotted = route(&["admin.example.com."], PathMatch::Any, &[]);
        for spelling in [
            "admin.example.com",
            "admin.example.com.",
            "admin.example.com:",
            "admin.example.com.:",
            "admin.example.com.:443",
            "Admin.Example.COM.:443",
            "ADMIN.EXAMPLE.COM:8443",
            // Ports a workload's server may ignore, and extra dots.
            "admin.example.com..",
            "admin.example.com:x",
            "admin.example.com:abc",
            "admin.example.com:+443",
            "admin.example.com:-1",
            "admin.example.com:0x1bb",
            "admin.example.com:443:443",
        ] {
            assert!(exact.matches(spelling, "/", "GET"), "{spelling}");
            assert!(glob.matches(spelling, "/", "GET"), "{spelling}");
            assert!(dotted.matches(spelling, "/", "GET"), "{spelling}");
        }
        for other in [
            "admin.example.co",
            "admin.example.com.evil",
            "xadmin.example.com",
        ] {
            assert!(!exact.matches(other, "/", "GET"), "{other}");
        }
    }

    /// A configured IPv6 literal is that address in any spelling, never a
    /// glob character class; a configured port or a bracket that is not an
    /// IPv6 literal is refused, since request hosts are matched without
    /// their port.
    #[test]
    fn configured_hosts_are_read_as_request_hosts_are() {
        let v6 = route(&["[::1]"], PathMatch::Any, &[]);
        for host in ["[::1]", "[::1]:80", "[0:0::1]", "::1"] {
            assert!(v6.matches(host, "/", "GET"), "{host}");
        }
        for host in ["1", "1:80", ":", "[::2]"] {
            assert!(!v6.matches(host, "/", "GET"), "{host}");
        }
        assert_eq!(v6.0.literal_hosts(), Some(vec!["[::1]"]));
        let spelled = route(
            &["[0:0:0::1]", "API.Local..", "FE80::1"],
            PathMatch::Any,
            &[],
        );
        assert!(spelled.matches("[fe80::1]:443", "/", "GET"));
        assert!(spelled.matches("[::1]", "/", "GET"));
        assert!(spelled.matches("api.local:8080", "/", "GET"));
        for bad in [
            "api.local:8080",
            "*:8080",
            "[::1]:80",
            "[::1",
            "[nope]",
            "a:b:c",
        ] {
            let err = RouteMatch::new(vec![bad.into()], PathMatch::Any, vec![]).unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        // A glob may still use a character class.
        let class = route(&["api[12].local"], PathMatch::Any, &[]);
        assert!(class.matches("api2.local", "/", "GET"));
        // An IPv4 address is that address in every spelling, configured or
        // requested.
        let v4 = route(&["10.5"], PathMatch::Any, &[]);
        assert_eq!(v4.0.literal_hosts(), Some(vec!["10.0.0.5"]));
        for host in ["10.0.0.5", "10.0.0.5:80", "0xa.0.0.5", "167772165", "012.5"] {
            assert!(v4.matches(host, "/", "GET"), "{host}");
        }
        for host in ["10.0.0.6", "10.0.0.5.1", "10.0.0.05x"] {
            assert!(!v4.matches(host, "/", "GET"), "{host}");
        }
        let subnet = route(&["10.0.0.*"], PathMatch::Any, &[]);
        assert!(subnet.matches("10.5", "/", "GET"));
    }

    #[test]
    fn a_regex_cannot_escape_its_anchors() {
        // Wrapped, this would compile as `^(?:/admin)|(/x)$` and match any
        // path starting with /admin.
        assert!(PathMatch::regex("/admin)|(/x").is_err());
        assert!(PathMatch::regex("(/admin").is_err());
        let r = route(&[], PathMatch::regex("/admin|/x").unwrap(), &[]);
        assert!(r.matches("h", "/admin", "GET"));
        assert!(r.matches("h", "/x", "GET"));
        assert!(!r.matches("h", "/admin/anything", "GET"));
        assert!(!r.matches("h", "/y/x", "GET"));
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
