//! One agent's WebSocket session: authenticate on upgrade, hello/welcome, then heartbeats, job
//! reports and output in, jobs, cancels and acks out.
//!
//! The host is the one the credential names; a message about another host or another host's job
//! is refused with `forbidden` and writes nothing. Frames are decoded by gsm-proto's bounded
//! decoder; a malformed frame gets an error and closes the connection, an unknown kind gets
//! `unsupported` and the session goes on. Chunks are stored before they are acked, so an ack is a
//! promise the agent may delete its copy. The host's game config is sent right after the welcome;
//! game events are stored (idempotently, by the agent's event id) before their batch is acked.

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::FutureExt;
use gsm_core::job::{HostId, JobId};
use gsm_proto::agent::{
    Ack, AgentMessage, ErrorMessage, GameConfig, GameEventMessage, GameEventsAck, JobFinished,
    JobRef, LogChunk, MAX_GAME_EVENT_DATA_BYTES, MAX_GAME_EVENTS_PER_BATCH, ServerMessage,
    VersionRange, Welcome,
};
use gsm_proto::codec::{self, MAX_FRAME_BYTES, ProtocolError};
use gsm_proto::rest::ErrorBody;
use tokio::sync::{mpsc, watch};

use crate::app::AppState;
use crate::dispatch::{self, End};
use crate::http::ApiError;
use crate::secrets;
use crate::store::games::{EventPlayer, NewGameEvent};
use crate::store::{HostRecord, JobRecord, NewLogChunk, SecretHash, StoreError};

/// How long an agent has to say hello after the upgrade.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a live session re-checks that its credential still works (revocation, deletion).
const RECHECK_EVERY: Duration = Duration::from_secs(30);

/// The agent WebSocket: after the upgrade the agent sends `hello` and the server answers
/// `welcome`; then heartbeats, job assignments, output and results flow as JSON text messages
/// (`gsm-proto/schemas/agent-message.json`, `server-message.json`).
#[utoipa::path(
    get,
    path = "/agent/v1/connect",
    tag = "agent",
    security(("host_credential" = [])),
    responses(
        (status = 101, description = "WebSocket upgrade; the agent protocol follows."),
        (status = 400, description = "Not a WebSocket upgrade request.", body = ErrorBody),
        (status = 401, description = "No host credential, or one that is unknown or revoked.", body = ErrorBody),
        (status = 426, description = "The connection cannot be upgraded to a WebSocket.", body = ErrorBody),
        (status = 503, description = "The server cannot reach its database; retry shortly.", body = ErrorBody),
    ),
)]
pub(super) async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let credential = crate::http::bearer_token(&headers).ok_or_else(|| {
        ApiError::unauthorized("send the host credential as `Authorization: Bearer …`")
    })?;
    let credential_hash = secrets::hash(credential);
    let host = state.store.host_by_credential(credential_hash).await?.ok_or_else(|| {
        ApiError::unauthorized(
            "the host credential is unknown or revoked (was the host deleted?); enroll the agent again",
        )
    })?;
    let upgrade = upgrade
        .map_err(|err| ApiError::new(err.status(), "websocket_required", err.body_text()))?;
    Ok(upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| run(state, host, credential_hash, socket)))
}

/// Bytes read from an agent's socket at a time. The WebSocket library's default (128 KiB,
/// allocated up front) was most of the server's memory per connected agent — 1.4 GiB for 10,000
/// idle agents; agent messages are small, and a large log chunk just takes a few reads.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// What ended a session, for the log.
enum Closed {
    AgentLeft,
    Replaced,
    Revoked,
    Protocol(ProtocolError),
    HelloTimeout,
    VersionMismatch,
    NotHello,
    Store(StoreError),
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::AgentLeft => f.write_str("the agent closed the connection"),
            Closed::Replaced => {
                f.write_str("replaced by a newer connection, or the host was deleted")
            }
            Closed::Revoked => f.write_str("the host credential was revoked"),
            Closed::Protocol(err) => write!(f, "protocol error: {err}"),
            Closed::HelloTimeout => f.write_str("no hello in time"),
            Closed::VersionMismatch => f.write_str("no common protocol version"),
            Closed::NotHello => f.write_str("the first message was not a hello"),
            Closed::Store(err) => write!(f, "store error: {err}"),
        }
    }
}

