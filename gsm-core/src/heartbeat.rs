//! The heartbeat payload: what an agent reports about its host every interval ([`Heartbeat`]).
//!
//! These types cross the wire, so their JSON shape is a compatibility promise in both directions.
//! Every field added after the first release carries `#[serde(default)]`, so an older agent's
//! payload still parses on a newer server; unknown fields are ignored (no `deny_unknown_fields`),
//! so a newer agent's payload still parses on an older server. Parsing accepts any well-formed
//! payload; [`Heartbeat::validate`] is the separate step that bounds sizes, because the server
//! must refuse a payload that would make it store or fan out unbounded data.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::job::{HostId, JobId};

/// Most disks one heartbeat may list.
pub const MAX_DISKS: usize = 64;
/// Most running job ids one heartbeat may list.
pub const MAX_RUNNING_JOBS: usize = 1024;
/// Most game servers one heartbeat may report.
pub const MAX_GAMES: usize = 32;
/// Most players one game server may list.
pub const MAX_PLAYERS: usize = 1000;
/// Longest string, in bytes, any heartbeat field may hold.
pub const MAX_STRING_BYTES: usize = 256;

/// One report from an agent about its host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Heartbeat {
    /// The host the agent runs on.
    pub host: HostId,
    /// The agent's version, e.g. `0.1.0`.
    pub agent_version: String,
    /// Counts up by one per heartbeat since the agent started, so the server can spot gaps and
    /// reordering.
    pub seq: u64,
    /// Seconds since the host booted.
    #[serde(default)]
    pub uptime_secs: u64,
    /// Load averages; `None` when the agent could not read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadAvg>,
    /// Memory figures; `None` when the agent could not read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    /// Mounted file systems the agent watches.
    #[serde(default)]
    pub disks: Vec<Disk>,
    /// Jobs running on the host right now.
    #[serde(default)]
    pub running_jobs: Vec<JobId>,
    /// The game servers the agent manages on this host; a host may run several.
    #[serde(default)]
    pub games: Vec<GameStatus>,
}

/// The 1, 5 and 15 minute load averages.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct LoadAvg {
    /// Over the last minute.
    pub one: f64,
    /// Over the last five minutes.
    pub five: f64,
    /// Over the last fifteen minutes.
    pub fifteen: f64,
}

/// Physical memory, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Memory {
    /// All physical memory.
    pub total_bytes: u64,
    /// Memory available to new processes without swapping (Linux `MemAvailable`).
    pub available_bytes: u64,
}

/// One mounted file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Disk {
    /// Where it is mounted, e.g. `/` or `/srv/games`.
    pub mount: String,
    /// Its size.
    pub total_bytes: u64,
    /// Space available to unprivileged users.
    pub available_bytes: u64,
}

/// What one game server on the host is doing, as its adapter saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GameStatus {
    /// The game type, as the adapter registry names it (`7dtd`, `source-rcon`, ...).
    pub game: String,
    /// The server's name in the agent's configuration, unique on the host; empty when the agent
    /// manages a single server and names none.
    #[serde(default)]
    pub instance: String,
    /// True when the adapter reached the game server.
    pub up: bool,
    /// The game server's version, when it reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Players online, as the server counts them (it may be more than `players` lists).
    #[serde(default)]
    pub players_online: u32,
    /// Player slots, when the server reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_players: Option<u32>,
    /// The players online, when the adapter can list them.
    #[serde(default)]
    pub players: Vec<Player>,
    /// The in-game clock as the game prints it (e.g. `Day 7, 22:00`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world_time: Option<String>,
}

/// A player on a game server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Player {
    /// The platform's id for the player (a Steam id, an entity id, ...), as the game reports it.
    pub id: String,
    /// The player's display name.
    pub name: String,
}

/// Why a heartbeat was refused. Field paths name the offending element, e.g.
/// `games[0].players[3].name`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HeartbeatError {
    /// A list holds more elements than allowed.
    #[error("heartbeat field {field} has {count} entries; at most {max} are allowed")]
    TooManyEntries {
        /// The list's path.
        field: String,
        /// How many it held.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A string is longer than [`MAX_STRING_BYTES`].
    #[error("heartbeat field {field} is {len} bytes long; at most {max} are allowed")]
    StringTooLong {
        /// The string's path.
        field: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A string that must say something is empty.
    #[error("heartbeat field {field} is empty; expected a non-empty string")]
    EmptyString {
        /// The string's path.
        field: String,
    },
    /// More bytes available than exist.
    #[error(
        "heartbeat field {field} reports {available_bytes} bytes available of {total_bytes} in total; available cannot exceed total"
    )]
    AvailableExceedsTotal {
        /// The memory or disk entry's path.
        field: String,
        /// The available figure.
        available_bytes: u64,
        /// The total figure.
        total_bytes: u64,
    },
    /// A load average that is negative, infinite or not a number.
    #[error("heartbeat field {field} is {value}; expected a finite number of at least 0")]
    InvalidLoad {
        /// The load field's path.
        field: &'static str,
        /// The value sent.
        value: f64,
    },
}

