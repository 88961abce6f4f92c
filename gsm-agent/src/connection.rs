//! The agent's connection to the server: dial, hello/welcome, heartbeats, incoming messages, and
//! reconnecting forever with exponential backoff and full jitter.
//!
//! Two failures end the agent instead of a retry, because retrying cannot help: a 401 on the
//! upgrade (the credential was revoked or the host deleted: enroll again) and
//! `error version_mismatch` (this agent and the server share no protocol version: upgrade one).
//! Everything else (refused connection, timeout, close, reset, a malformed frame) is a lost
//! connection; the backoff restarts from its first step after every welcome.
//!
//! Per connection: one writer task owns the socket's write half (serialised writes, fed by a
//! bounded channel, see `outbox.rs`), one heartbeat task, one re-send of everything unacked, and
//! the reader loop here. The reader also watches for silence: when nothing (not even a pong to
//! the writer's pings) arrives for [`idle_limit`], the connection is presumed dead, which catches
//! a half-open TCP connection long before the kernel would.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gsm_core::heartbeat::Heartbeat;
use gsm_core::job::HostId;
use gsm_proto::agent::{AgentMessage, CONNECT_PATH, Hello, HostFacts, ServerMessage, VersionRange};
use gsm_proto::codec::{self, MAX_FRAME_BYTES};
use reqwest::Url;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::backoff;
use crate::config::Backoff;
use crate::credential::Secret;
use crate::executor::Executor;
use crate::host_metrics::{self, AGENT_VERSION};
use crate::outbox::Outbox;
use crate::{Chain, endpoint};

/// Messages queued for one connection's writer; each is at most [`MAX_FRAME_BYTES`], and a
/// 64 KiB log chunk is about 88 KiB of JSON, so this bounds the queue near 1.4 MiB.
const OUTBOX_CAPACITY: usize = 16;
/// How long the dial (TCP, TLS, upgrade) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to answer the hello.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(30);
/// The heartbeat interval when the server's welcome gives none (0).
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why the agent stopped trying to connect.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused the credential.
    #[error(
        "the server refused this agent's credential (HTTP {status}): the credential was revoked \
         or the host was deleted; enroll again with `gsm-agent enroll --force`"
    )]
    CredentialRefused {
        /// The HTTP status of the refused upgrade.
        status: u16,
    },
    /// The server speaks no protocol version this agent speaks.
    #[error(
        "the server speaks no agent protocol version this agent speaks (this agent: {ours}); \
         upgrade the agent or the server. The server said: {message}"
    )]
    VersionMismatch {
        /// The versions this agent speaks.
        ours: VersionRange,
        /// The server's message.
        message: String,
    },
}

/// What a connection needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server's base URL (`https://gsm.example.com`); the WebSocket URL is derived from it.
    pub server: Url,
    /// The host credential.
    pub credential: Secret,
    /// The host, as enrolled (the welcome's word is final).
    pub host: HostId,
    /// Sent in every hello.
    pub facts: HostFacts,
    /// Heartbeat interval overriding the server's.
    pub heartbeat_override: Option<Duration>,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// The state directory, whose file system the heartbeat reports.
    pub state_dir: std::path::PathBuf,
}

/// How one connection ended, when it was not fatal.
struct Lost {
    reason: String,
    /// True if the server welcomed this connection (the backoff then starts over).
    welcomed: bool,
}

/// The WebSocket URL for `server`: `http` → `ws`, `https` → `wss`, path `…/agent/v1/connect`.
pub fn connect_url(server: &Url) -> Url {
    let mut url = endpoint(server, CONNECT_PATH);
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    // Changing between these special schemes is always allowed.
    let _ = url.set_scheme(scheme);
    url
}

/// Connects and stays connected until a fatal error; reconnects on every other failure.
pub async fn run(settings: Settings, executor: Arc<Executor>, outbox: Outbox) -> Result<(), Error> {
    let url = connect_url(&settings.server);
    let heartbeat_seq = Arc::new(AtomicU64::new(0));
    let mut failures = 0u32;
    loop {
        tracing::info!(server = %url, "connecting");
        let lost = session(&url, &settings, &executor, &outbox, &heartbeat_seq).await?;
        if lost.welcomed {
            failures = 0;
        }
        let delay = backoff::jittered(settings.backoff, failures);
        failures = failures.saturating_add(1);
        tracing::warn!(reason = %lost.reason, retry_in_ms = delay.as_millis() as u64, "connection lost; reconnecting");
        tokio::time::sleep(delay).await;
    }
}

