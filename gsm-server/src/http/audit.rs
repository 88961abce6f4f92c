//! `…/audit`: the org's audit log, newest first, filtered by actor, action, target and time, paged
//! by entry id.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use gsm_proto::rest::{AuditEntry, Page};
use jiff::Timestamp;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::http::auth::{Action, authenticate};
use crate::http::{ApiError, page_limit, time};
use crate::store::access::AuditFilter;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target_type: Option<String>,
    target_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<Uuid>,
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
