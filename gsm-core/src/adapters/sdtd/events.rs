//! 7DTD log lines → typed events, with the raw line kept. Pure: a line in, an event or `None` out.
//!
//! A log line reads `YYYY-MM-DDTHH:MM:SS <uptime seconds> <LVL> <message>`; [`parse_line`] also
//! accepts the bare message (as the game's own tests and some tools print it). Unknown lines are
//! `None`, not errors: the game and its mods print far more than gsm cares about.
//!
//! Recognised messages, with the format drift seen across builds (A16 → V 2.4):
//! - `Player connected, entityid=…, name=…, steamid=…, steamOwner=…, ip=…` (A16) →
//!   [`Event::PlayerConnected`];
//! - `GMSG: Player '<name>' joined the game` / `left the game` / `died` / `killed by '<killer>'` →
//!   [`Event::PlayerJoined`], [`Event::PlayerLeft`], [`Event::PlayerDied`];
//! - `PlayerSpawnedInWorld (reason: …, position: x, y, z): <client info>` →
//!   [`Event::PlayerSpawned`], and `Player disconnected: <client info>` →
//!   [`Event::PlayerDisconnected`], where client info is `EntityID=…, PlayerID='…'` (A16) or
//!   `EntityID=…, PltfmId='…', CrossId='…'` (later), with or without `ClientNumber='…'`;
//! - `Chat (from '<id>', entity id '<n>', to '<channel>'): ['<name>': ]<message>`, ids bare
//!   (`7656…`) or prefixed (`Steam_7656…`), the server's own `say` with or without `'Server':`,
//!   and the same behind `Chat handled by mod '<mod>': ` → [`Event::Chat`];
//! - `Entity <name> <id> killed by <killer> <id>` → [`Event::EntityKilled`];
//! - `Executing command '<line>' by Telnet from …` / `from client …` → [`Event::CommandExecuted`];
//! - `Started Telnet on <port>` → [`Event::ServerStarted`]; `[NET] ServerShutdown` →
//!   [`Event::ServerStopping`];
//! - `Time: … FPS: …` (logged every 30 s while clients are connected) → [`Event::Stats`];
//! - `Telnet connection not accepted for too many login attempts: <address>` →
//!   [`Event::ConsoleLoginBlocked`];
//! - any other `ERR` or `EXC` line → [`Event::Error`] (these level tags are an inference: only
//!   `INF` and `WRN` are attested in the material read).
//!
//! Known spam (`NullReferenceException`, `IsMovementBlocked`, `VehicleManager`) is `None`, as are
//! mod-only lines (`[CSMM_Patrons]playerDied: …`), whose formats are undocumented.
//!
//! The hot path decides with byte comparisons and prefix checks, no regular expressions: a line
//! that is not an event costs a few comparisons and no allocation.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::parse::{self, MemStats};

/// One recognised log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LogEvent {
    /// The server's local time from the line's prefix (`2018-01-09T19:39:30`, no zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Seconds since the server started, from the line's prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_s: Option<f64>,
    /// The level tag from the line's prefix (`INF`, `WRN`, `ERR`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
    /// The line as received.
    pub raw: String,
}

