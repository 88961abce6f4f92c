//! `…/notifications`: the org's in-app notifications (one per alert change delivered to
//! `in_app`), how many are unread, and marking one or all read.
//!
//! A notification and its read mark belong to the org, not to a member: the org's notifications
//! are a shared on-call inbox, where one member acknowledging an alert clears it for the rest, and
//! API keys (which are not members) see and mark the same inbox. Marking read is a Read-role
//! action: it changes no configuration, only what has been looked at; it is still audited.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use gsm_proto::openapi::NotificationPage;
use gsm_proto::rest::{ErrorBody, MarkedRead, Notification, Page, UnreadCount};
use jiff::Timestamp;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::http::auth::{Action, ClientIp, authenticate};
use crate::http::openapi::{NotificationPath, OrgPath};
use crate::http::{ApiError, list_query, next_cursor, page_limit, views};
use crate::store::alerts::NotificationFilter;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only notifications not yet marked read.
    #[serde(default)]
    unread: bool,
    /// The `next_cursor` of the previous page.
    cursor: Option<Uuid>,
    /// Notifications per page.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/notifications",
    tag = "alerts",
    params(OrgPath, ListQuery),
    responses(
        (status = 200, description = "One page of the org's notifications, newest first.", body = NotificationPage),
        (status = 400, description = "Invalid query parameters.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/notifications"))]
pub(super) async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Notification>>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let query = list_query(query)?;
    let limit = page_limit(query.limit)?;
    let filter = NotificationFilter { unread_only: query.unread, before: query.cursor, limit };
    let records = state.store.list_notifications(access.org, &filter).await?;
    let next_cursor = next_cursor(&records, limit, |n| n.id.to_string());
    Ok(Json(Page { items: records.into_iter().map(views::notification).collect(), next_cursor }))
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/notifications/unread-count",
    tag = "alerts",
    params(OrgPath),
    responses(
        (status = 200, description = "How many of the org's notifications are unread.", body = UnreadCount),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/notifications/unread-count"))]
pub(super) async fn unread_count(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Result<Json<UnreadCount>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    Ok(Json(UnreadCount { unread: state.store.unread_notifications(access.org).await? }))
}

#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/notifications/{notification}/read",
    tag = "alerts",
    params(NotificationPath),
    responses(
        (status = 200, description = "The notification, marked read (a second call keeps the first read time).", body = Notification),
        (status = 404, description = "No such org or notification for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/orgs/{org}/notifications/{notification}/read"))]
pub(super) async fn mark_read(
    State(state): State<AppState>,
    Path((org, notification)): Path<(String, String)>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<Json<Notification>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::Read)?;
    let id: Uuid = notification.parse().map_err(|_| ApiError::not_found("notification"))?;
    let record = state.store.mark_notification_read(access.org, id, Timestamp::now()).await?;
    let audit = access.audit(&client, "notification.read", "notification", id);
    state.store.record_audit(&audit).await?;
    Ok(Json(views::notification(record)))
}

#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/notifications/read-all",
    tag = "alerts",
    params(OrgPath),
    responses(
        (status = 200, description = "Every unread notification of the org, marked read.", body = MarkedRead),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/orgs/{org}/notifications/read-all"))]
pub(super) async fn mark_all_read(
    State(state): State<AppState>,
    Path(org): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<Json<MarkedRead>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::Read)?;
    let marked = state.store.mark_all_notifications_read(access.org, Timestamp::now()).await?;
    let audit = access.audit(&client, "notification.read_all", "org", access.org);
    state.store.record_audit(&audit).await?;
    Ok(Json(MarkedRead { marked }))
}
