//! A host's game servers as configured through the API and delivered to its agent
//! ([`GameInstance`]), the registry of game types with each type's config schema
//! ([`GAME_TYPES`]), and the pure validation both the server and the agent apply.
//!
//! The key decision: a game instance names where its password is read from on the agent's host
//! (a file path or an environment variable name), never the password, so the server and the wire
//! never hold a game password. Validation is pure and names the offending field, so the server can
//! refuse a bad config with a message that says what to fix, and the agent can refuse a config a
//! newer or misbehaving server sent.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ConsoleConfig, SecretSource};

/// Longest instance name.
pub const MAX_NAME_BYTES: usize = 64;
/// Most restart warnings.
pub const MAX_WARNINGS: usize = 16;
/// Longest restart warning lead time: one day.
pub const MAX_WARNING_SECS: u64 = 86_400;
/// Longest wait for the game to report ready after a restart: one hour.
pub const MAX_READY_TIMEOUT_SECS: u64 = 3_600;
/// Most arguments of a start command.
pub const MAX_START_ARGS: usize = 64;
/// Longest string anywhere in a game config.
pub const MAX_STRING_BYTES: usize = 4096;

/// The actions a `game` job may ask for.
pub const GAME_ACTIONS: &[&str] = &["command", "say", "kick", "ban", "save", "shutdown", "restart"];

/// The default in-game warnings before a restart: 10 min, 5 min, 1 min, 10 s.
pub const DEFAULT_WARNINGS_SECS: [u64; 4] = [600, 300, 60, 10];
/// The default wait for the game to report ready after a restart.
pub const DEFAULT_READY_TIMEOUT_SECS: u64 = 300;

/// One game server on a host: which adapter speaks to it, where its console is, and how it
/// restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GameInstance {
    /// The instance's name, unique on its host (letters, digits, `-`, `_`, `.`; at most 64).
    pub name: String,
    /// The game type, as [`GAME_TYPES`] names it (`7dtd`, `source-rcon`).
    pub game: String,
    /// The type's settings.
    pub settings: GameSettings,
}

/// The settings of a game instance: the config schema every registered type shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GameSettings {
    /// Where the console is and where its password is read from on the agent's host.
    pub console: ConsoleConfig,
    /// How the composite `restart` action runs.
    #[serde(default)]
    pub restart: RestartSettings,
}

/// How `restart` runs: warnings, then save, shutdown, the start command, and the wait for ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartSettings {
    /// Seconds before the shutdown at which players are warned in game, in any order
    /// [default: 600, 300, 60, 10].
    #[serde(default = "default_warnings")]
    pub warnings_secs: Vec<u64>,
    /// The program and arguments that start the game server again; the agent's policy file must
    /// allow it like any command job. Without one, `restart` waits for a supervisor (systemd,
    /// a container runtime) to start the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_command: Option<Vec<String>>,
    /// How long to wait for the game to report ready after the start [default: 300].
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout_secs: u64,
}

impl Default for RestartSettings {
    fn default() -> Self {
        RestartSettings {
            warnings_secs: default_warnings(),
            start_command: None,
            ready_timeout_secs: DEFAULT_READY_TIMEOUT_SECS,
        }
    }
}

fn default_warnings() -> Vec<u64> {
    DEFAULT_WARNINGS_SECS.to_vec()
}

fn default_ready_timeout() -> u64 {
    DEFAULT_READY_TIMEOUT_SECS
}

/// A registered game type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GameType {
    /// The registry name (`7dtd`).
    pub name: &'static str,
    /// What it speaks to, for people.
    pub description: &'static str,
}

impl GameType {
    /// The JSON Schema of the type's [`GameSettings`].
    pub fn config_schema(&self) -> serde_json::Value {
        schemars::schema_for!(GameSettings).to_value()
    }
}

