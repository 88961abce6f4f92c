//! The console commands and their outputs, in the shapes V 2.4 prints them; and the tokenizer
//! (spaces and tabs separate, `"…"` groups, `""` inside quotes is one quote).

use std::time::{Duration, SystemTime};

use crate::clock;
use crate::world::{Ban, World};

/// The version the simulator claims.
pub(crate) const GAME_VERSION: &str = "V 2.4 (b7)";

/// What the session does after a line.
pub(crate) enum Next {
    Continue,
    Close,
}

/// A command's output lines, and whether it stops the server.
pub(crate) struct Outcome {
    pub(crate) lines: Vec<String>,
    pub(crate) shutdown: bool,
}

impl Outcome {
    fn lines(lines: Vec<String>) -> Self {
        Outcome { lines, shutdown: false }
    }

    fn line(line: impl Into<String>) -> Self {
        Outcome::lines(vec![line.into()])
    }
}

/// True for the commands the simulator knows (lower-case names and aliases).
pub(crate) fn is_known(name: &str) -> bool {
    matches!(
        name,
        "version"
            | "listplayers"
            | "lp"
            | "gettime"
            | "gt"
            | "mem"
            | "say"
            | "kick"
            | "ban"
            | "saveworld"
            | "sa"
            | "shutdown"
            | "help"
    )
}

/// Splits a command line; `Err(position)` for a quote that is never closed.
pub(crate) fn tokenize(line: &str) -> Result<Vec<String>, usize> {
    let mut tokens = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c == ' ' || c == '\t' {
            chars.next();
            continue;
        }
        let mut token = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(start),
                    Some((_, '"')) if chars.peek().map(|&(_, c)| c) == Some('"') => {
                        chars.next();
                        token.push('"');
                    }
                    Some((_, '"')) => break,
                    Some((_, c)) => token.push(c),
                }
            }
        } else {
            while let Some(&(_, c)) = chars.peek() {
                if c == ' ' || c == '\t' {
                    break;
                }
                token.push(c);
                chars.next();
            }
        }
        tokens.push(token);
    }
    Ok(tokens)
}

/// Runs a known command; its log lines are broadcast before it returns, as on the real server.
pub(crate) fn execute(world: &World, name: &str, args: &[String]) -> Outcome {
    match name {
        "version" => Outcome::lines(vec![
            format!("Game version: {GAME_VERSION} Compatibility Version: V 2.4"),
            "Mod TFP_Harmony: 2.4.0.7".to_owned(),
            "Mod gsm-sim-7dtd: <unknown version>".to_owned(),
        ]),
        "listplayers" | "lp" => list_players(world),
        "gettime" | "gt" => Outcome::line(world_time(world)),
        "mem" => Outcome::line(mem_line(world)),
        "say" => say(world, args),
        "kick" => kick(world, args),
        "ban" => ban(world, args),
        "saveworld" | "sa" => Outcome::line("World saved"),
        "shutdown" => Outcome { lines: vec!["Shutting server down...".to_owned()], shutdown: true },
        _ => help(),
    }
}

fn list_players(world: &World) -> Outcome {
    let state = world.state();
    let mut lines: Vec<String> = state
        .players
        .iter()
        .enumerate()
        .map(|(index, p)| {
            format!(
                "{index}. id={}, {}, pos=({:.1}, {:.1}, {:.1}), rot=(0.0, 90.0, 0.0), remote=True, \
                 health=100, deaths={}, zombies={}, players=0, score={}, level={}, pltfmid={}, \
                 crossid={}, ip={}, ping={}",
                p.entity_id,
                p.name,
                p.position[0],
                p.position[1],
                p.position[2],
                p.deaths,
                p.zombies,
                p.zombies * 10,
                p.level,
                p.platform_id,
                p.cross_id,
                p.ip,
                p.ping
            )
        })
        .collect();
    lines.push(format!("Total of {} in the game", state.players.len()));
    Outcome::lines(lines)
}

/// The world clock: day 1 at 07:00 when the server starts, one game minute per real second
/// (times the script speed when it is faster).
fn world_time(world: &World) -> String {
    let speed = world.config.script_speed.max(1.0);
    let minutes = (world.uptime().as_secs_f64() * speed) as u64 + 7 * 60;
    format!("Day {}, {:02}:{:02}", minutes / 1440 + 1, minutes % 1440 / 60, minutes % 60)
}

/// The `mem` output, also logged as the periodic `Time:` line.
pub(crate) fn mem_line(world: &World) -> String {
    let players = world.state().players.len();
    format!(
        "Time: {:.2}m FPS: 35.12 Heap: 512.3MB Max: 600.1MB Chunks: 400 CGO: 30 Ply: {players} \
         Zom: 5 Ent: {} ({}) Items: 0 CO: {players} RSS: 2048.0MB",
        world.uptime().as_secs_f64() / 60.0,
        10 + players,
        30 + players
    )
}

fn say(world: &World, args: &[String]) -> Outcome {
    if args.len() != 1 {
        return Outcome::line(format!(
            "Wrong number of arguments, expected 1, found {}.",
            args.len()
        ));
    }
    world.log(&format!("Chat (from '-non-player-', entity id '-1', to 'Global'): {}", args[0]));
    Outcome::lines(Vec::new())
}

