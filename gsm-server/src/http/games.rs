//! `…/hosts/{host}/games`: a host's game servers (list, get, put, delete), validated against the
//! game type's config schema, and `GET /api/v1/game-types`, the registry with those schemas.
//!
//! A change is pushed to the host's agent at once as a whole `game_config` (read back after the
//! commit, so the agent always gets a state the store held); an agent that is offline gets it on
//! its next connect. Settings name where the console password is read on the agent's host, never
//! the password, so nothing here ever holds one.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use gsm_core::adapters::config::{self, GAME_TYPES, GameInstance};
use gsm_core::heartbeat::MAX_GAMES;
use gsm_core::job::HostId;
use gsm_proto::agent::{GameConfig, ServerMessage};
use gsm_proto::rest::{ErrorBody, Game, GameList, GameTypeInfo, GameTypeList, PutGame};

use crate::app::AppState;
use crate::http::auth::{Action, ClientIp, authenticate};
use crate::http::openapi::{GamePath, HostPath};
use crate::http::{ApiError, time};
use crate::store::Created;
use crate::store::games::GameRecord;

fn view(record: GameRecord) -> Game {
    Game {
        host: record.host,
        name: record.instance.name,
        game: record.instance.game,
        settings: record.instance.settings,
        created_at: time(record.created_at),
        updated_at: time(record.updated_at),
    }
}

fn parse_host(id: &str) -> Result<HostId, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("host"))
}

/// Pushes the host's whole game config to its agent, if it is connected.
pub(crate) async fn push_config(state: &AppState, host: HostId) {
    match state.store.games_for_host(host).await {
        Ok(games) => {
            // Offline: the agent gets the config with its next welcome.
            let _ = state.agents.send(host, ServerMessage::GameConfig(GameConfig { games }));
        }
        Err(err) => {
            tracing::warn!(host.id = %host, error = %err, "could not read the game config to push; the agent gets it on reconnect");
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/game-types",
    tag = "games",
    responses(
        (status = 200, description = "Every game type an agent can run, with the JSON Schema of its settings.", body = GameTypeList),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/game-types"))]
pub(super) async fn types() -> Json<GameTypeList> {
    let items = GAME_TYPES
        .iter()
        .map(|game| GameTypeInfo {
            name: game.name.to_owned(),
            description: game.description.to_owned(),
            config_schema: game.config_schema(),
        })
        .collect();
    Json(GameTypeList { items })
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/hosts/{host}/games",
    tag = "games",
    params(HostPath),
    responses(
        (status = 200, description = "The host's game servers, by name.", body = GameList),
        (status = 404, description = "No such org or host for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/hosts/{host}/games"))]
pub(super) async fn list(
    State(state): State<AppState>,
    Path((org, host)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<GameList>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let records = state.store.list_games(access.org, parse_host(&host)?).await?;
    Ok(Json(GameList { items: records.into_iter().map(view).collect() }))
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/hosts/{host}/games/{game}",
    tag = "games",
    params(GamePath),
    responses(
        (status = 200, description = "The game server.", body = Game),
        (status = 404, description = "No such org, host or game for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/hosts/{host}/games/{game}"))]
pub(super) async fn get(
    State(state): State<AppState>,
    Path((org, host, game)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Game>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let record = state.store.get_game(access.org, parse_host(&host)?, &game).await?;
    Ok(Json(view(record)))
}

#[utoipa::path(
    put,
    path = "/api/v1/orgs/{org}/hosts/{host}/games/{game}",
    tag = "games",
    params(GamePath),
    request_body = PutGame,
    responses(
        (status = 201, description = "The game server was configured; its agent is told at once.", body = Game),
        (status = 200, description = "The game server's config was replaced; its agent is told at once.", body = Game),
        (status = 400, description = "The body is not a `PutGame`.", body = ErrorBody),
        (status = 403, description = "The role may not configure game servers.", body = ErrorBody),
        (status = 404, description = "No such org or host for this credential.", body = ErrorBody),
        (status = 409, description = "The host already has the most game servers allowed.", body = ErrorBody),
        (status = 422, description = "The name, the type or a setting is invalid; the message names the field.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "PUT /api/v1/orgs/{org}/hosts/{host}/games/{game}"))]
pub(super) async fn put(
    State(state): State<AppState>,
    Path((org, host, game)): Path<(String, String, String)>,
    client: ClientIp,
    headers: HeaderMap,
    body: Result<Json<PutGame>, JsonRejection>,
) -> Result<(StatusCode, Json<Game>), ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageGames)?;
    let host = parse_host(&host)?;
    let Json(request) =
        body.map_err(|err| ApiError::bad_request("invalid_request", err.body_text()))?;
    let instance = GameInstance { name: game, game: request.game, settings: request.settings };
    instance.validate().map_err(|err| {
        let code = match err {
            config::ConfigError::UnknownType(_) => "unknown_game_type",
            _ => "invalid_game_config",
        };
        ApiError::unprocessable(code, err.to_string())
    })?;
    let existing = state.store.list_games(access.org, host).await?;
    if existing.len() >= MAX_GAMES && !existing.iter().any(|g| g.instance.name == instance.name) {
        return Err(ApiError::conflict(
            "too_many_games",
            format!("a host has at most {MAX_GAMES} game servers; delete one first"),
        ));
    }
    let audit = access.audit(&client, "game.put", "game", format!("{host}/{}", instance.name));
    let (record, created) = state.store.put_game(access.org, host, &instance, &audit).await?;
    tracing::info!(org.id = %access.org, host.id = %host, game = %instance.name, "game configured");
    push_config(&state, host).await;
    let status = match created {
        Created::New => StatusCode::CREATED,
        Created::Existing => StatusCode::OK,
    };
    Ok((status, Json(view(record))))
}

#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}/hosts/{host}/games/{game}",
    tag = "games",
    params(GamePath),
    responses(
        (status = 204, description = "Removed; the agent stops its adapter at once."),
        (status = 403, description = "The role may not configure game servers.", body = ErrorBody),
        (status = 404, description = "No such org, host or game for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "DELETE /api/v1/orgs/{org}/hosts/{host}/games/{game}"))]
pub(super) async fn delete(
    State(state): State<AppState>,
    Path((org, host, game)): Path<(String, String, String)>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageGames)?;
    let host = parse_host(&host)?;
    let audit = access.audit(&client, "game.delete", "game", format!("{host}/{game}"));
    state.store.delete_game(access.org, host, &game, &audit).await?;
    tracing::info!(org.id = %access.org, host.id = %host, game = %game, "game removed");
    push_config(&state, host).await;
    Ok(StatusCode::NO_CONTENT)
}
