//! OpenID Connect Back-Channel Logout 1.0 receiver: the identity provider
//! POSTs a signed logout token; the session (`sid`) or, without one, every
//! token of the subject (`sub`) issued until now is revoked.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::{AdminState, ApiError};
use crate::revocation::NewRevocation;

const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

#[derive(Deserialize)]
pub struct LogoutForm {
    logout_token: String,
}

pub async fn receive(
    State(state): State<AdminState>,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Result<Response, ApiError> {
    let Form(form) =
        form.map_err(|_| ApiError::bad_request("expected a form-encoded logout_token"))?;
    let runtime = state.authorizer.runtime();
    let claims = runtime
        .verifier
        .verify_logout_token(&form.logout_token)
        .await
        .map_err(|e| ApiError::bad_request(format!("logout_token: {e}")))?;
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
    if claims.iat().is_none() || claims.claim("jti").is_none() {
        return Err(ApiError::bad_request(
            "logout_token: iat and jti are required",
        ));
    }
    let new = match (claims.sid(), claims.subject()) {
        (Some(sid), _) => NewRevocation {
            kind: "sid".into(),
            value: sid.to_string(),
            issued_before: None,
            expires_at: None,
            reason: Some("back-channel logout".into()),
        },
        (None, Some(sub)) => NewRevocation {
            kind: "sub".into(),
            value: sub.to_string(),
            issued_before: None,
            expires_at: None,
            reason: Some("back-channel logout".into()),
        },
        (None, None) => return Err(ApiError::bad_request("logout_token: needs sid or sub")),
    };
    state.revocations.revoke(new).await.map_err(|e| {
        tracing::error!(error = %e, "back-channel logout not stored");
        ApiError::internal("the logout could not be recorded")
    })?;
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
