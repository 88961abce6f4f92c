//! `…/members`: list, change a member's role, remove a member (or leave). An org always keeps at
//! least one owner (the store refuses the change that would leave none: 409), and nobody acts on
//! or grants a role above their own.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use gsm_proto::openapi::MemberPage;
use gsm_proto::rest::{ErrorBody, Member, Page, SetRole, User};
use uuid::Uuid;

use crate::app::AppState;
use crate::http::auth::{Action, ClientIp, OrgAccess, Role, authenticate};
use crate::http::openapi::{MemberPath, OrgPath};
use crate::http::users::body;
use crate::http::{ApiError, IdPageQuery, list_query, next_cursor, page_limit, time};
use crate::store::StoreError;
use crate::store::access::{MemberRecord, UserId};

fn view(member: MemberRecord) -> Member {
    Member {
        user: User {
            id: member.user.0,
            email: member.email,
            display_name: member.display_name,
            created_at: time(member.joined_at),
        },
        role: member.role,
        joined_at: time(member.joined_at),
    }
}

/// Parses a role from a request, or 422.
pub(crate) fn parse_role(name: &str) -> Result<Role, ApiError> {
    Role::parse(name).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_role",
            format!("role {name:?} is not known; use owner, admin, operator or viewer"),
        )
    })
}

fn last_owner(err: StoreError) -> ApiError {
    match err {
        StoreError::Conflict { detail } => ApiError::conflict("last_owner", detail),
        other => other.into(),
    }
}

/// The member's current role, or 404.
async fn current_role(
    state: &AppState,
    access: &OrgAccess,
    user: UserId,
) -> Result<Role, ApiError> {
    let role = state.store.member_role(access.org, user).await?;
    parse_role(&role.ok_or_else(|| ApiError::not_found("member"))?)
}

fn parse_user(id: &str) -> Result<UserId, ApiError> {
    Uuid::parse_str(id).map(UserId).map_err(|_| ApiError::not_found("member"))
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/members",
    tag = "members",
    params(OrgPath, IdPageQuery),
    responses(
        (status = 200, description = "One page of members, by email.", body = MemberPage),
        (status = 400, description = "Invalid query parameters.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/members"))]
pub(super) async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    query: Result<Query<IdPageQuery>, QueryRejection>,
) -> Result<Json<Page<Member>>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::Read)?;
    let query = list_query(query)?;
    let limit = page_limit(query.limit)?;
    let members = state.store.list_members(access.org, query.cursor.map(UserId), limit).await?;
    let next_cursor = next_cursor(&members, limit, |member| member.user.0.to_string());
    Ok(Json(Page { items: members.into_iter().map(view).collect(), next_cursor }))
}

#[utoipa::path(
    patch,
    path = "/api/v1/orgs/{org}/members/{user}",
    tag = "members",
    params(MemberPath),
    request_body = SetRole,
    responses(
        (status = 204, description = "The role is changed."),
        (status = 400, description = "The body is not a `SetRole`.", body = ErrorBody),
        (status = 403, description = "The role may not manage members, or the member or the new role is above it.", body = ErrorBody),
        (status = 404, description = "No such org or member for this credential.", body = ErrorBody),
        (status = 409, description = "The change would leave the org without an owner.", body = ErrorBody),
        (status = 422, description = "Unknown role.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "PATCH /api/v1/orgs/{org}/members/{user}"))]
pub(super) async fn set_role(
    State(state): State<AppState>,
    Path((org, user)): Path<(String, String)>,
    client: ClientIp,
    headers: HeaderMap,
    request: Result<Json<SetRole>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageMembers)?;
    let user = parse_user(&user)?;
    let role = parse_role(&body(request)?.role)?;
    access.require_grant(role)?;
    access.require_grant(current_role(&state, &access, user).await?)?;
    let audit = access.audit(&client, "member.set_role", "member", user);
    state
        .store
        .set_member_role(access.org, user, role.as_str(), &audit)
        .await
        .map_err(last_owner)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}/members/{user}",
    tag = "members",
    params(MemberPath),
    responses(
        (status = 204, description = "Removed (or left, when it is the caller)."),
        (status = 403, description = "The role may not manage members, or the member is above it.", body = ErrorBody),
        (status = 404, description = "No such org or member for this credential.", body = ErrorBody),
        (status = 409, description = "The member is the org's last owner.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "DELETE /api/v1/orgs/{org}/members/{user}"))]
pub(super) async fn remove(
    State(state): State<AppState>,
    Path((org, user)): Path<(String, String)>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let user = parse_user(&user)?;
    // Anyone may leave; removing someone else takes ManageMembers and a role at least theirs.
    if access.user() != Some(user) {
        access.require(Action::ManageMembers)?;
        access.require_grant(current_role(&state, &access, user).await?)?;
    }
    let audit = access.audit(&client, "member.remove", "member", user);
    state.store.remove_member(access.org, user, &audit).await.map_err(last_owner)?;
    Ok(StatusCode::NO_CONTENT)
}