#[tracing::instrument(skip_all, fields(host.id = %host.id, org.id = %host.org))]
async fn run(state: AppState, host: HostRecord, credential: SecretHash, mut socket: WebSocket) {
    let closed = match hello(&state, &host, &mut socket).await {
        Ok(()) => session(&state, &host, credential, &mut socket).await,
        Err(closed) => closed,
    };
    match &closed {
        Closed::AgentLeft | Closed::Replaced => {
            tracing::info!(reason = %closed, "agent disconnected")
        }
        _ => tracing::warn!(reason = %closed, "agent connection closed"),
    }
    let _ = socket.send(Message::Close(None)).await;
}

async fn send(socket: &mut WebSocket, message: &ServerMessage) -> Result<(), Closed> {
    socket.send(Message::Text(codec::encode(message).into())).await.map_err(|_| Closed::AgentLeft)
}

async fn send_error(socket: &mut WebSocket, code: &str, message: String) {
    let error = ServerMessage::Error(ErrorMessage { code: code.into(), message });
    let _ = send(socket, &error).await;
}

async fn hello(state: &AppState, host: &HostRecord, socket: &mut WebSocket) -> Result<(), Closed> {
    let first = match tokio::time::timeout(HELLO_TIMEOUT, socket.recv()).await {
        Err(_) => {
            send_error(socket, "hello_timeout", format!("no hello within {HELLO_TIMEOUT:?}")).await;
            return Err(Closed::HelloTimeout);
        }
        Ok(None | Some(Err(_))) => return Err(Closed::AgentLeft),
        Ok(Some(Ok(message))) => message,
    };
    let text = match first {
        Message::Text(text) => text,
        Message::Close(_) => return Err(Closed::AgentLeft),
        _ => {
            send_error(
                socket,
                "unauthenticated",
                "the first message must be a hello text frame".into(),
            )
            .await;
            return Err(Closed::NotHello);
        }
    };
    let hello = match codec::decode_agent(text.as_str()) {
        Ok(AgentMessage::Hello(hello)) => hello,
        Ok(other) => {
            let message = format!("the first message must be hello, not {}", other.kind());
            send_error(socket, "unauthenticated", message).await;
            return Err(Closed::NotHello);
        }
        Err(err) => {
            state.metrics.protocol_errors.inc();
            send_error(socket, err.code(), err.to_string()).await;
            return Err(Closed::Protocol(err));
        }
    };
    let Some(version) = VersionRange::CURRENT.negotiate(hello.protocol) else {
        let message = format!(
            "agent speaks protocol {}, this server speaks {}; upgrade the older side",
            hello.protocol,
            VersionRange::CURRENT
        );
        send_error(socket, "version_mismatch", message).await;
        return Err(Closed::VersionMismatch);
    };
    if let Err(err) = crate::http::validate_facts(&hello.facts) {
        tracing::warn!(error = ?err, "agent sent invalid host facts; keeping the previous ones");
    } else if let Err(err) = state.store.update_host_facts(host.id, &hello.facts).await {
        return Err(Closed::Store(err));
    }
    let interval = state.settings.presence.interval;
    let welcome = Welcome {
        protocol: version,
        host: host.id,
        heartbeat_interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
    };
    send(socket, &ServerMessage::Welcome(welcome)).await
}

async fn session(
    state: &AppState,
    host: &HostRecord,
    credential: SecretHash,
    socket: &mut WebSocket,
) -> Closed {
    let (id, mut outbox, mut close) = state.agents.register(host.id);
    state.metrics.connected_agents.inc();
    let closed = serve(state, host, credential, socket, &mut outbox, &mut close).await;
    state.agents.unregister(host.id, id);
    state.metrics.connected_agents.dec();
    closed
}

