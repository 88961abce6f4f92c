//! Typed values from the 7DTD console's command outputs: `version`, `lp`/`listplayers`,
//! `gettime`, `mem`, and the login banner. Pure functions over response text.
//!
//! The parsers are strict about the structure that makes a value trustworthy (a player line's
//! index and id, the `Total of N in the game` trailer that proves the list is complete) and
//! lenient about fields that drifted across game versions (`steamid=` before the platform ids,
//! fields added later): unknown fields are ignored and missing ones are `None`. Numbers are parsed
//! from plain decimals only, so `NaN` or an overflowing exponent can never sneak into a value.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a command output could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The output lacks the line that carries the value.
    #[error("the `{command}` output has no `{expected}` line")]
    Missing {
        /// The command whose output this was.
        command: &'static str,
        /// The line that was looked for.
        expected: &'static str,
    },
    /// A line that should carry a value does not have the expected shape.
    #[error("the `{command}` output has a malformed line: {line:?}")]
    Malformed {
        /// The command whose output this was.
        command: &'static str,
        /// The line, cut to 200 bytes.
        line: String,
    },
}

fn malformed(command: &'static str, line: &str) -> Error {
    let mut end = line.len().min(200);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    Error::Malformed { command, line: line[..end].to_owned() }
}

/// The `version` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The game version, e.g. `V 2.4 (b7)` or `Alpha 16.4 (b8)`.
    pub game: String,
    /// The compatibility version, e.g. `V 2.4`, when printed.
    pub compatibility: Option<String>,
    /// The loaded mods, in the order printed.
    pub mods: Vec<ModVersion>,
}

/// One loaded mod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModVersion {
    /// The mod's name.
    pub name: String,
    /// Its version; `None` when the game prints `<unknown version>`.
    pub version: Option<String>,
}

/// Parses `version`: `Game version: V 2.4 (b7) Compatibility Version: V 2.4`, then one
/// `Mod <Name>: <version>` line per mod.
pub fn version(text: &str) -> Result<Version, Error> {
    let mut found = None;
    let mut mods = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Game version: ") {
            found = Some(split_compatibility(rest));
        } else if let Some(rest) = line.strip_prefix("Mod ") {
            let (name, version) =
                rest.split_once(": ").ok_or_else(|| malformed("version", line))?;
            let version = (version != "<unknown version>").then(|| version.to_owned());
            mods.push(ModVersion { name: name.to_owned(), version });
        }
    }
    let (game, compatibility) =
        found.ok_or(Error::Missing { command: "version", expected: "Game version: …" })?;
    Ok(Version { game, compatibility, mods })
}

fn split_compatibility(text: &str) -> (String, Option<String>) {
    match text.split_once(" Compatibility Version: ") {
        Some((game, compatibility)) => {
            (game.trim().to_owned(), Some(compatibility.trim().to_owned()))
        }
        None => (text.trim().to_owned(), None),
    }
}

/// The `lp` / `listplayers` output.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayerList {
    /// One entry per listed player.
    pub players: Vec<OnlinePlayer>,
    /// The count in `Total of N in the game`.
    pub total: u32,
}

/// One player line of `lp`.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlinePlayer {
    /// The entity id (`id=`).
    pub entity_id: i64,
    /// The display name, colour codes and all.
    pub name: String,
    /// `pos=(x, y, z)`.
    pub position: Option<[f64; 3]>,
    /// `remote=True|False`.
    pub remote: Option<bool>,
    /// `health=`.
    pub health: Option<i64>,
    /// `deaths=`.
    pub deaths: Option<i64>,
    /// `zombies=`: zombies killed.
    pub zombies: Option<i64>,
    /// `players=`: players killed.
    pub players: Option<i64>,
    /// `score=`.
    pub score: Option<i64>,
    /// `level=`.
    pub level: Option<i64>,
    /// `pltfmid=` (e.g. `Steam_76561198028175941`), or `steamid=` on old builds.
    pub platform_id: Option<String>,
    /// `crossid=` (e.g. `EOS_0002…`).
    pub cross_id: Option<String>,
    /// `ip=`.
    pub ip: Option<String>,
    /// `ping=`.
    pub ping: Option<i64>,
}

impl OnlinePlayer {
    /// The most stable id the game gave: the platform id, else the cross-platform id, else the
    /// entity id (which changes between sessions).
    pub fn id(&self) -> String {
        self.platform_id
            .clone()
            .or_else(|| self.cross_id.clone())
            .unwrap_or_else(|| self.entity_id.to_string())
    }
}

