//! `/api/v1/orgs`: a signed-in user lists their orgs and creates one (becoming its owner);
//! `/api/v1/orgs/{org}`: read, rename, delete.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use gsm_core::job::{Requester, RequesterKind};
use gsm_proto::openapi::OrgMembershipPage;
use gsm_proto::rest::{ErrorBody, Org, OrgMembership, OrgName, Page};
use jiff::Timestamp;
use uuid::Uuid;

use crate::app::AppState;
use crate::http::auth::{Action, ClientIp, authenticate, authenticate_user};
use crate::http::openapi::OrgPath;
use crate::http::users::body;
use crate::http::{ApiError, IdPageQuery, list_query, next_cursor, page_limit, time};
use crate::init::validate_org_name;
use crate::store::OrgId;
use crate::store::access::AuditEntry;

/// The API view of an org.
pub(crate) fn org_view(org: crate::store::Org) -> Org {
    Org { id: org.id.0, name: org.name, created_at: time(org.created_at) }
}

fn name(request: &OrgName) -> Result<String, ApiError> {
    validate_org_name(&request.name)
        .map_err(|message| ApiError::unprocessable("invalid_org_name", message))?;
    Ok(request.name.trim().to_owned())
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs",
    tag = "orgs",
    params(IdPageQuery),
    responses(
        (status = 400, description = "Invalid query parameters.", body = ErrorBody),
        (status = 200, description = "The caller's orgs, with their role in each.", body = OrgMembershipPage),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs"))]
pub(super) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<IdPageQuery>, QueryRejection>,
) -> Result<Json<Page<OrgMembership>>, ApiError> {
    let access = authenticate_user(&state, &headers).await?;
    let query = list_query(query)?;
    let limit = page_limit(query.limit)?;
    let after = query.cursor.map(OrgId);
    let memberships = state.store.memberships_page(access.user.id, after, limit).await?;
    let next_cursor = next_cursor(&memberships, limit, |m| m.org.id.0.to_string());
    let items = memberships
        .into_iter()
        .map(|m| OrgMembership { org: org_view(m.org), role: m.role })
        .collect();
    Ok(Json(Page { items, next_cursor }))
}

#[utoipa::path(
    post,
    path = "/api/v1/orgs",
    tag = "orgs",
    request_body = OrgName,
    responses(
        (status = 201, description = "The new org; the caller is its owner.", body = Org),
        (status = 400, description = "The body is not an `OrgName`.", body = ErrorBody),
        (status = 422, description = "Invalid org name.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/orgs"))]
pub(super) async fn create(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    request: Result<Json<OrgName>, JsonRejection>,
) -> Result<(StatusCode, Json<Org>), ApiError> {
    let access = authenticate_user(&state, &headers).await?;
    let name = name(&body(request)?)?;
    let id = OrgId(Uuid::now_v7());
    let audit = AuditEntry {
        id: Uuid::now_v7(),
        org: id,
        at: Timestamp::now(),
        actor: Requester { kind: RequesterKind::User, id: access.user.id.to_string() },
        action: "org.create".to_owned(),
        target_kind: "org".to_owned(),
        target_id: id.to_string(),
        client_ip: client.0.map(|ip| ip.to_string()),
        outcome: "success".to_owned(),
    };
    let org = state.store.create_org_with_owner(id, &name, access.user.id, &audit).await?;
    tracing::info!(org.id = %org.id, user.id = %access.user.id, "org created");
    Ok((StatusCode::CREATED, Json(org_view(org))))
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}",
    tag = "orgs",
    params(OrgPath),
    responses(
        (status = 200, description = "The org.", body = Org),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}"))]
pub(super) async fn get(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Org>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::Read)?;
    Ok(Json(org_view(state.store.get_org(access.org).await?)))
}

#[utoipa::path(
    patch,
    path = "/api/v1/orgs/{org}",
    tag = "orgs",
    params(OrgPath),
    request_body = OrgName,
    responses(
        (status = 200, description = "The renamed org.", body = Org),
        (status = 400, description = "The body is not an `OrgName`.", body = ErrorBody),
        (status = 403, description = "The role may not rename the org.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
        (status = 422, description = "Invalid org name.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "PATCH /api/v1/orgs/{org}"))]
pub(super) async fn update(
    State(state): State<AppState>,
    Path(org): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
    request: Result<Json<OrgName>, JsonRejection>,
) -> Result<Json<Org>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::UpdateOrg)?;
    let name = name(&body(request)?)?;
    let audit = access.audit(&client, "org.update", "org", access.org);
    Ok(Json(org_view(state.store.rename_org(access.org, &name, &audit).await?)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}",
    tag = "orgs",
    params(OrgPath),
    responses(
        (status = 204, description = "Deleted: its hosts' credentials are revoked, their agents disconnected and its live streams closed."),
        (status = 403, description = "Only an owner may delete the org.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "DELETE /api/v1/orgs/{org}"))]
pub(super) async fn delete(
    State(state): State<AppState>,
    Path(org): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::DeleteOrg)?;
    let audit = access.audit(&client, "org.delete", "org", access.org);
    let hosts = state.store.delete_org(access.org, &audit).await?;
    state.auth.forget_org_keys(access.org);
    // Its hosts' credentials are gone; their agents are cut now, not at their next reconnect.
    for host in &hosts {
        super::hosts::forget(&state, *host);
    }
    // Its live streams end now too.
    state.live.close_org(access.org);
    tracing::info!(org.id = %access.org, hosts = hosts.len(), "org deleted");
    Ok(StatusCode::NO_CONTENT)
}