/// One connection, from dial to loss.
async fn session(
    url: &Url,
    settings: &Settings,
    executor: &Arc<Executor>,
    outbox: &Outbox,
    heartbeat_seq: &Arc<AtomicU64>,
) -> Result<Lost, Error> {
    let lost = |reason: String| Ok(Lost { reason, welcomed: false });
    let socket = match dial(url, &settings.credential).await {
        Ok(socket) => socket,
        Err(Dial::Refused(status)) => return Err(Error::CredentialRefused { status }),
        Err(Dial::Failed(reason)) => return lost(reason),
    };
    let (mut write, mut read) = socket.split();
    let hello = AgentMessage::Hello(Hello {
        protocol: VersionRange::CURRENT,
        facts: settings.facts.clone(),
    });
    if let Err(err) = write.send(Message::text(codec::encode(&hello))).await {
        return lost(format!("sending hello failed: {}", Chain(&err)));
    }
    let welcome = match tokio::time::timeout(WELCOME_TIMEOUT, next_message(&mut read)).await {
        Err(_) => return lost("no welcome within 30 s".to_owned()),
        Ok(Err(reason)) => return lost(reason),
        Ok(Ok(ServerMessage::Welcome(welcome))) => welcome,
        Ok(Ok(ServerMessage::Error(error))) if error.code == "version_mismatch" => {
            return Err(Error::VersionMismatch {
                ours: VersionRange::CURRENT,
                message: error.message,
            });
        }
        Ok(Ok(ServerMessage::Error(error))) => {
            return lost(format!(
                "the server refused the hello: {} ({})",
                error.message, error.code
            ));
        }
        Ok(Ok(other)) => return lost(format!("expected welcome, got {}", other.kind())),
    };
    if welcome.host != settings.host {
        tracing::warn!(enrolled = %settings.host, welcomed = %welcome.host, "the server names another host than the credential file; using the server's");
    }
    let interval = settings.heartbeat_override.unwrap_or(match welcome.heartbeat_interval_ms {
        0 => DEFAULT_HEARTBEAT,
        ms => Duration::from_millis(ms),
    });
    tracing::info!(host.id = %welcome.host, protocol = welcome.protocol, heartbeat_ms = interval.as_millis() as u64, "connected");

    let (sender, queue) = mpsc::channel(OUTBOX_CAPACITY);
    let mut writer = tokio::spawn(write_loop(write, queue, interval));
    // Attach before re-sending, so nothing written to disk after the scan misses this connection.
    outbox.attach(sender.clone());
    let heartbeat = tokio::spawn(heartbeat_loop(HeartbeatTask {
        sender,
        interval,
        host: welcome.host,
        executor: executor.clone(),
        state_dir: settings.state_dir.clone(),
        seq: heartbeat_seq.clone(),
    }));
    // The list is taken before any message is read; the re-send runs beside the reader, so acks
    // keep flowing while a large spool drains.
    let unacked = executor.unacked_jobs();
    let resend = {
        let executor = executor.clone();
        tokio::spawn(async move {
            executor.resend(unacked).await;
            executor.games().resend().await;
        })
    };

    let ended = read_loop(&mut read, &mut writer, executor, idle_limit(interval)).await;

    outbox.detach();
    heartbeat.abort();
    resend.abort();
    writer.abort();
    match ended {
        Ok(reason) => Ok(Lost { reason, welcomed: true }),
        Err(fatal) => Err(fatal),
    }
}

enum Dial {
    /// 401 on the upgrade.
    Refused(u16),
    /// Anything else: worth retrying.
    Failed(String),
}

