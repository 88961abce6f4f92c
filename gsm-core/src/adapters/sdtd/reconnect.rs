//! A [`Client`] that reconnects: each call connects first when there is no live connection,
//! waiting out an exponential, jittered, capped backoff after failed attempts.
//!
//! A connection is dropped (and the next call reconnects) after any error that leaves its state
//! in doubt: closed, I/O, protocol, and timeouts too, since a half-open TCP connection — 7DTD has
//! no idle timeout — looks exactly like a slow server. A refused password stops reconnection
//! for good: every retry would count towards the server's per-address lockout, which also
//! locks out the admin's own tools on that address. Build a new [`Reconnecting`] once the
//! password is fixed.
//!
//! A command is never re-sent after a failure: `say`, `kick` or `ban` may already have run.
//! The log stream ([`LogSink`]) and the last-output time carry over from one connection to the
//! next.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::client::{self, Activity, Client, ClientConfig, LogSink};
use crate::adapters::{AdapterError, GameAdapter};
use crate::heartbeat::GameStatus;

/// Reconnect delays: the n-th delay after a failure is uniform in `[0, min(max, initial × 2ⁿ))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first delay.
    pub initial: Duration,
    /// The cap on every delay.
    pub max: Duration,
}

impl Default for Backoff {
    /// 1 s doubling to 30 s: a restarting 7DTD server takes tens of seconds to open its console.
    fn default() -> Self {
        Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(30) }
    }
}

impl Backoff {
    /// The delay before attempt `failures` (0 after the first failure), given a uniform draw
    /// `unit` in `[0, 1)`. Pure: the caller brings the randomness.
    pub fn delay(self, failures: u32, unit: f64) -> Duration {
        let ceiling = self
            .initial
            .checked_mul(1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max);
        ceiling.mul_f64(if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 0.0 })
    }
}

/// A uniform draw in `[0, 1)`.
fn unit() -> f64 {
    (client::random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A 7DTD console adapter that reconnects on demand.
#[derive(Debug)]
pub struct Reconnecting {
    config: ClientConfig,
    logs: LogSink,
    backoff: Backoff,
    activity: Arc<Activity>,
    client: Option<Client>,
    failures: u32,
    next_attempt: Option<tokio::time::Instant>,
    auth_failed: bool,
    connections: u64,
}

impl Reconnecting {
    /// An adapter for `config`; nothing connects until the first call.
    pub fn new(config: ClientConfig, logs: LogSink, backoff: Backoff) -> Self {
        Reconnecting {
            config,
            logs,
            backoff,
            activity: Activity::new(),
            client: None,
            failures: 0,
            next_attempt: None,
            auth_failed: false,
            connections: 0,
        }
    }

    /// The live connection, connecting first if there is none. Waits out the backoff after a
    /// failed attempt, then tries once.
    pub async fn client(&mut self) -> Result<&mut Client, AdapterError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            if self.auth_failed {
                return Err(AdapterError::AuthFailed);
            }
            if let Some(at) = self.next_attempt {
                tokio::time::sleep_until(at).await;
            }
            match Client::connect_with(&self.config, self.logs.clone(), Arc::clone(&self.activity))
                .await
            {
                Ok(client) => {
                    self.failures = 0;
                    self.next_attempt = None;
                    self.connections += 1;
                    self.client = Some(client);
                }
                Err(err) => {
                    self.auth_failed = matches!(err, AdapterError::AuthFailed);
                    let delay = self.backoff.delay(self.failures, unit());
                    self.failures = self.failures.saturating_add(1);
                    self.next_attempt = Some(tokio::time::Instant::now() + delay);
                    tracing::debug!(address = %self.config.address, error = %err, ?delay, "7dtd console connect failed");
                    return Err(err);
                }
            }
        }
        self.client.as_mut().ok_or(AdapterError::Closed)
    }

    /// True while a live connection is held.
    pub fn is_connected(&self) -> bool {
        self.client.as_ref().is_some_and(|client| !client.is_closed())
    }

    /// Successful connections so far.
    pub fn connections(&self) -> u64 {
        self.connections
    }

    /// When any connection last heard from the console; `None` before the first byte.
    pub fn last_output(&self) -> Option<Instant> {
        let last = self.activity.last();
        (self.connections > 0).then_some(last)
    }

    /// Drops the connection; the next call reconnects.
    pub fn disconnect(&mut self) {
        self.client = None;
    }

    /// Runs `call` on the live connection, dropping the connection if the error leaves it in
    /// doubt.
    async fn with<T>(
        &mut self,
        call: impl AsyncFnOnce(&mut Client) -> Result<T, AdapterError>,
    ) -> Result<T, AdapterError> {
        let outcome = call(self.client().await?).await;
        if let Err(err) = &outcome {
            let in_doubt =
                !matches!(err, AdapterError::Rejected(_) | AdapterError::Unsupported { .. });
            if in_doubt {
                self.client = None;
            }
        }
        outcome
    }

    /// [`Client::command_lines`] over the live connection.
    pub async fn command_lines(&mut self, command: &str) -> Result<Vec<String>, AdapterError> {
        self.with(async |client: &mut Client| client.command_lines(command).await).await
    }
}

#[async_trait]
impl GameAdapter for Reconnecting {
    fn game(&self) -> &'static str {
        client::GAME
    }

    async fn command(&mut self, command: &str) -> Result<String, AdapterError> {
        self.with(async |client: &mut Client| client.command(command).await).await
    }

    async fn status(&mut self) -> Result<GameStatus, AdapterError> {
        self.with(async |client: &mut Client| client.status().await).await
    }

    async fn say(&mut self, message: &str) -> Result<(), AdapterError> {
        self.with(async |client: &mut Client| client.say(message).await).await
    }

    async fn kick(&mut self, player: &str, reason: &str) -> Result<(), AdapterError> {
        self.with(async |client: &mut Client| client.kick(player, reason).await).await
    }

    async fn ban(
        &mut self,
        player: &str,
        duration: Option<Duration>,
        reason: &str,
    ) -> Result<(), AdapterError> {
        self.with(async |client: &mut Client| client.ban(player, duration, reason).await).await
    }

    async fn save(&mut self) -> Result<(), AdapterError> {
        self.with(async |client: &mut Client| client.save().await).await
    }

    async fn shutdown(&mut self) -> Result<(), AdapterError> {
        self.with(async |client: &mut Client| client.shutdown().await).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff =
        Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(30) };

    #[test]
    fn the_delay_ceiling_doubles_per_failure_up_to_the_cap() {
        let ms: Vec<u128> =
            [0, 1, 2, 3, 8, 9, 40].iter().map(|&n| BACKOFF.delay(n, 1.0).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 25600, 30000, 30000]);
    }

    #[test]
    fn the_draw_scales_the_delay_and_odd_draws_are_clamped() {
        assert_eq!(BACKOFF.delay(3, 0.0), Duration::ZERO);
        assert_eq!(BACKOFF.delay(3, 0.5), Duration::from_millis(400));
        assert_eq!(BACKOFF.delay(3, 7.0), Duration::from_millis(800));
        assert_eq!(BACKOFF.delay(3, f64::NAN), Duration::ZERO);
        let draw = unit();
        assert!((0.0..1.0).contains(&draw), "{draw}");
    }
}
