//! Admin API errors: a status, an RFC 6750-style code, a description and,
//! for 401s, a challenge, as JSON. Never carries a token.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::decision::DenyReason;

/// The `realm` of the admin API's challenges.
const ADMIN_REALM: &str = "zt-authz-admin";

#[derive(Debug, Clone, PartialEq, Eq)]
/// An admin API answer that is not a success.
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The RFC 6750-style error code, also the body's `error`.
    pub error: &'static str,
    /// What went wrong, for the caller; never token text.
    pub description: String,
    /// `WWW-Authenticate`, for 401s.
    pub challenge: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            challenge: None,
        }
    }

    /// 400 `invalid_request`: the request itself is wrong.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// A denial of the caller's token, mapped by the same table `Check`
    /// uses: the status, code, description and challenge are the same.
    pub fn denied(reason: &DenyReason) -> Self {
        let status = StatusCode::from_u16(reason.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
        Self {
            challenge: reason.challenge(ADMIN_REALM),
            ..Self::new(status, reason.error_code(), reason.description())
        }
    }

    /// A verified token that may not administer revocations.
    pub fn not_admin(description: impl Into<String>) -> Self {
        let description = description.into();
        Self {
            challenge: Some(format!(
                "Bearer realm=\"{ADMIN_REALM}\", error=\"invalid_token\", error_description=\"{description}\""
            )),
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
        }
    }

    /// 403 with `error`: authenticated, but not allowed.
    pub fn forbidden(error: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, error, description)
    }

    /// 404: no such revocation.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    /// 405: the endpoint exists, but not for this method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "this endpoint does not take that method",
        )
    }

    /// 408: the body did not arrive in time.
    pub fn timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request",
            format!(
                "the body did not arrive within {}",
                humantime::format_duration(limit)
            ),
        )
    }

    /// 413: the body is longer than the route takes.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            format!("the body is larger than {limit} bytes"),
        )
    }

    /// 415: the body is not JSON.
    pub fn unsupported_media_type(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            description,
        )
    }

    /// 500: the service failed (the store could not write).
    pub fn internal(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            description,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(v) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }
}
