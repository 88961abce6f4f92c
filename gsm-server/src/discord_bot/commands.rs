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

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::BoxFuture;
use gsm_core::job::{GameAction, HostId, JobId, JobKind, JobState, Requester, RequesterKind};
use gsm_core::presence::Presence;
use jiff::Timestamp;
use uuid::Uuid;

use super::link;
use super::reply::{Embed, Reply, colour, inert};
use crate::app::AppState;
use crate::dispatch;
use crate::http::auth::{Action, Role};
use crate::store::access::{AuditEntry, UserId};
use crate::store::discord::NewLinkCode;
use crate::store::{Created, HostRecord, JobFilter, JobRecord, NewJob, OrgId, StoreError};

/// Longest restart delay `/restart` accepts: an hour.
pub const MAX_RESTART_DELAY_SECS: u64 = 3600;
/// Longest `/say` message.
pub const MAX_SAY_CHARS: usize = 500;
/// How long a deferred answer waits for its job: Discord lets a reply be edited for 15 minutes.
pub const FOLLOW_UP_LIMIT: Duration = Duration::from_secs(14 * 60);
/// How often a waiting follow-up reads its job again even without a change announced.
const RECHECK: Duration = Duration::from_secs(5);
/// Hosts `/hosts` lists, jobs `/jobs` lists.
const LIST_LIMIT: u32 = 20;
/// The warnings a delayed restart gives before its delay, when they fit inside it.
const WARNING_LADDER: [u64; 6] = [600, 300, 120, 60, 30, 10];

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
struct Caller {
    org: OrgId,
    role: Role,
    discord_user: String,
    user: UserId,
}

impl Caller {
    /// Jobs and audit entries name the Discord user; the link names the member.
    fn requester(&self) -> Requester {
        Requester { kind: RequesterKind::Discord, id: self.discord_user.clone() }
    }

    fn audit(&self, action: &str, target_kind: &str, target_id: impl ToString) -> AuditEntry {
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
type Refused = Reply;

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
        Command::Hosts => hosts(state, &caller).await.map(Answer::Now),
        Command::Status { host } => status(state, &caller, &host).await.map(Answer::Now),
        Command::Players { host } => players(state, &caller, &host).await.map(Answer::Now),
        Command::Jobs { host } => jobs(state, &caller, host.as_deref()).await.map(Answer::Now),
        Command::Run { host, template } => run(state, &caller, &host, &template).await,
        Command::Restart { host, delay_secs, game } => {
            restart(state, &caller, &host, delay_secs, game).await
        }
        Command::Say { host, message, game } => say(state, &caller, &host, &message, game).await,
        Command::Link => unreachable!("`/link` is answered before the member check"),
    }
}

