//! `…/invites`: create (a single-use token, shown once, that expires), list, revoke; and
//! `POST /api/v1/invites/accept`, by a signed-in user (their access token) or by a new user
//! (who sends an email, a password and a display name with the token).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use gsm_proto::openapi::InvitePage;
use gsm_proto::rest::{
    AcceptInvite, CreateInvite, ErrorBody, Invite, InviteAccepted, InviteCreated, Me, Page,
};
use jiff::Timestamp;
use uuid::Uuid;

use crate::app::AppState;
use crate::http::auth::{Action, ClientIp, authenticate, authenticate_user};
use crate::http::members::parse_role;
use crate::http::openapi::{InvitePath, OrgPath};
use crate::http::users::{body, open_session};
use crate::http::{ApiError, IdPageQuery, bearer_token, list_query, next_cursor, page_limit, time};
use crate::init::validate_email;
use crate::passwords;
use crate::secrets;
use crate::store::access::{InviteRecord, NewInvite, NewUser, UserId};

/// The prefix of invite tokens (for secret scanners).
pub const INVITE_PREFIX: &str = "gsmi_";

fn view(invite: InviteRecord, now: Timestamp) -> Invite {
    let status = if invite.accepted_at.is_some() {
        "accepted"
    } else if invite.revoked_at.is_some() {
        "revoked"
    } else if invite.expires_at <= now {
        "expired"
    } else {
        "open"
    };
    Invite {
        id: invite.id,
        email: invite.email,
        role: invite.role,
        created_at: time(invite.created_at),
        expires_at: time(invite.expires_at),
        status: status.to_owned(),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/invites",
    tag = "invites",
    params(OrgPath),
    request_body = CreateInvite,
    responses(
        (status = 201, description = "The invite, with its single-use token (shown once).", body = InviteCreated),
        (status = 400, description = "The body is not a `CreateInvite`.", body = ErrorBody),
        (status = 403, description = "The role may not manage members, or the role invited is above it.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
        (status = 422, description = "Invalid email or unknown role.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/orgs/{org}/invites"))]
pub(super) async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
    request: Result<Json<CreateInvite>, JsonRejection>,
) -> Result<(StatusCode, Json<InviteCreated>), ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageMembers)?;
    let request = body(request)?;
    validate_email(&request.email)
        .map_err(|message| ApiError::unprocessable("invalid_email", message))?;
    let role = parse_role(&request.role)?;
    access.require_grant(role)?;
    let token = format!("{INVITE_PREFIX}{}", secrets::random_token());
    let now = Timestamp::now();
    let ttl = jiff::SignedDuration::try_from(state.settings.auth.invite_ttl)
        .map_err(ApiError::internal)?;
    let invite = NewInvite {
        id: Uuid::now_v7(),
        org: access.org,
        email: request.email.trim().to_owned(),
        role: role.as_str().to_owned(),
        token_hash: secrets::hash(&token),
        created_by: access.user(),
        expires_at: now.checked_add(ttl).map_err(ApiError::internal)?,
        now,
    };
    let audit = access.audit(&client, "invite.create", "invite", invite.id);
    state.store.create_invite(&invite, &audit).await?;
    let record = InviteRecord {
        id: invite.id,
        org: invite.org,
        email: invite.email,
        role: invite.role,
        created_at: now,
        expires_at: invite.expires_at,
        accepted_at: None,
        revoked_at: None,
    };
    Ok((StatusCode::CREATED, Json(InviteCreated { invite: view(record, now), token })))
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/invites",
    tag = "invites",
    params(OrgPath, IdPageQuery),
    responses(
        (status = 200, description = "One page of invites, newest first.", body = InvitePage),
        (status = 400, description = "Invalid query parameters.", body = ErrorBody),
        (status = 403, description = "The role may not manage members.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/invites"))]
