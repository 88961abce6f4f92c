//! `/api/v1/auth/{login,refresh,logout}` and `/api/v1/me`: users sign in, keep their session
//! alive by rotating refresh tokens, and sign out.
//!
//! Login answers the same `invalid_credentials` for an unknown email and a wrong password, after
//! the same argon2 work (a dummy hash for an unknown email), and is rate-limited per client
//! address and per account before any hashing, so a flood costs the server little. Hashing runs
//! on the blocking pool. A refresh token works once: presenting a used one again revokes the
//! whole session, since one of the two holders must be a thief.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use gsm_proto::rest::{ErrorBody, Login, Me, OrgMembership, RefreshRequest, TokenPair, User};
use jiff::Timestamp;
use uuid::Uuid;

use crate::app::AppState;
use crate::http::auth::{ClientIp, authenticate_user};
use crate::http::{ApiError, time};
use crate::passwords::MAX_PASSWORD;
use crate::secrets;
use crate::store::access::{NewSession, RefreshOutcome, SessionId, UserId, UserRecord};
use crate::tokens::Kind;

/// The body of a JSON request, or 400.
pub(crate) fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value)
        .map_err(|err| ApiError::bad_request("invalid_request", err.body_text()))
}

/// The API view of a user.
pub(crate) fn user_view(user: &UserRecord) -> User {
    User {
        id: user.id.0,
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        created_at: time(user.created_at),
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "the email or the password is wrong",
    )
}

/// Opens a session for a user and returns its first token pair.
pub(crate) async fn open_session(state: &AppState, user: UserId) -> Result<TokenPair, ApiError> {
    let now = Timestamp::now();
    let session = SessionId(Uuid::now_v7());
    let ttl = jiff::SignedDuration::try_from(state.settings.auth.session_ttl)
        .map_err(ApiError::internal)?;
    let (refresh, claims) =
        state.auth.tokens.issue(Kind::Refresh, user, session, now).map_err(ApiError::internal)?;
    let new = NewSession {
        id: session,
        user,
        refresh_hash: secrets::hash(&claims.jti),
        expires_at: now.checked_add(ttl).map_err(ApiError::internal)?,
        now,
    };
    state.store.create_session(&new).await?;
    access_pair(state, user, session, refresh, now)
}

fn access_pair(
    state: &AppState,
    user: UserId,
    session: SessionId,
    refresh_token: String,
    now: Timestamp,
) -> Result<TokenPair, ApiError> {
    let (access_token, _) =
        state.auth.tokens.issue(Kind::Access, user, session, now).map_err(ApiError::internal)?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        expires_in: state.auth.tokens.access_ttl().as_secs(),
        token_type: "Bearer".to_owned(),
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = Login,
    responses(
        (status = 200, description = "Signed in: an access token and a refresh token.", body = TokenPair),
        (status = 400, description = "The body is not a `Login`.", body = ErrorBody),
        (status = 401, description = "The email or the password is wrong (the same answer for both).", body = ErrorBody),
        (status = 429, description = "Too many logins from this address or for this account; retry later.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/auth/login"))]
pub(super) async fn login(
    State(state): State<AppState>,
    client: ClientIp,
    request: Result<Json<Login>, JsonRejection>,
) -> Result<Json<TokenPair>, ApiError> {
    let request = body(request)?;
    let now = Instant::now();
    let address = client.0.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    state.auth.login_per_ip.check(&address, now).map_err(ApiError::too_many_requests)?;
    let account = request.email.trim().to_lowercase();
    state.auth.login_per_account.check(&account, now).map_err(ApiError::too_many_requests)?;
    if request.password.len() > MAX_PASSWORD
        || account.len() > 254
        || account.chars().any(char::is_control)
    {
        return Err(invalid_credentials());
    }
    let user = state.store.user_by_email(&account).await?;
    let verifier = state.clone();
    let password = request.password;
    let user = tokio::task::spawn_blocking(move || match user {
        Some(user) => {
            verifier.auth.passwords.verify(&password, &user.password_hash).then_some(user)
        }
        None => {
            verifier.auth.passwords.verify_dummy(&password);
            None
        }
    })
    .await
    .map_err(ApiError::internal)?
    .ok_or_else(invalid_credentials)?;
    tracing::info!(user.id = %user.id, "user logged in");
    Ok(Json(open_session(&state, user.id).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair; the refresh token sent is used up.", body = TokenPair),
        (status = 400, description = "The body is not a `RefreshRequest`.", body = ErrorBody),
        (status = 401, description = "The refresh token is invalid, used or expired; a reused one ends the whole session.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/auth/refresh"))]
pub(super) async fn refresh(
    State(state): State<AppState>,
    request: Result<Json<RefreshRequest>, JsonRejection>,
) -> Result<Json<TokenPair>, ApiError> {
    let request = body(request)?;
    let invalid = || ApiError::unauthorized("the refresh token is invalid, used or expired");
    let verified =
        state.auth.tokens.verify(Kind::Refresh, &request.refresh_token).map_err(|_| invalid())?;
    let now = Timestamp::now();
    let (next, claims) = state
        .auth
        .tokens
        .issue(Kind::Refresh, verified.user, verified.session, now)
        .map_err(ApiError::internal)?;
    let outcome = state
        .store
        .rotate_refresh_token(secrets::hash(&verified.jti), secrets::hash(&claims.jti), now)
        .await?;
    match outcome {
        RefreshOutcome::Rotated { session, user }
            if session == verified.session && user == verified.user =>
        {
            Ok(Json(access_pair(&state, user, session, next, now)?))
        }
        RefreshOutcome::Rotated { .. } | RefreshOutcome::Invalid => Err(invalid()),
        RefreshOutcome::Reused => {
            tracing::warn!(user.id = %verified.user, "refresh token reused; session revoked");
            Err(ApiError::unauthorized(
                "this refresh token was already used; the session is revoked, log in again",
            ))
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    responses(
        (status = 204, description = "Signed out: the session and its tokens stop working."),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/auth/logout"))]
pub(super) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let access = authenticate_user(&state, &headers).await?;
    state.store.revoke_session(access.session, Timestamp::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    responses(
        (status = 200, description = "The signed-in user and their orgs.", body = Me),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/me"))]
pub(super) async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Me>, ApiError> {
    let access = authenticate_user(&state, &headers).await?;
    let memberships = state.store.memberships(access.user.id).await?;
    Ok(Json(Me {
        user: user_view(&access.user),
        memberships: memberships
            .into_iter()
            .map(|m| OrgMembership { org: super::orgs::org_view(m.org), role: m.role })
            .collect(),
    }))
}