async fn serve(
    state: &AppState,
    host: &HostRecord,
    credential: SecretHash,
    socket: &mut WebSocket,
    outbox: &mut mpsc::Receiver<ServerMessage>,
    close: &mut watch::Receiver<bool>,
) -> Closed {
    // Connecting counts as being heard from.
    state.alerts.know_host(host.id, host.org);
    let change = state.presence().heartbeat(host.id, std::time::Instant::now());
    if let Some(change) = change {
        state.presence_changed(&change);
    }
    // The game config goes first, so the agent's adapters run before any game job arrives.
    match state.store.games_for_host(host.id).await {
        Ok(games) => {
            if let Err(closed) =
                send(socket, &ServerMessage::GameConfig(GameConfig { games })).await
            {
                return closed;
            }
        }
        Err(err) => return Closed::Store(err),
    }
    if let Err(err) = dispatch::offer_pending(state, host.id).await {
        return Closed::Store(err);
    }
    let mut owned = OwnedJobs::default();
    let mut recheck = tokio::time::interval(RECHECK_EVERY);
    recheck.tick().await;
    // A frame read ahead while batching output chunks, handled before the socket is read again.
    let mut read_ahead: Option<Incoming> = None;
    loop {
        let incoming = match read_ahead.take() {
            Some(incoming) => incoming,
            None => tokio::select! {
                changed = close.changed() => {
                    if changed.is_err() || *close.borrow() {
                        return Closed::Replaced;
                    }
                    continue;
                }
                Some(message) = outbox.recv() => {
                    if let Err(closed) = send(socket, &message).await {
                        return closed;
                    }
                    continue;
                }
                _ = recheck.tick() => {
                    match state.store.host_by_credential(credential).await {
                        Ok(Some(_)) => {}
                        Ok(None) => {
                            send_error(socket, "revoked", "the host credential was revoked".into()).await;
                            return Closed::Revoked;
                        }
                        Err(err) => tracing::warn!(error = %err, "could not re-check the host credential"),
                    }
                    continue;
                }
                incoming = socket.recv() => incoming,
            },
        };
        let message = match decode(state, socket, incoming).await {
            Decoded::Message(message) => message,
            Decoded::Skip => continue,
            Decoded::Closed(closed) => return closed,
        };
        let handled = match message {
            AgentMessage::JobLog(first) => {
                let (chunks, next) = read_chunk_run(socket, first);
                read_ahead = next;
                store_chunk_run(state, host.id, &mut owned, chunks).await
            }
            message => handle(state, host.id, &mut owned, message).await,
        };
        match handled {
            Ok(replies) => {
                for reply in replies {
                    if let Err(closed) = send(socket, &reply).await {
                        return closed;
                    }
                }
            }
            Err(Refusal::Forbidden(detail)) => {
                if let Err(closed) = send(socket, &forbidden(state, detail)).await {
                    return closed;
                }
            }
            Err(Refusal::Store(err)) => {
                // Nothing was acked, so the agent keeps its copy and re-sends on reconnect.
                return Closed::Store(err);
            }
        }
    }
}

/// One read from the agent's socket.
type Incoming = Option<Result<Message, axum::Error>>;

/// What a frame from the agent comes to.
enum Decoded {
    Message(AgentMessage),
    /// Nothing to do (a ping, or an unknown kind already answered with `unsupported`).
    Skip,
    /// The connection is over.
    Closed(Closed),
}

async fn decode(state: &AppState, socket: &mut WebSocket, incoming: Incoming) -> Decoded {
    let text = match incoming {
        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => {
            return Decoded::Closed(Closed::AgentLeft);
        }
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => return Decoded::Skip,
        Some(Ok(Message::Binary(_))) => {
            state.metrics.protocol_errors.inc();
            let err = ProtocolError::BinaryFrame;
            send_error(socket, err.code(), err.to_string()).await;
            return Decoded::Closed(Closed::Protocol(err));
        }
        Some(Ok(Message::Text(text))) => text,
    };
    match codec::decode_agent(text.as_str()) {
        Ok(message) => Decoded::Message(message),
        Err(err @ ProtocolError::Unsupported { .. }) => {
            state.metrics.protocol_errors.inc();
            send_error(socket, err.code(), err.to_string()).await;
            Decoded::Skip
        }
        Err(err) => {
            state.metrics.protocol_errors.inc();
            send_error(socket, err.code(), err.to_string()).await;
            Decoded::Closed(Closed::Protocol(err))
        }
    }
}

/// Most output chunks stored in one write.
const RUN_CHUNKS: usize = 64;
/// Most output bytes stored in one write.
const RUN_BYTES: usize = 4 << 20;

/// `first` and the output chunks that already wait on the socket behind it, up to
/// [`RUN_CHUNKS`] / [`RUN_BYTES`]: while one write is being committed the agent keeps sending, so
/// the next write takes everything that arrived meanwhile in one transaction and one ack per job.
/// Never waits for the socket. The first frame that is not an output chunk is returned to be
/// handled next, in order.
fn read_chunk_run(socket: &mut WebSocket, first: LogChunk) -> (Vec<LogChunk>, Option<Incoming>) {
    let mut bytes = first.data.len();
    let mut chunks = vec![first];
    while chunks.len() < RUN_CHUNKS && bytes < RUN_BYTES {
        let Some(incoming) = socket.recv().now_or_never() else {
            break;
        };
        if let Some(Ok(Message::Text(text))) = &incoming
            && let Ok(AgentMessage::JobLog(chunk)) = codec::decode_agent(text.as_str())
        {
            bytes += chunk.data.len();
            chunks.push(chunk);
            continue;
        }
        return (chunks, Some(incoming));
    }
    (chunks, None)
}

