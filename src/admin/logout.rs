//! OpenID Connect Back-Channel Logout 1.0 receiver: the identity provider
//! POSTs a signed logout token; the session (`sid`) or, without one, every
//! token of the subject (`sub`) issued before the logout token is revoked,
//! for that issuer only. Each logout token is accepted once.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::guard::read_body;
use super::{AdminState, ApiError};
use crate::revocation::NewRevocation;
use crate::token::VerifiedClaims;

const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A logout token is a few KiB; its form is read up to this.
const MAX_FORM_BYTES: usize = 64 * 1024;

pub async fn receive(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // Identity providers send no Origin. A form POST is the one cross-site
    // request a browser makes without asking first, so a page must not be
    // able to replay a captured logout token here.
    let result = if headers.contains_key(header::ORIGIN) {
        Err(ApiError::forbidden(
            "access_denied",
            "requests from a browser (with an Origin header) are refused",
        ))
    } else {
        logout(&state, &headers, body).await
    };
    if let Err(e) = &result {
        // Never the token: only why it was refused.
        tracing::info!(status = e.status.as_u16(), reason = %e.description, "back-channel logout refused");
    }
    result
}

async fn logout(state: &AdminState, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let logout_token = form_token(state, headers, body).await?;
    let snapshot = state.authorizer.snapshot();
    let claims = snapshot
        .verifier
        .verify_logout_token(&logout_token)
        .await
        .map_err(|e| ApiError::bad_request(format!("logout_token: {e}")))?;
    let jti = check_logout_claims(&claims)?;
    let issuer = claims.issuer();
    if state.logouts.contains(issuer, jti) {
        return Err(ApiError::bad_request(
            "logout_token: already received (a replay changes nothing)",
        ));
    }
    let now = state.revocations.now();
    let leeway = snapshot
        .verifier
        .trust(issuer)
        .map_or(0.0, |t| t.leeway.as_secs_f64());
    let new = revocation_for(&claims, now + leeway)?;
    state.revocations.revoke(new).await.map_err(|e| {
        tracing::error!(error = %e, "back-channel logout not stored");
        ApiError::internal("the logout could not be recorded")
    })?;
    // Remembered only once it took effect, so a retry after a failed store
    // is not mistaken for a replay.
    let keep_for = (claims.exp() + leeway - now).clamp(0.0, 7.0 * 86_400.0);
    state
        .logouts
        .remember(issuer, jti, Duration::from_secs_f64(keep_for));
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The one `logout_token` of a form-encoded body; the media type is
/// matched without regard to case, as everywhere on this port.
async fn form_token(
    state: &AdminState,
    headers: &HeaderMap,
    body: Body,
) -> Result<String, ApiError> {
    let expected = || ApiError::bad_request("expected one form-encoded logout_token");
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(expected());
    }
    let body = read_body(state, body, MAX_FORM_BYTES).await?;
    let mut tokens = url::form_urlencoded::parse(&body)
        .filter(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned());
    match (tokens.next(), tokens.next()) {
        (Some(token), None) => Ok(token),
        _ => Err(expected()),
    }
}

/// The logout token's own rules (OIDC Back-Channel Logout §2.4); returns
/// its `jti`.
fn check_logout_claims(claims: &VerifiedClaims) -> Result<&str, ApiError> {
    let is_logout_event = claims
        .claim("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(LOGOUT_EVENT))
        .is_some_and(Value::is_object);
    if !is_logout_event {
        return Err(ApiError::bad_request(
            "logout_token: no back-channel logout event in events",
        ));
    }
    if claims.claim("nonce").is_some() {
        return Err(ApiError::bad_request(
            "logout_token: must not carry a nonce",
        ));
    }
    match (claims.iat(), claims.jti()) {
        (Some(_), Some(jti)) => Ok(jti),
        _ => Err(ApiError::bad_request(
            "logout_token: iat and jti are required",
        )),
    }
}

/// The session, or else every token of the subject issued before the
/// logout token was: its `iat`, never later than `latest` (now plus
/// leeway). Bound to the logout token's issuer, so one identity provider
/// cannot log out another's users.
fn revocation_for(claims: &VerifiedClaims, latest: f64) -> Result<NewRevocation, ApiError> {
    let issuer = Some(claims.issuer().to_owned());
    let reason = Some("back-channel logout".to_string());
    match (claims.sid(), claims.subject(), claims.iat()) {
        (Some(sid), _, _) => Ok(NewRevocation {
            kind: "sid".into(),
            value: sid.to_owned(),
            issuer,
            issued_before: None,
            expires_at: None,
            reason,
        }),
        (None, Some(sub), Some(iat)) => Ok(NewRevocation {
            kind: "sub".into(),
            value: sub.to_owned(),
            issuer,
            // Token times are whole seconds: one issued in the logout
            // token's own second may predate it, so that second is in.
            issued_before: Some((iat.floor() + 1.0).min(latest)),
            expires_at: None,
            reason,
        }),
        _ => Err(ApiError::bad_request("logout_token: needs sid or sub")),
    }
}
