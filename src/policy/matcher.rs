//! Route matching, compiled once at config load.

use std::borrow::Cow;

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

/// Whether `host` holds only what a host name, an IPv4 or IPv6 address
/// and a port are written with: letters, digits, `-`, `.`, `_`, `~`, `:`,
/// `[` and `]`. Envoy forwards a Host with `@` or `%` as it came, and URL
/// parsers read `user@admin.example.com` and `%61dmin.example.com` as
/// `admin.example.com`: such a host could reach a workload's admin routes
/// under another host's policy, so it is refused, not normalised. Brackets
/// may only hold an IPv6 address, followed by nothing or a port: Go's
/// `SplitHostPort` reads `[admin.example.com]:443` as `admin.example.com`.
pub fn is_plain_host(host: &str) -> bool {
    let plain = host.bytes().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':' | b'[' | b']')
    });
    if !plain || !host.contains(['[', ']']) {
        return plain;
    }
    let Some((bracketed, after)) = host.split_once(']') else {
        return false;
    };
    let port_only = after.is_empty() || (after.starts_with(':') && !after.contains(['[', ']']));
    let inner = bracketed.strip_prefix('[').unwrap_or("[");
    port_only && !inner.contains('[') && inner.parse::<std::net::Ipv6Addr>().is_ok()
}

/// One spelling per host, before any policy sees it: lower case, whatever
/// follows the first `:` removed as the port, trailing dots removed. An
/// IPv6 address, bare or in brackets, becomes its canonical form in
/// brackets. `Admin.Example.com.:443` →
/// `admin.example.com`. A port that is not a number is removed too: the
/// workload's own server may well route `admin.example.com:abc` to
/// `admin.example.com` (Go's does), so it must meet that host's policy.
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    let name = strip_port(host);
    if let Some(address) = ipv6_literal(name) {
        return Cow::Owned(address);
    }
    let name = if name.starts_with('[') {
        name
    } else {
        name.trim_end_matches('.')
    };
    if let Some(address) = ipv4_literal(name) {
        return Cow::Owned(address.to_string());
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// An IPv4 address in any of the spellings URL parsers and `inet_aton`
/// accept (the WHATWG URL standard's): one to four parts, each decimal,
/// octal with a leading `0` or hexadecimal with `0x`, the last one filling
/// the bytes left. `10.5`, `0xa.0.0.5`, `012.0.0.5` and `167772165` are all
/// `10.0.0.5`, which a workload resolving its own URLs would connect to.
fn ipv4_literal(host: &str) -> Option<std::net::Ipv4Addr> {
    let looks_numeric = host
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b'x' || b == b'X');
    if host.is_empty() || !looks_numeric {
        return None;
    }
    let parts: Vec<u64> = host.split('.').map(ipv4_part).collect::<Option<_>>()?;
    let (last, leading) = parts.split_last()?;
    if leading.len() > 3 || leading.iter().any(|&p| p > 255) {
        return None;
    }
    let last_bits = 8 * (4 - leading.len() as u32);
    if *last >= 1u64 << last_bits {
        return None;
    }
    let high = leading
        .iter()
        .enumerate()
        .fold(0u64, |acc, (i, &p)| acc | p << (24 - 8 * i as u32));
    u32::try_from(high | last)
        .ok()
        .map(std::net::Ipv4Addr::from)
}

/// One part of an IPv4 literal: `0x…` hexadecimal (`0x` alone is 0), a
/// leading `0` octal, else decimal. At most 32 bits' worth of digits.
fn ipv4_part(part: &str) -> Option<u64> {
    let (digits, radix) = match part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
        Some("") => return Some(0),
        Some(hex) => (hex, 16),
        None if part.len() > 1 && part.starts_with('0') => (&part[1..], 8),
        None => (part, 10),
    };
    if digits.is_empty() || digits.len() > 32 {
        return None;
    }
    u64::from_str_radix(digits, radix)
        .ok()
        .filter(|&v| v <= u64::from(u32::MAX))
}

