//! The REST API under `/api/v1`, plus `/healthz`, `/readyz` and `/metrics`, and the dashboard
//! (`web`) for every other path.
//!
//! Every org resource lives under `/api/v1/orgs/{org}/…` and every handler starts by
//! authenticating the caller for that org ([`auth::authenticate`]), so a route cannot forget it.
//! Bodies are validated before anything is stored; errors are [`ApiError`]s.

mod alert_rules;
mod alerts;
mod api_keys;
mod audit;
pub mod auth;
mod discord_bot;
mod error;
mod events;
pub(crate) mod games;
mod health;
pub(crate) mod hosts;
mod invites;
pub(crate) mod jobs;
mod logs;
mod members;
mod notifications;
mod openapi;
mod orgs;
pub mod rate_limit;
mod schedules;
mod settings;
mod stream;
mod users;
pub(crate) mod views;
pub mod web;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{delete, get, patch, post};
use gsm_proto::agent::{
    HostFacts, MAX_ALLOWED_PROGRAMS, MAX_PROGRAM_SLOTS, MAX_PROGRAM_TEXT_BYTES, MAX_SLOT_VALUES,
    program_fits,
};

use crate::app::AppState;

pub use error::ApiError;

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;
/// Default and largest page sizes of list routes.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// The REST routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/v1/orgs/{org}/hosts", get(hosts::list).post(hosts::create))
        .route("/api/v1/orgs/{org}/hosts/{host}", get(hosts::get).delete(hosts::delete))
        .route("/api/v1/orgs/{org}/hosts/{host}/join-tokens", post(hosts::new_join_token))
        .route("/api/v1/orgs/{org}/hosts/{host}/metrics", get(hosts::metrics))
        .route("/api/v1/orgs/{org}/hosts/{host}/games", get(games::list))
        .route(
            "/api/v1/orgs/{org}/hosts/{host}/games/{game}",
            get(games::get).put(games::put).delete(games::delete),
        )
        .route("/api/v1/orgs/{org}/events", get(events::list))
        .route("/api/v1/game-types", get(games::types))
        .route("/api/v1/orgs/{org}/jobs", get(jobs::list).post(jobs::create))
        .route("/api/v1/orgs/{org}/jobs/{job}", get(jobs::get))
        .route("/api/v1/orgs/{org}/jobs/{job}/cancel", post(jobs::cancel))
        .route("/api/v1/orgs/{org}/jobs/{job}/logs", get(logs::page))
        .route("/api/v1/orgs/{org}/jobs/{job}/logs/follow", get(logs::follow))
        .route("/api/v1/orgs/{org}/schedules", get(schedules::list).post(schedules::create))
        .route(
            "/api/v1/orgs/{org}/schedules/{schedule}",
            get(schedules::get)
                .put(schedules::replace)
                .patch(schedules::patch)
                .delete(schedules::delete),
        )
        .route("/api/v1/orgs/{org}/schedules/{schedule}/fires", get(schedules::fires))
        .route("/api/v1/orgs/{org}/stream", get(stream::connect))
        .merge(alert_routes())
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .merge(access_routes())
        .fallback(web::fallback)
}

/// Alert rules, the alert history, notifications and the org's alert settings.
fn alert_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/orgs/{org}/alert-rules", get(alert_rules::list).post(alert_rules::create))
        .route(
            "/api/v1/orgs/{org}/alert-rules/{rule}",
            get(alert_rules::get).put(alert_rules::replace).delete(alert_rules::delete),
        )
        .route("/api/v1/orgs/{org}/alerts", get(alerts::list))
        .route("/api/v1/orgs/{org}/settings", get(settings::get).patch(settings::patch))
        .route("/api/v1/orgs/{org}/notifications", get(notifications::list))
        .route("/api/v1/orgs/{org}/notifications/unread-count", get(notifications::unread_count))
        .route("/api/v1/orgs/{org}/notifications/read-all", post(notifications::mark_all_read))
        .route(
            "/api/v1/orgs/{org}/notifications/{notification}/read",
            post(notifications::mark_read),
        )
}

/// Users, orgs, members, invites, API keys and the audit log.
fn access_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(users::login))
        .route("/api/v1/auth/refresh", post(users::refresh))
        .route("/api/v1/auth/logout", post(users::logout))
        .route("/api/v1/me", get(users::me))
        .route("/api/v1/orgs", get(orgs::list).post(orgs::create))
        .route("/api/v1/orgs/{org}", get(orgs::get).patch(orgs::update).delete(orgs::delete))
        .route("/api/v1/orgs/{org}/members", get(members::list))
        .route(
            "/api/v1/orgs/{org}/members/{user}",
            patch(members::set_role).delete(members::remove),
        )
        .route("/api/v1/orgs/{org}/invites", get(invites::list).post(invites::create))
        .route("/api/v1/orgs/{org}/invites/{invite}", delete(invites::revoke))
        .route("/api/v1/invites/accept", post(invites::accept))
        .route("/api/v1/orgs/{org}/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/api/v1/orgs/{org}/api-keys/{key}", delete(api_keys::revoke))
        .route("/api/v1/orgs/{org}/audit", get(audit::list))
        .route(
            "/api/v1/orgs/{org}/settings/discord-bot",
            get(discord_bot::get_settings)
                .put(discord_bot::put_settings)
                .delete(discord_bot::delete_settings),
        )
        .route(
            "/api/v1/orgs/{org}/discord/link",
            post(discord_bot::link).delete(discord_bot::unlink),
        )
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?.trim();
    (!token.is_empty()).then_some(token)
}