fn kick(world: &World, args: &[String]) -> Outcome {
    let Some(who) = args.first() else {
        return Outcome::line("Wrong number of arguments, expected at least 1, found 0.");
    };
    let reason = args.get(1).cloned().unwrap_or_default();
    let Some(player) = world.leave(who) else {
        return Outcome::line("Playername or entity/userid id not found.");
    };
    world.log(&format!("Player disconnected: {}", player.client_info()));
    world.log(&format!("GMSG: Player '{}' left the game", player.name));
    Outcome::line(format!("Kicking Player {}: {reason}", player.name))
}

fn ban(world: &World, args: &[String]) -> Outcome {
    let Some(sub) = args.first() else { return Outcome::line("No sub command given.") };
    match sub.to_ascii_lowercase().as_str() {
        "add" => ban_add(world, args),
        "list" => {
            let mut lines = vec![
                "Ban list entries:".to_owned(),
                "  Banned until - UserID (name) - Reason".to_owned(),
            ];
            let state = world.state();
            lines.extend(
                state.bans.iter().map(|ban| {
                    format!("  {} - {} (-unknown-) - {}", ban.until, ban.id, ban.reason)
                }),
            );
            Outcome::lines(lines)
        }
        "remove" => {
            let Some(id) = args.get(1) else {
                return Outcome::line(format!(
                    "Wrong number of arguments, expected 2, found {}.",
                    args.len()
                ));
            };
            world.state().bans.retain(|ban| &ban.id != id);
            Outcome::line(format!("{id} removed from ban list."))
        }
        _ => Outcome::line(format!("Invalid sub command \"{sub}\".")),
    }
}

fn ban_add(world: &World, args: &[String]) -> Outcome {
    if args.len() < 4 {
        return Outcome::line(format!(
            "Wrong number of arguments, expected at least 4, found {}.",
            args.len()
        ));
    }
    let (who, amount, unit) = (&args[1], &args[2], &args[3]);
    let Ok(amount) = amount.parse::<i32>() else {
        return Outcome::line(format!("\"{amount}\" is not a valid integer."));
    };
    let Some(unit_secs) = unit_seconds(unit) else {
        return Outcome::line(format!("\"{unit}\" is not an allowed duration unit."));
    };
    let reason = args.get(4).cloned().unwrap_or_default();
    let secs = u64::try_from(amount).unwrap_or(0).saturating_mul(unit_secs);
    let until =
        SystemTime::now().checked_add(Duration::from_secs(secs)).unwrap_or(SystemTime::now());
    let until = clock::timestamp(until).replace('T', " ");
    let id = world.find(who).map_or_else(|| who.clone(), |player| player.platform_id);
    world.state().bans.push(Ban { id: id.clone(), until: until.clone(), reason: reason.clone() });
    if let Some(player) = world.leave(who) {
        world.log(&format!("Player disconnected: {}", player.client_info()));
        world.log(&format!("GMSG: Player '{}' left the game", player.name));
    }
    Outcome::line(format!("{id} banned until {until}, reason: {reason}."))
}

fn unit_seconds(unit: &str) -> Option<u64> {
    const MINUTE: u64 = 60;
    Some(match unit.to_ascii_lowercase().as_str() {
        "min" | "minute" | "minutes" => MINUTE,
        "h" | "hour" | "hours" => 60 * MINUTE,
        "d" | "day" | "days" => 24 * 60 * MINUTE,
        "w" | "week" | "weeks" => 7 * 24 * 60 * MINUTE,
        "month" | "months" => 30 * 24 * 60 * MINUTE,
        "y" | "yr" | "year" | "years" => 365 * 24 * 60 * MINUTE,
        _ => return None,
    })
}

fn help() -> Outcome {
    let text = [
        "*** Generic Console Help ***",
        "To get further help on a specific topic or command type (without the brackets)",
        "    help <command / topic>",
        "",
        "*** List of Commands ***",
        " ban => Manage ban entries",
        " gettime gt => Get the current game time",
        " help => Help on console and specific commands",
        " kick => Kicks user with optional reason",
        " listplayers lp => Lists all players",
        " mem => Prints memory information and unloads resources or changes garbage collector",
        " saveworld sa => Saves the world manually",
        " say => Sends a message to all connected clients",
        " shutdown => Shuts down the game",
        " version => Get the currently running version of the game and loaded mods",
    ];
    Outcome::lines(text.iter().map(|line| (*line).to_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_on_blanks_and_quotes_group_with_doubled_quotes_literal() {
        assert_eq!(tokenize("kick  \"Cata lysm\"\tafk").unwrap(), ["kick", "Cata lysm", "afk"]);
        assert_eq!(tokenize(r#"say "a ""quoted"" word""#).unwrap(), ["say", r#"a "quoted" word"#]);
        assert_eq!(tokenize(r#"say """#).unwrap(), ["say", ""]);
        assert_eq!(tokenize(r#"say "open"#), Err(4));
    }
}
