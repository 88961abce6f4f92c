//! The Discord bot's REST side: `…/settings/discord-bot` links the org's Discord server (guild),
//! and `…/discord/link` ties the caller's Discord account to their membership with the code
//! `/link` gave them.
//!
//! Linking a guild is an org setting (owner or admin, `UpdateOrg`); a guild already linked to
//! another org is a 409, so one guild never acts on two orgs. Linking an account is something a
//! member does for themselves, so it takes the member's own access token: an API key is nobody
//! to link.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use gsm_proto::rest::{
    DiscordBotSettings, DiscordLink, ErrorBody, PutDiscordBotSettings, RedeemDiscordLink,
};

use crate::app::AppState;
use crate::discord_bot::link;
use crate::http::auth::{Action, ClientIp, OrgAccess, authenticate};
use crate::http::openapi::OrgPath;
use crate::http::{ApiError, time};
use crate::store::StoreError;
use crate::store::access::UserId;
use crate::store::discord::{GuildLink, MemberLink};

fn settings_view(state: &AppState, guild: Option<GuildLink>) -> DiscordBotSettings {
    DiscordBotSettings {
        guild_id: guild.as_ref().map(|g| g.guild_id.clone()),
        linked_at: guild.map(|g| time(g.linked_at)),
        bot_enabled: state.settings.discord_bot_token.is_some(),
    }
}

fn link_view(link: MemberLink) -> DiscordLink {
    DiscordLink {
        discord_user_id: link.discord_user,
        discord_name: link.discord_name,
        linked_at: time(link.linked_at),
    }
}

