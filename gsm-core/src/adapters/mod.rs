//! Game adapters: how gsm talks to a game server's console — 7 Days to Die over Telnet
//! ([`sdtd`]), Source RCON games ([`rcon`]) — behind one [`GameAdapter`] trait.
//!
//! An adapter owns one console connection. It runs a command and returns its complete response,
//! reports the game's status, and performs the common actions. Everything read from a game server
//! is untrusted input: every read is bounded in size and time, and a misbehaving peer is a typed
//! [`AdapterError`], never a panic or an unbounded buffer. Passwords come from a file or an
//! environment variable named in the config, never from the config itself, and never reach a log.

pub mod config;
pub mod rcon;
pub mod sdtd;

use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::heartbeat::GameStatus;

/// One connection to a game server's console.
#[async_trait]
pub trait GameAdapter: Send {
    /// The game type's registry name (`7dtd`, `source-rcon`).
    fn game(&self) -> &'static str;

    /// Runs one console command and returns its complete response text.
    async fn command(&mut self, command: &str) -> Result<String, AdapterError>;

    /// Asks the server for its status: version, players online, world time.
    async fn status(&mut self) -> Result<GameStatus, AdapterError>;

    /// Broadcasts a message to every player.
    async fn say(&mut self, message: &str) -> Result<(), AdapterError>;

    /// Kicks a player (by id or name, as the game accepts) with a reason shown to them.
    async fn kick(&mut self, player: &str, reason: &str) -> Result<(), AdapterError>;

    /// Bans a player for a duration (`None`: permanently) with a reason.
    async fn ban(
        &mut self,
        player: &str,
        duration: Option<Duration>,
        reason: &str,
    ) -> Result<(), AdapterError>;

    /// Saves the world.
    async fn save(&mut self) -> Result<(), AdapterError>;

    /// Shuts the game server down cleanly.
    async fn shutdown(&mut self) -> Result<(), AdapterError>;
}

/// Where an adapter finds its server and its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Host name or IP address of the console (usually `127.0.0.1`: bind game consoles to
    /// localhost when the agent runs on the same machine).
    pub address: String,
    /// TCP port of the console.
    pub port: u16,
    /// Where the password comes from; `None` for a console without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretSource>,
    /// Connect and per-command timeout in milliseconds [default: 5000].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// Where a secret is read from; the secret itself never appears in configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretSource {
    /// A file holding the secret (one trailing newline is ignored).
    File(String),
    /// An environment variable holding the secret.
    Env(String),
}

/// Why an adapter call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The console could not be reached.
    #[error("cannot connect to the game console at {address}: {source}")]
    Connect {
        /// `host:port`.
        address: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The console refused the password.
    #[error("the game console refused the password; check the configured password source")]
    AuthFailed,
    /// The server took too long.
    #[error("the game console did not answer within {0:?}")]
    Timeout(Duration),
    /// The server sent something the protocol does not allow (oversized, malformed, unexpected).
    #[error("game console protocol error: {0}")]
    Protocol(String),
    /// The server closed the connection.
    #[error("the game console closed the connection")]
    Closed,
    /// The password source could not be read.
    #[error("cannot read the console password: {0}")]
    Secret(String),
    /// The game rejected the command (its own error text).
    #[error("the game rejected the command: {0}")]
    Rejected(String),
    /// This game type cannot do that.
    #[error("{game} does not support {action}")]
    Unsupported {
        /// The game type.
        game: &'static str,
        /// The action.
        action: &'static str,
    },
    /// Reading or writing the socket failed.
    #[error("game console I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl AdapterError {
    /// A stable snake_case code (`game_auth_failed`, `game_timeout`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            AdapterError::Connect { .. } => "game_unreachable",
            AdapterError::AuthFailed => "game_auth_failed",
            AdapterError::Timeout(_) => "game_timeout",
            AdapterError::Protocol(_) => "game_protocol_error",
            AdapterError::Closed => "game_connection_closed",
            AdapterError::Secret(_) => "game_secret_unreadable",
            AdapterError::Rejected(_) => "game_command_rejected",
            AdapterError::Unsupported { .. } => "game_action_unsupported",
            AdapterError::Io(_) => "game_io_error",
        }
    }
}

impl SecretSource {
    /// Reads the secret. The value is returned, never logged.
    pub fn read(&self) -> Result<String, AdapterError> {
        match self {
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|text| text.strip_suffix('\n').unwrap_or(&text).to_owned())
                .map_err(|err| AdapterError::Secret(format!("reading {path}: {err}"))),
            SecretSource::Env(name) => std::env::var(name).map_err(|_| {
                AdapterError::Secret(format!("environment variable {name} is not set"))
            }),
        }
    }
}
