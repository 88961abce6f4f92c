//! The Source RCON client: one TCP connection, authenticated, running one command at a time and
//! returning its complete response, with the end of a response found the way the server's
//! [`Flavor`] allows.
//!
//! # Decisions
//!
//! - **One request in flight, one packet per write.** The client never writes a second request
//!   before the first is fully answered, and every packet goes out as one buffer on a
//!   `TCP_NODELAY` socket. Minecraft reads each request with one `read()` and closes the
//!   connection when two requests share it, so a pipelining client loses its session there.
//! - **Exact-frame reads.** The four Size bytes are read and checked ([`packet::frame_len`]),
//!   then exactly Size bytes, through a buffered reader: a packet split over many TCP reads is
//!   reassembled, and bytes of the next packet that came in the same read stay buffered for it.
//! - **End of a response, per flavour.** Nothing in Source RCON marks the last packet of a
//!   multi-packet response:
//!   - [`Flavor::Source`] (SRCDS) sends an empty `RESPONSE_VALUE` with its own id right after the
//!     command; the server mirrors it after the command's output, so the output is complete when
//!     the probe's id comes back. SRCDS follows the mirror with one more packet carrying the
//!     probe's id; it is skipped when it arrives, before the next command's output.
//!   - [`Flavor::Minecraft`] must not get a probe beside its command (the two would share one
//!     read and the server would close the session). Minecraft splits output every 4096 Java
//!     chars, so a chunk shorter than that is the last one, which covers nearly every command
//!     with no extra round trip. Only when a chunk is exactly 4096 chars long is a probe sent:
//!     a packet of unknown type 100, which Minecraft answers with `Unknown request 64` under the
//!     probe's id. It goes out after the first chunk arrived (the server has by then consumed the
//!     command's read) and at least [`MINECRAFT_PROBE_GAP`] after the command, as other clients
//!     pace Minecraft; chunks until the probe's answer are the output.
//!   - [`Flavor::Unechoed`] servers (Palworld answers id 0, Conan Exiles 42) do not echo ids, so a
//!     probe's answer cannot be told from output: the first `RESPONSE_VALUE` is the response.
//! - **Bounded in bytes and time.** All packets read for one command (skipped ones included)
//!   count against [`MAX_RESPONSE_BYTES`] (1 MiB), each packet's Size against the configured
//!   maximum, and connect + auth and each command against the configured timeout as a whole, so
//!   a never-ending reply is a [`AdapterError::Protocol`] and a peer trickling a byte a second an
//!   [`AdapterError::Timeout`].
//! - **Any failure ends the session; the next call starts a new one.** After a timeout or a
//!   malformed packet the stream's position is unknown, so the connection is dropped; the next
//!   call connects and authenticates again. A command that never answers (a map change) is a
//!   timeout, then a reconnect.
//! - **A refused password is final until `auth_retry_after`.** `AUTH_RESPONSE` id `-1` is
//!   [`AdapterError::AuthFailed`]; the client does not retry on its own, and calls within
//!   `auth_retry_after` of the refusal fail at once without touching the server, so a caller
//!   looping on errors cannot turn a wrong password into a login storm (or a ban). The password
//!   is read from its source at each login and appears in no error, log line or `Debug` output.
//! - **Request ids are positive and never repeat within a session** (until 2^31 requests), so
//!   `-1` (auth refused) can never be mistaken for an answer, and a stale reply cannot match.

use std::io;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::packet::{self, CodecError, Packet};
use crate::adapters::sdtd::client::Password;
use crate::adapters::{AdapterError, ConsoleConfig};

/// The most bytes of packets read for one command: the response cap of a console reply.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// The connect, auth and per-command timeout when the config names none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a refused password keeps the client from logging in again, by default.
pub const DEFAULT_AUTH_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The largest request packet Minecraft accepts: it reads requests into a 1460-byte buffer.
pub const MINECRAFT_MAX_REQUEST: usize = 1460;
/// Minecraft splits output into chunks of this many Java chars (UTF-16 code units).
pub const MINECRAFT_CHUNK_CHARS: usize = 4096;
/// The least time between a command and a Minecraft probe.
pub const MINECRAFT_PROBE_GAP: Duration = Duration::from_millis(3);
/// A packet type Minecraft does not know: it answers `Unknown request 64` under the same id.
const MINECRAFT_PROBE_TYPE: i32 = 100;
/// Packets a server may send before its `AUTH_RESPONSE` (SRCDS sends one empty one).
const MAX_AUTH_PREAMBLE: usize = 4;

/// How a server frames responses: which end-of-response strategy the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    /// Vanilla Minecraft: one request per read, output in 4096-char chunks, no auth preamble.
    Minecraft,
    /// SRCDS and servers like it: mirror an empty `RESPONSE_VALUE`; may send an empty packet
    /// before the `AUTH_RESPONSE`.
    Source,
    /// Servers that answer every request with a fixed id (Palworld 0, Conan Exiles 42): one
    /// packet per response, ids ignored except `-1` on auth.
    Unechoed,
}

