//! `/v1/revocations`: create, list, read and lift revocations. Every call
//! is authenticated per `admin` in the config.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{AdminState, ApiError};
use crate::config::AdminAuth;
use crate::revocation::{Kind, NewRevocation, RevokeError};
use crate::token::{BearerError, TokenLimits, extract_bearer};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// Lets the call through, or says why not.
async fn authenticate(state: &AdminState, headers: &HeaderMap) -> Result<(), ApiError> {
    let runtime = state.authorizer.runtime();
    let (issuer, scope) = match &runtime.config.admin {
        AdminAuth::Unauthenticated => return Ok(()),
        AdminAuth::Disabled => {
            return Err(ApiError::forbidden(
                "access_denied",
                "the revocation API is not enabled: configure admin.issuer and admin.scope",
            ));
        }
        AdminAuth::Jwt { issuer, scope } => (issuer, scope),
    };
    let header = headers.get("authorization").and_then(|v| v.to_str().ok());
    let token = match extract_bearer(header, runtime.config.server.max_token_bytes) {
        Ok(t) => t,
        Err(BearerError::Missing) => {
            return Err(ApiError::unauthorized(
                "missing_token",
                "a bearer token is required",
            ));
        }
        Err(e) => return Err(ApiError::unauthorized("invalid_request", e.to_string())),
    };
    let claims = runtime
        .verifier
        .verify(token, TokenLimits::default())
        .await
        .map_err(|e| ApiError::unauthorized("invalid_token", e.to_string()))?;
    if claims.issuer() != issuer.as_str() {
        return Err(ApiError::unauthorized(
            "invalid_token",
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

pub async fn create(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authenticate(&state, &headers).await?;
    let new: NewRevocation =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    match state.revocations.revoke(new).await {
        Ok(stored) => Ok((StatusCode::CREATED, Json(stored)).into_response()),
        Err(RevokeError::Invalid(e)) => Err(ApiError::bad_request(e.to_string())),
        Err(RevokeError::Store(e)) => {
            tracing::error!(error = %e, "revocation not stored");
            Err(ApiError::internal("the revocation could not be stored"))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    kind: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
}

pub async fn list(
    State(state): State<AdminState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    authenticate(&state, &headers).await?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let kind = match q.kind.as_deref() {
        None => None,
        Some(k) => Some(
            Kind::parse(k)
                .ok_or_else(|| ApiError::bad_request("kind must be one of jti, sid, sub, iss"))?,
        ),
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_PAGE}"
        )));
    }
    let page = state
        .revocations
        .list(kind, q.after, limit)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({"items": page.items, "next": page.next})).into_response())
}

pub async fn get_one(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authenticate(&state, &headers).await?;
    match state
        .revocations
        .get(&id)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
    {
        Some(r) => Ok(Json(r).into_response()),
        None => Err(ApiError::not_found("no revocation with that id")),
    }
}

pub async fn delete(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authenticate(&state, &headers).await?;
    match state
        .revocations
        .lift(&id)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
    {
        true => Ok(StatusCode::NO_CONTENT.into_response()),
        false => Err(ApiError::not_found("no revocation with that id")),
    }
}
