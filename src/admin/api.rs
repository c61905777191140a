//! `/v1/revocations`: create, list, read and lift revocations. Every call
//! is admitted per `admin` in the config (`guard`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::guard::{admit, require_json};
use super::{AdminState, ApiError};
use crate::revocation::{Kind, NewRevocation, RevokeError};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

pub async fn create(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admit(&state, &headers).await?;
    require_json(&headers)?;
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
    admit(&state, &headers).await?;
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
    admit(&state, &headers).await?;
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
    admit(&state, &headers).await?;
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
