//! `…/hosts`: create (with a one-time join token), list, get (with presence and the last
//! heartbeat), delete (which revokes the credential and disconnects the agent at once), and
//! `…/hosts/{host}/join-tokens` to re-enroll a host (the new credential replaces the old), and
//! `…/hosts/{host}/metrics`, the per-minute heartbeat history (`store::metrics`).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use gsm_core::job::HostId;
use gsm_proto::openapi::HostPage;
use gsm_proto::rest::{
    CreateHost, ErrorBody, Host, HostCreated, HostMetricPoint, HostMetrics, Page, PlayerSeen,
};
use jiff::Timestamp;
use serde::Deserialize;

use crate::app::AppState;
use crate::http::auth::{Action, ClientIp, authenticate};
use crate::http::openapi::{HostPath, IdempotencyKey, OrgPath};
use crate::http::{ApiError, idempotency_key, page_limit, query_instant, query_text, time};
use crate::secrets;
use crate::store::metrics::{MetricPoint, RETENTION};
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

/// The API view of a stored host, with what this process knows live. The allowed programs are
/// left out of its facts (they can be long): `GET …/hosts/{host}` shows them as `allowed_programs`.
pub(crate) fn view(state: &AppState, mut record: HostRecord) -> Host {
    if let Some(facts) = record.facts.as_mut() {
        facts.allowed_programs = Vec::new();
    }
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
        allowed_programs: Vec::new(),
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
        (status = 200, description = "The host, with presence, its last heartbeat (game status: up, version, players online, world time), the players its games have seen and the programs its policy allows.", body = Host),
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
    let allowed_programs =
        record.facts.as_ref().map(|facts| facts.allowed_programs.clone()).unwrap_or_default();
    let mut host = view(&state, record);
    host.allowed_programs = allowed_programs;
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct MetricsQuery {
    /// The range's start, RFC 3339 (inclusive; default: 24 hours before `until`).
    since: Option<String>,
    /// The range's end, RFC 3339 (exclusive; default: now).
    until: Option<String>,
}

/// The range `GET …/metrics` answers when none is given.
const DEFAULT_METRICS_RANGE: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// The `[since, until)` a metrics query asks for: defaults filled in, at most [`RETENTION`] long.
fn metrics_range(query: &MetricsQuery, now: Timestamp) -> Result<(Timestamp, Timestamp), ApiError> {
    let until = query_instant(query.until.as_deref(), "until")?.unwrap_or(now);
    let since = match query_instant(query.since.as_deref(), "since")? {
        Some(since) => since,
        None => until.checked_sub(DEFAULT_METRICS_RANGE).map_err(|_| out_of_range())?,
    };
    if since >= until {
        return Err(ApiError::bad_request("invalid_range", "since must be before until"));
    }
    if until.duration_since(since) > RETENTION {
        return Err(ApiError::bad_request(
            "invalid_range",
            "the range may span at most 7 days (metrics are kept 7 days)",
        ));
    }
    Ok((since, until))
}

fn out_of_range() -> ApiError {
    ApiError::bad_request("invalid_range", "until is too early to compute a default since")
}

fn metric_view(point: MetricPoint) -> HostMetricPoint {
    HostMetricPoint {
        at: time(point.minute),
        samples: point.samples,
        cpu_load: point.load_avg,
        cpu_load_max: point.load_max,
        memory_used_bytes: point.memory_used,
        memory_total_bytes: point.memory_total,
        disk_used_bytes: point.disk_used,
        disk_total_bytes: point.disk_total,
        players_online: point.players,
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/hosts/{host}/metrics",
    tag = "hosts",
    params(HostPath, MetricsQuery),
    responses(
        (status = 200, description = "The host's heartbeat metrics per minute in `[since, until)`, oldest first (kept 7 days).", body = HostMetrics),
        (status = 400, description = "A time is not RFC 3339, `since` is not before `until`, or the range spans more than 7 days.", body = ErrorBody),
        (status = 404, description = "No such org or host for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/hosts/{host}/metrics"))]
pub(super) async fn metrics(
    State(state): State<AppState>,
    Path((org, host)): Path<(String, String)>,
    headers: HeaderMap,
    query: Result<Query<MetricsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<HostMetrics>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))?;
    let (since, until) = metrics_range(&query, Timestamp::now())?;
    // The host must be the org's and live: another org's host is a 404, not an empty history.
    let record = state.store.get_host(access.org, parse_host(&host)?).await?;
    let points = state.store.host_metrics(access.org, record.id, since, until).await?;
    Ok(Json(HostMetrics {
        host: record.id,
        since: time(since),
        until: time(until),
        points: points.into_iter().map(metric_view).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(since: Option<&str>, until: Option<&str>) -> Result<(String, String), String> {
        let now: Timestamp = "2026-01-31T12:00:00Z".parse().unwrap();
        let query =
            MetricsQuery { since: since.map(str::to_owned), until: until.map(str::to_owned) };
        metrics_range(&query, now)
            .map(|(since, until)| (since.to_string(), until.to_string()))
            .map_err(|err| err.code().to_owned())
    }

    #[test]
    fn a_metrics_range_defaults_to_the_last_day_and_spans_at_most_seven() {
        let ok = |a: &str, b: &str| Ok((a.to_owned(), b.to_owned()));
        assert_eq!(check(None, None), ok("2026-01-30T12:00:00Z", "2026-01-31T12:00:00Z"));
        assert_eq!(
            check(None, Some("2026-01-10T00:00:00Z")),
            ok("2026-01-09T00:00:00Z", "2026-01-10T00:00:00Z")
        );
        assert_eq!(
            check(Some("2026-01-24T12:00:00Z"), None),
            ok("2026-01-24T12:00:00Z", "2026-01-31T12:00:00Z")
        );
        assert_eq!(check(Some("2026-01-24T11:59:59Z"), None), Err("invalid_range".to_owned()));
        assert_eq!(check(Some("2026-01-31T12:00:00Z"), None), Err("invalid_range".to_owned()));
        assert_eq!(check(Some("yesterday"), None), Err("invalid_query".to_owned()));
        assert_eq!(check(None, Some("2026-01-31")), Err("invalid_query".to_owned()));
    }
}
