//! Who may call the revocation API, and from where. Admin tokens are
//! authenticated by the same pipeline steps as `Check` (revocation
//! included); a browser can never drive the API, so neither CSRF nor DNS
//! rebinding reaches an operator's loopback admin port.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::{AdminState, ApiError};
use crate::config::AdminAuth;
use crate::token::TokenLimits;

/// Lets a revocation API call through, or says why not.
pub(super) async fn admit(state: &AdminState, headers: &HeaderMap) -> Result<(), ApiError> {
    // Browsers send Origin on every cross-origin request (and on every
    // POST); operators' tools and the identity provider do not.
    if headers.contains_key(header::ORIGIN) {
        return Err(ApiError::forbidden(
            "access_denied",
            "requests from a browser (with an Origin header) are refused",
        ));
    }
    let snapshot = state.authorizer.snapshot();
    let (issuer, scope) = match &snapshot.config.admin {
        AdminAuth::Disabled => {
            return Err(ApiError::forbidden(
                "access_denied",
                "the revocation API is not enabled: configure admin.issuer and admin.scope",
            ));
        }
        AdminAuth::Unauthenticated => return loopback_host(headers, state.bound),
        AdminAuth::Jwt { issuer, scope } => (issuer, scope),
    };
    let authorization = joined_authorization(headers);
    let claims = state
        .authorizer
        .authenticate(&snapshot, authorization.as_deref(), TokenLimits::default())
        .await
        .map_err(|deny| ApiError::denied(&deny.reason))?;
    if claims.issuer() != issuer.as_str() {
        return Err(ApiError::not_admin(
            "the token's issuer may not administer revocations",
        ));
    }
    if !claims.has_scope(scope) {
        return Err(ApiError::forbidden(
            "insufficient_scope",
            format!("the token lacks the {scope} scope"),
        ));
    }
    Ok(())
}

/// Bodies are JSON, and only JSON: a browser form or `text/plain` (which
/// need no CORS preflight) is refused before it is read.
pub(super) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(
            "the body must be sent as content-type: application/json",
        ))
    }
}

/// Reads a request body of at most `limit` bytes, within
/// `server.admin_read_timeout`. Called after the caller was admitted, so no
/// one unauthenticated makes this port buffer a body.
pub(super) async fn read_body(
    state: &AdminState,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    // A declared length over the limit is refused before any of it is read.
    if http_body::Body::size_hint(&body).lower() > limit as u64 {
        return Err(ApiError::too_large(limit));
    }
    let timeout = state.authorizer.snapshot().config.server.admin_read_timeout;
    let read = tokio::time::timeout(timeout, Limited::new(body, limit).collect());
    match read.await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::too_large(limit))
        }
        Ok(Err(_)) => Err(ApiError::bad_request("the body could not be read")),
        Err(_) => Err(ApiError::timeout(timeout)),
    }
}

/// Every `Authorization` header, joined with `,` as Envoy joins them, so
/// that two headers are refused as malformed rather than one picked. A
/// value that is not text becomes an empty, malformed one.
fn joined_authorization(headers: &HeaderMap) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|v| v.to_str().unwrap_or_default())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// Without authentication the API trusts the network path, so the request
/// must have been addressed to the loopback listener itself: a `Host` of
/// `localhost` or the bound address, on the bound port. A rebinding
/// attacker's page sends its own host name.
fn loopback_host(headers: &HeaderMap, bound: SocketAddr) -> Result<(), ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if host_is_bound_loopback(host, bound) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "access_denied",
            "the unauthenticated admin API answers only requests addressed to its loopback address or localhost",
        ))
    }
}

fn host_is_bound_loopback(host: &str, bound: SocketAddr) -> bool {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, port)) => (format!("[{ip}]"), port),
            None => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name.to_string(), port),
            None => (host.to_string(), ""),
        },
    };
    let port_fits = match port {
        "" => true,
        p => p
            .strip_prefix(':')
            .unwrap_or(p)
            .parse::<u16>()
            .is_ok_and(|p| p == bound.port()),
    };
    let bound_ip = match bound {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    let name_fits = name.eq_ignore_ascii_case("localhost") || name == bound_ip;
    bound.ip().is_loopback() && name_fits && port_fits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bound_loopback_address_or_localhost() {
        let v4: SocketAddr = "127.0.0.1:9090".parse().unwrap();
        let v6: SocketAddr = "[::1]:9090".parse().unwrap();
        let open: SocketAddr = "0.0.0.0:9090".parse().unwrap();
        for (host, bound, fits) in [
            ("127.0.0.1:9090", v4, true),
            ("127.0.0.1", v4, true),
            ("localhost:9090", v4, true),
            ("LOCALHOST", v4, true),
            ("[::1]:9090", v6, true),
            ("localhost:9090", v6, true),
            ("attacker.example:9090", v4, false),
            ("attacker.example", v4, false),
            ("127.0.0.1:9091", v4, false),
            ("127.0.0.2:9090", v4, false),
            ("localhost.:9090", v4, false),
            ("127.0.0.1:x", v4, false),
            ("[::1]:9090", v4, false),
            ("", v4, false),
            ("[::1", v6, false),
            ("localhost:9090", open, false),
        ] {
            assert_eq!(
                host_is_bound_loopback(host, bound),
                fits,
                "{host} on {bound}"
            );
        }
    }

    #[test]
    fn only_json_bodies() {
        let with = |ct: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(ct) = ct {
                h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            }
            require_json(&h).is_ok()
        };
        assert!(with(Some("application/json")));
        assert!(with(Some("Application/JSON; charset=utf-8")));
        assert!(!with(Some("text/plain")));
        assert!(!with(Some("application/x-www-form-urlencoded")));
        assert!(!with(Some("multipart/form-data; boundary=x")));
        assert!(!with(Some("application/jsonx")));
        assert!(!with(None));
    }
}