/// Everything an [`RconClient`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RconConfig {
    /// Address, port, password source and timeout.
    pub console: ConsoleConfig,
    /// How the server frames responses.
    pub flavor: Flavor,
    /// The largest Size field accepted [default: [`packet::DEFAULT_MAX_SIZE`]].
    pub max_packet_size: usize,
    /// The most bytes read for one command [default: [`MAX_RESPONSE_BYTES`]].
    pub max_response_bytes: usize,
    /// How long a refused password blocks new logins [default: [`DEFAULT_AUTH_RETRY_AFTER`]].
    pub auth_retry_after: Duration,
    /// A password handed over directly, which wins over `console.password`: for embedding
    /// programs (the Python bindings) that already hold it and have no file or variable to name.
    pub password: Option<Password>,
}

impl RconConfig {
    /// A config with the default limits.
    pub fn new(console: ConsoleConfig, flavor: Flavor) -> Self {
        Self {
            console,
            flavor,
            max_packet_size: packet::DEFAULT_MAX_SIZE,
            max_response_bytes: MAX_RESPONSE_BYTES,
            auth_retry_after: DEFAULT_AUTH_RETRY_AFTER,
            password: None,
        }
    }

    /// The connect + auth timeout, and the per-command one.
    pub fn timeout(&self) -> Duration {
        self.console.timeout_ms.map_or(DEFAULT_TIMEOUT, Duration::from_millis)
    }

    fn address(&self) -> String {
        format!("{}:{}", self.console.address, self.console.port)
    }
}

/// A Source RCON console connection that logs in on first use and again after any failure.
#[derive(Debug)]
pub struct RconClient {
    config: RconConfig,
    connection: Option<Connection>,
    ids: RequestIds,
    auth_refused_at: Option<Instant>,
}

impl RconClient {
    /// A client; nothing is connected until the first call.
    pub fn new(config: RconConfig) -> Self {
        Self { config, connection: None, ids: RequestIds::default(), auth_refused_at: None }
    }

    /// The client's configuration.
    pub fn config(&self) -> &RconConfig {
        &self.config
    }

    /// True while a logged-in session is open.
    pub fn is_connected(&self) -> bool {
        self.connection.is_some()
    }

    /// Closes the session, if any; the next call logs in again.
    pub fn disconnect(&mut self) {
        self.connection = None;
    }

    /// Connects and logs in now, unless a session is already open.
    pub async fn connect(&mut self) -> Result<(), AdapterError> {
        self.session().await.map(drop)
    }

    /// Runs one console command and returns its complete output (lossily decoded as UTF-8).
    pub async fn command(&mut self, command: &str) -> Result<String, AdapterError> {
        let request_len = command.len() + packet::MIN_SIZE + packet::SIZE_FIELD_LEN;
        if self.config.flavor == Flavor::Minecraft && request_len > MINECRAFT_MAX_REQUEST {
            return Err(AdapterError::Unsupported {
                game: super::GAME,
                action: "commands longer than 1446 bytes on Minecraft",
            });
        }
        let limits = self.limits();
        let timeout = self.config.timeout();
        let id = self.ids.next();
        let probe_id = self.ids.next();
        let connection = self.session().await?;
        let exchange = connection.exchange(command, id, probe_id, &limits);
        let outcome = match tokio::time::timeout(timeout, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => Err(AdapterError::Timeout(timeout)),
        };
        match outcome {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(err) => {
                self.connection = None;
                if matches!(err, AdapterError::AuthFailed) {
                    self.auth_refused_at = Some(Instant::now());
                }
                Err(err)
            }
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            flavor: self.config.flavor,
            max_packet_size: self.config.max_packet_size,
            max_response_bytes: self.config.max_response_bytes,
        }
    }

    /// The open session, or a new one: connect and log in within the timeout.
    async fn session(&mut self) -> Result<&mut Connection, AdapterError> {
        if self.connection.is_none() {
            if let Some(refused) = self.auth_refused_at
                && refused.elapsed() < self.config.auth_retry_after
            {
                return Err(AdapterError::AuthFailed);
            }
            let timeout = self.config.timeout();
            let id = self.ids.next();
            let login = Connection::open(&self.config, id, self.limits());
            let opened = match tokio::time::timeout(timeout, login).await {
                Ok(opened) => opened,
                Err(_) => Err(AdapterError::Timeout(timeout)),
            };
            match opened {
                Ok(connection) => {
                    self.auth_refused_at = None;
                    self.connection = Some(connection);
                }
                Err(err) => {
                    if matches!(err, AdapterError::AuthFailed) {
                        self.auth_refused_at = Some(Instant::now());
                    }
                    return Err(err);
                }
            }
        }
        self.connection.as_mut().ok_or(AdapterError::Closed)
    }
}