/// Parses `lp`: `0. id=171, Catalysm, pos=(…), rot=(…), remote=True, health=100, …,
/// pltfmid=Steam_…, crossid=EOS_…, ip=1.2.3.4, ping=20` per player, then `Total of N in the game`.
pub fn players(text: &str) -> Result<PlayerList, Error> {
    let mut players = Vec::new();
    let mut total = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Total of ") {
            let count = rest.strip_suffix(" in the game").ok_or_else(|| malformed("lp", line))?;
            total = Some(count.parse().map_err(|_| malformed("lp", line))?);
        } else if line.starts_with(|c: char| c.is_ascii_digit()) {
            players.push(player_line(line).ok_or_else(|| malformed("lp", line))?);
        }
    }
    let total =
        total.ok_or(Error::Missing { command: "lp", expected: "Total of N in the game" })?;
    Ok(PlayerList { players, total })
}

fn player_line(line: &str) -> Option<OnlinePlayer> {
    let (index, rest) = line.split_once(". ")?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (id, rest) = rest.strip_prefix("id=")?.split_once(", ")?;
    // A name may contain anything, even ", "; the fields after it never contain ", pos=(".
    let (name, rest) = rest.rsplit_once(", pos=(")?;
    let (position, rest) = rest.split_once(')')?;
    let mut player = OnlinePlayer {
        entity_id: id.parse().ok()?,
        name: name.to_owned(),
        position: triple(position),
        remote: None,
        health: None,
        deaths: None,
        zombies: None,
        players: None,
        score: None,
        level: None,
        platform_id: None,
        cross_id: None,
        ip: None,
        ping: None,
    };
    let rest = match rest.strip_prefix(", rot=(") {
        Some(rot) => rot.split_once(')')?.1,
        None => rest,
    };
    for field in rest.split(", ").filter(|field| !field.is_empty()) {
        let Some((key, value)) = field.split_once('=') else { continue };
        let known =
            |value: &str| (value != "<unknown>" && !value.is_empty()).then(|| value.to_owned());
        match key {
            "remote" => player.remote = boolean(value),
            "health" => player.health = value.parse().ok(),
            "deaths" => player.deaths = value.parse().ok(),
            "zombies" => player.zombies = value.parse().ok(),
            "players" => player.players = value.parse().ok(),
            "score" => player.score = value.parse().ok(),
            "level" => player.level = value.parse().ok(),
            "pltfmid" | "steamid" => player.platform_id = known(value),
            "crossid" => player.cross_id = known(value),
            "ip" => player.ip = known(value),
            "ping" => player.ping = value.parse().ok(),
            _ => {}
        }
    }
    Some(player)
}

fn boolean(value: &str) -> Option<bool> {
    match value {
        "True" | "true" => Some(true),
        "False" | "false" => Some(false),
        _ => None,
    }
}

fn triple(text: &str) -> Option<[f64; 3]> {
    let mut parts = text.split(',').map(|part| decimal(part.trim()));
    let position = [parts.next()??, parts.next()??, parts.next()??];
    parts.next().is_none().then_some(position)
}

/// A plain decimal (`-12.5`, `7`): no exponent, no `NaN`, finite.
pub(crate) fn decimal(text: &str) -> Option<f64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().next().is_some_and(|b| b.is_ascii_digit());
    if !plain {
        return None;
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// The in-game clock from `gettime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorldTime {
    /// The day, from 1.
    pub day: u32,
    /// The hour, 0–23.
    pub hour: u8,
    /// The minute, 0–59.
    pub minute: u8,
}

impl std::fmt::Display for WorldTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Day {}, {:02}:{:02}", self.day, self.hour, self.minute)
    }
}

/// Parses `gettime`: `Day 12, 07:05` (old builds add a horde line, which is ignored).
pub fn world_time(text: &str) -> Result<WorldTime, Error> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("Day "))
        .ok_or(Error::Missing { command: "gettime", expected: "Day N, HH:MM" })?;
    let parsed = (|| {
        let (day, clock) = line.strip_prefix("Day ")?.split_once(", ")?;
        let (hour, minute) = clock.split_once(':')?;
        let time = WorldTime {
            day: day.parse().ok()?,
            hour: hour.parse().ok()?,
            minute: minute.parse().ok()?,
        };
        (time.hour < 24 && time.minute < 60).then_some(time)
    })();
    parsed.ok_or_else(|| malformed("gettime", line))
}