/// Every game type an agent can run.
pub const GAME_TYPES: &[GameType] = &[
    GameType {
        name: super::sdtd::client::GAME,
        description: "7 Days to Die dedicated server, over its Telnet console",
    },
    GameType {
        name: super::rcon::GAME,
        description: "Source RCON games (Minecraft, ARK, CS2, Palworld, ...)",
    },
];

/// The registered type named `name`.
pub fn game_type(name: &str) -> Option<&'static GameType> {
    GAME_TYPES.iter().find(|game| game.name == name)
}

/// Why a game config is invalid; each names the field and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The game type is not registered.
    #[error("unknown game type {0:?}; GET /api/v1/game-types lists the types")]
    UnknownType(String),
    /// A field is out of bounds or malformed.
    #[error("{field}: {problem}")]
    Invalid {
        /// The offending field's path (`settings.console.port`).
        field: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
}

fn invalid(field: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field: field.to_owned(), problem: problem.into() }
}

/// Checks an instance name: 1-64 letters, digits, `-`, `_` or `.`.
pub fn validate_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok { Ok(()) } else { Err(invalid("name", "use 1-64 letters, digits, '-', '_' or '.'")) }
}

fn check_text(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() || value.len() > MAX_STRING_BYTES || value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("must be 1-{MAX_STRING_BYTES} bytes without control characters"),
        ));
    }
    Ok(())
}

impl GameInstance {
    /// Checks the whole instance.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_name(&self.name)?;
        if game_type(&self.game).is_none() {
            return Err(ConfigError::UnknownType(self.game.clone()));
        }
        self.settings.validate()
    }
}

impl GameSettings {
    /// Checks the settings against the shared config schema's bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let console = &self.console;
        check_text("settings.console.address", &console.address)?;
        if console.address.contains(char::is_whitespace) {
            return Err(invalid("settings.console.address", "must be a host name or IP address"));
        }
        if console.port == 0 {
            return Err(invalid("settings.console.port", "must be 1-65535"));
        }
        match &console.password {
            Some(SecretSource::File(path)) => {
                check_text("settings.console.password.file", path)?;
                if !path.starts_with('/') {
                    return Err(invalid(
                        "settings.console.password.file",
                        "must be an absolute path on the agent's host",
                    ));
                }
            }
            Some(SecretSource::Env(name)) => {
                let ok = !name.is_empty()
                    && name.len() <= 128
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && !name.as_bytes()[0].is_ascii_digit();
                if !ok {
                    return Err(invalid(
                        "settings.console.password.env",
                        "must be an environment variable name (letters, digits, '_')",
                    ));
                }
            }
            None => {}
        }
        if let Some(ms) = console.timeout_ms
            && !(1..=600_000).contains(&ms)
        {
            return Err(invalid("settings.console.timeout_ms", "must be 1-600000"));
        }
        self.restart.validate()
    }
}