async fn dial(url: &Url, credential: &Secret) -> Result<Socket, Dial> {
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|err| Dial::Failed(format!("bad connect URL {url}: {err}")))?;
    let mut bearer = HeaderValue::from_str(&format!("Bearer {}", credential.expose()))
        .map_err(|_| Dial::Failed("the credential is not a valid header value".to_owned()))?;
    bearer.set_sensitive(true);
    request.headers_mut().insert(header::AUTHORIZATION, bearer);
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(MAX_FRAME_BYTES);
    config.max_frame_size = Some(MAX_FRAME_BYTES);
    // `true` disables Nagle's algorithm: acks and chunks are small and must not wait ~40 ms for
    // the server's delayed ACK.
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => Err(Dial::Failed(format!("connecting to {url} timed out"))),
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(response)))
            if response.status() == StatusCode::UNAUTHORIZED =>
        {
            Err(Dial::Refused(response.status().as_u16()))
        }
        Ok(Err(tungstenite::Error::Http(response))) => Err(Dial::Failed(format!(
            "the server answered the upgrade with HTTP {}",
            response.status()
        ))),
        Ok(Err(err)) => Err(Dial::Failed(format!("connecting to {url} failed: {}", Chain(&err)))),
    }
}

/// Reads until the next server message, skipping control frames. `Err` says why the connection
/// is gone.
async fn next_message(
    read: &mut futures_util::stream::SplitStream<Socket>,
) -> Result<ServerMessage, String> {
    loop {
        match read.next().await {
            None => return Err("the server closed the connection".to_owned()),
            Some(Err(err)) => return Err(format!("reading failed: {}", Chain(&err))),
            Some(Ok(frame)) => match decode(frame)? {
                Some(message) => return Ok(message),
                None => continue,
            },
        }
    }
}

/// One frame: `Ok(Some)` a message, `Ok(None)` nothing to act on, `Err` the connection is over.
fn decode(frame: Message) -> Result<Option<ServerMessage>, String> {
    match frame {
        Message::Text(text) => match codec::decode_server(text.as_str()) {
            Ok(message) => Ok(Some(message)),
            Err(err) => {
                // A newer server's message kind, or garbage: neither is worth the connection.
                tracing::warn!(code = err.code(), error = %err, "ignoring a server frame");
                Ok(None)
            }
        },
        Message::Binary(_) => {
            tracing::warn!("ignoring a binary frame; the protocol uses text frames");
            Ok(None)
        }
        Message::Close(frame) => Err(match frame {
            Some(frame) => {
                format!("the server closed the connection ({}: {})", frame.code, frame.reason)
            }
            None => "the server closed the connection".to_owned(),
        }),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(None),
    }
}

/// Reads and handles server messages until the connection is lost (`Ok(reason)`) or a fatal
/// error arrives.
async fn read_loop(
    read: &mut futures_util::stream::SplitStream<Socket>,
    writer: &mut tokio::task::JoinHandle<String>,
    executor: &Arc<Executor>,
    idle_limit: Duration,
) -> Result<String, Error> {
    let mut last_heard = Instant::now();
    loop {
        let frame = tokio::select! {
            frame = read.next() => frame,
            ended = &mut *writer => {
                return Ok(ended.unwrap_or_else(|err| format!("the writer task failed: {err}")));
            }
            () = tokio::time::sleep_until(last_heard + idle_limit) => {
                return Ok(format!("nothing heard from the server for {} s", idle_limit.as_secs()));
            }
        };
        last_heard = Instant::now();
        let message = match frame {
            None => return Ok("the server closed the connection".to_owned()),
            Some(Err(err)) => return Ok(format!("reading failed: {}", Chain(&err))),
            Some(Ok(frame)) => match decode(frame) {
                Err(reason) => return Ok(reason),
                Ok(None) => continue,
                Ok(Some(message)) => message,
            },
        };
        match message {
            ServerMessage::AssignJob(assignment) => executor.assign(assignment).await,
            ServerMessage::CancelJob(job) => executor.cancel(job),
            ServerMessage::Ack(ack) => executor.ack(ack).await,
            ServerMessage::Error(error) if error.code == "version_mismatch" => {
                return Err(Error::VersionMismatch {
                    ours: VersionRange::CURRENT,
                    message: error.message,
                });
            }
            ServerMessage::Error(error) => {
                tracing::warn!(code = %error.code, message = %error.message, "the server reported an error");
            }
            ServerMessage::Welcome(_) => tracing::warn!("ignoring a second welcome"),
            ServerMessage::GameConfig(config) => executor.games().configure(config),
            ServerMessage::GameEventsAck(ack) => executor.games().ack(ack.batch),
        }
    }
}