/// The server's performance figures, from `mem` or the periodic `Time:` log line.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct MemStats {
    /// `Time:` minutes since the server started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_minutes: Option<f64>,
    /// `FPS:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// `Heap:` managed heap in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_mb: Option<f64>,
    /// `Max:` the largest heap so far, in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_max_mb: Option<f64>,
    /// `Chunks:` loaded chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<u64>,
    /// `CGO:` chunk game objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_game_objects: Option<u64>,
    /// `Ply:` players.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub players: Option<u64>,
    /// `Zom:` zombies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zombies: Option<u64>,
    /// `Ent:` entities (the first figure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<u64>,
    /// `Ent: n (m)`: the figure in parentheses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities_total: Option<u64>,
    /// `Items:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<u64>,
    /// `CO:`, as printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co: Option<u64>,
    /// `RSS:` resident memory in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_mb: Option<f64>,
}

/// Parses `mem`: the first line starting `Time:`.
pub fn mem(text: &str) -> Result<MemStats, Error> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("Time: "))
        .ok_or(Error::Missing { command: "mem", expected: "Time: …" })?;
    mem_line(line).ok_or_else(|| malformed("mem", line))
}

/// Parses one `Time: 12.34m FPS: 35.12 Heap: 512.3MB Max: 600.1MB Chunks: 400 CGO: 30 Ply: 1
/// Zom: 5 Ent: 10 (30) Items: 0 CO: 1 RSS: 2048.0MB` line; `None` unless it starts `Time: ` with
/// a readable uptime. Unknown keys are skipped.
pub fn mem_line(line: &str) -> Option<MemStats> {
    let mut stats = MemStats::default();
    let mut tokens = line.split_ascii_whitespace().peekable();
    while let Some(token) = tokens.next() {
        let Some(key) = token.strip_suffix(':') else { continue };
        let Some(value) = tokens.next() else { break };
        let mb = || decimal(value.strip_suffix("MB").unwrap_or(value));
        let count = || value.parse::<u64>().ok();
        match key {
            "Time" => stats.uptime_minutes = decimal(value.strip_suffix('m').unwrap_or(value)),
            "FPS" => stats.fps = decimal(value),
            "Heap" => stats.heap_mb = mb(),
            "Max" => stats.heap_max_mb = mb(),
            "Chunks" => stats.chunks = count(),
            "CGO" => stats.chunk_game_objects = count(),
            "Ply" => stats.players = count(),
            "Zom" => stats.zombies = count(),
            "Ent" => {
                stats.entities = count();
                let total =
                    tokens.peek().and_then(|next| next.strip_prefix('(')?.strip_suffix(')'));
                if let Some(total) = total {
                    stats.entities_total = total.parse().ok();
                    tokens.next();
                }
            }
            "Items" => stats.items = count(),
            "CO" => stats.co = count(),
            "RSS" => stats.rss_mb = mb(),
            _ => {}
        }
    }
    (line.starts_with("Time: ") && stats.uptime_minutes.is_some()).then_some(stats)
}

/// What the login banner says about the server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Banner {
    /// `*** Server version: V 2.4 (b7) …`: the game version.
    pub version: Option<String>,
    /// The compatibility version printed beside it.
    pub compatibility: Option<String>,
    /// `Max players: 8`.
    pub max_players: Option<u32>,
    /// `Server port: 26900`.
    pub port: Option<u16>,
    /// `Game mode:   GameModeSurvival`.
    pub game_mode: Option<String>,
    /// `World:       Navezgane`.
    pub world: Option<String>,
    /// `Game name:   My Game`.
    pub game_name: Option<String>,
}

/// Reads the banner lines sent after login; lines it does not know are ignored.
pub fn banner<S: AsRef<str>>(lines: &[S]) -> Banner {
    let mut banner = Banner::default();
    for line in lines.iter().map(|line| line.as_ref().trim()) {
        if let Some(rest) = line.strip_prefix("*** Server version:") {
            let (version, compatibility) = split_compatibility(rest);
            banner.version = Some(version);
            banner.compatibility = compatibility;
            continue;
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        let text = || (!value.is_empty()).then(|| value.to_owned());
        match key {
            "Max players" => banner.max_players = value.parse().ok(),
            "Server port" => banner.port = value.parse().ok(),
            "Game mode" => banner.game_mode = text(),
            "World" => banner.world = text(),
            "Game name" => banner.game_name = text(),
            _ => {}
        }
    }
    banner
}

#[cfg(test)]
mod tests;