/// What a log line says happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A player's client connected (A16's `Player connected, …`).
    PlayerConnected {
        /// Who.
        player: PlayerRef,
        /// The address the player connected from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ip: Option<String>,
    },
    /// `GMSG: Player '…' joined the game`.
    PlayerJoined {
        /// The player's name.
        name: String,
    },
    /// `PlayerSpawnedInWorld`: a player entered the world (joined, or respawned after dying).
    PlayerSpawned {
        /// Why: `JoinMultiplayer`, `EnterMultiplayer`, `Died`, …
        reason: String,
        /// Where, as `[x, y, z]`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        position: Option<[f64; 3]>,
        /// Who.
        player: PlayerRef,
    },
    /// `Player disconnected: …`.
    PlayerDisconnected {
        /// Who.
        player: PlayerRef,
    },
    /// `GMSG: Player '…' left the game`.
    PlayerLeft {
        /// The player's name.
        name: String,
    },
    /// `GMSG: Player '…' died` or `… killed by '…'`.
    PlayerDied {
        /// The player's name.
        name: String,
        /// The killer's name, when another player killed them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        killer: Option<String>,
    },
    /// `Entity <name> <id> killed by <killer> <id>`.
    EntityKilled {
        /// The entity's name (`zombieNurse`).
        entity: String,
        /// The entity's id.
        entity_id: i64,
        /// The killer's name.
        killer: String,
        /// The killer's entity id.
        killer_id: i64,
    },
    /// A chat message.
    Chat {
        /// The channel: `Global`, `Friends`, `Party`, …
        channel: String,
        /// The sender's id as printed (`Steam_7656…`, a bare Steam id, or `-non-player-`).
        from: String,
        /// The sender's entity id (`-1` for the server).
        entity_id: i64,
        /// The sender's name, when the line carries one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The message.
        message: String,
        /// The mod that swallowed the message (`Chat handled by mod '…'`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handled_by_mod: Option<String>,
    },
    /// `Executing command '…' by Telnet from …` or `… from client …`.
    CommandExecuted {
        /// The command line.
        command: String,
        /// Who ran it, as printed (`Telnet from 127.0.0.1:54321`, `client EntityID=…`).
        source: String,
    },
    /// `Started Telnet on <port>`: the server is up far enough to take console connections.
    ServerStarted {
        /// The console port.
        telnet_port: u16,
    },
    /// `[NET] ServerShutdown`: the server is stopping.
    ServerStopping,
    /// The periodic `Time: …` performance line.
    Stats(MemStats),
    /// `Telnet connection not accepted for too many login attempts: <address>`.
    ConsoleLoginBlocked {
        /// The refused client's address.
        address: String,
    },
    /// An `ERR` or `EXC` line gsm has no better name for.
    Error {
        /// The message after the prefix.
        message: String,
    },
}

impl Event {
    /// The event's snake_case tag, as serialised in `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::PlayerConnected { .. } => "player_connected",
            Event::PlayerJoined { .. } => "player_joined",
            Event::PlayerSpawned { .. } => "player_spawned",
            Event::PlayerDisconnected { .. } => "player_disconnected",
            Event::PlayerLeft { .. } => "player_left",
            Event::PlayerDied { .. } => "player_died",
            Event::EntityKilled { .. } => "entity_killed",
            Event::Chat { .. } => "chat",
            Event::CommandExecuted { .. } => "command_executed",
            Event::ServerStarted { .. } => "server_started",
            Event::ServerStopping => "server_stopping",
            Event::Stats(_) => "stats",
            Event::ConsoleLoginBlocked { .. } => "console_login_blocked",
            Event::Error { .. } => "error",
        }
    }
}

/// A player as a log line names them; which ids are present depends on the game version.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct PlayerRef {
    /// The player's name.
    pub name: String,
    /// The entity id for this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<i64>,
    /// The platform id: `PltfmId` (`Steam_7656…`), or A16's `PlayerID` / `steamid` (`7656…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_id: Option<String>,
    /// The cross-platform id (`EOS_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_id: Option<String>,
    /// The owner's id (`OwnerID`, A16's `steamOwner`): differs for a family-shared game.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// `ClientNumber` (V 1 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_number: Option<u32>,
}

/// The prefix of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix<'a> {
    /// `YYYY-MM-DDTHH:MM:SS`.
    pub time: &'a str,
    /// Seconds since start, as printed.
    pub uptime: &'a str,
    /// The three-letter level tag.
    pub level: &'a str,
}

/// Splits a log line into its prefix and message; `None` when the line has no prefix.
pub fn split_prefix(line: &str) -> Option<(Prefix<'_>, &str)> {
    const SHAPE: &[u8; 20] = b"dddd-dd-ddTdd:dd:dd ";
    let bytes = line.as_bytes();
    if bytes.len() < 24 {
        return None;
    }
    let stamp_ok = SHAPE.iter().zip(bytes).all(|(&shape, &byte)| match shape {
        b'd' => byte.is_ascii_digit(),
        _ => shape == byte,
    });
    if !stamp_ok {
        return None;
    }
    // Every byte checked so far is ASCII, so these are char boundaries.
    let rest = &line[20..];
    let space = rest.as_bytes().iter().position(|&b| b == b' ')?;
    let uptime = &rest[..space];
    let uptime_ok = !uptime.is_empty()
        && uptime.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+');
    if !uptime_ok {
        return None;
    }
    let after = &rest[space + 1..];
    let level = after.as_bytes().get(..3)?;
    if !level.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    let message = match after.as_bytes().get(3) {
        None => "",
        Some(b' ') => &after[4..],
        Some(_) => return None,
    };
    Some((Prefix { time: &line[..19], uptime, level: &after[..3] }, message))
}

