//! The host's game servers: one task per configured instance owns its adapter (reconnecting),
//! polls its status for the heartbeat, turns its log lines into events, and runs game actions
//! (`command`, `say`, `kick`, `ban`, `save`, `shutdown`, and the composite `restart`).
//!
//! Key decisions. One task owns each adapter, so console commands never interleave; actions reach
//! it over a channel. Events go to the server in batches of at most 256 with agent-chosen ids; a
//! batch stays in a bounded memory queue until the server acks it and is re-sent after each
//! welcome, so a reconnect loses nothing and a repeat stores nothing twice. When the queue is full
//! the oldest events are dropped and counted: events never block the connection, the heartbeat or
//! a job. A restart's start command is an ordinary command under the host policy: the server can
//! ask for it, only the policy file decides whether it runs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gsm_core::adapters::config::{GameInstance, RestartSettings};
use gsm_core::adapters::rcon::client::{Flavor, RconClient, RconConfig};
use gsm_core::adapters::sdtd::client::{ClientConfig, LogSink};
use gsm_core::adapters::sdtd::events::{self, Event, LogEvent, PlayerRef};
use gsm_core::adapters::sdtd::reconnect::{Backoff, Reconnecting};
use gsm_core::adapters::{AdapterError, GameAdapter};
use gsm_core::heartbeat::{GameStatus, MAX_GAMES};
use gsm_core::job::{CommandSpec, GameAction, HostId, JobId, JobKind, JobSpec, Requester};
use gsm_core::policy::Policy;
use gsm_core::runner::{self, Cancel, OutputChunk};
use gsm_proto::agent::{
    AgentMessage, GameConfig, GameEventMessage, GameEvents, MAX_GAME_EVENTS_PER_BATCH,
};
use gsm_proto::rest::EventPlayer;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::outbox::Outbox;

/// How often each game's status is asked for.
pub const STATUS_EVERY: Duration = Duration::from_secs(3);
/// Events waiting to be batched, at most; beyond, the oldest are dropped.
pub const MAX_PENDING_EVENTS: usize = 10_000;
/// Batches sent but not yet acked, at most; beyond, batching waits for acks.
pub const MAX_UNACKED_BATCHES: usize = 16;
/// Log lines buffered between a console and its task.
const LOG_LINES: usize = 4096;
/// How long a restart waits between readiness checks.
const READY_POLL: Duration = Duration::from_millis(500);

/// A line of a game job's log.
pub type JobLog = mpsc::Sender<String>;

/// The host's game servers and their events.
#[derive(Debug)]
pub struct Games {
    policy: Policy,
    outbox: Outbox,
    instances: Mutex<HashMap<String, Instance>>,
    queue: Mutex<EventQueue>,
    wake: Notify,
    dropped: AtomicU64,
}

#[derive(Debug)]
struct Instance {
    config: GameInstance,
    status: Arc<Mutex<GameStatus>>,
    requests: mpsc::Sender<Request>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, Default)]
struct EventQueue {
    pending: VecDeque<GameEventMessage>,
    unacked: BTreeMap<u64, Vec<GameEventMessage>>,
    next_batch: u64,
}

/// A game action for an instance's task.
struct Request {
    action: GameAction,
    log: JobLog,
    reply: oneshot::Sender<Result<(), String>>,
}

impl Games {
    /// No games until the server sends a config.
    pub fn new(policy: Policy, outbox: Outbox) -> Arc<Games> {
        let games = Arc::new(Games {
            policy,
            outbox,
            instances: Mutex::new(HashMap::new()),
            queue: Mutex::new(EventQueue::default()),
            wake: Notify::new(),
            dropped: AtomicU64::new(0),
        });
        tokio::spawn(Arc::clone(&games).send_loop());
        games
    }

