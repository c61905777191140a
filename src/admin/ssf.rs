//! `POST /v1/ssf/events`: RFC 8935 push delivery of Security Event Tokens.
//! 202 when accepted (acted on or not); 400 with `{"err", "description"}`
//! when refused. Each SET is accepted once.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AdminState;
use super::guard::read_body;
use crate::revocation::RevokeError;
use crate::ssf::{Action, MAX_SET_BYTES, SET_CONTENT_TYPE, SetError, plan, verify_set};

pub async fn receive(State(state): State<AdminState>, headers: HeaderMap, body: Body) -> Response {
    // A browser has no business here, and transmitters send no Origin:
    // refused like everywhere else on this port.
    if headers.contains_key(header::ORIGIN) {
        state.metrics.ssf_event("unknown", "refused");
        let body = json!({"err": "access_denied", "description": "requests from a browser (with an Origin header) are refused"});
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    // The SET itself is the credential, so it is read first, but only up
    // to the largest SET accepted.
    let body = match read_body(&state, body, MAX_SET_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            state.metrics.ssf_event("unknown", "refused");
            let body = json!({"err": e.error, "description": e.description});
            return (e.status, Json(body)).into_response();
        }
    };
    match accept(&state, &headers, &body).await {
        Ok(()) => {
            let mut response = StatusCode::ACCEPTED.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(Refused::Set(e)) if e.is_temporary() => {
            // Not remembered either: the retry is not a replay.
            tracing::warn!(description = %e.description, "security event not judged yet");
            let body = json!({"err": e.code, "description": e.description});
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
        Err(Refused::Set(e)) => {
            // Never the SET: only why it was refused.
            tracing::info!(err = e.code, description = %e.description, "security event refused");
            state.metrics.ssf_event("unknown", "refused");
            let body = json!({"err": e.code, "description": e.description});
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        }
        Err(Refused::Unavailable) => {
            // Not remembered: the transmitter's retry is not a replay.
            let body = json!({"err": "temporarily_unavailable", "description": "the event could not be recorded; retry"});
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

enum Refused {
    Set(SetError),
    Unavailable,
}

impl From<SetError> for Refused {
    fn from(e: SetError) -> Self {
        Self::Set(e)
    }
}

async fn accept(state: &AdminState, headers: &HeaderMap, body: &[u8]) -> Result<(), Refused> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !content_type.is_some_and(|c| c.eq_ignore_ascii_case(SET_CONTENT_TYPE)) {
        return Err(SetError::request(format!("Content-Type must be {SET_CONTENT_TYPE}")).into());
    }
    let raw = std::str::from_utf8(body).map_err(|_| SetError::request("the body is not a JWT"))?;
    let snapshot = state.authorizer.snapshot();
    let now = state.revocations.now();
    let set = verify_set(raw, &snapshot.transmitters, now).await?;
    let issuer = set.transmitter.settings.trust.issuer.clone();
    if state.security_events.contains(&issuer, &set.jti) {
        return Err(SetError::request(
            "this SET was already received (same jti); a replay changes nothing",
        )
        .into());
    }
    let leeway = set.transmitter.settings.trust.leeway.as_secs_f64();
    let planned = plan(&set, now, state.revocations.leeway())?;
    // Every event that can be acted on is, even when another cannot: a
    // refusal is final for the transmitter (RFC 8935), and the revocations
    // it carried would otherwise be lost with it.
    let mut first_refusal = None;
    for (kind, action) in planned {
        let refusal = match action {
            Ok(Action::Ignore) => {
                tracing::info!(transmitter = %issuer, event = kind.label(), "security event accepted, not acted on");
                state.metrics.ssf_event(kind.label(), "ignored");
                continue;
            }
            Ok(Action::Revoke(new)) => {
                let revocation_kind = new.kind.clone();
                match state.revocations.revoke(new).await {
                    Ok(_) => {
                        tracing::info!(transmitter = %issuer, event = kind.label(), revoked = %revocation_kind, "security event applied");
                        state.metrics.ssf_event(kind.label(), "applied");
                        continue;
                    }
                    Err(RevokeError::Invalid(e)) => {
                        SetError::request(format!("{}: {e}", kind.label()))
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "security event not stored");
                        return Err(Refused::Unavailable);
                    }
                }
            }
            Err(refusal) => refusal,
        };
        tracing::warn!(transmitter = %issuer, event = kind.label(), error = %refusal, "security event refused; the SET's other events still act");
        state.metrics.ssf_event(kind.label(), "refused");
        first_refusal.get_or_insert(refusal);
    }
    if let Some(refusal) = first_refusal {
        // Not remembered: the transmitter may send it again, fixed; the
        // revocations already made are made again, which changes nothing.
        return Err(refusal.into());
    }
    let keep_for = set.transmitter.settings.max_age.as_secs_f64() + 2.0 * leeway;
    state
        .security_events
        .remember(&issuer, &set.jti, Duration::from_secs_f64(keep_for));
    Ok(())
}
