//! `…/alerts`: the org's alert history, newest first, filtered by status, rule and host.
//!
//! Alerts are written only by the rule engine (`alerts::service`); this module reads them. The
//! cursor is the last alert's id: ids are time-ordered (v7), so the keyset condition pages
//! without skips or repeats while alerts are raised.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use gsm_core::job::HostId;
use gsm_proto::openapi::AlertPage;
use gsm_proto::rest::{Alert, ErrorBody, Page};
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::http::auth::authenticate;
use crate::http::openapi::OrgPath;
use crate::http::{ApiError, list_query, next_cursor, page_limit, views};
use crate::store::alerts::{AlertFilter, AlertStatus};

/// An alert status as a query parameter.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum StatusParam {
    /// Raised, not yet resolved.
    Open,
    /// Resolved.
    Resolved,
    /// One-shot alerts (nothing resolves them).
    Fired,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only alerts in this status.
    #[param(inline)]
    status: Option<StatusParam>,
    /// Only alerts of this rule.
    rule: Option<Uuid>,
    /// Only alerts about this host.
    #[param(value_type = Option<Uuid>)]
    host: Option<HostId>,
    /// The `next_cursor` of the previous page.
    cursor: Option<Uuid>,
    /// Alerts per page.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/alerts",
    tag = "alerts",
    params(OrgPath, ListQuery),
    responses(
        (status = 200, description = "One page of the org's alerts, newest first.", body = AlertPage),
        (status = 400, description = "Invalid query parameters.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/alerts"))]
pub(super) async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Alert>>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let query = list_query(query)?;
    let limit = page_limit(query.limit)?;
    let filter = AlertFilter {
        status: query.status.map(|status| match status {
            StatusParam::Open => AlertStatus::Open,
            StatusParam::Resolved => AlertStatus::Resolved,
            StatusParam::Fired => AlertStatus::Fired,
        }),
        rule: query.rule,
        host: query.host,
        before: query.cursor,
        limit,
    };
    let records = state.store.list_alerts(access.org, &filter).await?;
    let next_cursor = next_cursor(&records, limit, |alert| alert.id.to_string());
    Ok(Json(Page { items: records.into_iter().map(views::alert).collect(), next_cursor }))
}
