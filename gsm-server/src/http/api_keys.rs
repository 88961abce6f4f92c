//! `…/api-keys`: create (the full key is shown once), list (by prefix, with last use), revoke.
//! A key's role is at most its creator's.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use gsm_proto::openapi::ApiKeyPage;
use gsm_proto::rest::{ApiKey, ApiKeyCreated, CreateApiKey, ErrorBody, Page};
use jiff::Timestamp;
use serde::Deserialize;

use crate::app::AppState;
use crate::http::auth::{Action, ClientIp, authenticate};
use crate::http::members::parse_role;
use crate::http::openapi::{ApiKeyPath, OrgPath};
use crate::http::users::body;
use crate::http::{ApiError, list_query, next_cursor, page_limit, time};
use crate::secrets;
use crate::store::ApiKeyRecord;

/// `?cursor=&limit=`: API keys are paged by the id of the last key.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct KeyPageQuery {
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9a-f]{16}$")]
    cursor: Option<String>,
    /// Keys per page.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Whether `id` has the shape of a key id: 16 hex digits.
fn is_key_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn view(key: ApiKeyRecord) -> ApiKey {
    ApiKey {
        prefix: format!("{}{}_", secrets::API_KEY_PREFIX, key.key_id),
        id: key.key_id,
        name: key.name,
        role: key.role,
        created_at: time(key.created_at),
        last_used_at: key.last_used_at.map(time),
        expires_at: key.expires_at.map(time),
        revoked: key.revoked_at.is_some(),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/api-keys",
    tag = "api-keys",
    params(OrgPath),
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "The key, with its full secret (shown once).", body = ApiKeyCreated),
        (status = 400, description = "The body is not a `CreateApiKey`.", body = ErrorBody),
        (status = 403, description = "The role may not manage API keys, or the key's role is above it.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
        (status = 422, description = "Invalid name, unknown role, or an expiry that is not a future RFC 3339 time.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/orgs/{org}/api-keys"))]
pub(super) async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
    request: Result<Json<CreateApiKey>, JsonRejection>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageApiKeys)?;
    let request = body(request)?;
    if request.name.trim().is_empty()
        || request.name.len() > 64
        || request.name.chars().any(char::is_control)
    {
        return Err(ApiError::unprocessable("invalid_name", "a key name is 1-64 characters"));
    }
    let role = parse_role(&request.role)?;
    access.require_grant(role)?;
    let now = Timestamp::now();
    let expires_at = match &request.expires_at {
        None => None,
        Some(text) => {
            let at: Timestamp = text.parse().map_err(|_| {
                ApiError::unprocessable("invalid_expiry", "expires_at must be an RFC 3339 time")
            })?;
            if at <= now {
                return Err(ApiError::unprocessable(
                    "invalid_expiry",
                    "expires_at must be in the future",
                ));
            }
            Some(at)
        }
    };
    let key = secrets::new_api_key();
    let record = ApiKeyRecord {
        key_id: key.key_id,
        org: access.org,
        name: request.name.trim().to_owned(),
        role: role.as_str().to_owned(),
        secret_hash: key.secret_hash,
        created_at: now,
        revoked_at: None,
        created_by: access.user(),
        expires_at,
        last_used_at: None,
    };
    let audit = access.audit(&client, "api_key.create", "api_key", &record.key_id);
    state.store.create_api_key_audited(&record, &audit).await?;
    Ok((StatusCode::CREATED, Json(ApiKeyCreated { api_key: view(record), key: key.full })))
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/api-keys",
    tag = "api-keys",
    params(OrgPath, KeyPageQuery),
    responses(
        (status = 200, description = "One page of API keys, newest first, without their secrets.", body = ApiKeyPage),
        (status = 400, description = "Invalid query parameters.", body = ErrorBody),
        (status = 403, description = "The role may not manage API keys.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/api-keys"))]
pub(super) async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    query: Result<Query<KeyPageQuery>, QueryRejection>,
) -> Result<Json<Page<ApiKey>>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageApiKeys)?;
    let query = list_query(query)?;
    let limit = page_limit(query.limit)?;
    if query.cursor.as_deref().is_some_and(|cursor| !is_key_id(cursor)) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "cursor must be the next_cursor of the previous page (16 hex digits)",
        ));
    }
    let keys = state.store.list_api_keys(access.org, query.cursor.as_deref(), limit).await?;
    let next_cursor = next_cursor(&keys, limit, |key| key.key_id.clone());
    Ok(Json(Page { items: keys.into_iter().map(view).collect(), next_cursor }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}/api-keys/{key}",
    tag = "api-keys",
    params(ApiKeyPath),
    responses(
        (status = 204, description = "Revoked (revoking a revoked key changes nothing)."),
        (status = 403, description = "The role may not manage API keys.", body = ErrorBody),
        (status = 404, description = "No such key in this org.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "DELETE /api/v1/orgs/{org}/api-keys/{key}"))]
pub(super) async fn revoke(
    State(state): State<AppState>,
    Path((org, key)): Path<(String, String)>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageApiKeys)?;
    // Key ids are 16 hex digits; anything else names no key.
    if !is_key_id(&key) {
        return Err(ApiError::not_found("api key"));
    }
    let audit = access.audit(&client, "api_key.revoke", "api_key", &key);
    state.store.revoke_api_key(access.org, &key, &audit).await?;
    state.auth.forget_key(&key);
    Ok(StatusCode::NO_CONTENT)
}
