//! [`GameAdapter`] for [`RconClient`]: the common actions in Minecraft's dialect, and `status`
//! from `list`.
//!
//! Actions other than a raw command are Minecraft's: SRCDS games and ID-less servers
//! (Palworld, Conan Exiles) name them differently from game to game, so on those flavours they
//! are [`AdapterError::Unsupported`] (except `say`, which SRCDS shares), and `status` reports
//! only that the console was reached. Minecraft reports no version over RCON (vanilla has no
//! `version` command), so `version` is `None`.

use std::time::Duration;

use async_trait::async_trait;

use super::client::{Flavor, RconClient};
use super::minecraft;
use crate::adapters::{AdapterError, GameAdapter};
use crate::heartbeat::GameStatus;

#[async_trait]
impl GameAdapter for RconClient {
    fn game(&self) -> &'static str {
        super::GAME
    }

    async fn command(&mut self, command: &str) -> Result<String, AdapterError> {
        RconClient::command(self, command).await
    }

    async fn status(&mut self) -> Result<GameStatus, AdapterError> {
        let mut status = GameStatus {
            game: super::GAME.to_owned(),
            instance: String::new(),
            up: true,
            version: None,
            players_online: 0,
            max_players: None,
            players: Vec::new(),
            world_time: None,
        };
        if self.config().flavor != Flavor::Minecraft {
            self.connect().await?;
            return Ok(status);
        }
        let output = RconClient::command(self, minecraft::LIST).await?;
        let Some(list) = minecraft::parse_list(&output) else {
            let first_line: String = output.lines().next().unwrap_or("").chars().take(80).collect();
            return Err(AdapterError::Protocol(format!(
                "unrecognised `list` output: {first_line:?}"
            )));
        };
        status.players_online = list.online;
        status.max_players = Some(list.max);
        status.players = list.players;
        Ok(status)
    }

    async fn say(&mut self, message: &str) -> Result<(), AdapterError> {
        self.supported(&[Flavor::Minecraft, Flavor::Source], "say")?;
        RconClient::command(self, &minecraft::say(message)).await.map(drop)
    }

    async fn kick(&mut self, player: &str, reason: &str) -> Result<(), AdapterError> {
        self.supported(&[Flavor::Minecraft], "kick")?;
        let output = RconClient::command(self, &minecraft::kick(player, reason)?).await?;
        if output.trim() == minecraft::KICK_NO_PLAYER {
            return Err(AdapterError::Rejected(output.trim().to_owned()));
        }
        Ok(())
    }

    async fn ban(
        &mut self,
        player: &str,
        duration: Option<Duration>,
        reason: &str,
    ) -> Result<(), AdapterError> {
        self.supported(&[Flavor::Minecraft], "ban")?;
        RconClient::command(self, &minecraft::ban(player, duration, reason)?).await.map(drop)
    }

    async fn save(&mut self) -> Result<(), AdapterError> {
        self.supported(&[Flavor::Minecraft], "save")?;
        RconClient::command(self, minecraft::SAVE).await.map(drop)
    }

    /// `stop`; the server may close the session before or instead of answering, which counts as
    /// done.
    async fn shutdown(&mut self) -> Result<(), AdapterError> {
        self.supported(&[Flavor::Minecraft], "shutdown")?;
        let outcome = RconClient::command(self, minecraft::STOP).await;
        self.disconnect();
        match outcome {
            Ok(_) | Err(AdapterError::Closed) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

impl RconClient {
    fn supported(&self, flavors: &[Flavor], action: &'static str) -> Result<(), AdapterError> {
        if flavors.contains(&self.config().flavor) {
            return Ok(());
        }
        Err(AdapterError::Unsupported { game: super::GAME, action })
    }
}
