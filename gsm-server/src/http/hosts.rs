//! `…/hosts`: create (with a one-time join token), list, get (with presence and the last
//! heartbeat), delete (which revokes the credential and disconnects the agent at once), and
//! `…/hosts/{host}/join-tokens` to re-enroll a host (the new credential replaces the old).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use gsm_core::job::HostId;
use gsm_proto::openapi::HostPage;
use gsm_proto::rest::{CreateHost, ErrorBody, Host, HostCreated, Page, PlayerSeen};
use jiff::Timestamp;
use serde::Deserialize;

use crate::app::AppState;
use crate::http::auth::{Action, ClientIp, authenticate};
use crate::http::openapi::{HostPath, IdempotencyKey, OrgPath};
use crate::http::{ApiError, idempotency_key, page_limit, query_text, time};
use crate::secrets;
use crate::store::{Created, HostRecord, NewHost};

const MAX_LABELS: usize = 32;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Hosts per page.
    #[param(minimum = 1, maximum = 500)]
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
        players: Vec::new(),
    }
}

/// Most players `GET …/hosts/{host}` shows.
const MAX_PLAYERS_SHOWN: u32 = 200;

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

#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/hosts",
    tag = "hosts",
    params(OrgPath, IdempotencyKey),
    request_body = CreateHost,
    responses(
        (status = 201, description = "The host, with its one-time join token.", body = HostCreated),
        (status = 200, description = "A repeat (same `Idempotency-Key`): the same host with a fresh join token; the earlier token stops working.", body = HostCreated),
        (status = 400, description = "The body is not a `CreateHost`, or the `Idempotency-Key` is invalid.", body = ErrorBody),
        (status = 403, description = "The role may not manage hosts.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
        (status = 409, description = "A host with this name exists in the org.", body = ErrorBody),
        (status = 422, description = "Invalid name or labels.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/orgs/{org}/hosts"))]
pub(super) async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
    body: Result<Json<CreateHost>, JsonRejection>,
) -> Result<(StatusCode, Json<HostCreated>), ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageHosts)?;
    let Json(request) =
        body.map_err(|err| ApiError::bad_request("invalid_request", err.body_text()))?;
    validate(&request)?;
    let key = idempotency_key(&headers)?;
    let token = secrets::join_token();
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
    let audit = access.audit(&client, "host.create", "host", new.id);
    let (record, created) =
        state.store.create_host(access.org, &new, &audit).await.map_err(|err| match err {
            crate::store::StoreError::Conflict { .. } => ApiError::conflict(
                "host_name_taken",
                format!("a host named {:?} already exists in this org", new.name),
            ),
            other => other.into(),
        })?;
    let status = match created {
        Created::New => {
            tracing::info!(org.id = %access.org, host.id = %record.id, "host created");
            StatusCode::CREATED
        }
        // A repeat of a request whose answer was lost: the client never saw the first join token,
        // so it gets the same host with a fresh token, and the first token stops working.
        Created::Existing => {
            let audit = access.audit(&client, "host.join_token.create", "host", record.id);
            state
                .store
                .issue_join_token(access.org, record.id, new.join_token_hash, expires, now, &audit)
                .await?;
            StatusCode::OK
        }
    };
    let created = HostCreated {
        host: view(&state, record),
        join_token: token,
        join_token_expires_at: time(expires),
    };
    Ok((status, Json(created)))
}

#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/hosts/{host}/join-tokens",
    tag = "hosts",
    params(HostPath),
    responses(
        (status = 201, description = "A fresh join token to re-enroll the host; its credential is replaced on enrollment.", body = HostCreated),
        (status = 403, description = "The role may not manage hosts.", body = ErrorBody),
        (status = 404, description = "No such org or host for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/orgs/{org}/hosts/{host}/join-tokens"))]
pub(super) async fn new_join_token(
    State(state): State<AppState>,
    Path((org, host)): Path<(String, String)>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<HostCreated>), ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageHosts)?;
    let host = parse_host(&host)?;
    let token = secrets::join_token();
    let now = Timestamp::now();
    let expires = expiry(&state, now)?;
    let audit = access.audit(&client, "host.join_token.create", "host", host);
    let hash = secrets::hash(&token);
    state.store.issue_join_token(access.org, host, hash, expires, now, &audit).await?;
    let record = state.store.get_host(access.org, host).await?;
    tracing::info!(org.id = %access.org, host.id = %host, "join token issued");
    let created = HostCreated {
        host: view(&state, record),
        join_token: token,
        join_token_expires_at: time(expires),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

fn expiry(state: &AppState, now: Timestamp) -> Result<Timestamp, ApiError> {
    let ttl = jiff::SignedDuration::try_from(state.settings.join_token_ttl)
        .map_err(ApiError::internal)?;
    now.checked_add(ttl).map_err(ApiError::internal)
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/hosts",
    tag = "hosts",
    params(OrgPath, ListQuery),
    responses(
        (status = 200, description = "One page of hosts, by name.", body = HostPage),
        (status = 400, description = "Invalid query parameters.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
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
    query_text(query.cursor.as_deref(), "cursor")?;
    let records = state.store.list_hosts(access.org, query.cursor.as_deref(), limit).await?;
    let next_cursor =
        (records.len() == limit as usize).then(|| records.last().map(|h| h.name.clone())).flatten();
    let items = records.into_iter().map(|record| view(&state, record)).collect();
    Ok(Json(Page { items, next_cursor }))
}

/// Cuts a deleted host's agent and drops what this process knew of it live.
pub(super) fn forget(state: &AppState, host: HostId) {
    state.agents.disconnect(host);
    state.presence().remove(host);
    state.heartbeats().latest.remove(&host);
    state.alerts.forget_host(host);
}

fn parse_host(id: &str) -> Result<HostId, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("host"))
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/hosts/{host}",
    tag = "hosts",
    params(HostPath),
    responses(
        (status = 200, description = "The host, with presence, its last heartbeat (game status: up, version, players online, world time) and the players its games have seen.", body = Host),
        (status = 404, description = "No such org or host for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/hosts/{host}"))]
pub(super) async fn get(
    State(state): State<AppState>,
    Path((org, host)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Host>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let record = state.store.get_host(access.org, parse_host(&host)?).await?;
    let players = state.store.host_players(access.org, record.id, MAX_PLAYERS_SHOWN).await?;
    let mut host = view(&state, record);
    host.players = players
        .into_iter()
        .map(|seen| PlayerSeen {
            instance: seen.instance,
            id: seen.player.id,
            name: seen.player.name,
            online: seen.online,
            first_seen_at: time(seen.first_seen_at),
            last_seen_at: time(seen.last_seen_at),
        })
        .collect();
    Ok(Json(host))
}

#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}/hosts/{host}",
    tag = "hosts",
    params(HostPath),
    responses(
        (status = 204, description = "Deleted; its credential is revoked and its agent disconnected."),
        (status = 403, description = "The role may not manage hosts.", body = ErrorBody),
        (status = 404, description = "No such org or host for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "DELETE /api/v1/orgs/{org}/hosts/{host}"))]
pub(super) async fn delete(
    State(state): State<AppState>,
    Path((org, host)): Path<(String, String)>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageHosts)?;
    let host = parse_host(&host)?;
    let audit = access.audit(&client, "host.delete", "host", host);
    state.store.delete_host(access.org, host, audit.at, &audit).await?;
    forget(&state, host);
    tracing::info!(org.id = %access.org, host.id = %host, "host deleted");
    Ok(StatusCode::NO_CONTENT)
}
