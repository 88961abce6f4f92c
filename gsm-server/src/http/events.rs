//! `…/events`: the events agents parsed from their game servers' output, newest first, filtered
//! by host, kind, player and time, paged by event id (ids are time-ordered v7 UUIDs).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use gsm_core::job::HostId;
use gsm_proto::openapi::GameEventPage;
use gsm_proto::rest::{ErrorBody, EventPlayer, GameEvent, Page};
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::http::auth::authenticate;
use crate::http::openapi::OrgPath;
use crate::http::{ApiError, page_limit, query_instant, time};
use crate::store::games::{GameEventFilter, GameEventRecord};

/// Longest `kind` or `player` filter.
const MAX_FILTER_BYTES: usize = 256;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct EventQuery {
    /// Only this host's events.
    host: Option<Uuid>,
    /// Only events of this kind (`player_connected`, `chat`, ...).
    kind: Option<String>,
    /// Only events naming this player, by id or name.
    player: Option<String>,
    /// Only events at or after this RFC 3339 time.
    since: Option<String>,
    /// Only events before this RFC 3339 time.
    until: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<Uuid>,
    /// Events per page.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

fn filter_text(value: Option<String>, name: &str) -> Result<Option<String>, ApiError> {
    match value {
        Some(text) if text.is_empty() || text.len() > MAX_FILTER_BYTES => {
            Err(ApiError::bad_request(
                "invalid_query",
                format!("{name} must be 1-{MAX_FILTER_BYTES} bytes"),
            ))
        }
        other => Ok(other),
    }
}

fn view(record: GameEventRecord) -> GameEvent {
    let event = record.event;
    GameEvent {
        id: record.id,
        host: record.host,
        instance: event.instance,
        game: event.game,
        kind: event.kind,
        player: event.player.map(|p| EventPlayer { id: p.id, name: p.name }),
        at: time(event.at),
        data: event.data,
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/events",
    tag = "games",
    params(OrgPath, EventQuery),
    responses(
        (status = 200, description = "One page of game events, newest first.", body = GameEventPage),
        (status = 400, description = "Invalid query parameters.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/events"))]
pub(super) async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    query: Result<Query<EventQuery>, QueryRejection>,
) -> Result<Json<Page<GameEvent>>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))?;
    let limit = page_limit(query.limit)?;
    let filter = GameEventFilter {
        host: query.host.map(HostId),
        kind: filter_text(query.kind, "kind")?,
        player: filter_text(query.player, "player")?,
        since: query_instant(query.since.as_deref(), "since")?,
        until: query_instant(query.until.as_deref(), "until")?,
        before: query.cursor,
        limit,
    };
    let records = state.store.list_game_events(access.org, &filter).await?;
    let next_cursor = (records.len() == limit as usize)
        .then(|| records.last().map(|event| event.id.to_string()))
        .flatten();
    Ok(Json(Page { items: records.into_iter().map(view).collect(), next_cursor }))
}