/// How long the connection may be silent before it is presumed dead: three heartbeats (each
/// comes with a ping the server answers), and never under 10 s.
fn idle_limit(interval: Duration) -> Duration {
    (interval * 3).max(Duration::from_secs(10))
}

/// Owns the socket's write half: sends queued messages in order, and a ping every `interval`.
/// Returns why it stopped.
async fn write_loop(
    mut write: futures_util::stream::SplitSink<Socket, Message>,
    mut queue: mpsc::Receiver<AgentMessage>,
    interval: Duration,
) -> String {
    let mut ping = tokio::time::interval(interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let frame = tokio::select! {
            message = queue.recv() => match message {
                Some(message) => Message::text(codec::encode(&message)),
                None => return "the connection was closed".to_owned(),
            },
            _ = ping.tick() => Message::Ping(Default::default()),
        };
        if let Err(err) = write.send(frame).await {
            return format!("writing failed: {}", Chain(&err));
        }
    }
}

struct HeartbeatTask {
    sender: mpsc::Sender<AgentMessage>,
    interval: Duration,
    host: HostId,
    executor: Arc<Executor>,
    state_dir: std::path::PathBuf,
    seq: Arc<AtomicU64>,
}

/// How far a heartbeat may stray from the interval, either way: ±10 %. Agents that connected
/// together (after a server restart) drift apart instead of heartbeating in lockstep.
const HEARTBEAT_JITTER: f64 = 0.1;

/// The gap before the next heartbeat, given a uniform draw `unit` in `[0, 1)`: within ±10 % of the
/// interval, averaging the interval, so presence thresholds (whole missed intervals) still hold.
fn heartbeat_gap(interval: Duration, unit: f64) -> Duration {
    interval.mul_f64(1.0 - HEARTBEAT_JITTER + 2.0 * HEARTBEAT_JITTER * unit.clamp(0.0, 1.0))
}

/// Sends a heartbeat at once and then about every interval (jittered), until the connection goes.
async fn heartbeat_loop(task: HeartbeatTask) {
    let mut first = true;
    loop {
        if !first {
            tokio::time::sleep(heartbeat_gap(task.interval, rand::random::<f64>())).await;
        }
        first = false;
        let sample = host_metrics::sample(&[task.state_dir.as_path()]);
        let heartbeat = Heartbeat {
            host: task.host,
            agent_version: AGENT_VERSION.to_owned(),
            seq: task.seq.fetch_add(1, Ordering::Relaxed),
            uptime_secs: sample.uptime_secs,
            load: sample.load,
            memory: sample.memory,
            disks: sample.disks,
            running_jobs: task.executor.running_jobs(),
            games: task.executor.games().statuses(),
        };
        if task.sender.send(AgentMessage::Heartbeat(heartbeat)).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_url_follows_the_server_url() {
        let check = |server: &str, expected: &str| {
            assert_eq!(connect_url(&Url::parse(server).unwrap()).as_str(), expected);
        };
        check("http://127.0.0.1:8080", "ws://127.0.0.1:8080/agent/v1/connect");
        check("https://gsm.example.com/", "wss://gsm.example.com/agent/v1/connect");
        check("https://example.com/gsm/", "wss://example.com/gsm/agent/v1/connect");
        check("https://example.com/gsm", "wss://example.com/gsm/agent/v1/connect");
    }

    #[test]
    fn heartbeats_stray_at_most_ten_percent_from_the_interval() {
        let interval = Duration::from_secs(5);
        assert_eq!(heartbeat_gap(interval, 0.0), Duration::from_millis(4500));
        assert_eq!(heartbeat_gap(interval, 0.5), interval);
        assert_eq!(heartbeat_gap(interval, 1.0), Duration::from_millis(5500));
        assert_eq!(heartbeat_gap(interval, 7.0), Duration::from_millis(5500));
    }

    #[test]
    fn silence_is_tolerated_for_three_heartbeats_and_at_least_ten_seconds() {
        assert_eq!(idle_limit(Duration::from_secs(5)), Duration::from_secs(15));
        assert_eq!(idle_limit(Duration::from_millis(100)), Duration::from_secs(10));
    }
}
