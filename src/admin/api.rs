//! `/v1/revocations`: create, list, read and lift revocations. Every call
//! is admitted per `admin` in the config (`guard`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::guard::{admit, require_json};
use super::{AdminState, ApiError};
use crate::revocation::{Kind, NewRevocation, RevokeError};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// Entries one batch may carry.
pub const MAX_BATCH: usize = 10_000;
/// A batch body's size limit: 10,000 ordinary entries fit many times over.
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Each entry is read on its own, so one bad entry is refused alone.
    revocations: Vec<Value>,
}

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

/// `POST /v1/revocations/batch`: up to 10,000 revocations, each validated
/// and answered on its own (`201` with its id, or `400` with why), stored
/// with one fsync and pushed to Redis in one pipeline.
pub async fn create_many(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admit(&state, &headers).await?;
    require_json(&headers)?;
    let batch: Batch =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    if batch.revocations.is_empty() || batch.revocations.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "revocations must list 1 to {MAX_BATCH} entries"
        )));
    }
    let mut unreadable = Vec::new();
    let mut readable = Vec::new();
    for (i, entry) in batch.revocations.into_iter().enumerate() {
        match serde_json::from_value::<NewRevocation>(entry) {
            Ok(new) => readable.push((i, new)),
            Err(e) => unreadable.push((i, e.to_string())),
        }
    }
    let (positions, news): (Vec<usize>, Vec<NewRevocation>) = readable.into_iter().unzip();
    let outcomes = state.revocations.revoke_many(news).await.map_err(|e| {
        tracing::error!(error = %e, "revocation batch not stored");
        ApiError::internal("the revocations could not be stored")
    })?;
    let mut results = vec![Value::Null; positions.len() + unreadable.len()];
    for (i, why) in unreadable {
        results[i] = json!({"status": 400, "error": "invalid_request", "error_description": why});
    }
    for (i, outcome) in positions.into_iter().zip(outcomes) {
        results[i] = match outcome {
            Ok(stored) => json!({"status": 201, "id": stored.id}),
            Err(e) => {
                json!({"status": 400, "error": "invalid_request", "error_description": e.to_string()})
            }
        };
    }
    let created = results.iter().filter(|r| r["status"] == 201).count();
    let refused = results.len() - created;
    Ok(Json(json!({"created": created, "refused": refused, "results": results})).into_response())
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