    /// Applies a `game_config`: starts new instances, restarts changed ones, stops removed ones.
    pub fn configure(self: &Arc<Self>, config: GameConfig) {
        let mut instances = lock(&self.instances);
        let wanted: HashMap<String, GameInstance> = config
            .games
            .into_iter()
            .filter(|game| match game.validate() {
                Ok(()) => true,
                Err(err) => {
                    tracing::warn!(game = %game.name, error = %err, "ignoring an invalid game config");
                    false
                }
            })
            .take(MAX_GAMES)
            .map(|game| (game.name.clone(), game))
            .collect();
        instances.retain(|name, instance| wanted.get(name) == Some(&instance.config));
        for (name, config) in wanted {
            if instances.contains_key(&name) {
                continue;
            }
            tracing::info!(game = %name, r#type = %config.game, "starting game adapter");
            instances.insert(name, self.start(config));
        }
    }

    fn start(self: &Arc<Self>, config: GameInstance) -> Instance {
        let status = Arc::new(Mutex::new(down(&config)));
        let (requests, receiver) = mpsc::channel(8);
        let task = tokio::spawn(Arc::clone(self).run_instance(
            config.clone(),
            Arc::clone(&status),
            receiver,
        ));
        Instance { config, status, requests, task }
    }

    /// Every game's latest status, for the heartbeat.
    pub fn statuses(&self) -> Vec<GameStatus> {
        let instances = lock(&self.instances);
        let mut statuses: Vec<_> = instances.values().map(|i| lock(&i.status).clone()).collect();
        statuses.sort_by(|a, b| a.instance.cmp(&b.instance));
        statuses
    }

    /// Events dropped so far because the queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Runs a game job's action on the instance it names (its name, or its type when the host
    /// has exactly one instance of that type), writing each step to `log`.
    pub async fn run(&self, action: GameAction, log: JobLog) -> Result<(), String> {
        let requests = {
            let instances = lock(&self.instances);
            let by_name = instances.get(&action.game);
            let mut by_type = instances.values().filter(|i| i.config.game == action.game);
            let found = match (by_name, by_type.next(), by_type.next()) {
                (Some(instance), _, _) => instance,
                (None, Some(instance), None) => instance,
                (None, Some(_), Some(_)) => {
                    return Err(format!(
                        "this host runs several {} servers; name one in `game`",
                        action.game
                    ));
                }
                (None, None, _) => {
                    return Err(format!(
                        "this host has no game server named or of type {:?}; configure it with PUT …/hosts/{{host}}/games/{{game}}",
                        action.game
                    ));
                }
            };
            found.requests.clone()
        };
        let (reply, answer) = oneshot::channel();
        requests
            .send(Request { action, log, reply })
            .await
            .map_err(|_| "the game's adapter stopped (its config changed)".to_owned())?;
        answer.await.map_err(|_| "the game's adapter stopped (its config changed)".to_owned())?
    }

    /// Handles `game_events_ack`: forgets the batch.
    pub fn ack(&self, batch: u64) {
        lock(&self.queue).unacked.remove(&batch);
        self.wake.notify_one();
    }

    /// Re-sends every unacked batch, oldest first (after a welcome).
    pub async fn resend(&self) {
        let batches: Vec<(u64, Vec<GameEventMessage>)> =
            lock(&self.queue).unacked.iter().map(|(b, e)| (*b, e.clone())).collect();
        for (batch, events) in batches {
            if !self.outbox.send(AgentMessage::GameEvents(GameEvents { batch, events })).await {
                return;
            }
        }
        self.wake.notify_one();
    }

    fn push_event(&self, event: GameEventMessage) {
        let mut queue = lock(&self.queue);
        if queue.pending.len() >= MAX_PENDING_EVENTS {
            queue.pending.pop_front();
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "game event queue full; dropping the oldest events");
            }
        }
        queue.pending.push_back(event);
        drop(queue);
        self.wake.notify_one();
    }

    /// Batches pending events and sends them while fewer than [`MAX_UNACKED_BATCHES`] wait.
    async fn send_loop(self: Arc<Self>) {
        loop {
            let next = {
                let mut queue = lock(&self.queue);
                if queue.pending.is_empty() || queue.unacked.len() >= MAX_UNACKED_BATCHES {
                    None
                } else {
                    let take = queue.pending.len().min(MAX_GAME_EVENTS_PER_BATCH);
                    let events: Vec<_> = queue.pending.drain(..take).collect();
                    let batch = queue.next_batch;
                    queue.next_batch += 1;
                    queue.unacked.insert(batch, events.clone());
                    Some(GameEvents { batch, events })
                }
            };
            match next {
                // Not connected: the batch waits in `unacked` for the next welcome's re-send.
                Some(batch) => {
                    self.outbox.send(AgentMessage::GameEvents(batch)).await;
                }
                None => {
                    // Woken by new events or an ack; the timeout covers a lost wake-up.
                    let _ =
                        tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
                }
            }
        }
    }

    async fn run_instance(
        self: Arc<Self>,
        config: GameInstance,
        status: Arc<Mutex<GameStatus>>,
        mut requests: mpsc::Receiver<Request>,
    ) {
        let (sink, mut lines) = LogSink::channel(LOG_LINES);
        let mut poll = tokio::time::interval(STATUS_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The password file or variable may appear later: retry every poll, answering actions
        // with the reason meanwhile.
        let mut warned = false;
        let mut adapter = loop {
            match adapter(&config, sink.clone()) {
                Ok(adapter) => break adapter,
                Err(err) => {
                    if !warned {
                        tracing::warn!(game = %config.name, error = %err, "cannot start the game adapter; retrying");
                        warned = true;
                    }
                    tokio::select! {
                        _ = poll.tick() => {}
                        request = requests.recv() => {
                            let Some(request) = request else { return };
                            let _ = request.reply.send(Err(format!("{err} ({})", err.code())));
                        }
                    }
                }
            }
        };
        loop {
            tokio::select! {
                Some(line) = lines.recv() => {
                    if let Some(event) = events::parse_line(&line).filter(|e| !is_status_poll(&e.event)) {
                        self.push_event(event_message(&config, event));
                    }
                }
                _ = poll.tick() => {
                    let fresh = poll_status(&config, adapter.as_mut()).await;
                    *lock(&status) = fresh;
                }
                request = requests.recv() => {
                    let Some(request) = request else { return };
                    let outcome = self.act(&config, adapter.as_mut(), &status, request.action, &request.log).await;
                    let _ = request.reply.send(outcome);
                }
            }
        }
    }

    async fn act(
        &self,
        config: &GameInstance,
        adapter: &mut dyn GameAdapter,
        status: &Mutex<GameStatus>,
        action: GameAction,
        log: &JobLog,
    ) -> Result<(), String> {
        let text = |name: &str| -> Result<String, String> {
            match action.args.get(name) {
                Some(serde_json::Value::String(value)) if !value.is_empty() => Ok(value.clone()),
                _ => Err(format!(
                    "the {} action needs a non-empty string argument {name:?}",
                    action.action
                )),
            }
        };
        let optional = |name: &str| match action.args.get(name) {
            Some(serde_json::Value::String(value)) => value.clone(),
            _ => String::new(),
        };
        let fail = |err: AdapterError| format!("{} ({})", err, err.code());
        match action.action.as_str() {
            "command" => {
                let command = text("command")?;
                note(log, format!("> {command}")).await;
                let response = adapter.command(&command).await.map_err(fail)?;
                for line in response.lines() {
                    note(log, line.to_owned()).await;
                }
                Ok(())
            }
            "say" => {
                let message = text("message")?;
                adapter.say(&message).await.map_err(fail)?;
                note(log, format!("said: {message}")).await;
                Ok(())
            }
            "kick" => {
                let player = text("player")?;
                adapter.kick(&player, &optional("reason")).await.map_err(fail)?;
                note(log, format!("kicked {player}")).await;
                Ok(())
            }
            "ban" => {
                let player = text("player")?;
                let duration = match action.args.get("duration_secs") {
                    None => None,
                    Some(value) => {
                        Some(Duration::from_secs(value.as_u64().filter(|s| *s > 0).ok_or(
                            "duration_secs must be a positive whole number of seconds".to_owned(),
                        )?))
                    }
                };
                adapter.ban(&player, duration, &optional("reason")).await.map_err(fail)?;
                note(log, format!("banned {player}")).await;
                Ok(())
            }
            "save" => {
                adapter.save().await.map_err(fail)?;
                note(log, "world saved".to_owned()).await;
                Ok(())
            }
            "shutdown" => {
                adapter.shutdown().await.map_err(fail)?;
                note(log, "shutdown sent".to_owned()).await;
                Ok(())
            }
            "restart" => {
                let mut restart = config.settings.restart.clone();
                if let Some(value) = action.args.get("warnings_secs") {
                    restart.warnings_secs = serde_json::from_value(value.clone())
                        .map_err(|_| "warnings_secs must be a list of whole seconds".to_owned())?;
                    restart.validate().map_err(|err| err.to_string())?;
                }
                self.restart(config, adapter, status, &restart, log).await
            }
            other => Err(format!(
                "unknown game action {other:?}; use command, say, kick, ban, save, shutdown or restart"
            )),
        }
    }

    /// Warnings, save, shutdown, start, wait until ready; each step to the log.
    async fn restart(
        &self,
        config: &GameInstance,
        adapter: &mut dyn GameAdapter,
        status: &Mutex<GameStatus>,
        restart: &RestartSettings,
        log: &JobLog,
    ) -> Result<(), String> {
        let fail = |step: &str, err: AdapterError| format!("{step} failed: {err} ({})", err.code());
        let warnings = restart.warnings_in_order();
        for (index, &lead) in warnings.iter().enumerate() {
            let message = format!("Server restart in {}", lead_text(lead));
            adapter.say(&message).await.map_err(|err| fail("warning", err))?;
            note(log, format!("step warn: said {message:?}")).await;
            let next = warnings.get(index + 1).copied().unwrap_or(0);
            tokio::time::sleep(Duration::from_secs(lead - next)).await;
        }
        adapter.save().await.map_err(|err| fail("save", err))?;
        note(log, "step save: world saved".to_owned()).await;
        adapter.shutdown().await.map_err(|err| fail("shutdown", err))?;
        note(log, "step shutdown: shutdown sent".to_owned()).await;
        *lock(status) = down(config);
        // Wait for the console to go away, so "ready" below is the new process.
        let gone = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::time::Instant::now() < gone && adapter.status().await.is_ok() {
            tokio::time::sleep(READY_POLL).await;
        }
        match &restart.start_command {
            Some(argv) => {
                self.start_command(argv, log).await?;
            }
            None => {
                note(log, "step start: no start command configured; waiting for the supervisor to start the server".to_owned()).await;
            }
        }
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(restart.ready_timeout_secs);
        loop {
            match adapter.status().await {
                Ok(fresh) if fresh.up => {
                    let version = fresh.version.clone().unwrap_or_default();
                    *lock(status) = fresh;
                    note(log, format!("step ready: the server answers again (version {version})"))
                        .await;
                    return Ok(());
                }
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(format!(
                        "the server did not report ready within {} s",
                        restart.ready_timeout_secs
                    ));
                }
                _ => tokio::time::sleep(READY_POLL).await,
            }
        }
    }

    /// Runs the start command as a command job under the host policy.
    async fn start_command(&self, argv: &[String], log: &JobLog) -> Result<(), String> {
        let (program, args) = argv.split_first().ok_or("the start command is empty")?;
        let spec = JobSpec {
            id: JobId::new(),
            host: HostId::new(),
            kind: JobKind::Command(CommandSpec {
                program: program.clone(),
                args: args.to_vec(),
                cwd: None,
                env: BTreeMap::new(),
            }),
            timeout_secs: None,
            output_cap_bytes: None,
            idempotency_key: None,
            requested_by: Requester {
                kind: gsm_core::job::RequesterKind::Local,
                id: "restart".to_owned(),
            },
        };
        let approved = self.policy.check(&spec).map_err(|violation| {
            format!("step start: the host policy refuses the start command: {violation}")
        })?;
        note(log, format!("step start: running {}", argv.join(" "))).await;
        let (sink, mut output) = mpsc::channel::<OutputChunk>(16);
        let cancel = Cancel::new();
        let forward = async {
            while let Some(chunk) = output.recv().await {
                for line in String::from_utf8_lossy(&chunk.data).lines() {
                    note(log, format!("  {line}")).await;
                }
            }
        };
        let (result, ()) = tokio::join!(runner::run(&approved, sink, &cancel), forward);
        let result = result.map_err(|err| format!("step start: could not run: {err}"))?;
        if result.exit_code != Some(0) {
            return Err(format!("step start: the start command ended {}", result.final_state()));
        }
        note(log, "step start: start command succeeded".to_owned()).await;
        Ok(())
    }
}

