//! `/v1/revocations`: create, list, read and lift revocations. Every call
//! is admitted per `admin` in the config (`guard`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;

use super::guard::{admit, read_body, require_json};
use super::{AdminState, ApiError};
use crate::revocation::{Kind, NewRevocation, RevokeError, StoreError};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// Entries one batch may carry.
pub const MAX_BATCH: usize = 10_000;
/// A batch body's size limit: 10,000 ordinary entries fit many times over.
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// A single revocation's body limit: its fields take under 3 KiB.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;

/// A batch body; each entry is kept as raw JSON, borrowed from the body,
/// and read on its own, so one bad entry is refused alone.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch<'a> {
    #[serde(borrow)]
    revocations: Vec<&'a RawValue>,
}

pub async fn create(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    admit(&state, &headers).await?;
    require_json(&headers)?;
    let body = read_body(&state, body, MAX_ENTRY_BYTES).await?;
    let new: NewRevocation =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    names_a_configured_issuer(&state, &new).map_err(ApiError::bad_request)?;
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
    body: Body,
) -> Result<Response, ApiError> {
    admit(&state, &headers).await?;
    require_json(&headers)?;
    let body = read_body(&state, body, MAX_BATCH_BYTES).await?;
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
        match serde_json::from_str::<NewRevocation>(entry.get()) {
            Ok(new) => match names_a_configured_issuer(&state, &new) {
                Ok(()) => readable.push((i, new)),
                Err(why) => unreadable.push((i, why)),
            },
            Err(e) => unreadable.push((i, e.to_string())),
        }
    }
    let (positions, news): (Vec<usize>, Vec<NewRevocation>) = readable.into_iter().unzip();
    let outcomes = state.revocations.revoke_many(news).await.map_err(|e| {
        tracing::error!(error = %e, "revocation batch not stored");
        ApiError::internal("the revocations could not be stored")
    })?;
    let mut results: Vec<EntryOutcome> = (0..positions.len() + unreadable.len())
        .map(|_| EntryOutcome::refused(String::new()))
        .collect();
    for (i, why) in unreadable {
        results[i] = EntryOutcome::refused(why);
    }
    for (i, outcome) in positions.into_iter().zip(outcomes) {
        results[i] = match outcome {
            Ok(id) => EntryOutcome::created(id),
            Err(e) => EntryOutcome::refused(e.to_string()),
        };
    }
    let created = results.iter().filter(|r| r.status == 201).count();
    let refused = results.len() - created;
    Ok(Json(BatchAnswer {
        created,
        refused,
        results,
    })
    .into_response())
}

/// A revocation bound to an issuer no configured issuer is spelled as
/// (`https://idp.example/` for `https://idp.example`) would match no token
/// and say nothing: refused, naming what was asked. Checked here, at the
/// API, not for entries from other replicas, whose issuers may differ
/// during a rollout.
fn names_a_configured_issuer(state: &AdminState, new: &NewRevocation) -> Result<(), String> {
    let issuer = match (Kind::parse(&new.kind), new.issuer.as_deref()) {
        (Some(Kind::Iss), _) => &new.value,
        (_, Some(issuer)) => issuer,
        _ => return Ok(()),
    };
    if state.authorizer.snapshot().verifier.trust(issuer).is_some() {
        return Ok(());
    }
    Err(format!(
        "{issuer:?} is not a configured issuer, so no token would match; issuers are matched exactly as configured"
    ))
}

/// The answer to a batch: plain structs, not JSON trees, so a 10,000-entry
/// answer costs little to build.
#[derive(Serialize)]
struct BatchAnswer {
    created: usize,
    refused: usize,
    results: Vec<EntryOutcome>,
}

#[derive(Serialize)]
struct EntryOutcome {
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<String>,
}

impl EntryOutcome {
    fn created(id: String) -> Self {
        Self {
            status: 201,
            id: Some(id),
            error: None,
            error_description: None,
        }
    }

    fn refused(why: String) -> Self {
        Self {
            status: 400,
            id: None,
            error: Some("invalid_request"),
            error_description: Some(why),
        }
    }
}

/// A store failure: logged here, and answered without its details.
fn store_failed(error: StoreError) -> ApiError {
    tracing::error!(%error, "revocation store failed");
    ApiError::internal("the revocation store failed")
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
        .map_err(store_failed)?;
    Ok(Json(json!({"items": page.items, "next": page.next})).into_response())
}

pub async fn get_one(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    admit(&state, &headers).await?;
    match state.revocations.get(&id).await.map_err(store_failed)? {
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
    match state.revocations.lift(&id).await.map_err(store_failed)? {
        true => Ok(StatusCode::NO_CONTENT.into_response()),
        false => Err(ApiError::not_found("no revocation with that id")),
    }
}
