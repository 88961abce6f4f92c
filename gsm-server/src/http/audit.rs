//! `…/audit`: the org's audit log, newest first, filtered by actor, action, target and time, paged
//! by entry id.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use gsm_proto::openapi::AuditPage;
use gsm_proto::rest::{AuditEntry, ErrorBody, Page};
use jiff::Timestamp;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::http::auth::{Action, authenticate};
use crate::http::openapi::OrgPath;
use crate::http::{ApiError, page_limit, query_text, time};
use crate::store::access::AuditFilter;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// Only entries by this actor id (a user id, an API key id or a host id).
    actor: Option<String>,
    /// Only this action (`host.create`).
    action: Option<String>,
    /// Only targets of this kind (`host`, `job`, `member`, ...).
    target_type: Option<String>,
    /// Only this target id.
    target_id: Option<String>,
    /// RFC 3339: only entries at or after this time.
    since: Option<String>,
    /// RFC 3339: only entries before this time.
    until: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<Uuid>,
    /// Entries per page.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

fn instant(text: Option<&str>, name: &str) -> Result<Option<Timestamp>, ApiError> {
    text.map(|text| {
        text.parse().map_err(|_| {
            ApiError::bad_request("invalid_query", format!("{name} must be an RFC 3339 time"))
        })
    })
    .transpose()
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/audit",
    tag = "audit",
    params(OrgPath, AuditQuery),
    responses(
        (status = 200, description = "One page of audit entries, newest first.", body = AuditPage),
        (status = 400, description = "Invalid query parameters.", body = ErrorBody),
        (status = 403, description = "The role may not read the audit log.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/audit"))]
pub(super) async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ReadAudit)?;
    let Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))?;
    let limit = page_limit(query.limit)?;
    query_text(query.actor.as_deref(), "actor")?;
    query_text(query.action.as_deref(), "action")?;
    query_text(query.target_type.as_deref(), "target_type")?;
    query_text(query.target_id.as_deref(), "target_id")?;
    let filter = AuditFilter {
        since: instant(query.since.as_deref(), "since")?,
        until: instant(query.until.as_deref(), "until")?,
        actor: query.actor,
        action: query.action,
        target_kind: query.target_type,
        target_id: query.target_id,
        before: query.cursor,
        limit,
    };
    let entries = state.store.list_audit(access.org, &filter).await?;
    let next_cursor = (entries.len() == limit as usize)
        .then(|| entries.last().map(|entry| entry.id.to_string()))
        .flatten();
    let items = entries
        .into_iter()
        .map(|entry| AuditEntry {
            id: entry.id,
            at: time(entry.at),
            actor: entry.actor,
            action: entry.action,
            target_type: entry.target_kind,
            target_id: entry.target_id,
            client_ip: entry.client_ip,
            outcome: entry.outcome,
        })
        .collect();
    Ok(Json(Page { items, next_cursor }))
}