async fn note(log: &JobLog, line: String) {
    let _ = log.send(line).await;
}

fn lead_text(secs: u64) -> String {
    match secs {
        s if s >= 60 && s % 60 == 0 => {
            let minutes = s / 60;
            format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
        }
        s => format!("{s} second{}", if s == 1 { "" } else { "s" }),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every guarded value is replaced whole; a panic cannot leave one half-written.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn down(config: &GameInstance) -> GameStatus {
    GameStatus {
        game: config.game.clone(),
        instance: config.name.clone(),
        up: false,
        version: None,
        players_online: 0,
        max_players: None,
        players: Vec::new(),
        world_time: None,
    }
}

async fn poll_status(config: &GameInstance, adapter: &mut dyn GameAdapter) -> GameStatus {
    match adapter.status().await {
        Ok(mut status) => {
            status.instance = config.name.clone();
            status.players.truncate(gsm_core::heartbeat::MAX_PLAYERS);
            status
        }
        Err(err) => {
            tracing::debug!(game = %config.name, error = %err, "game status unavailable");
            down(config)
        }
    }
}

/// The adapter for an instance's type.
fn adapter(config: &GameInstance, sink: LogSink) -> Result<Box<dyn GameAdapter>, AdapterError> {
    let console = &config.settings.console;
    match config.game.as_str() {
        gsm_core::adapters::sdtd::client::GAME => {
            let client = ClientConfig::from_console(console)?;
            let backoff =
                Backoff { initial: Duration::from_millis(500), max: Duration::from_secs(30) };
            Ok(Box::new(Reconnecting::new(client, sink, backoff)))
        }
        gsm_core::adapters::rcon::GAME => {
            Ok(Box::new(RconClient::new(RconConfig::new(console.clone(), Flavor::Minecraft))))
        }
        _ => Err(AdapterError::Unsupported { game: "unknown", action: "this game type" }),
    }
}

fn event_message(config: &GameInstance, event: LogEvent) -> GameEventMessage {
    let player = player_of(&event.event);
    let data = serde_json::to_value(&event).unwrap_or(serde_json::Value::Null);
    GameEventMessage {
        id: uuid::Uuid::now_v7(),
        instance: config.name.clone(),
        game: config.game.clone(),
        kind: event.event.kind().to_owned(),
        player,
        at_ms: now_ms(),
        data,
    }
}

/// The console's echo of the status poll's own commands: noise, every few seconds, not news.
/// (Another Telnet client's `gettime` is hidden too; its other commands are not.)
fn is_status_poll(event: &Event) -> bool {
    matches!(
        event,
        Event::CommandExecuted { command, source }
            if source.starts_with("Telnet")
                && matches!(command.as_str(), "version" | "listplayers" | "gettime" | "mem")
    )
}

/// Wall-clock milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}

fn player_ref(player: &PlayerRef) -> EventPlayer {
    let id = player
        .platform_id
        .clone()
        .or_else(|| player.cross_id.clone())
        .or_else(|| player.entity_id.map(|id| id.to_string()));
    EventPlayer { id, name: player.name.clone() }
}

/// The player an event is about, when it names one.
fn player_of(event: &Event) -> Option<EventPlayer> {
    match event {
        Event::PlayerConnected { player, .. }
        | Event::PlayerSpawned { player, .. }
        | Event::PlayerDisconnected { player } => Some(player_ref(player)),
        Event::PlayerJoined { name }
        | Event::PlayerLeft { name }
        | Event::PlayerDied { name, .. } => Some(EventPlayer { id: None, name: name.clone() }),
        Event::Chat { from, entity_id, name, .. } if *entity_id != -1 => Some(EventPlayer {
            id: Some(from.clone()),
            name: name.clone().unwrap_or_else(|| from.clone()),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_polls_own_commands_are_not_events() {
        let poll = "2024-01-01T10:00:00 12.345 INF Executing command 'gettime' by Telnet from 127.0.0.1:40000";
        let admin = "2024-01-01T10:00:00 12.345 INF Executing command 'kick Bob' by Telnet from 127.0.0.1:40000";
        assert!(is_status_poll(&events::parse_line(poll).expect("an echo line").event));
        assert!(!is_status_poll(&events::parse_line(admin).expect("an echo line").event));
    }

    #[test]
    fn warnings_read_in_minutes_or_seconds() {
        assert_eq!(lead_text(600), "10 minutes");
        assert_eq!(lead_text(60), "1 minute");
        assert_eq!(lead_text(90), "90 seconds");
        assert_eq!(lead_text(1), "1 second");
    }

    #[test]
    fn events_name_their_player_by_platform_id_when_they_can() {
        let line = "2024-01-01T10:00:00 12.345 INF PlayerSpawnedInWorld (reason: JoinMultiplayer, position: 1, 2, 3): EntityID=171, PltfmId='Steam_76561198000000001', CrossId='EOS_0002', OwnerID='Steam_76561198000000001', PlayerName='Alice', ClientNumber='1'";
        let event = events::parse_line(line).expect("a spawn line");
        let player = player_of(&event.event).expect("names a player");
        assert_eq!(player.name, "Alice");
        assert_eq!(player.id.as_deref(), Some("Steam_76561198000000001"));
    }
}
