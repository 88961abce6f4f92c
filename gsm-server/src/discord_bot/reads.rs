//! The commands that read: `/hosts`, `/status`, `/players` and `/jobs`, answered at once from
//! what the REST API shows (`http::hosts::view` for presence and the last heartbeat, the store
//! for players seen and jobs). Every name that did not come from gsm passes `reply::inert`.

use std::collections::BTreeMap;

use gsm_core::job::{HostId, JobId, JobKind};
use gsm_core::presence::Presence;

use super::commands::{Caller, Refused, host_named, unavailable};
use super::reply::{Embed, Reply, colour, inert};
use crate::app::AppState;
use crate::store::{JobFilter, StoreError};

/// Hosts `/hosts` lists.
const LIST_LIMIT: u32 = 20;

/// A host's presence as a word and a colour.
fn presence_of(presence: Option<Presence>) -> (&'static str, u32) {
    match presence {
        Some(Presence::Online) => ("online", colour::OK),
        Some(Presence::Stale) => ("stale", colour::WARN),
        Some(Presence::Offline) => ("offline", colour::BAD),
        None => ("never seen", colour::INFO),
    }
}

pub(super) async fn hosts(state: &AppState, caller: &Caller) -> Result<Reply, Refused> {
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

pub(super) async fn status(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> Result<Reply, Refused> {
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

pub(super) async fn players(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> Result<Reply, Refused> {
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

pub(super) async fn jobs(
    state: &AppState,
    caller: &Caller,
    host: Option<&str>,
) -> Result<Reply, Refused> {
    let host = match host {
        Some(name) => Some(host_named(state, caller, name).await?),
        None => None,
    };
    let filter = JobFilter { host: host.as_ref().map(|h| h.id), limit: 10, ..JobFilter::default() };
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