/// Parses one log line (prefixed or bare); `None` for lines that are not events.
pub fn parse_line(line: &str) -> Option<LogEvent> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (prefix, message) = match split_prefix(line) {
        Some((prefix, message)) => (Some(prefix), message),
        None => (None, line),
    };
    let level = prefix.map(|prefix| prefix.level);
    let event = message_event(message, level)?;
    Some(LogEvent {
        time: prefix.map(|prefix| prefix.time.to_owned()),
        uptime_s: prefix.and_then(|prefix| parse::decimal(prefix.uptime)),
        level: level.map(str::to_owned),
        event,
        raw: line.to_owned(),
    })
}

fn message_event(message: &str, level: Option<&str>) -> Option<Event> {
    if let Some(event) = recognise(message) {
        return Some(event);
    }
    let error_level = matches!(level, Some("ERR" | "EXC"));
    (error_level && !message.is_empty() && !is_spam(message))
        .then(|| Event::Error { message: message.to_owned() })
}

/// The message's event by its first byte and prefix; `None` when no known shape matches.
fn recognise(message: &str) -> Option<Event> {
    match message.as_bytes().first()? {
        b'P' => player_message(message),
        b'G' => gmsg(message.strip_prefix("GMSG: Player '")?),
        b'C' => chat_message(message),
        b'E' => {
            if let Some(rest) = message.strip_prefix("Executing command '") {
                executing(rest)
            } else {
                entity_killed(message.strip_prefix("Entity ")?)
            }
        }
        b'T' => {
            if message.starts_with("Time: ") {
                parse::mem_line(message).map(Event::Stats)
            } else {
                message
                    .strip_prefix("Telnet connection not accepted for too many login attempts: ")
                    .map(|address| Event::ConsoleLoginBlocked {
                        address: address.trim().to_owned(),
                    })
            }
        }
        b'S' => message
            .strip_prefix("Started Telnet on ")
            .and_then(|port| port.trim().parse().ok())
            .map(|telnet_port| Event::ServerStarted { telnet_port }),
        b'[' => (message.trim_end() == "[NET] ServerShutdown").then_some(Event::ServerStopping),
        _ => None,
    }
}

fn is_spam(message: &str) -> bool {
    ["NullReferenceException", "IsMovementBlocked", "VehicleManager"]
        .iter()
        .any(|spam| message.contains(spam))
}

fn player_message(message: &str) -> Option<Event> {
    if let Some(rest) = message.strip_prefix("PlayerSpawnedInWorld (reason: ") {
        let (inside, info) = rest.split_once("): ")?;
        let (reason, position) = match inside.split_once(", position: ") {
            Some((reason, position)) => (reason, triple(position)),
            None => (inside, None),
        };
        return Some(Event::PlayerSpawned {
            reason: reason.to_owned(),
            position,
            player: client_info(info)?,
        });
    }
    if let Some(info) = message.strip_prefix("Player disconnected: ") {
        return Some(Event::PlayerDisconnected { player: client_info(info)? });
    }
    let rest = message.strip_prefix("Player connected, ")?;
    let mut player = PlayerRef::default();
    let mut ip = None;
    for (key, value) in Fields::new(rest) {
        match key {
            "entityid" => player.entity_id = value.parse().ok(),
            "name" => player.name = value.to_owned(),
            "steamid" | "pltfmid" => player.platform_id = known(value),
            "crossid" => player.cross_id = known(value),
            "steamOwner" => player.owner_id = known(value),
            "ip" => ip = known(value),
            _ => {}
        }
    }
    (!player.name.is_empty()).then_some(Event::PlayerConnected { player, ip })
}

fn gmsg(rest: &str) -> Option<Event> {
    let named = |name: &str| (!name.is_empty()).then(|| name.to_owned());
    if let Some(name) = rest.strip_suffix("' joined the game") {
        return Some(Event::PlayerJoined { name: named(name)? });
    }
    if let Some(name) = rest.strip_suffix("' left the game") {
        return Some(Event::PlayerLeft { name: named(name)? });
    }
    if let Some(name) = rest.strip_suffix("' died") {
        return Some(Event::PlayerDied { name: named(name)?, killer: None });
    }
    let (name, killer) = rest.strip_suffix('\'')?.split_once("' killed by '")?;
    Some(Event::PlayerDied { name: named(name)?, killer: Some(killer.to_owned()) })
}