/// The reply for a store failure; the cause is logged once, here.
fn unavailable(err: StoreError) -> Refused {
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

fn internal() -> Refused {
    Reply::private("gsm failed to answer; the server log has the details.")
}

/// The org's host named `name`.
async fn host_named(state: &AppState, caller: &Caller, name: &str) -> Result<HostRecord, Refused> {
    match state.store.host_by_name(caller.org, name).await {
        Ok(host) => Ok(host),
        Err(StoreError::NotFound { .. }) => Err(Reply::private(format!(
            "No host named {} in this org; `/hosts` lists them.",
            inert(name, 64)
        ))),
        Err(err) => Err(unavailable(err)),
    }
}

/// A host's presence as a word and a colour.
fn presence_of(presence: Option<Presence>) -> (&'static str, u32) {
    match presence {
        Some(Presence::Online) => ("online", colour::OK),
        Some(Presence::Stale) => ("stale", colour::WARN),
        Some(Presence::Offline) => ("offline", colour::BAD),
        None => ("never seen", colour::INFO),
    }
}

async fn hosts(state: &AppState, caller: &Caller) -> Result<Reply, Refused> {
    let records =
        state.store.list_hosts(caller.org, None, LIST_LIMIT + 1).await.map_err(unavailable)?;
    if records.is_empty() {
        return Ok(Reply::public("This org has no hosts yet."));
    }
    let more = records.len() > LIST_LIMIT as usize;
    let mut lines = Vec::new();
    for record in records.into_iter().take(LIST_LIMIT as usize) {
        let host = crate::http::hosts::view(state, record);
        let (presence, _) = presence_of(host.presence);
        let mut line = format!("**{}** · {presence}", inert(&host.name, 64));
        if let Some(beat) = &host.last_heartbeat {
            for game in &beat.games {
                line.push_str(&format!(
                    " · {} {} ({} players)",
                    inert(&game.instance, 64),
                    if game.up { "up" } else { "down" },
                    game.players_online
                ));
            }
        }
        lines.push(line);
    }
    if more {
        lines.push(format!("…and more; the first {LIST_LIMIT} by name are shown."));
    }
    Ok(Reply::public(lines.join("\n")))
}

async fn status(state: &AppState, caller: &Caller, name: &str) -> Result<Reply, Refused> {
    let record = host_named(state, caller, name).await?;
    let host = crate::http::hosts::view(state, record);
    let (presence, colour) = presence_of(host.presence);
    let mut embed = Embed {
        title: inert(&host.name, 64),
        description: format!(
            "{presence}{}",
            if host.connected { ", agent connected" } else { ", agent not connected" }
        ),
        fields: Vec::new(),
        colour,
    };
    match &host.last_heartbeat_at {
        Some(at) => embed.field("Last heartbeat", at.clone()),
        None => embed.field("Last heartbeat", "none yet"),
    }
    if let Some(beat) = &host.last_heartbeat {
        embed.field("Agent", inert(&beat.agent_version, 64));
        if let Some(load) = &beat.load {
            embed.field("Load", format!("{:.2} {:.2} {:.2}", load.one, load.five, load.fifteen));
        }
        if let Some(memory) = &beat.memory {
            let used = memory.total_bytes.saturating_sub(memory.available_bytes);
            embed.field("Memory", format!("{} / {} MiB", used >> 20, memory.total_bytes >> 20));
        }
        for game in &beat.games {
            let players = match game.max_players {
                Some(max) => format!("{}/{max}", game.players_online),
                None => game.players_online.to_string(),
            };
            let mut value = format!(
                "{} · {} · {players} players",
                inert(&game.game, 32),
                if game.up { "up" } else { "down" }
            );
            if let Some(version) = &game.version {
                value.push_str(&format!(" · {}", inert(version, 64)));
            }
            if let Some(time) = &game.world_time {
                value.push_str(&format!(" · {}", inert(time, 64)));
            }
            embed.field(format!("Game {}", inert(&game.instance, 64)), value);
        }
    }
    Ok(Reply { content: String::new(), embed: Some(embed), ephemeral: false })
}

async fn players(state: &AppState, caller: &Caller, name: &str) -> Result<Reply, Refused> {
    let host = host_named(state, caller, name).await?;
    let seen = state.store.host_players(caller.org, host.id, 1000).await.map_err(unavailable)?;
    let online: Vec<_> = seen.into_iter().filter(|seen| seen.online).collect();
    let host_name = inert(&host.name, 64);
    if online.is_empty() {
        return Ok(Reply::public(format!("Nobody is online on {host_name}.")));
    }
    let mut by_game: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for seen in online {
        by_game.entry(seen.instance).or_default().push(inert(&seen.player.name, 64));
    }
    let mut text = format!("Online on {host_name}:");
    for (game, names) in by_game {
        text.push_str(&format!(
            "\n**{}** ({}): {}",
            inert(&game, 64),
            names.len(),
            names.join(", ")
        ));
    }
    Ok(Reply::public(text))
}

async fn jobs(state: &AppState, caller: &Caller, host: Option<&str>) -> Result<Reply, Refused> {
    let host = match host {
        Some(name) => Some(host_named(state, caller, name).await?),
        None => None,
    };
    let filter =
        JobFilter { host: host.as_ref().map(|h| h.id), state: None, before: None, limit: 10 };
    let jobs = state.store.list_jobs(caller.org, &filter).await.map_err(unavailable)?;
    if jobs.is_empty() {
        return Ok(Reply::public("No jobs yet."));
    }
    let mut names: BTreeMap<HostId, String> = BTreeMap::new();
    let mut lines = Vec::new();
    for job in jobs {
        let host_name = match names.get(&job.host) {
            Some(name) => name.clone(),
            None => {
                let name = match state.store.get_host(caller.org, job.host).await {
                    Ok(host) => inert(&host.name, 64),
                    Err(StoreError::NotFound { .. }) => "(deleted host)".to_owned(),
                    Err(err) => return Err(unavailable(err)),
                };
                names.insert(job.host, name.clone());
                name
            }
        };
        lines.push(format!(
            "`{}` {host_name} · {} · {} · {}",
            short_id(job.id),
            describe_kind(&job.kind),
            job.state,
            job.created_at.strftime("%Y-%m-%d %H:%M UTC")
        ));
    }
    Ok(Reply::public(lines.join("\n")))
}

/// The first 8 hex digits of a job id: enough to tell jobs apart in a list.
fn short_id(id: JobId) -> String {
    id.to_string().chars().take(8).collect()
}

/// A job's kind in a few words.
fn describe_kind(kind: &JobKind) -> String {
    match kind {
        JobKind::Command(command) => {
            let program = command.program.rsplit('/').next().unwrap_or(&command.program);
            format!("command {}", inert(program, 64))
        }
        JobKind::Game(action) => format!("{} {}", inert(&action.game, 64), action.action),
    }
}

async fn run(
    state: &AppState,
    caller: &Caller,
    host: &str,
    template: &str,
) -> Result<Answer, Refused> {
    let host = host_named(state, caller, host).await?;
    let schedule = match state.store.schedule_by_name(caller.org, template).await {
        Ok(schedule) => schedule,
        Err(StoreError::NotFound { .. }) => {
            return Err(Reply::private(format!(
                "No schedule named {} in this org. `/run` runs the job template of one of \
                 the org's schedules (`GET /api/v1/orgs/<org>/schedules` lists them) on the host \
                 you name, now.",
                inert(template, 64)
            )));
        }
        Err(err) => return Err(unavailable(err)),
    };
    let spec = schedule.spec.template;
    let job = JobRequest {
        kind: spec.kind,
        timeout_secs: spec.timeout_secs,
        output_cap_bytes: spec.output_cap_bytes,
        deadline_secs: spec.deadline_secs,
    };
    start(state, caller, &host, job, inert(template, 64)).await
}

/// The game server a game action goes to: the one named, or the host's only one.
async fn game_of(
    state: &AppState,
    caller: &Caller,
    host: &HostRecord,
    named: Option<String>,
) -> Result<String, Refused> {
    let games = state.store.list_games(caller.org, host.id).await.map_err(unavailable)?;
    let host_name = inert(&host.name, 64);
    if let Some(named) = named {
        let known = games.iter().any(|game| {
            game.instance.name == named || game.instance.game.as_str() == named.as_str()
        });
        if !known {
            return Err(Reply::private(format!(
                "{host_name} has no game server {}.",
                inert(&named, 64)
            )));
        }
        return Ok(named);
    }
    match games.as_slice() {
        [] => Err(Reply::private(format!("{host_name} has no game server configured."))),
        [only] => Ok(only.instance.name.clone()),
        several => Err(Reply::private(format!(
            "{host_name} has several game servers ({}); say which with the `game` option.",
            several.iter().map(|g| inert(&g.instance.name, 64)).collect::<Vec<_>>().join(", ")
        ))),
    }
}

async fn restart(
    state: &AppState,
    caller: &Caller,
    host: &str,
    delay_secs: Option<u64>,
    game: Option<String>,
) -> Result<Answer, Refused> {
    if let Some(delay) = delay_secs
        && delay > MAX_RESTART_DELAY_SECS
    {
        return Err(Reply::private(format!(
            "A restart delay is 0 to {MAX_RESTART_DELAY_SECS} seconds."
        )));
    }
    let host = host_named(state, caller, host).await?;
    let game = game_of(state, caller, &host, game).await?;
    let mut args = BTreeMap::new();
    if let Some(delay) = delay_secs {
        args.insert("warnings_secs".to_owned(), serde_json::json!(restart_warnings(delay)));
    }
    let kind = JobKind::Game(GameAction { game, action: "restart".to_owned(), args });
    let what = match delay_secs {
        Some(delay) => format!("restart in {delay} s"),
        None => "restart".to_owned(),
    };
    start(state, caller, &host, JobRequest::of(kind), what).await
}

/// The in-game warnings of a restart `delay` seconds away: one at the delay, then each step of
/// the ladder that fits inside it. No warnings for an immediate restart.
pub fn restart_warnings(delay: u64) -> Vec<u64> {
    if delay == 0 {
        return Vec::new();
    }
    std::iter::once(delay).chain(WARNING_LADDER.into_iter().filter(|&w| w < delay)).collect()
}

async fn say(
    state: &AppState,
    caller: &Caller,
    host: &str,
    message: &str,
    game: Option<String>,
) -> Result<Answer, Refused> {
    let message = message.trim();
    if message.is_empty() || message.chars().count() > MAX_SAY_CHARS {
        return Err(Reply::private(format!("A message is 1 to {MAX_SAY_CHARS} characters.")));
    }
    if message.chars().any(char::is_control) {
        return Err(Reply::private("A message cannot hold line breaks or control characters."));
    }
    let host = host_named(state, caller, host).await?;
    let game = game_of(state, caller, &host, game).await?;
    let args = BTreeMap::from([("message".to_owned(), serde_json::json!(message))]);
    let kind = JobKind::Game(GameAction { game, action: "say".to_owned(), args });
    start(state, caller, &host, JobRequest::of(kind), "say".to_owned()).await
}

/// What a command asks to run.
struct JobRequest {
    kind: JobKind,
    timeout_secs: Option<u64>,
    output_cap_bytes: Option<u64>,
    deadline_secs: Option<u64>,
}

impl JobRequest {
    fn of(kind: JobKind) -> JobRequest {
        JobRequest { kind, timeout_secs: None, output_cap_bytes: None, deadline_secs: None }
    }
}

/// Creates the job as `POST …/jobs` does and answers at once; the follow-up waits for its end.
async fn start(
    state: &AppState,
    caller: &Caller,
    host: &HostRecord,
    request: JobRequest,
    what: String,
) -> Result<Answer, Refused> {
    let now = Timestamp::now();
    let deadline = request.deadline_secs.map_or(state.settings.job_deadline, Duration::from_secs);
    let deadline = jiff::SignedDuration::try_from(deadline).map_err(|_| internal())?;
    let new = NewJob {
        id: JobId::new(),
        host: host.id,
        kind: request.kind,
        timeout_secs: request.timeout_secs,
        output_cap_bytes: request.output_cap_bytes,
        requested_by: caller.requester(),
        idempotency_key: None,
        deadline_at: now.checked_add(deadline).map_err(|_| internal())?,
        now,
    };
    let audit = caller.audit("job.create", "job", new.id);
    let (job, created) = match state.store.create_job(caller.org, &new, &audit).await {
        Ok(created) => created,
        Err(StoreError::NotFound { .. }) => {
            return Err(Reply::private("That host was deleted just now."));
        }
        Err(err) => return Err(unavailable(err)),
    };
    if created == Created::New {
        tracing::info!(org.id = %caller.org, job.id = %job.id, host.id = %job.host, member = %caller.user, "job created from Discord");
        dispatch::offer(state, &job).await.map_err(unavailable)?;
    }
    let host_name = inert(&host.name, 64);
    let first = Reply::public(format!(
        "{what} on **{host_name}** started as job `{}`; this message shows how it ends.",
        job.id
    ));
    let follow_up = follow_up(state.clone(), caller.org, job.id, what, host_name);
    Ok(Answer::Deferred { first, follow_up: Box::pin(follow_up) })
}

/// Waits for the job to end (or [`FOLLOW_UP_LIMIT`]) and says how it went.
async fn follow_up(state: AppState, org: OrgId, id: JobId, what: String, host: String) -> Reply {
    // Subscribed before the first read, so a change between the two is not missed.
    let mut changes = state.job_events.subscribe();
    let deadline = tokio::time::Instant::now() + FOLLOW_UP_LIMIT;
    loop {
        let job = match state.store.get_job(org, id).await {
            Ok(job) => job,
            Err(err) => return unavailable(err),
        };
        if job.state.is_terminal() {
            return ended(&job, &what, &host);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Reply::public(format!(
                "{what} on **{host}** (job `{id}`) is still {} after {} minutes; \
                 `/jobs` shows it later.",
                job.state,
                FOLLOW_UP_LIMIT.as_secs() / 60
            ));
        }
        let wait = async {
            loop {
                match changes.recv().await {
                    Ok(changed) if changed == id => return,
                    Ok(_) => {}
                    // Missed some announcements: read the job again.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await;
                    }
                }
            }
        };
        let _ = tokio::time::timeout((deadline - now).min(RECHECK), wait).await;
    }
}

/// The edit for a job that ended.
fn ended(job: &JobRecord, what: &str, host: &str) -> Reply {
    let mut text = format!("{what} on **{host}** (job `{}`) {}", job.id, job.state);
    if let Some(result) = &job.result
        && let Some(code) = result.exit_code
        && job.state != JobState::Succeeded
    {
        text.push_str(&format!(", exit code {code}"));
    }
    if let Some(reason) = &job.reason {
        text.push_str(&format!(": {}", inert(reason, 500)));
    }
    text.push('.');
    Reply::public(text)
}