/// The parts of the config a session's reads and writes need.
#[derive(Debug, Clone, Copy)]
struct Limits {
    flavor: Flavor,
    max_packet_size: usize,
    max_response_bytes: usize,
}

/// Positive request ids, never repeating until the counter wraps after 2^31 − 1 of them.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    next: i32,
}

impl Default for RequestIds {
    fn default() -> Self {
        Self { next: 1 }
    }
}

impl RequestIds {
    pub(crate) fn next(&mut self) -> i32 {
        let id = self.next;
        self.next = if id == i32::MAX { 1 } else { id + 1 };
        id
    }
}

/// One logged-in TCP session.
#[derive(Debug)]
struct Connection {
    stream: BufReader<TcpStream>,
    /// The id of the last Source probe: SRCDS sends one more packet under it after the mirror.
    stale_probe: Option<i32>,
}

impl Connection {
    /// Connects and logs in (the caller bounds this in time).
    async fn open(config: &RconConfig, id: i32, limits: Limits) -> Result<Self, AdapterError> {
        let password = match (&config.password, &config.console.password) {
            (Some(password), _) => password.expose().to_owned(),
            (None, Some(source)) => source.read()?,
            (None, None) => String::new(),
        };
        if limits.flavor == Flavor::Minecraft
            && password.len() + packet::MIN_SIZE + packet::SIZE_FIELD_LEN > MINECRAFT_MAX_REQUEST
        {
            return Err(AdapterError::Unsupported {
                game: super::GAME,
                action: "passwords longer than 1446 bytes on Minecraft",
            });
        }
        let address = config.address();
        let stream = TcpStream::connect(address.as_str())
            .await
            .map_err(|source| AdapterError::Connect { address, source })?;
        stream.set_nodelay(true)?;
        let mut connection = Self { stream: BufReader::new(stream), stale_probe: None };
        connection.send(&Packet::new(id, Packet::AUTH, password)).await?;
        connection.await_auth(id, limits).await?;
        Ok(connection)
    }

    async fn await_auth(&mut self, id: i32, limits: Limits) -> Result<(), AdapterError> {
        for _ in 0..=MAX_AUTH_PREAMBLE {
            let reply = self.receive(limits.max_packet_size).await?;
            if reply.kind != Packet::AUTH_RESPONSE {
                // SRCDS sends an empty RESPONSE_VALUE before the AUTH_RESPONSE; CS2 and
                // Minecraft do not.
                continue;
            }
            if reply.id == Packet::AUTH_FAILED_ID {
                return Err(AdapterError::AuthFailed);
            }
            if reply.id == id || limits.flavor == Flavor::Unechoed {
                return Ok(());
            }
            return Err(AdapterError::Protocol(format!(
                "auth response carries id {}, the request had {id}",
                reply.id
            )));
        }
        Err(AdapterError::Protocol(format!(
            "no auth response among the first {} packets",
            MAX_AUTH_PREAMBLE + 1
        )))
    }

    /// Sends a command and collects its response, as the flavour finds its end.
    async fn exchange(
        &mut self,
        command: &str,
        id: i32,
        probe_id: i32,
        limits: &Limits,
    ) -> Result<Vec<u8>, AdapterError> {
        let sent_at = Instant::now();
        self.send(&Packet::new(id, Packet::EXEC_COMMAND, command)).await?;
        let mut response = Response::new(limits.max_response_bytes);
        match limits.flavor {
            Flavor::Minecraft => {
                self.minecraft_reply(id, probe_id, sent_at, limits, &mut response).await?
            }
            Flavor::Source => {
                self.send(&Packet::new(probe_id, Packet::RESPONSE_VALUE, "")).await?;
                self.source_reply(id, probe_id, limits, &mut response).await?;
            }
            Flavor::Unechoed => self.unechoed_reply(limits, &mut response).await?,
        }
        Ok(response.body)
    }

    async fn minecraft_reply(
        &mut self,
        id: i32,
        probe_id: i32,
        sent_at: Instant,
        limits: &Limits,
        response: &mut Response,
    ) -> Result<(), AdapterError> {
        let mut probing = false;
        loop {
            let reply = self.receive_counted(limits, response).await?;
            if probing && reply.id == probe_id {
                return Ok(());
            }
            if !answers(&reply, id)? {
                continue;
            }
            response.body.extend_from_slice(&reply.body);
            if probing {
                continue;
            }
            if utf16_len(&reply.body) < MINECRAFT_CHUNK_CHARS {
                return Ok(());
            }
            // A full chunk: more may follow, or the output was exactly a chunk long.
            tokio::time::sleep_until(sent_at + MINECRAFT_PROBE_GAP).await;
            self.send(&Packet::new(probe_id, MINECRAFT_PROBE_TYPE, "")).await?;
            probing = true;
        }
    }