impl Heartbeat {
    /// Checks the payload's sizes and figures; the server calls this before it stores or forwards
    /// anything from a heartbeat. Returns the first problem found.
    pub fn validate(&self) -> Result<(), HeartbeatError> {
        check_string("agent_version", &self.agent_version)?;
        check_non_empty("agent_version", &self.agent_version)?;
        if let Some(load) = &self.load {
            load.validate()?;
        }
        if let Some(memory) = &self.memory {
            check_available(|| "memory".to_owned(), memory.available_bytes, memory.total_bytes)?;
        }
        check_count("disks", self.disks.len(), MAX_DISKS)?;
        for (i, disk) in self.disks.iter().enumerate() {
            disk.validate(i)?;
        }
        check_count("running_jobs", self.running_jobs.len(), MAX_RUNNING_JOBS)?;
        check_count("games", self.games.len(), MAX_GAMES)?;
        for (i, game) in self.games.iter().enumerate() {
            game.validate(i)?;
        }
        Ok(())
    }
}

impl LoadAvg {
    fn validate(&self) -> Result<(), HeartbeatError> {
        for (field, value) in
            [("load.one", self.one), ("load.five", self.five), ("load.fifteen", self.fifteen)]
        {
            if !value.is_finite() || value < 0.0 {
                return Err(HeartbeatError::InvalidLoad { field, value });
            }
        }
        Ok(())
    }
}

impl Disk {
    fn validate(&self, index: usize) -> Result<(), HeartbeatError> {
        let path = || format!("disks[{index}].mount");
        check_string_at(path, &self.mount)?;
        if self.mount.is_empty() {
            return Err(HeartbeatError::EmptyString { field: path() });
        }
        check_available(|| format!("disks[{index}]"), self.available_bytes, self.total_bytes)
    }
}

impl GameStatus {
    fn validate(&self, index: usize) -> Result<(), HeartbeatError> {
        let game_path = || format!("games[{index}].game");
        check_string_at(game_path, &self.game)?;
        if self.game.is_empty() {
            return Err(HeartbeatError::EmptyString { field: game_path() });
        }
        check_string_at(|| format!("games[{index}].instance"), &self.instance)?;
        if let Some(version) = &self.version {
            check_string_at(|| format!("games[{index}].version"), version)?;
        }
        if let Some(world_time) = &self.world_time {
            check_string_at(|| format!("games[{index}].world_time"), world_time)?;
        }
        if self.players.len() > MAX_PLAYERS {
            return Err(HeartbeatError::TooManyEntries {
                field: format!("games[{index}].players"),
                count: self.players.len(),
                max: MAX_PLAYERS,
            });
        }
        for (p, player) in self.players.iter().enumerate() {
            check_string_at(|| format!("games[{index}].players[{p}].id"), &player.id)?;
            check_string_at(|| format!("games[{index}].players[{p}].name"), &player.name)?;
        }
        Ok(())
    }
}

fn check_count(field: &str, count: usize, max: usize) -> Result<(), HeartbeatError> {
    if count > max {
        return Err(HeartbeatError::TooManyEntries { field: field.to_owned(), count, max });
    }
    Ok(())
}

fn check_string(field: &str, value: &str) -> Result<(), HeartbeatError> {
    check_string_at(|| field.to_owned(), value)
}

/// Takes the path as a closure so the common, valid case formats nothing.
fn check_string_at(field: impl FnOnce() -> String, value: &str) -> Result<(), HeartbeatError> {
    if value.len() > MAX_STRING_BYTES {
        return Err(HeartbeatError::StringTooLong {
            field: field(),
            len: value.len(),
            max: MAX_STRING_BYTES,
        });
    }
    Ok(())
}

fn check_non_empty(field: &str, value: &str) -> Result<(), HeartbeatError> {
    if value.is_empty() {
        return Err(HeartbeatError::EmptyString { field: field.to_owned() });
    }
    Ok(())
}

fn check_available(
    field: impl FnOnce() -> String,
    available_bytes: u64,
    total_bytes: u64,
) -> Result<(), HeartbeatError> {
    if available_bytes > total_bytes {
        return Err(HeartbeatError::AvailableExceedsTotal {
            field: field(),
            available_bytes,
            total_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
