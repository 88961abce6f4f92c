//! The slash commands as Discord sees them: their definitions ([`DEFINITIONS`], what the adapter
//! registers) and [`parse`], which turns an interaction's name and options into a
//! [`Command`].
//!
//! Both are plain data and functions, so the one table that names every command and option is
//! tested here without Discord: every definition parses, and what Discord's own checks let
//! through (a missing required option, a negative delay) is still refused with a message.

use super::commands::{Command, MAX_RESTART_DELAY_SECS, MAX_SAY_CHARS};

/// An option's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    Text,
    /// A whole number.
    Integer,
}

/// One option of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionDef {
    /// Its name.
    pub name: &'static str,
    /// What it is, for people (at most 100 characters).
    pub description: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Whether Discord asks for it.
    pub required: bool,
    /// The largest integer or longest text.
    pub max: Option<u64>,
}

/// One slash command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandDef {
    /// Its name.
    pub name: &'static str,
    /// What it does, for people (at most 100 characters).
    pub description: &'static str,
    /// Its options, required ones first (Discord's rule).
    pub options: &'static [OptionDef],
}

const HOST: OptionDef = OptionDef {
    name: "host",
    description: "The host's name in gsm",
    kind: Kind::Text,
    required: true,
    max: Some(64),
};

const GAME: OptionDef = OptionDef {
    name: "game",
    description: "The game server, when the host has several",
    kind: Kind::Text,
    required: false,
    max: Some(64),
};

/// Every slash command the bot registers.
pub const DEFINITIONS: &[CommandDef] = &[
    CommandDef {
        name: "hosts",
        description: "The org's hosts, whether they are online, and their players",
        options: &[],
    },
    CommandDef { name: "status", description: "One host in detail", options: &[HOST] },
    CommandDef { name: "players", description: "Who is online on a host", options: &[HOST] },
    CommandDef {
        name: "run",
        description: "Run a schedule's job on a host now",
        options: &[
            HOST,
            OptionDef {
                name: "template",
                description: "The name of one of the org's schedules: its job runs on the host",
                kind: Kind::Text,
                required: true,
                max: Some(128),
            },
        ],
    },
    CommandDef {
        name: "restart",
        description: "Restart a host's game server, with in-game warnings",
        options: &[
            HOST,
            OptionDef {
                name: "delay",
                description: "Seconds until the restart (0 for now; the game's warnings if unset)",
                kind: Kind::Integer,
                required: false,
                max: Some(MAX_RESTART_DELAY_SECS),
            },
            GAME,
        ],
    },
    CommandDef {
        name: "say",
        description: "Say something in a host's game chat",
        options: &[
            HOST,
            OptionDef {
                name: "message",
                description: "What to say",
                kind: Kind::Text,
                required: true,
                max: Some(MAX_SAY_CHARS as u64),
            },
            GAME,
        ],
    },
    CommandDef {
        name: "jobs",
        description: "The latest jobs, of one host or all",
        options: &[OptionDef { required: false, ..HOST }],
    },
    CommandDef {
        name: "link",
        description: "Link your Discord account to your gsm membership",
        options: &[],
    },
];

/// An option's value as the interaction carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text.
    Text(String),
    /// A whole number.
    Integer(i64),
}

/// The command an interaction names, with its options; `Err` says what is wrong for people.
pub fn parse(name: &str, options: &[(String, Value)]) -> Result<Command, String> {
    let text = |option: &str| {
        options.iter().find(|(n, _)| n == option).and_then(|(_, value)| match value {
            Value::Text(text) => Some(text.clone()),
            Value::Integer(_) => None,
        })
    };
    let required =
        |option: &str| text(option).ok_or_else(|| format!("`/{name}` needs `{option}`."));
    Ok(match name {
        "hosts" => Command::Hosts,
        "status" => Command::Status { host: required("host")? },
        "players" => Command::Players { host: required("host")? },
        "run" => Command::Run { host: required("host")?, template: required("template")? },
        "restart" => {
            let delay = options.iter().find(|(n, _)| n == "delay").map(|(_, value)| value);
            let delay_secs = match delay {
                None => None,
                Some(Value::Integer(secs)) => Some(u64::try_from(*secs).map_err(|_| {
                    format!("A restart delay is 0 to {MAX_RESTART_DELAY_SECS} seconds.")
                })?),
                Some(Value::Text(_)) => return Err("`delay` is a number of seconds.".into()),
            };
            Command::Restart { host: required("host")?, delay_secs, game: text("game") }
        }
        "say" => Command::Say {
            host: required("host")?,
            message: required("message")?,
            game: text("game"),
        },
        "jobs" => Command::Jobs { host: text("host") },
        "link" => Command::Link,
        other => return Err(format!("gsm has no command `/{other}`.")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, options: &[(&str, Value)], expect: Result<Command, &str>) {
        let options: Vec<_> = options.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect();
        assert_eq!(parse(name, &options), expect.map_err(str::to_owned), "/{name}");
    }

    fn text(value: &str) -> Value {
        Value::Text(value.to_owned())
    }

    #[test]
    fn every_definition_parses_and_keeps_discords_limits() {
        for def in DEFINITIONS {
            assert!(def.name.len() <= 32 && def.description.len() <= 100, "{}", def.name);
            let options: Vec<_> = def
                .options
                .iter()
                .map(|option| {
                    let value = match option.kind {
                        Kind::Text => text("x"),
                        Kind::Integer => Value::Integer(5),
                    };
                    (option.name.to_owned(), value)
                })
                .collect();
            assert!(parse(def.name, &options).is_ok(), "/{}", def.name);
            let required_first =
                def.options.windows(2).all(|pair| pair[0].required || !pair[1].required);
            assert!(required_first, "/{}: required options come first", def.name);
            for option in def.options {
                assert!(option.description.len() <= 100, "/{} {}", def.name, option.name);
            }
        }
    }

    #[test]
    fn options_become_commands() {
        check("hosts", &[], Ok(Command::Hosts));
        check("status", &[("host", text("eu-1"))], Ok(Command::Status { host: "eu-1".into() }));
        check(
            "restart",
            &[("host", text("eu-1")), ("delay", Value::Integer(60))],
            Ok(Command::Restart { host: "eu-1".into(), delay_secs: Some(60), game: None }),
        );
        check(
            "say",
            &[("host", text("eu-1")), ("message", text("hi")), ("game", text("main"))],
            Ok(Command::Say {
                host: "eu-1".into(),
                message: "hi".into(),
                game: Some("main".into()),
            }),
        );
        check("jobs", &[], Ok(Command::Jobs { host: None }));
        check("link", &[], Ok(Command::Link));
    }

    #[test]
    fn what_discord_should_have_stopped_is_refused_with_a_reason() {
        check("status", &[], Err("`/status` needs `host`."));
        check("run", &[("host", text("eu-1"))], Err("`/run` needs `template`."));
        check(
            "restart",
            &[("host", text("eu-1")), ("delay", Value::Integer(-1))],
            Err("A restart delay is 0 to 3600 seconds."),
        );
        check("restart", &[("delay", text("soon"))], Err("`delay` is a number of seconds."));
        check("nuke", &[], Err("gsm has no command `/nuke`."));
    }
}
