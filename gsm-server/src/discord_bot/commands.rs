//! The slash commands as plain async functions: an [`Invocation`] (guild, Discord user, parsed
//! options) in, an [`Answer`] out. No serenity type appears here, so every command and every
//! refusal is tested without Discord.
//!
//! Each command goes through the same gates in the same order: the guild must be linked to an
//! org (else a message saying how to link it), the user must be linked to a member of that org
//! (else only `/link` works), and the member's role, read from the membership now, must allow the
//! command (`Role::may`, the REST API's one table). Hosts are named as in the org, so another
//! org's host is simply not found. Jobs are created like `POST …/jobs` does — the store, then
//! `dispatch::offer` — with a `discord` requester and an audit entry naming the Discord user.

use std::time::Duration;

use futures_util::future::BoxFuture;
use gsm_core::job::{Requester, RequesterKind};
use jiff::Timestamp;
use uuid::Uuid;

use super::reply::{Reply, inert};
use super::{link, reads, runs};
use crate::app::AppState;
use crate::http::auth::{Action, Role};
use crate::store::access::{AuditEntry, UserId};
use crate::store::discord::NewLinkCode;
use crate::store::{HostRecord, OrgId, StoreError};

/// Longest restart delay `/restart` accepts: an hour.
pub const MAX_RESTART_DELAY_SECS: u64 = 3600;
/// Longest `/say` message.
pub const MAX_SAY_CHARS: usize = 500;
/// How long a deferred answer waits for its job: Discord lets a reply be edited for 15 minutes.
pub const FOLLOW_UP_LIMIT: Duration = Duration::from_secs(14 * 60);

/// One slash command with its parsed options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/hosts`: the org's hosts with their presence and players.
    Hosts,
    /// `/status <host>`: one host in detail.
    Status {
        /// The host's name.
        host: String,
    },
    /// `/players <host>`: who is online on the host's game servers.
    Players {
        /// The host's name.
        host: String,
    },
    /// `/run <host> <template>`: runs the job template of the org's schedule named `template` on
    /// the host, now (the schedule's own hosts, cron and conditions do not apply).
    Run {
        /// The host's name.
        host: String,
        /// A schedule's name.
        template: String,
    },
    /// `/restart <host> [delay] [game]`: the game restart action, with in-game warnings counting
    /// down `delay` seconds (the game's configured warnings when absent).
    Restart {
        /// The host's name.
        host: String,
        /// Seconds until the shutdown.
        delay_secs: Option<u64>,
        /// The game server, when the host has several.
        game: Option<String>,
    },
    /// `/say <host> <message> [game]`: a message in the game's chat.
    Say {
        /// The host's name.
        host: String,
        /// What to say.
        message: String,
        /// The game server, when the host has several.
        game: Option<String>,
    },
    /// `/jobs [host]`: the latest jobs, of one host or all.
    Jobs {
        /// The host's name.
        host: Option<String>,
    },
    /// `/link`: a one-time code to link this Discord user to an org member.
    Link,
}

impl Command {
    /// What the member's role must allow (`/link` needs no role: see [`handle`]).
    fn action(&self) -> Action {
        match self {
            Command::Run { .. } | Command::Restart { .. } | Command::Say { .. } => Action::RunJobs,
            _ => Action::Read,
        }
    }
}

/// A command as Discord delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The guild it was typed in (`None` in a direct message).
    pub guild_id: Option<String>,
    /// The Discord user's id.
    pub user_id: String,
    /// The Discord user's name (for the link record).
    pub user_name: String,
    /// The command.
    pub command: Command,
}

/// What the bot answers.
pub enum Answer {
    /// One reply, now.
    Now(Reply),
    /// A reply now, then the same message edited with what `follow_up` resolves to (a job's end).
    Deferred {
        /// The reply sent at once.
        first: Reply,
        /// The edit, once the job ended (or [`FOLLOW_UP_LIMIT`] passed).
        follow_up: BoxFuture<'static, Reply>,
    },
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Now(reply) => f.debug_tuple("Now").field(reply).finish(),
            Answer::Deferred { first, .. } => {
                f.debug_struct("Deferred").field("first", first).finish()
            }
        }
    }
}

impl Answer {
    /// The reply sent at once.
    pub fn first(&self) -> &Reply {
        match self {
            Answer::Now(reply) | Answer::Deferred { first: reply, .. } => reply,
        }
    }
}

/// A linked member acting through Discord.
pub(super) struct Caller {
    pub(super) org: OrgId,
    pub(super) role: Role,
    pub(super) discord_user: String,
    pub(super) user: UserId,
}

impl Caller {
    /// Jobs and audit entries name the Discord user; the link names the member.
    pub(super) fn requester(&self) -> Requester {
        Requester { kind: RequesterKind::Discord, id: self.discord_user.clone() }
    }