impl RestartSettings {
    /// Checks the restart settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.warnings_secs.len() > MAX_WARNINGS {
            return Err(invalid(
                "settings.restart.warnings_secs",
                format!("at most {MAX_WARNINGS} warnings"),
            ));
        }
        if self.warnings_secs.iter().any(|&s| s == 0 || s > MAX_WARNING_SECS) {
            return Err(invalid(
                "settings.restart.warnings_secs",
                format!("each warning is 1-{MAX_WARNING_SECS} seconds before the shutdown"),
            ));
        }
        if !(1..=MAX_READY_TIMEOUT_SECS).contains(&self.ready_timeout_secs) {
            return Err(invalid(
                "settings.restart.ready_timeout_secs",
                format!("must be 1-{MAX_READY_TIMEOUT_SECS}"),
            ));
        }
        if let Some(argv) = &self.start_command {
            let field = "settings.restart.start_command";
            let Some(program) = argv.first() else {
                return Err(invalid(field, "give the program's absolute path and its arguments"));
            };
            if !program.starts_with('/') {
                return Err(invalid(field, "the program must be an absolute path"));
            }
            if argv.len() > MAX_START_ARGS + 1 {
                return Err(invalid(field, format!("at most {MAX_START_ARGS} arguments")));
            }
            if argv.iter().any(|arg| arg.len() > MAX_STRING_BYTES || arg.contains('\0')) {
                return Err(invalid(
                    field,
                    format!("each element is at most {MAX_STRING_BYTES} bytes, without NUL"),
                ));
            }
        }
        Ok(())
    }

    /// The warnings, longest lead first, without repeats.
    pub fn warnings_in_order(&self) -> Vec<u64> {
        let mut warnings = self.warnings_secs.clone();
        warnings.sort_unstable_by(|a, b| b.cmp(a));
        warnings.dedup();
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance() -> GameInstance {
        GameInstance {
            name: "main".into(),
            game: "7dtd".into(),
            settings: GameSettings {
                console: ConsoleConfig {
                    address: "127.0.0.1".into(),
                    port: 8081,
                    password: Some(SecretSource::Env("SDTD_PASSWORD".into())),
                    timeout_ms: None,
                },
                restart: RestartSettings::default(),
            },
        }
    }

    fn check(change: impl FnOnce(&mut GameInstance), expect: Result<(), &str>) {
        let mut game = instance();
        change(&mut game);
        let got = game.validate().map_err(|err| err.to_string());
        assert_eq!(got, expect.map_err(str::to_owned), "{game:?}");
    }

    #[test]
    fn a_plain_instance_is_valid() {
        check(|_| {}, Ok(()));
    }

    #[test]
    fn each_bad_field_is_named() {
        check(|g| g.name = "a b".into(), Err("name: use 1-64 letters, digits, '-', '_' or '.'"));
        check(
            |g| g.game = "quake".into(),
            Err("unknown game type \"quake\"; GET /api/v1/game-types lists the types"),
        );
        check(|g| g.settings.console.port = 0, Err("settings.console.port: must be 1-65535"));
        check(
            |g| g.settings.console.password = Some(SecretSource::File("pw.txt".into())),
            Err("settings.console.password.file: must be an absolute path on the agent's host"),
        );
        check(
            |g| g.settings.console.password = Some(SecretSource::Env("1BAD".into())),
            Err(
                "settings.console.password.env: must be an environment variable name (letters, digits, '_')",
            ),
        );
        check(
            |g| g.settings.restart.warnings_secs = vec![0],
            Err(
                "settings.restart.warnings_secs: each warning is 1-86400 seconds before the shutdown",
            ),
        );
        check(
            |g| g.settings.restart.start_command = Some(vec!["start.sh".into()]),
            Err("settings.restart.start_command: the program must be an absolute path"),
        );
        check(
            |g| g.settings.restart.ready_timeout_secs = 0,
            Err("settings.restart.ready_timeout_secs: must be 1-3600"),
        );
    }

    #[test]
    fn missing_restart_settings_take_the_defaults() {
        let json = r#"{"name":"main","game":"7dtd","settings":{"console":{"address":"127.0.0.1","port":8081}}}"#;
        let game: GameInstance = serde_json::from_str(json).unwrap();
        assert_eq!(game.settings.restart.warnings_secs, [600, 300, 60, 10]);
        assert_eq!(game.settings.restart.ready_timeout_secs, 300);
    }

    #[test]
    fn warnings_run_longest_lead_first() {
        let restart = RestartSettings { warnings_secs: vec![1, 60, 5, 60], ..Default::default() };
        assert_eq!(restart.warnings_in_order(), [60, 5, 1]);
    }

    #[test]
    fn every_type_is_found_and_has_a_schema_with_the_console() {
        for game in GAME_TYPES {
            assert_eq!(game_type(game.name), Some(game));
            assert!(game.config_schema()["properties"]["console"].is_object());
        }
        assert_eq!(game_type("nope"), None);
    }
}