/// A guild id as Discord spells it: a snowflake, 1-20 decimal digits, not zero.
fn valid_guild_id(id: &str) -> Result<String, ApiError> {
    let id = id.trim();
    match id.parse::<u64>() {
        Ok(n) if n > 0 && id.bytes().all(|b| b.is_ascii_digit()) => Ok(n.to_string()),
        _ => Err(ApiError::unprocessable(
            "invalid_guild_id",
            format!(
                "guild_id {id:?} is not a Discord server id: use the 1-20 digits Discord copies \
                 with \"Copy Server ID\" (developer mode)"
            ),
        )),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/settings/discord-bot",
    tag = "discord",
    params(OrgPath),
    responses(
        (status = 200, description = "The linked Discord server, if any, and whether this server runs a bot.", body = DiscordBotSettings),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/settings/discord-bot"))]
pub(super) async fn get_settings(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Result<Json<DiscordBotSettings>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let guild = state.store.org_guild(access.org).await?;
    Ok(Json(settings_view(&state, guild)))
}

#[utoipa::path(
    put,
    path = "/api/v1/orgs/{org}/settings/discord-bot",
    tag = "discord",
    params(OrgPath),
    request_body = PutDiscordBotSettings,
    responses(
        (status = 200, description = "Linked: the guild's slash commands act on this org (an earlier guild's are cut off, and its open link codes stop working).", body = DiscordBotSettings),
        (status = 400, description = "The body is not a `PutDiscordBotSettings`.", body = ErrorBody),
        (status = 403, description = "The role may not change the org's settings.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
        (status = 409, description = "The guild is linked to another org; unlink it there first.", body = ErrorBody),
        (status = 422, description = "The guild id is not a Discord snowflake.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "PUT /api/v1/orgs/{org}/settings/discord-bot"))]
pub(super) async fn put_settings(
    State(state): State<AppState>,
    Path(org): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
    body: Result<Json<PutDiscordBotSettings>, JsonRejection>,
) -> Result<Json<DiscordBotSettings>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::UpdateOrg)?;
    let Json(request) =
        body.map_err(|err| ApiError::bad_request("invalid_request", err.body_text()))?;
    let guild_id = valid_guild_id(&request.guild_id)?;
    let audit = access.audit(&client, "discord.guild.link", "discord_guild", &guild_id);
    let guild =
        state.store.link_guild(access.org, &guild_id, audit.at, &audit).await.map_err(|err| {
            match err {
                StoreError::Conflict { detail } => ApiError::conflict(
                    "guild_linked_elsewhere",
                    format!("{detail}; an owner or admin of that org unlinks it first"),
                ),
                other => other.into(),
            }
        })?;
    tracing::info!(org.id = %access.org, discord.guild = %guild.guild_id, "Discord guild linked");
    Ok(Json(settings_view(&state, Some(guild))))
}

#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}/settings/discord-bot",
    tag = "discord",
    params(OrgPath),
    responses(
        (status = 204, description = "Unlinked: the guild's slash commands no longer act on this org."),
        (status = 403, description = "The role may not change the org's settings.", body = ErrorBody),
        (status = 404, description = "No such org for this credential, or no guild linked.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "DELETE /api/v1/orgs/{org}/settings/discord-bot"))]
pub(super) async fn delete_settings(
    State(state): State<AppState>,
    Path(org): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::UpdateOrg)?;
    let guild = state.store.org_guild(access.org).await?;
    let target = guild.map(|g| g.guild_id).unwrap_or_default();
    let audit = access.audit(&client, "discord.guild.unlink", "discord_guild", target);
    state.store.unlink_guild(access.org, &audit).await.map_err(|err| match err {
        StoreError::NotFound { .. } => ApiError::new(
            StatusCode::NOT_FOUND,
            "discord_guild_not_found",
            "no Discord server is linked to this org",
        ),
        other => other.into(),
    })?;
    tracing::info!(org.id = %access.org, "Discord guild unlinked");
    Ok(StatusCode::NO_CONTENT)
}

/// The member behind a call: linking is for a signed-in member, never an API key.
fn member(access: &OrgAccess) -> Result<UserId, ApiError> {
    access.user().ok_or_else(|| {
        ApiError::forbidden(
            "linking a Discord account is for a member signed in as themselves: send your \
             access token, not an API key",
        )
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/discord/link",
    tag = "discord",
    params(OrgPath),
    request_body = RedeemDiscordLink,
    responses(
        (status = 201, description = "Linked: the Discord user's slash commands in the org's guild run as the caller, with the caller's role (an earlier link of either is replaced).", body = DiscordLink),
        (status = 400, description = "The body is not a `RedeemDiscordLink`.", body = ErrorBody),
        (status = 403, description = "Called with an API key: only a member signed in as themselves links their account.", body = ErrorBody),
        (status = 404, description = "No such org for this credential, or the code is unknown, used, expired or of another org.", body = ErrorBody),
        (status = 422, description = "The code is not shaped like a link code.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/orgs/{org}/discord/link"))]
pub(super) async fn link(
    State(state): State<AppState>,
    Path(org): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
    body: Result<Json<RedeemDiscordLink>, JsonRejection>,
) -> Result<(StatusCode, Json<DiscordLink>), ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let user = member(&access)?;
    let Json(request) =
        body.map_err(|err| ApiError::bad_request("invalid_request", err.body_text()))?;
    let code_hash = link::hash_typed(&request.code).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_link_code",
            "a link code looks like XXXX-XXXX-XXXX; run /link in Discord to get one",
        )
    })?;
    let audit = access.audit(&client, "discord.member.link", "member", user);
    let linked =
        state.store.redeem_link_code(access.org, code_hash, user, audit.at, &audit).await.map_err(
            |err| match err {
                StoreError::NotFound { what: "link code" } => ApiError::new(
                    StatusCode::NOT_FOUND,
                    "link_code_not_found",
                    "the link code is unknown, used or expired; run /link in Discord for a new one",
                ),
                other => other.into(),
            },
        )?;
    tracing::info!(org.id = %access.org, discord.user = %linked.discord_user, "Discord account linked");
    Ok((StatusCode::CREATED, Json(link_view(linked))))
}

#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}/discord/link",
    tag = "discord",
    params(OrgPath),
    responses(
        (status = 204, description = "Unlinked: the caller's Discord account can only `/link` again."),
        (status = 403, description = "Called with an API key: only a member signed in as themselves unlinks their account.", body = ErrorBody),
        (status = 404, description = "No such org for this credential, or the caller has no linked account.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "DELETE /api/v1/orgs/{org}/discord/link"))]
pub(super) async fn unlink(
    State(state): State<AppState>,
    Path(org): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let user = member(&access)?;
    let audit = access.audit(&client, "discord.member.unlink", "member", user);
    state.store.unlink_member(access.org, user, &audit).await.map_err(|err| match err {
        StoreError::NotFound { .. } => ApiError::new(
            StatusCode::NOT_FOUND,
            "discord_link_not_found",
            "your account has no Discord link in this org",
        ),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guild_ids_are_discord_snowflakes() {
        assert_eq!(valid_guild_id("81384788765712384").unwrap(), "81384788765712384");
        assert_eq!(valid_guild_id(" 42 ").unwrap(), "42");
        for bad in ["", "0", "-1", "+5", "12a", "1".repeat(21).as_str(), "١٢"] {
            assert!(valid_guild_id(bad).is_err(), "{bad:?}");
        }
    }
}