fn chat_message(message: &str) -> Option<Event> {
    if let Some(rest) = message.strip_prefix("Chat handled by mod '") {
        let (name, chat) = rest.split_once("': ")?;
        return chat_line(chat.strip_prefix("Chat (from '")?, Some(name.to_owned()));
    }
    chat_line(message.strip_prefix("Chat (from '")?, None)
}

fn chat_line(rest: &str, handled_by_mod: Option<String>) -> Option<Event> {
    let (from, rest) = rest.split_once("', entity id '")?;
    let (entity_id, rest) = rest.split_once("', to '")?;
    let (channel, body) = rest.split_once("'): ")?;
    let (name, message) = match body.strip_prefix('\'').and_then(|quoted| quoted.split_once("': "))
    {
        Some((name, message)) => (Some(name.to_owned()), message),
        None => (None, body),
    };
    Some(Event::Chat {
        channel: channel.to_owned(),
        from: from.to_owned(),
        entity_id: entity_id.parse().ok()?,
        name,
        message: message.to_owned(),
        handled_by_mod,
    })
}

fn executing(rest: &str) -> Option<Event> {
    let (command, source) = match rest.rfind("' by ") {
        Some(at) => (&rest[..at], &rest[at + 5..]),
        None => {
            let at = rest.find("' from ")?;
            (&rest[..at], &rest[at + 7..])
        }
    };
    Some(Event::CommandExecuted { command: command.to_owned(), source: source.to_owned() })
}

fn entity_killed(rest: &str) -> Option<Event> {
    let (victim, killer) = rest.split_once(" killed by ")?;
    let (entity, entity_id) = victim.rsplit_once(' ')?;
    let (killer, killer_id) = killer.trim_end().rsplit_once(' ')?;
    Some(Event::EntityKilled {
        entity: entity.to_owned(),
        entity_id: entity_id.parse().ok()?,
        killer: killer.to_owned(),
        killer_id: killer_id.parse().ok()?,
    })
}

/// `EntityID=171, PltfmId='Steam_…', CrossId='EOS_…', OwnerID='…', PlayerName='…',
/// ClientNumber='6'` and its older forms.
fn client_info(text: &str) -> Option<PlayerRef> {
    let mut player = PlayerRef::default();
    let mut named = false;
    for (key, value) in Fields::new(text) {
        match key {
            "EntityID" => player.entity_id = value.parse().ok(),
            "PltfmId" | "PlayerID" => player.platform_id = known(value),
            "CrossId" => player.cross_id = known(value),
            "OwnerID" => player.owner_id = known(value),
            "PlayerName" => {
                player.name = value.to_owned();
                named = true;
            }
            "ClientNumber" => player.client_number = value.parse().ok(),
            _ => {}
        }
    }
    named.then_some(player)
}

fn known(value: &str) -> Option<String> {
    (!value.is_empty() && value != "<unknown>").then(|| value.to_owned())
}

fn triple(text: &str) -> Option<[f64; 3]> {
    let mut parts = text.split(',').map(|part| parse::decimal(part.trim()));
    let position = [parts.next()??, parts.next()??, parts.next()??];
    parts.next().is_none().then_some(position)
}

/// `key=value, key='quoted value', …`. A value runs to the next `, ` that is followed by
/// `<identifier>=`, so names holding `, ` or `'` survive; a quoted value loses its quotes.
struct Fields<'a> {
    rest: &'a str,
}

impl<'a> Fields<'a> {
    fn new(text: &'a str) -> Self {
        Fields { rest: text.trim_end() }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let (key, after) = self.rest.split_once('=')?;
        let mut from = 0;
        let (value, next) = loop {
            match after[from..].find(", ") {
                Some(found) => {
                    let at = from + found;
                    if starts_with_key(&after[at + 2..]) {
                        break (&after[..at], &after[at + 2..]);
                    }
                    from = at + 2;
                }
                None => break (after, ""),
            }
        };
        self.rest = next;
        let value = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(value);
        Some((key, value))
    }
}

fn starts_with_key(text: &str) -> bool {
    // Stops at the first byte that cannot be in a key, so scanning stays linear in the line.
    let key = text.bytes().take_while(u8::is_ascii_alphanumeric).count();
    key > 0 && text.as_bytes().get(key) == Some(&b'=')
}

#[cfg(test)]
mod tests;
