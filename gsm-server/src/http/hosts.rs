//! `…/hosts`: create (with a one-time join token), list, get (with presence and the last
//! heartbeat), delete (which revokes the credential and disconnects the agent at once).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use gsm_core::job::HostId;
use gsm_proto::rest::{CreateHost, Host, HostCreated, Page};
use jiff::Timestamp;
use serde::Deserialize;

use crate::app::AppState;
use crate::http::auth::{Action, authenticate};
use crate::http::{ApiError, idempotency_key, page_limit, time};
use crate::secrets;
use crate::store::{Created, HostRecord, NewHost};

const MAX_LABELS: usize = 32;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

/// The API view of a stored host, with what this process knows live.
pub(crate) fn view(state: &AppState, record: HostRecord) -> Host {
    let presence = state.presence().status(record.id);
    let live = state.heartbeats().latest.get(&record.id).cloned();
    let (last_heartbeat_at, last_heartbeat) = match live {
        Some((at, beat)) => (Some(at), Some(beat)),
        None => (record.last_heartbeat_at, record.last_heartbeat),
    };
    Host {
        id: record.id,
        name: record.name,
        labels: record.labels,
        created_at: time(record.created_at),
        enrolled: record.enrolled_at.is_some(),
        connected: state.agents.is_connected(record.id),
        presence,
        last_heartbeat_at: last_heartbeat_at.map(time),
        last_heartbeat,
        facts: record.facts,
    }
}

fn validate(request: &CreateHost) -> Result<(), ApiError> {
    let name_ok = !request.name.is_empty()
        && request.name.len() <= 64
        && request.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !name_ok {
        return Err(ApiError::unprocessable(
            "invalid_host_name",
            "a host name is 1-64 letters, digits, '-', '_' or '.'",
        ));
    }
    if request.labels.len() > MAX_LABELS
        || request.labels.iter().any(|(k, v)| k.is_empty() || k.len() > 63 || v.len() > 255)
    {
        return Err(ApiError::unprocessable(
            "invalid_labels",
            format!("at most {MAX_LABELS} labels; keys 1-63 bytes, values at most 255"),
        ));
    }
    Ok(())
}

#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/orgs/{org}/hosts"))]
pub(super) async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Result<Json<CreateHost>, JsonRejection>,
) -> Result<(StatusCode, Json<HostCreated>), ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageHosts)?;
    let Json(request) =
        body.map_err(|err| ApiError::bad_request("invalid_request", err.body_text()))?;
    validate(&request)?;
    let key = idempotency_key(&headers)?;
    let token = secrets::random_token();
    let now = Timestamp::now();
    let ttl = jiff::SignedDuration::try_from(state.settings.join_token_ttl)
        .map_err(ApiError::internal)?;
    let expires = now.checked_add(ttl).map_err(ApiError::internal)?;
    let new = NewHost {
        id: HostId::new(),
        name: request.name,
        labels: request.labels,
        idempotency_key: key,
        join_token_hash: secrets::hash(&token),
        join_token_expires_at: expires,
        now,
    };
    let (record, created) =
        state.store.create_host(access.org, &new).await.map_err(|err| match err {
            crate::store::StoreError::Conflict { .. } => ApiError::conflict(
                "host_name_taken",
                format!("a host named {:?} already exists in this org", new.name),
            ),
            other => other.into(),
        })?;
    match created {
        Created::New => {
            tracing::info!(org.id = %access.org, host.id = %record.id, "host created");
            Ok((
                StatusCode::CREATED,
                Json(HostCreated {
                    host: view(&state, record),
                    join_token: token,
                    join_token_expires_at: time(expires),
                }),
            ))
        }
        // The join token was shown to the first request only; a repeat cannot show it again.
        Created::Existing => Err(ApiError::conflict(
            "idempotent_replay",
            format!(
                "host {} was already created with this Idempotency-Key; its join token was shown once — \
                 fetch the host with GET …/hosts/{}, or delete it and create it again for a new token",
                record.id, record.id
            ),
        )),
    }
}

#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/hosts"))]
pub(super) async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<Host>>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))?;
    let limit = page_limit(query.limit)?;
    let records = state.store.list_hosts(access.org, query.cursor.as_deref(), limit).await?;
    let next_cursor =
        (records.len() == limit as usize).then(|| records.last().map(|h| h.name.clone())).flatten();
    let items = records.into_iter().map(|record| view(&state, record)).collect();
    Ok(Json(Page { items, next_cursor }))
}

fn parse_host(id: &str) -> Result<HostId, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("host"))
}

#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/hosts/{host}"))]
pub(super) async fn get(
    State(state): State<AppState>,
    Path((org, host)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Host>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let record = state.store.get_host(access.org, parse_host(&host)?).await?;
    Ok(Json(view(&state, record)))
}

#[tracing::instrument(skip_all, fields(http.route = "DELETE /api/v1/orgs/{org}/hosts/{host}"))]
pub(super) async fn delete(
    State(state): State<AppState>,
    Path((org, host)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageHosts)?;
    let host = parse_host(&host)?;
    state.store.delete_host(access.org, host, Timestamp::now()).await?;
    state.agents.disconnect(host);
    state.presence().remove(host);
    state.heartbeats().latest.remove(&host);
    tracing::info!(org.id = %access.org, host.id = %host, "host deleted");
    Ok(StatusCode::NO_CONTENT)
}