/// An IPv6 address, bare or in brackets, in its one canonical spelling in
/// brackets: `[0:0::1]` and `::1` are `[::1]`; an IPv4-mapped one is its
/// dotted quad.
fn ipv6_literal(host: &str) -> Option<String> {
    let inner = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if !has_two_colons(inner) {
        return None;
    }
    let address: std::net::Ipv6Addr = inner.parse().ok()?;
    // `[::ffff:10.0.0.5]` is 10.0.0.5 to a dual-stack socket: one host.
    if let Some(v4) = address.to_ipv4_mapped() {
        return Some(v4.to_string());
    }
    Some(format!("[{address}]"))
}

/// Whether `text` could be an IPv6 address, which has two colons at least
/// (`::`). Host names are not parsed as addresses on every request.
fn has_two_colons(text: &str) -> bool {
    text.bytes().filter(|&b| b == b':').nth(1).is_some()
}

/// `example.com:8443`, `example.com:` and `example.com:x:1` →
/// `example.com`; `[::1]:80` → `[::1]`. A bare IPv6 address has no port.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    if has_two_colons(host) && host.parse::<std::net::Ipv6Addr>().is_ok() {
        return host;
    }
    host.split_once(':').map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn normalized_hosts() {
        for (raw, normal) in [
            ("[::1]:8080", "[::1]"),
            ("[::1]", "[::1]"),
            ("[::1]:", "[::1]"),
            ("[FE80::1]:80", "[fe80::1]"),
            ("[0:0::1]", "[::1]"),
            ("[0000:0000:0000:0000:0000:0000:0000:0001]:443", "[::1]"),
            ("::1", "[::1]"),
            ("host:", "host"),
            ("Host.:80", "host"),
            ("host..", "host"),
            ("host:abc", "host"),
            ("10.0.0.1:abc", "10.0.0.1"),
            ("fe80::1", "[fe80::1]"),
            ("[not-v6]:80", "[not-v6]"),
            ("10.0.0.5", "10.0.0.5"),
            ("[::ffff:10.0.0.5]", "10.0.0.5"),
            ("[::ffff:a00:5]:443", "10.0.0.5"),
            ("[0:0:0:0:0:ffff:a00:5]", "10.0.0.5"),
            ("::ffff:a00:5", "10.0.0.5"),
            ("10.5", "10.0.0.5"),
            ("10.0.5:80", "10.0.0.5"),
            ("0xa.0.0.5", "10.0.0.5"),
            ("0XA.0.0.0x5.", "10.0.0.5"),
            ("012.0.0.05", "10.0.0.5"),
            ("167772165", "10.0.0.5"),
            ("0xA000005", "10.0.0.5"),
            ("0x.0x.0x.0x", "0.0.0.0"),
            ("127.1", "127.0.0.1"),
            ("256.0.0.1", "256.0.0.1"),
            ("1.2.3.4.5", "1.2.3.4.5"),
            ("4294967296", "4294967296"),
            ("10.0.0.08", "10.0.0.08"),
            ("cafe.beef", "cafe.beef"),
            ("0x1g.0.0.1", "0x1g.0.0.1"),
            ("1..2", "1..2"),
            ("", ""),
        ] {
            assert_eq!(normalize_host(raw), normal, "{raw}");
        }
    }

    #[test]
    fn only_plain_hosts_are_read() {
        for host in [
            "admin.example.com",
            "admin.example.com:443",
            "admin.example.com:",
            "[::1]",
            "[::1]:8080",
            "[fe80::1]:",
            "::1",
            "10.0.0.5",
            "under_score.test",
            "",
        ] {
            assert!(is_plain_host(host), "{host:?}");
        }
        for host in [
            "[admin.example.com]:443",
            "[admin.example.com]",
            "[10.0.0.5]",
            "[v1.admin.example.com]",
            "[::1]x",
            "[::1]:80]",
            "[[::1]]",
            "::1]",
            "[::1",
            "admin.example.com]",
            "x[::1]",
            "user@admin.example.com",
            "%61dmin.example.com",
        ] {
            assert!(!is_plain_host(host), "{host:?}");
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