    async fn source_reply(
        &mut self,
        id: i32,
        probe_id: i32,
        limits: &Limits,
        response: &mut Response,
    ) -> Result<(), AdapterError> {
        loop {
            let reply = self.receive_counted(limits, response).await?;
            if reply.id == probe_id {
                self.stale_probe = Some(probe_id);
                return Ok(());
            }
            if Some(reply.id) == self.stale_probe {
                continue;
            }
            if answers(&reply, id)? {
                response.body.extend_from_slice(&reply.body);
            }
        }
    }

    async fn unechoed_reply(
        &mut self,
        limits: &Limits,
        response: &mut Response,
    ) -> Result<(), AdapterError> {
        loop {
            let reply = self.receive_counted(limits, response).await?;
            if reply.kind == Packet::AUTH_RESPONSE && reply.id == Packet::AUTH_FAILED_ID {
                return Err(AdapterError::AuthFailed);
            }
            if reply.kind == Packet::RESPONSE_VALUE {
                response.body.extend_from_slice(&reply.body);
                return Ok(());
            }
        }
    }

    async fn receive_counted(
        &mut self,
        limits: &Limits,
        response: &mut Response,
    ) -> Result<Packet, AdapterError> {
        let reply = self.receive(limits.max_packet_size).await?;
        response.charge(reply.size())?;
        Ok(reply)
    }

    /// Writes one packet as one buffer.
    async fn send(&mut self, packet: &Packet) -> Result<(), AdapterError> {
        let bytes = packet.encode().map_err(protocol)?;
        self.stream.get_mut().write_all(&bytes).await.map_err(closed_or_io)
    }

    /// Reads exactly one packet: the Size field, its check, then exactly Size bytes.
    async fn receive(&mut self, max_packet_size: usize) -> Result<Packet, AdapterError> {
        let mut size_field = [0; packet::SIZE_FIELD_LEN];
        self.stream.read_exact(&mut size_field).await.map_err(closed_or_io)?;
        let len = packet::frame_len(size_field, max_packet_size).map_err(protocol)?;
        let mut frame = vec![0; len];
        self.stream.read_exact(&mut frame).await.map_err(closed_or_io)?;
        packet::parse_frame(&frame).map_err(protocol)
    }
}

/// The response being collected, and what reading it has cost.
struct Response {
    body: Vec<u8>,
    read: usize,
    cap: usize,
}

impl Response {
    fn new(cap: usize) -> Self {
        Self { body: Vec::new(), read: 0, cap }
    }

    fn charge(&mut self, packet_size: usize) -> Result<(), AdapterError> {
        self.read = self.read.saturating_add(packet_size);
        if self.read > self.cap {
            return Err(AdapterError::Protocol(format!("the response exceeds {} bytes", self.cap)));
        }
        Ok(())
    }
}

/// True when `reply` is output of request `id`; `false` for packets to skip (types other than
/// `RESPONSE_VALUE`, like the type-4 packets legacy Rust servers interleave).
fn answers(reply: &Packet, id: i32) -> Result<bool, AdapterError> {
    if reply.kind == Packet::AUTH_RESPONSE && reply.id == Packet::AUTH_FAILED_ID {
        // The server no longer considers the session logged in.
        return Err(AdapterError::AuthFailed);
    }
    if reply.kind != Packet::RESPONSE_VALUE {
        return Ok(false);
    }
    if reply.id != id {
        return Err(AdapterError::Protocol(format!(
            "response carries id {}, the request had {id}",
            reply.id
        )));
    }
    Ok(true)
}

/// The length in Java chars (UTF-16 code units) of a chunk Minecraft encoded as UTF-8.
pub(crate) fn utf16_len(body: &[u8]) -> usize {
    String::from_utf8_lossy(body).encode_utf16().count()
}

fn protocol(err: CodecError) -> AdapterError {
    AdapterError::Protocol(err.to_string())
}

/// A peer that hung up is [`AdapterError::Closed`], whichever way the socket noticed.
fn closed_or_io(err: io::Error) -> AdapterError {
    match err.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => AdapterError::Closed,
        _ => AdapterError::Io(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_positive_and_wrap_to_one() {
        let mut ids = RequestIds { next: i32::MAX - 1 };
        assert_eq!([ids.next(), ids.next(), ids.next()], [i32::MAX - 1, i32::MAX, 1]);
    }

    #[test]
    fn chunk_length_counts_java_chars_not_bytes() {
        assert_eq!(utf16_len("é€".as_bytes()), 2);
        assert_eq!(utf16_len("😀".as_bytes()), 2);
        assert_eq!(utf16_len(b"\xa7a"), 2);
    }
}
