//! `…/settings`: the org's alert settings — its Discord webhooks and default alert channels.
//!
//! Webhook URLs are write-only secrets (whoever holds one can post to the channel): a PATCH
//! stores them after the SSRF guard (`alerts::webhook_url`) accepts them, and no answer, log line
//! or audit entry carries one again; reads show the name and the URL's last four characters. The
//! hosts a URL may point at besides Discord's are server configuration (`alert_webhook_hosts`),
//! shown here read-only: a per-org list would let any org's admins aim the server's requests at
//! internal addresses. A PATCH applies its webhook changes, then the default channels (which may
//! name a webhook the same PATCH added), each with its own audit entry; everything is validated
//! before anything is written.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use gsm_proto::rest::{DiscordWebhook, ErrorBody, OrgSettings, PatchSettings};

use crate::alerts::webhook_url::AllowList;
use crate::app::AppState;
use crate::http::alert_rules::{DISCORD_PREFIX, IN_APP};
use crate::http::auth::{Action, ClientIp, authenticate};
use crate::http::openapi::OrgPath;
use crate::http::{ApiError, time};
use crate::store::OrgId;
use crate::store::alerts::WebhookRecord;

/// Most webhooks one org may hold.
const MAX_WEBHOOKS: usize = 25;
/// Most channels in the default list.
const MAX_CHANNELS: usize = 16;

fn webhook_view(record: WebhookRecord) -> DiscordWebhook {
    let chars: Vec<char> = record.url.chars().collect();
    let last4: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    DiscordWebhook {
        name: record.name,
        url_last4: last4,
        broken_reason: record.broken_reason,
        broken_at: record.broken_at.map(time),
        created_at: time(record.created_at),
    }
}

async fn read(state: &AppState, org: OrgId) -> Result<OrgSettings, ApiError> {
    let hooks = state.store.list_discord_webhooks(org).await?;
    Ok(OrgSettings {
        discord_webhooks: hooks.into_iter().map(webhook_view).collect(),
        default_channels: state.store.default_channels(org).await?,
        webhook_hosts: state.settings.alerts.webhook_hosts.clone(),
    })
}

fn invalid(message: String) -> ApiError {
    ApiError::unprocessable("invalid_settings", message)
}

/// A webhook name: what follows `discord:` in a channel.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/settings",
    tag = "settings",
    params(OrgPath),
    responses(
        (status = 200, description = "The org's alert settings; webhook URLs are never shown, only their last four characters.", body = OrgSettings),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/settings"))]
pub(super) async fn get(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Result<Json<OrgSettings>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    Ok(Json(read(&state, access.org).await?))
}

#[utoipa::path(
    patch,
    path = "/api/v1/orgs/{org}/settings",
    tag = "settings",
    params(OrgPath),
    request_body = PatchSettings,
    responses(
        (status = 200, description = "The settings after the change.", body = OrgSettings),
        (status = 400, description = "The body is not a `PatchSettings`.", body = ErrorBody),
        (status = 403, description = "The role may not manage alerts.", body = ErrorBody),
        (status = 404, description = "No such org, or a webhook to remove that the org does not have.", body = ErrorBody),
        (status = 422, description = "An invalid webhook name or URL (not Discord's, not https, credentials, a host not allowed) or channel; the message says which.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "PATCH /api/v1/orgs/{org}/settings"))]
pub(super) async fn patch(
    State(state): State<AppState>,
    Path(org): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
    request: Result<Json<PatchSettings>, JsonRejection>,
) -> Result<Json<OrgSettings>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::ManageAlerts)?;
    let Json(change) =
        request.map_err(|err| ApiError::bad_request("invalid_request", err.body_text()))?;
    let existing: Vec<String> =
        state.store.list_discord_webhooks(access.org).await?.into_iter().map(|h| h.name).collect();
    let mut after = existing.clone();
    let allow = AllowList::new(&state.settings.alerts.webhook_hosts);
    let hooks = change.discord_webhooks.unwrap_or_default();
    for (name, url) in &hooks {
        if !valid_name(name) {
            return Err(invalid(format!(
                "discord_webhooks: name {name:?} must be 1-64 letters, digits, '-', '_' or '.'"
            )));
        }
        match url {
            // The URL's own text never goes into the message: it is a secret.
            Some(url) => {
                allow
                    .check(url)
                    .map_err(|err| invalid(format!("discord_webhooks.{name}: {err}")))?;
                if !after.contains(name) {
                    after.push(name.clone());
                }
            }
            None => {
                if !existing.contains(name) {
                    return Err(ApiError::not_found("webhook"));
                }
                after.retain(|n| n != name);
            }
        }
    }
    if after.len() > MAX_WEBHOOKS {
        return Err(invalid(format!("an org may have at most {MAX_WEBHOOKS} Discord webhooks")));
    }
    if let Some(channels) = &change.default_channels {
        if channels.len() > MAX_CHANNELS {
            return Err(invalid(format!("default_channels: at most {MAX_CHANNELS} channels")));
        }
        for channel in channels {
            let known = channel == IN_APP
                || channel
                    .strip_prefix(DISCORD_PREFIX)
                    .is_some_and(|n| after.iter().any(|a| a == n));
            if !known {
                return Err(invalid(format!(
                    "default_channels: {channel:?} is neither \"in_app\" nor \"discord:<name>\" of \
                     a webhook the org has"
                )));
            }
        }
    }
    for (name, url) in &hooks {
        match url {
            Some(url) => {
                let audit = access.audit(&client, "settings.webhook.put", "webhook", name);
                state.store.put_discord_webhook(access.org, name, url, &audit).await?;
            }
            None => {
                let audit = access.audit(&client, "settings.webhook.delete", "webhook", name);
                state.store.delete_discord_webhook(access.org, name, &audit).await?;
            }
        }
    }
    if let Some(channels) = &change.default_channels {
        let audit = access.audit(&client, "settings.default_channels", "org", access.org);
        state.store.set_default_channels(access.org, channels, &audit).await?;
    }
    tracing::info!(org.id = %access.org, webhooks = hooks.len(), "settings changed");
    Ok(Json(read(&state, access.org).await?))
}