    pub(super) fn audit(
        &self,
        action: &str,
        target_kind: &str,
        target_id: impl ToString,
    ) -> AuditEntry {
        AuditEntry {
            id: Uuid::now_v7(),
            org: self.org,
            at: Timestamp::now(),
            actor: self.requester(),
            action: action.to_owned(),
            target_kind: target_kind.to_owned(),
            target_id: target_id.to_string(),
            client_ip: None,
            outcome: "success".to_owned(),
        }
    }
}

/// A refusal or a failure: the private reply that explains it.
pub(super) type Refused = Reply;

/// Answers one command. Never fails: every refusal and error is a reply that says what to do.
#[tracing::instrument(skip_all, fields(discord.user = %invocation.user_id))]
pub async fn handle(state: &AppState, invocation: Invocation) -> Answer {
    match answer(state, invocation).await {
        Ok(answer) => answer,
        Err(refused) => Answer::Now(refused),
    }
}

async fn answer(state: &AppState, invocation: Invocation) -> Result<Answer, Refused> {
    let Some(guild) = invocation.guild_id.as_deref() else {
        return Err(Reply::private(
            "gsm's commands work in a Discord server linked to a gsm org, not in direct messages.",
        ));
    };
    let Some(org) = state.store.guild_org(guild).await.map_err(unavailable)? else {
        return Err(Reply::private(format!(
            "This Discord server is not linked to a gsm org. An owner or admin of the org links \
             it with `PUT /api/v1/orgs/<org>/settings/discord-bot` and the body \
             `{{\"guild_id\": \"{guild}\"}}`."
        )));
    };
    if invocation.command == Command::Link {
        return link_code(state, org, &invocation).await.map(Answer::Now);
    }
    let Some((link, role)) =
        state.store.discord_member(org, &invocation.user_id).await.map_err(unavailable)?
    else {
        return Err(Reply::private(
            "Your Discord account is not linked to a member of this org, so you can only use \
             `/link`: run it and follow what it says.",
        ));
    };
    let role = Role::parse(&role).ok_or_else(|| {
        tracing::error!(org.id = %org, role, "membership with an unknown role");
        Reply::private("gsm could not read your role; tell the org's admins.")
    })?;
    let caller = Caller { org, role, discord_user: link.discord_user, user: link.user };
    let action = invocation.command.action();
    if !caller.role.may(action) {
        return Err(Reply::private(format!(
            "Your role in this org ({}) may not {}; ask an owner or admin.",
            caller.role.as_str(),
            match action {
                Action::RunJobs => "run jobs",
                _ => "do this",
            }
        )));
    }
    match invocation.command {
        Command::Hosts => reads::hosts(state, &caller).await.map(Answer::Now),
        Command::Status { host } => reads::status(state, &caller, &host).await.map(Answer::Now),
        Command::Players { host } => reads::players(state, &caller, &host).await.map(Answer::Now),
        Command::Jobs { host } => {
            reads::jobs(state, &caller, host.as_deref()).await.map(Answer::Now)
        }
        Command::Run { host, template } => runs::run(state, &caller, &host, &template).await,
        Command::Restart { host, delay_secs, game } => {
            runs::restart(state, &caller, &host, delay_secs, game).await
        }
        Command::Say { host, message, game } => {
            runs::say(state, &caller, &host, &message, game).await
        }
        Command::Link => unreachable!("`/link` is answered before the member check"),
    }
}

/// The reply for a store failure; the cause is logged once, here.
pub(super) fn unavailable(err: StoreError) -> Refused {
    tracing::error!(error = %err, "a Discord command could not reach the store");
    Reply::private("gsm cannot reach its database right now; try again shortly.")
}

async fn link_code(
    state: &AppState,
    org: OrgId,
    invocation: &Invocation,
) -> Result<Reply, Refused> {
    let code = link::new_code();
    let now = Timestamp::now();
    let ttl = jiff::SignedDuration::try_from(link::CODE_TTL).map_err(|_| internal())?;
    let new = NewLinkCode {
        code_hash: link::hash_code(&code),
        org,
        discord_user: invocation.user_id.clone(),
        discord_name: invocation.user_name.chars().take(100).collect(),
        now,
        expires_at: now.checked_add(ttl).map_err(|_| internal())?,
    };
    state.store.create_link_code(&new).await.map_err(unavailable)?;
    Ok(Reply::private(format!(
        "Your link code is `{code}`; it works once, for {} minutes. Signed in to gsm as yourself, \
         send it with `POST /api/v1/orgs/{org}/discord/link` and the body \
         `{{\"code\": \"{code}\"}}` (the dashboard does this for you). Your commands here then \
         run with your role in the org.",
        link::CODE_TTL.as_secs() / 60
    )))
}

pub(super) fn internal() -> Refused {
    Reply::private("gsm failed to answer; the server log has the details.")
}

/// The org's host named `name`.
pub(super) async fn host_named(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> Result<HostRecord, Refused> {
    match state.store.host_by_name(caller.org, name).await {
        Ok(host) => Ok(host),
        Err(StoreError::NotFound { .. }) => Err(Reply::private(format!(
            "No host named {} in this org; `/hosts` lists them.",
            inert(name, 64)
        ))),
        Err(err) => Err(unavailable(err)),
    }
}