/// The WebSocket subprotocol gsm's browser-facing sockets speak (and answer the upgrade with).
pub const WS_PROTOCOL: &str = "gsm.v1";
/// The prefix of the subprotocol entry that carries a credential.
pub const WS_BEARER_PREFIX: &str = "gsm.bearer.";

/// The token of `Sec-WebSocket-Protocol: gsm.v1, gsm.bearer.<token>`: browsers cannot set headers
/// on a WebSocket, only subprotocols. Only that form counts: both entries, one credential, nothing
/// else in the list, so a stray protocol list is never read as a credential.
pub fn websocket_bearer(headers: &HeaderMap) -> Option<&str> {
    let mut entries = Vec::new();
    for value in headers.get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL) {
        entries.extend(value.to_str().ok()?.split(',').map(str::trim));
    }
    let [first, second] = entries.as_slice() else { return None };
    let token = match (*first, *second) {
        (WS_PROTOCOL, other) | (other, WS_PROTOCOL) => other.strip_prefix(WS_BEARER_PREFIX)?,
        _ => return None,
    };
    (!token.is_empty()).then_some(token)
}

/// The `Idempotency-Key` header, validated: 1–255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let valid = value
        .to_str()
        .ok()
        .filter(|key| !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY)
        .filter(|key| key.bytes().all(|b| b.is_ascii_graphic()));
    match valid {
        Some(key) => Ok(Some(key.to_owned())),
        None => Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
        )),
    }
}

/// Refuses a query parameter holding control characters (PostgreSQL cannot even compare text
/// with a NUL in it), so a filter or a cursor is either plain text or a 400.
pub fn query_text(value: Option<&str>, name: &str) -> Result<(), ApiError> {
    match value {
        Some(text) if text.chars().any(char::is_control) => Err(ApiError::bad_request(
            "invalid_query",
            format!("{name} may not hold control characters"),
        )),
        _ => Ok(()),
    }
}

/// An RFC 3339 time from a query parameter, or 400 naming the parameter.
pub fn query_instant(text: Option<&str>, name: &str) -> Result<Option<jiff::Timestamp>, ApiError> {
    text.map(|text| {
        text.parse().map_err(|_| {
            ApiError::bad_request(
                "invalid_query",
                format!("{name} must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z"),
            )
        })
    })
    .transpose()
}

/// `?cursor=&limit=` of a list paged by the id of its last item (members, invites, orgs).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IdPageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<uuid::Uuid>,
    /// Items per page.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The query of a list route, or 400.
pub fn list_query<T>(
    query: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    query
        .map(|axum::extract::Query(query)| query)
        .map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))
}

/// The cursor of the page after `items`: the last item's, when the page is full.
pub fn next_cursor<T>(items: &[T], limit: u32, cursor: impl Fn(&T) -> String) -> Option<String> {
    (items.len() == limit as usize).then(|| items.last().map(cursor)).flatten()
}

/// A page size from `?limit=`, bounded.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit {n} is out of range; use 1 to {MAX_LIMIT}"),
        )),
    }
}

/// Checks what an agent says about its host: bounded, printable strings.
pub fn validate_facts(facts: &HostFacts) -> Result<(), ApiError> {
    for (name, value) in [
        ("hostname", &facts.hostname),
        ("os", &facts.os),
        ("arch", &facts.arch),
        ("agent_version", &facts.agent_version),
    ] {
        if value.is_empty() || value.len() > 255 || value.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "invalid_facts",
                format!("host fact {name} must be 1-255 printable characters"),
            ));
        }
    }
    if facts.allowed_programs.len() > MAX_ALLOWED_PROGRAMS {
        return Err(ApiError::bad_request(
            "invalid_facts",
            format!("host facts may list at most {MAX_ALLOWED_PROGRAMS} allowed programs"),
        ));
    }
    if let Some(index) = facts.allowed_programs.iter().position(|program| !program_fits(program)) {
        return Err(ApiError::bad_request(
            "invalid_facts",
            format!(
                "allowed program {index} is out of bounds: an absolute path, at most \
                 {MAX_PROGRAM_SLOTS} argument slots of at most {MAX_SLOT_VALUES} values, texts of \
                 at most {MAX_PROGRAM_TEXT_BYTES} bytes without control characters"
            ),
        ));
    }
    Ok(())
}

/// Formats a timestamp for the API (RFC 3339, UTC).
pub fn time(at: jiff::Timestamp) -> String {
    at.to_string()
}
