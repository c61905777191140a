//! One spelling per host: what a request's host must look like to be
//! read at all, and the form policies match it in.

use std::borrow::Cow;

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
pub(super) fn ipv4_literal(host: &str) -> Option<std::net::Ipv4Addr> {
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
pub(super) fn ipv6_literal(host: &str) -> Option<String> {
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
}
