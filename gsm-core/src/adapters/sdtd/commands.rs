//! The console commands gsm sends to 7DTD and how it reads their answers. Pure: strings in,
//! strings out.
//!
//! The console tokenizes on spaces and tabs, groups `"…"`, and reads `""` inside quotes as one
//! literal quote; so every free-text argument (a player name with spaces, a reason, a chat
//! message) is sent quoted that way. A command is one line: the server ends a line at CR or LF,
//! so a line break inside an argument would submit a second command; commands holding one are
//! refused, and chat text has its line breaks turned into spaces.

use std::time::Duration;

use crate::adapters::AdapterError;

/// The longest command line gsm sends.
pub const MAX_COMMAND_BYTES: usize = 4096;

/// The list-players command (`lp` is its alias).
pub const LIST_PLAYERS: &str = "listplayers";
/// The world-clock command (`gt` is its alias).
pub const GET_TIME: &str = "gettime";
/// The version command.
pub const VERSION: &str = "version";
/// The save command (`sa` is its alias).
pub const SAVE_WORLD: &str = "saveworld";
/// The shutdown command.
pub const SHUTDOWN: &str = "shutdown";

/// The longest ban gsm asks for, and what "permanent" means: 7DTD bans always have an end.
pub const PERMANENT_BAN_YEARS: u64 = 100;

/// Refuses what the console would not take as one command: empty, multi-line, NUL, too long.
pub fn check(command: &str) -> Result<(), AdapterError> {
    if command.trim().is_empty() {
        return Err(AdapterError::Rejected("empty command".to_owned()));
    }
    if command.contains(['\r', '\n', '\0']) {
        return Err(AdapterError::Rejected(
            "a console command must be one line: it contains a line break or NUL".to_owned(),
        ));
    }
    if command.len() > MAX_COMMAND_BYTES {
        return Err(AdapterError::Rejected(format!(
            "command is {} bytes; the limit is {MAX_COMMAND_BYTES}",
            command.len()
        )));
    }
    Ok(())
}

/// One argument, quoted the console's way: `Cata "the" lysm` → `"Cata ""the"" lysm"`.
pub fn quote(argument: &str) -> String {
    let mut quoted = String::with_capacity(argument.len() + 2);
    quoted.push('"');
    for c in argument.chars() {
        if c == '"' {
            quoted.push('"');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// `say "<message>"`, line breaks turned into spaces.
pub fn say(message: &str) -> String {
    let flat: String =
        message.chars().map(|c| if matches!(c, '\r' | '\n' | '\0') { ' ' } else { c }).collect();
    format!("say {}", quote(&flat))
}

/// `kick "<player>" "<reason>"`.
pub fn kick(player: &str, reason: &str) -> String {
    format!("kick {} {}", quote(player), quote(reason))
}

/// `ban add "<player>" <n> <unit> "<reason>"`. A duration is rounded up to whole minutes (at
/// least one); `None`, or anything longer, is [`PERMANENT_BAN_YEARS`] years.
pub fn ban(player: &str, duration: Option<Duration>, reason: &str) -> String {
    const MINUTES_PER_YEAR: u64 = 365 * 24 * 60;
    let minutes = duration.map(|d| d.as_secs().div_ceil(60).max(1));
    let (amount, unit) = match minutes {
        Some(minutes) if minutes < PERMANENT_BAN_YEARS * MINUTES_PER_YEAR => (minutes, "minutes"),
        _ => (PERMANENT_BAN_YEARS, "years"),
    };
    format!("ban add {} {amount} {unit} {}", quote(player), quote(reason))
}

/// The game's own refusal in a response, if any: a `*** ERROR: …` line or a usage complaint
/// (`Wrong number of arguments, …`).
pub fn refusal(lines: &[String]) -> Option<&str> {
    lines.iter().map(String::as_str).find(|line| {
        let line = line.trim_start();
        line.starts_with("*** ERROR:") || line.starts_with("Wrong number of arguments")
    })
}

/// Checks a response for `expected` (a line starting with it), else the whole response is the
/// refusal.
pub fn expect_line(lines: &[String], expected: &str) -> Result<(), AdapterError> {
    if lines.iter().any(|line| line.trim_start().starts_with(expected)) {
        return Ok(());
    }
    Err(AdapterError::Rejected(summary(lines)))
}

/// Checks a response for a line containing `needle`, else the whole response is the refusal.
pub fn expect_containing(lines: &[String], needle: &str) -> Result<(), AdapterError> {
    if lines.iter().any(|line| line.contains(needle)) {
        return Ok(());
    }
    Err(AdapterError::Rejected(summary(lines)))
}

/// A response that should be empty (`say`): anything in it is the refusal.
pub fn expect_empty(lines: &[String]) -> Result<(), AdapterError> {
    if lines.iter().all(|line| line.trim().is_empty()) {
        return Ok(());
    }
    Err(AdapterError::Rejected(summary(lines)))
}

fn summary(lines: &[String]) -> String {
    const MAX: usize = 512;
    let text = lines.join("\n");
    if text.is_empty() {
        return "no answer".to_owned();
    }
    let mut end = text.len().min(MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_with_doubled_quotes() {
        assert_eq!(quote("Cata lysm"), r#""Cata lysm""#);
        assert_eq!(quote(r#"say "hi""#), r#""say ""hi""""#);
        assert_eq!(quote(""), r#""""#);
    }

    #[test]
    fn action_commands_are_one_quoted_line() {
        assert_eq!(say("restart\nin 5"), r#"say "restart in 5""#);
        assert_eq!(kick("Cata lysm", "afk"), r#"kick "Cata lysm" "afk""#);
        assert_eq!(
            ban("Steam_7656", Some(Duration::from_secs(90)), "grief"),
            r#"ban add "Steam_7656" 2 minutes "grief""#
        );
        assert_eq!(ban("x", Some(Duration::ZERO), "r"), r#"ban add "x" 1 minutes "r""#);
        assert_eq!(ban("x", None, "r"), r#"ban add "x" 100 years "r""#);
        assert_eq!(
            ban("x", Some(Duration::from_secs(u64::MAX)), "r"),
            r#"ban add "x" 100 years "r""#
        );
    }

    #[test]
    fn multi_line_empty_and_oversized_commands_are_refused() {
        assert!(check("lp").is_ok());
        for bad in ["", "  ", "lp\nshutdown", "lp\rx", "a\0b"] {
            assert!(matches!(check(bad), Err(AdapterError::Rejected(_))), "{bad:?}");
        }
        assert!(check(&"x".repeat(MAX_COMMAND_BYTES + 1)).is_err());
    }

    #[test]
    fn refusals_are_found_in_responses() {
        let lines = |text: &[&str]| text.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            refusal(&lines(&["*** ERROR: unknown command 'foo'"])),
            Some("*** ERROR: unknown command 'foo'")
        );
        assert_eq!(refusal(&lines(&["Day 1, 00:00"])), None);
        assert!(expect_line(&lines(&["Kicking Player A: afk"]), "Kicking Player ").is_ok());
        assert!(matches!(
            expect_line(&lines(&[]), "World saved"),
            Err(AdapterError::Rejected(text)) if text == "no answer"
        ));
        assert!(expect_empty(&lines(&[""])).is_ok());
        assert!(
            expect_empty(&lines(&["Wrong number of arguments, expected 1, found 0."])).is_err()
        );
    }
}
