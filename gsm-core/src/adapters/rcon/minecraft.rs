//! Minecraft's console dialect, pure: the command lines of the common actions and the parse of
//! `list` output.
//!
//! Minecraft has no way to tell an unknown command from one that prints nothing, and most
//! actions print a line whatever happened, so only outputs with a known failure text become
//! errors ([`KICK_NO_PLAYER`]). Player names go into command lines as one token: a name holding
//! whitespace would shift the arguments after it (kick `Bob Alice` would kick Bob, reason
//! "Alice"), so such names are refused before anything is sent.

use std::time::Duration;

use crate::adapters::AdapterError;
use crate::heartbeat::Player;

/// What `kick` prints when no online player matches.
pub const KICK_NO_PLAYER: &str = "No player was found";

/// The server's answer to `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerList {
    /// Players online, as the server counts them.
    pub online: u32,
    /// Player slots.
    pub max: u32,
    /// The players by name; Minecraft's `list` names players, so the id is the name too.
    pub players: Vec<Player>,
}

/// `say <message>`: the server broadcasts it as `[Rcon] <message>`.
pub fn say(message: &str) -> String {
    format!("say {message}")
}

/// `kick <player> [reason]`.
pub fn kick(player: &str, reason: &str) -> Result<String, AdapterError> {
    check_player(player)?;
    Ok(with_reason(format!("kick {player}"), reason))
}

/// `ban <player> [reason]`; vanilla Minecraft has no temporary bans.
pub fn ban(player: &str, duration: Option<Duration>, reason: &str) -> Result<String, AdapterError> {
    check_player(player)?;
    if duration.is_some() {
        return Err(AdapterError::Unsupported { game: super::GAME, action: "temporary bans" });
    }
    Ok(with_reason(format!("ban {player}"), reason))
}

/// `save-all`: saves the world.
pub const SAVE: &str = "save-all";
/// `stop`: saves and shuts the server down.
pub const STOP: &str = "stop";
/// `list`: who is online.
pub const LIST: &str = "list";

/// Parses `list` output, in the 1.13+ form
/// `There are 2 of a max of 20 players online: Alice, Bob` and the older
/// `There are 2/20 players online:` followed by the names on the next line.
pub fn parse_list(output: &str) -> Option<PlayerList> {
    let rest = output.trim_start().strip_prefix("There are ")?;
    let (counts, names) = rest.split_once("players online:")?;
    let counts = counts.trim();
    let (online, max) = counts.split_once(" of a max of ").or_else(|| counts.split_once('/'))?;
    let players = names
        .split([',', '\n'])
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| Player { id: name.to_owned(), name: name.to_owned() })
        .collect();
    Some(PlayerList { online: online.trim().parse().ok()?, max: max.trim().parse().ok()?, players })
}

fn with_reason(mut line: String, reason: &str) -> String {
    let reason = reason.trim();
    if !reason.is_empty() {
        line.push(' ');
        line.push_str(reason);
    }
    line
}

fn check_player(player: &str) -> Result<(), AdapterError> {
    if player.is_empty() || player.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AdapterError::Unsupported {
            game: super::GAME,
            action: "player names that are empty or hold whitespace",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(output: &str, expect: Option<(u32, u32, &[&str])>) {
        let got = parse_list(output);
        let got = got.as_ref().map(|list| {
            let names: Vec<&str> = list.players.iter().map(|p| p.name.as_str()).collect();
            (list.online, list.max, names)
        });
        let expect = expect.map(|(online, max, names)| (online, max, names.to_vec()));
        assert_eq!(got, expect, "parsing {output:?}");
    }

    #[test]
    fn list_output_parses_in_both_known_forms() {
        check("There are 0 of a max of 20 players online: ", Some((0, 20, &[])));
        check(
            "There are 2 of a max of 20 players online: Alice, Bob",
            Some((2, 20, &["Alice", "Bob"])),
        );
        check("There are 1/8 players online:\nSteve\n", Some((1, 8, &["Steve"])));
        check("There are 3/10 players online:\nA, B, C", Some((3, 10, &["A", "B", "C"])));
        check("Unknown or incomplete command", None);
        check("There are many of a max of 20 players online: x", None);
        check("", None);
    }

    #[test]
    fn action_command_lines_keep_the_player_one_token() {
        assert_eq!(kick("Alice", "afk").ok().as_deref(), Some("kick Alice afk"));
        assert_eq!(kick("Alice", "").ok().as_deref(), Some("kick Alice"));
        assert_eq!(ban("Bob", None, "griefing").ok().as_deref(), Some("ban Bob griefing"));
        assert!(matches!(kick("Bob Alice", "x"), Err(AdapterError::Unsupported { .. })));
        assert!(matches!(kick("", "x"), Err(AdapterError::Unsupported { .. })));
        assert!(matches!(
            ban("Bob", Some(Duration::from_secs(60)), "x"),
            Err(AdapterError::Unsupported { action: "temporary bans", .. })
        ));
        assert_eq!(say("hello all"), "say hello all");
    }
}