pub(super) async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    query: Result<Query<IdPageQuery>, QueryRejection>,
) -> Result<Json<Page<Invite>>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageMembers)?;
    let query = list_query(query)?;
    let limit = page_limit(query.limit)?;
    let now = Timestamp::now();
    let invites = state.store.list_invites(access.org, query.cursor, limit).await?;
    let next_cursor = next_cursor(&invites, limit, |invite| invite.id.to_string());
    Ok(Json(Page {
        items: invites.into_iter().map(|invite| view(invite, now)).collect(),
        next_cursor,
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}/invites/{invite}",
    tag = "invites",
    params(InvitePath),
    responses(
        (status = 204, description = "Revoked: its token stops working."),
        (status = 403, description = "The role may not manage members.", body = ErrorBody),
        (status = 404, description = "No such open invite in this org.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "DELETE /api/v1/orgs/{org}/invites/{invite}"))]
pub(super) async fn revoke(
    State(state): State<AppState>,
    Path((org, invite)): Path<(String, String)>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageMembers)?;
    let id = Uuid::parse_str(&invite).map_err(|_| ApiError::not_found("invite"))?;
    let audit = access.audit(&client, "invite.revoke", "invite", id);
    state.store.revoke_invite(access.org, id, &audit).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/v1/invites/accept",
    tag = "invites",
    request_body = AcceptInvite,
    responses(
        (status = 200, description = "Joined: the user's memberships, and a new user's first tokens.", body = InviteAccepted),
        (status = 400, description = "The body is not an `AcceptInvite`.", body = ErrorBody),
        (status = 404, description = "The invite token is unknown, used, revoked or expired.", body = ErrorBody),
        (status = 409, description = "The email has an account (log in and accept with its token), or the user is already a member.", body = ErrorBody),
        (status = 422, description = "A new user's email, password or display name is invalid, or missing.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/invites/accept"))]
pub(super) async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Result<Json<AcceptInvite>, JsonRejection>,
) -> Result<Json<InviteAccepted>, ApiError> {
    let request = body(request)?;
    let token_hash = secrets::hash(&request.token);
    let now = Timestamp::now();
    let (user, new_user) = if bearer_token(&headers).is_some() {
        (authenticate_user(&state, &headers).await?.user, false)
    } else {
        let (Some(email), Some(password), Some(display_name)) =
            (&request.email, &request.password, &request.display_name)
        else {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "send your access token, or an email, a password and a display name",
            ));
        };
        validate_email(email)
            .map_err(|message| ApiError::unprocessable("invalid_email", message))?;
        passwords::validate(password)
            .map_err(|message| ApiError::unprocessable("invalid_password", message))?;
        if display_name.trim().is_empty()
            || display_name.len() > 128
            || display_name.chars().any(char::is_control)
        {
            return Err(ApiError::unprocessable(
                "invalid_display_name",
                "a display name is 1-128 printable characters",
            ));
        }
        let hasher = state.clone();
        let password = password.clone();
        let hash = tokio::task::spawn_blocking(move || hasher.auth.passwords.hash(&password))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        let new = NewUser {
            id: UserId(Uuid::now_v7()),
            email: email.trim().to_owned(),
            display_name: display_name.trim().to_owned(),
            password_hash: hash,
            now,
        };
        let user = state.store.create_user(&new).await.map_err(|err| match err {
            crate::store::StoreError::Conflict { .. } => ApiError::conflict(
                "email_taken",
                "an account with this email exists; log in and accept with your access token",
            ),
            other => other.into(),
        })?;
        (user, true)
    };
    if let Err(err) = state.store.accept_invite(token_hash, user.id, now).await {
        if new_user {
            // The account was made only to accept this invite; do not leave it behind.
            let _ = state.store.delete_user(user.id, now).await;
        }
        return Err(err.into());
    }
    let memberships = state.store.memberships(user.id).await?;
    let tokens = if new_user { Some(open_session(&state, user.id).await?) } else { None };
    Ok(Json(InviteAccepted {
        me: Me {
            user: super::users::user_view(&user),
            memberships: memberships
                .into_iter()
                .map(|m| gsm_proto::rest::OrgMembership {
                    org: super::orgs::org_view(m.org),
                    role: m.role,
                })
                .collect(),
        },
        tokens,
    }))
}
