//! `…/alert-rules`: create, list, get, replace and delete the org's alert rules.
//!
//! A definition is checked here, field by field, before it is stored (a 422 names the field), and
//! then compiled exactly as the rule engine will compile it (`alerts::service::compile`), so a
//! stored rule is one the engine accepts. Every change commits with its audit entry and then wakes
//! the engine, which reloads the org's rules (keeping what it remembers of open alerts).

use std::collections::HashSet;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use gsm_proto::openapi::AlertRulePage;
use gsm_proto::rest::{AlertRule, AlertRuleSpec, ErrorBody, Page};
use uuid::Uuid;

use crate::alerts::service::compile;
use crate::app::AppState;
use crate::http::auth::{Action, ClientIp, authenticate};
use crate::http::openapi::{AlertRulePath, OrgPath};
use crate::http::{ApiError, IdPageQuery, list_query, next_cursor, page_limit, time};
use crate::store::alerts::AlertRuleRecord;
use crate::store::{OrgId, StoreError};

/// Longest rule name, and most channels one rule delivers to.
const MAX_NAME: usize = 64;
const MAX_CHANNELS: usize = 16;
/// The in-app channel, and the prefix of a Discord webhook channel.
pub const IN_APP: &str = "in_app";
pub const DISCORD_PREFIX: &str = "discord:";

fn view(record: AlertRuleRecord) -> AlertRule {
    AlertRule {
        id: record.id,
        spec: record.spec,
        created_at: time(record.created_at),
        updated_at: time(record.updated_at),
    }
}

fn parse_rule(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("alert rule"))
}

fn invalid(field: &'static str, message: String) -> ApiError {
    ApiError::unprocessable("invalid_alert_rule", message).at(field)
}

/// Checks that each channel is `in_app` or a Discord webhook the org has; shared with the
/// settings' default channels.
pub async fn validate_channels(
    state: &AppState,
    org: OrgId,
    field: &'static str,
    channels: &[String],
) -> Result<(), ApiError> {
    let invalid = |message: String| ApiError::unprocessable("invalid_channels", message).at(field);
    if channels.len() > MAX_CHANNELS {
        return Err(invalid(format!(
            "{field} lists {} channels; at most {MAX_CHANNELS}",
            channels.len()
        )));
    }
    if channels.iter().collect::<HashSet<_>>().len() != channels.len() {
        return Err(invalid(format!("{field} lists a channel twice")));
    }
    for channel in channels {
        if channel == IN_APP {
            continue;
        }
        let Some(name) = channel.strip_prefix(DISCORD_PREFIX) else {
            return Err(invalid(format!(
                "{field}: unknown channel {channel:?}; use \"in_app\" or \"discord:<webhook name>\""
            )));
        };
        match state.store.get_discord_webhook(org, name).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                return Err(invalid(format!(
                    "{field}: the org has no Discord webhook named {name:?}; add it in \
                     PATCH …/settings first"
                )));
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// Checks a definition, naming the field that is wrong.
async fn validate(state: &AppState, org: OrgId, spec: &AlertRuleSpec) -> Result<(), ApiError> {
    if spec.name.is_empty() || spec.name.len() > MAX_NAME || spec.name.chars().any(char::is_control)
    {
        return Err(invalid(
            "name",
            format!("name must be 1-{MAX_NAME} bytes without control characters"),
        ));
    }
    for (field, kind) in [("kind", Some(&spec.kind)), ("resolve_kind", spec.resolve_kind.as_ref())]
    {
        if let Some(kind) = kind
            && !gsm_core::rules::is_known_kind(kind)
        {
            return Err(invalid(
                field,
                format!(
                    "{field}: unknown event kind {kind:?}; use one of {}, or game.<kind> such as \
                     game.player_connected",
                    gsm_core::rules::kinds::SERVER.join(", ")
                ),
            ));
        }
    }
    if let Some(game) = &spec.game
        && (game.is_empty() || game.len() > 64 || game.chars().any(char::is_control))
    {
        return Err(invalid(
            "game",
            "game must be a game server's name on the host (1-64 bytes)".into(),
        ));
    }
    if let Some(threshold) = spec.threshold
        && (threshold.count == 0 || threshold.window_secs == 0)
    {
        let field = if threshold.count == 0 { "threshold.count" } else { "threshold.window_secs" };
        return Err(invalid(field, "threshold needs count and window_secs of at least 1".into()));
    }
    if let Some(remediation) = &spec.remediation {
        if !gsm_core::adapters::config::GAME_ACTIONS.contains(&remediation.action.as_str()) {
            return Err(invalid(
                "remediation.action",
                format!(
                    "remediation.action: unknown game action {:?}; use one of {}",
                    remediation.action,
                    gsm_core::adapters::config::GAME_ACTIONS.join(", ")
                ),
            ));
        }
        if remediation.max_runs == 0 || remediation.per_secs == 0 {
            let field = if remediation.max_runs == 0 {
                "remediation.max_runs"
            } else {
                "remediation.per_secs"
            };
            return Err(invalid(
                field,
                "remediation needs max_runs and per_secs of at least 1: a limit is what keeps a \
                 crash loop from becoming a restart loop"
                    .into(),
            ));
        }
        if spec.game.is_none() && !spec.kind.starts_with(gsm_core::rules::kinds::GAME_PREFIX) {
            return Err(invalid(
                "remediation",
                "remediation runs a game action on the event's game server: the rule needs a \
                 game.<kind> kind or a game filter"
                    .into(),
            ));
        }
    }
    if let Some(channels) = &spec.channels {
        validate_channels(state, org, "channels", channels).await?;
    }
    if let Some(host) = spec.host {
        match state.store.get_host(org, host).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                return Err(invalid("host", format!("host: the org has no host {host}")));
            }
            Err(err) => return Err(err.into()),
        }
    }
    // Whatever is left (a regular expression, the player range) is the engine's to judge.
    compile(Uuid::nil(), spec).map_err(|problem| invalid(problem.field, problem.message))?;
    Ok(())
}

fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value)
        .map_err(|err| ApiError::bad_request("invalid_request", err.body_text()))
}

#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/alert-rules",
    tag = "alerts",
    params(OrgPath),
    request_body = AlertRuleSpec,
    responses(
        (status = 201, description = "The rule, stored and loaded by the rule engine.", body = AlertRule),
        (status = 400, description = "The body is not an `AlertRuleSpec`.", body = ErrorBody),
        (status = 403, description = "The role may not manage alerts.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
        (status = 409, description = "The org already has a rule of that name.", body = ErrorBody),
        (status = 422, description = "An invalid field; the message names it.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/orgs/{org}/alert-rules"))]
pub(super) async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
    request: Result<Json<AlertRuleSpec>, JsonRejection>,
) -> Result<(StatusCode, Json<AlertRule>), ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageAlerts)?;
    let spec = body(request)?;
    validate(&state, access.org, &spec).await?;
    let id = Uuid::now_v7();
    let audit = access.audit(&client, "alert_rule.create", "alert_rule", id);
    let record = state.store.create_alert_rule(access.org, id, &spec, &audit).await?;
    state.alerts.rules_changed.notify_one();
    tracing::info!(org.id = %access.org, rule.id = %id, "alert rule created");
    Ok((StatusCode::CREATED, Json(view(record))))
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/alert-rules",
    tag = "alerts",
    params(OrgPath, IdPageQuery),
    responses(
        (status = 200, description = "One page of the org's rules, by id (oldest first).", body = AlertRulePage),
        (status = 400, description = "Invalid query parameters.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/alert-rules"))]
pub(super) async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    query: Result<Query<IdPageQuery>, QueryRejection>,
) -> Result<Json<Page<AlertRule>>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let query = list_query(query)?;
    let limit = page_limit(query.limit)?;
    let records = state.store.list_alert_rules(access.org, query.cursor, limit).await?;
    let next_cursor = next_cursor(&records, limit, |r| r.id.to_string());
    Ok(Json(Page { items: records.into_iter().map(view).collect(), next_cursor }))
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/alert-rules/{rule}",
    tag = "alerts",
    params(AlertRulePath),
    responses(
        (status = 200, description = "The rule.", body = AlertRule),
        (status = 404, description = "No such org or rule for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/alert-rules/{rule}"))]
pub(super) async fn get(
    State(state): State<AppState>,
    Path((org, rule)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<AlertRule>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    Ok(Json(view(state.store.get_alert_rule(access.org, parse_rule(&rule)?).await?)))
}

#[utoipa::path(
    put,
    path = "/api/v1/orgs/{org}/alert-rules/{rule}",
    tag = "alerts",
    params(AlertRulePath),
    request_body = AlertRuleSpec,
    responses(
        (status = 200, description = "The rule, replaced and reloaded by the rule engine (its open alerts stay open).", body = AlertRule),
        (status = 400, description = "The body is not an `AlertRuleSpec`.", body = ErrorBody),
        (status = 403, description = "The role may not manage alerts.", body = ErrorBody),
        (status = 404, description = "No such org or rule for this credential.", body = ErrorBody),
        (status = 409, description = "Another rule of the org has that name.", body = ErrorBody),
        (status = 422, description = "An invalid field; the message names it.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "PUT /api/v1/orgs/{org}/alert-rules/{rule}"))]
pub(super) async fn replace(
    State(state): State<AppState>,
    Path((org, rule)): Path<(String, String)>,
    client: ClientIp,
    headers: HeaderMap,
    request: Result<Json<AlertRuleSpec>, JsonRejection>,
) -> Result<Json<AlertRule>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageAlerts)?;
    let current = state.store.get_alert_rule(access.org, parse_rule(&rule)?).await?;
    let spec = body(request)?;
    validate(&state, access.org, &spec).await?;
    let audit = access.audit(&client, "alert_rule.replace", "alert_rule", current.id);
    let record = state.store.replace_alert_rule(access.org, current.id, &spec, &audit).await?;
    state.alerts.rules_changed.notify_one();
    Ok(Json(view(record)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}/alert-rules/{rule}",
    tag = "alerts",
    params(AlertRulePath),
    responses(
        (status = 204, description = "Deleted; the alerts it raised stay in the history."),
        (status = 403, description = "The role may not manage alerts.", body = ErrorBody),
        (status = 404, description = "No such org or rule for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "DELETE /api/v1/orgs/{org}/alert-rules/{rule}"))]
pub(super) async fn delete(
    State(state): State<AppState>,
    Path((org, rule)): Path<(String, String)>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageAlerts)?;
    let id = parse_rule(&rule)?;
    let audit = access.audit(&client, "alert_rule.delete", "alert_rule", id);
    state.store.delete_alert_rule(access.org, id, &audit).await?;
    state.alerts.rules_changed.notify_one();
    tracing::info!(org.id = %access.org, rule.id = %id, "alert rule deleted");
    Ok(StatusCode::NO_CONTENT)
}