/// The answer to a message about another host's job; it is logged as a security event.
fn forbidden(state: &AppState, detail: String) -> ServerMessage {
    state.metrics.protocol_errors.inc();
    tracing::warn!(security = true, detail = %detail, "agent message refused");
    ServerMessage::Error(ErrorMessage { code: "forbidden".into(), message: detail })
}

/// Stores a run of output chunks, job by job in the order they came, and acks each job once.
/// Chunks of a job that is not this host's are refused without stopping the others.
async fn store_chunk_run(
    state: &AppState,
    host: HostId,
    owned: &mut OwnedJobs,
    chunks: Vec<LogChunk>,
) -> Result<Vec<ServerMessage>, Refusal> {
    let mut by_job: Vec<(JobRef, Vec<LogChunk>)> = Vec::new();
    for chunk in chunks {
        match by_job.iter_mut().find(|(job, _)| *job == chunk.job) {
            Some((_, run)) => run.push(chunk),
            None => by_job.push((chunk.job, vec![chunk])),
        }
    }
    let mut acks = Vec::with_capacity(by_job.len());
    for (job, run) in by_job {
        match owned.check(state, host, job.job).await {
            Ok(_) => {}
            Err(Refusal::Forbidden(detail)) => {
                acks.push(forbidden(state, detail));
                continue;
            }
            Err(refusal) => return Err(refusal),
        }
        let stored = store_chunks(state, job.job, run).await?;
        acks.push(ack(job, stored, false));
    }
    Ok(acks)
}

/// Why a message was not applied.
enum Refusal {
    /// It names another host or another host's job.
    Forbidden(String),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(err: StoreError) -> Self {
        Refusal::Store(err)
    }
}

/// Jobs this connection has verified belong to its host, so output chunks need no lookup each.
#[derive(Default)]
struct OwnedJobs {
    verified: HashSet<JobId>,
}

impl OwnedJobs {
    /// Refuses a job that is not this host's. Returns the job when it had to read it to know,
    /// so the caller need not read it again.
    async fn check(
        &mut self,
        state: &AppState,
        host: HostId,
        job: JobId,
    ) -> Result<Option<JobRecord>, Refusal> {
        if self.verified.contains(&job) {
            return Ok(None);
        }
        match state.store.get_job_any_org(job).await {
            Ok(record) if record.host == host => {
                if self.verified.len() > 10_000 {
                    self.verified.clear();
                }
                self.verified.insert(job);
                Ok(Some(record))
            }
            Ok(_) | Err(StoreError::NotFound { .. }) => {
                Err(Refusal::Forbidden(format!("job {job} is not a job of this host")))
            }
            Err(err) => Err(Refusal::Store(err)),
        }
    }
}

fn ack(job: JobRef, chunks_stored: u64, finished: bool) -> ServerMessage {
    ServerMessage::Ack(Ack { job, chunks_stored, finished })
}

async fn handle(
    state: &AppState,
    host: HostId,
    owned: &mut OwnedJobs,
    message: AgentMessage,
) -> Result<Vec<ServerMessage>, Refusal> {
    match message {
        AgentMessage::Hello(_) => Ok(vec![ServerMessage::Error(ErrorMessage {
            code: "unexpected_hello".into(),
            message: "hello is only the first message of a connection".into(),
        })]),
        AgentMessage::Heartbeat(beat) => {
            if beat.host != host {
                return Err(Refusal::Forbidden(format!(
                    "heartbeat names host {}, but this connection is host {host}",
                    beat.host
                )));
            }
            if let Err(err) = beat.validate() {
                return Ok(vec![ServerMessage::Error(ErrorMessage {
                    code: "invalid_heartbeat".into(),
                    message: err.to_string(),
                })]);
            }
            state.record_heartbeat(host, beat);
            Ok(vec![])
        }
        AgentMessage::JobAccepted(job) => {
            let read = owned.check(state, host, job.job).await?;
            dispatch::settle(state, job.job, End::Running, read).await?;
            Ok(vec![])
        }
        AgentMessage::JobRejected(rejected) => {
            let read = owned.check(state, host, rejected.job.job).await?;
            let reason = format!("{}: {}", rejected.reason, rejected.message);
            dispatch::settle(state, rejected.job.job, End::Rejected { reason }, read).await?;
            Ok(vec![ack(rejected.job, 0, true)])
        }
        AgentMessage::JobLog(chunk) => store_chunk_run(state, host, owned, vec![chunk]).await,
        AgentMessage::JobFinished(JobFinished { job, result, chunks }) => {
            let read = owned.check(state, host, job.job).await?;
            let stored = store_chunks(state, job.job, vec![]).await?;
            dispatch::settle(state, job.job, End::Finished { result, chunks }, read).await?;
            // The end is stored; the agent may forget the job once every chunk is stored too.
            Ok(vec![ack(job, stored, stored >= chunks)])
        }
        AgentMessage::GameEvents(batch) => {
            let events = game_events(batch.events);
            state.store.record_game_events(host, &events).await?;
            for event in &events {
                state.alerts.emit_for_host(host, game_alert_event(host, event));
            }
            Ok(vec![ServerMessage::GameEventsAck(GameEventsAck { batch: batch.batch })])
        }
        AgentMessage::JobLost(lost) => {
            let read = owned.check(state, host, lost.job.job).await?;
            dispatch::settle(state, lost.job.job, End::Lost { reason: lost.reason }, read).await?;
            let stored = store_chunks(state, lost.job.job, vec![]).await?;
            Ok(vec![ack(lost.job, stored, true)])
        }
    }
}

/// A stored game event as the alert rules see it: kind `game.<kind>`, the instance as the game,
/// the raw line (else the player's name) as the text, the player count when the event has one.
fn game_alert_event(host: HostId, event: &NewGameEvent) -> gsm_core::rules::Event {
    let text = event
        .data
        .get("raw")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .or_else(|| event.player.as_ref().map(|p| p.name.clone()))
        .unwrap_or_default();
    let players = event
        .data
        .get("players")
        .and_then(serde_json::Value::as_u64)
        .and_then(|p| u32::try_from(p).ok());
    gsm_core::rules::Event {
        kind: format!("{}{}", gsm_core::rules::kinds::GAME_PREFIX, event.kind),
        host: Some(host),
        game: Some(event.instance.clone()),
        text,
        players,
        at_ms: event.at.as_millisecond(),
    }
}

/// The valid events of a batch, as the store takes them. An invalid event (a newer or buggy agent)
/// is dropped with a warning rather than refusing the batch, which the agent would re-send forever.
fn game_events(events: Vec<GameEventMessage>) -> Vec<NewGameEvent> {
    let mut valid = Vec::with_capacity(events.len().min(MAX_GAME_EVENTS_PER_BATCH));
    for (index, event) in events.into_iter().enumerate() {
        if index >= MAX_GAME_EVENTS_PER_BATCH {
            tracing::warn!(
                limit = MAX_GAME_EVENTS_PER_BATCH,
                "game event batch too long; dropping the rest"
            );
            break;
        }
        match check_game_event(event) {
            Ok(event) => valid.push(event),
            Err(problem) => tracing::warn!(problem, "dropping an invalid game event"),
        }
    }
    valid
}

fn check_game_event(event: GameEventMessage) -> Result<NewGameEvent, &'static str> {
    let text_ok =
        |text: &str| !text.is_empty() && text.len() <= 256 && !text.contains(char::is_control);
    if !(text_ok(&event.instance) && text_ok(&event.game) && text_ok(&event.kind)) {
        return Err("instance, game and kind must be 1-256 printable bytes");
    }
    if let Some(player) = &event.player
        && (!text_ok(&player.name) || player.id.as_deref().is_some_and(|id| !text_ok(id)))
    {
        return Err("a player's id and name must be 1-256 printable bytes");
    }
    let size = serde_json::to_vec(&event.data).map(|data| data.len()).unwrap_or(usize::MAX);
    if size > MAX_GAME_EVENT_DATA_BYTES {
        return Err("data is too large");
    }
    let at = jiff::Timestamp::from_millisecond(event.at_ms).map_err(|_| "at_ms is out of range")?;
    Ok(NewGameEvent {
        id: event.id,
        instance: event.instance,
        game: event.game,
        kind: event.kind,
        player: event.player.map(|p| EventPlayer { id: p.id, name: p.name }),
        at,
        data: event.data,
    })
}

/// Stores chunks (possibly none, to learn the stored count) and wakes live followers.
async fn store_chunks(
    state: &AppState,
    job: JobId,
    chunks: Vec<LogChunk>,
) -> Result<u64, StoreError> {
    let new: Vec<NewLogChunk> = chunks
        .into_iter()
        .map(|chunk| NewLogChunk { seq: chunk.seq, stream: chunk.stream, data: chunk.data })
        .collect();
    let stored = state.store.append_log_chunks(job, &new).await?;
    if !new.is_empty() {
        let _ = state.job_events.send(job);
    }
    Ok(stored)
}
