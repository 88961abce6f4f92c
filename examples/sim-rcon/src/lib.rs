//! gsm-sim-rcon: a Source RCON server that stands in for Minecraft (or an SRCDS game) in tests
//! and benchmarks, with knobs that make it misbehave on purpose.
//!
//! It is written from the protocol facts in `protocols.md` §2, independently of gsm-core's
//! client, so the two cannot share a misunderstanding. The Minecraft flavour copies the vanilla
//! server's reading loop, quirks included: each request is taken with **one `read()` into a
//! 1460-byte buffer** and the connection is closed when fewer than 10 bytes came or when
//! `size != read - 4` — so two requests that arrive together, or one that arrives in pieces,
//! end the session, as on a real server. Output is cut every 4096 Java chars (UTF-16 units),
//! each chunk encoded as UTF-8; empty output is one empty packet; an unknown packet type is
//! answered `Unknown request <type in hex>`. The SRCDS flavour reads a byte stream, sends the
//! empty `RESPONSE_VALUE` auth preamble, cuts output at Valve's 4096-byte Size, and mirrors an
//! empty `RESPONSE_VALUE` followed by one more packet under the same id.
//!
//! Misbehaviour is configured per trigger ([`Trigger`]): the login or one command line.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// `SERVERDATA_AUTH`.
pub const AUTH: i32 = 3;
/// `SERVERDATA_AUTH_RESPONSE` (server → client) and `SERVERDATA_EXECCOMMAND` (client → server).
pub const AUTH_RESPONSE: i32 = 2;
/// `SERVERDATA_EXECCOMMAND`.
pub const EXEC_COMMAND: i32 = 2;
/// `SERVERDATA_RESPONSE_VALUE`.
pub const RESPONSE_VALUE: i32 = 0;
/// Minecraft's request buffer: one read of at most this many bytes per request.
pub const MINECRAFT_READ_BUFFER: usize = 1460;
/// Minecraft cuts output every this many Java chars.
pub const MINECRAFT_CHUNK_CHARS: usize = 4096;
/// Valve's maximum Size: output bodies are cut at `4096 - 10` bytes in the SRCDS flavour.
pub const VALVE_MAX_SIZE: usize = 4096;
/// The largest request the SRCDS flavour reads before closing the connection.
const SRCDS_MAX_REQUEST: usize = 64 * 1024;
/// The body SRCDS sends after mirroring an empty `RESPONSE_VALUE` (Valve wiki, key on the id).
pub const SRCDS_PROBE_TAIL: &[u8] = &[0x00, 0x00, 0x00, 0x01];

/// Which server the stand-in imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Vanilla Minecraft.
    Minecraft,
    /// A Source dedicated server.
    Srcds,
}

/// When a hostile behaviour fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// In answer to the login.
    Auth,
    /// In answer to this exact command line.
    Command(String),
}

/// A way to answer wrongly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// A packet whose Size field is this value (5, 4097, `i32::MIN` for 2^31, ...). A Size of
    /// 10 to 65536 is followed by a well-formed packet of that size; any other is followed by 8
    /// zero bytes and silence.
    Size(i32),
    /// Full 4096-char output chunks under the request's id, for ever; probes are not answered.
    Endless,
    /// The proper answer, one byte per interval.
    Trickle(Duration),
    /// The proper answer under another id.
    WrongId,
    /// Half of the proper answer, then the connection closes.
    CloseMidResponse,
    /// An HTTP error response instead of RCON.
    Garbage,
    /// No answer at all (a map change); the connection stays open.
    Silent,
}

impl FromStr for Hostile {
    type Err = String;

    /// `size:<n>`, `endless`, `trickle:<ms>`, `wrong-id`, `close-mid-response`, `garbage`,
    /// `silent`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, arg) = text.split_once(':').unwrap_or((text, ""));
        let number = |arg: &str| arg.parse::<i64>().map_err(|err| format!("{text}: {err}"));
        match name {
            "size" => {
                // 2147483648 (2^31) is written as the bit pattern it has on the wire.
                let raw = number(arg)?;
                let size = u32::try_from(raw)
                    .map(|raw| i32::from_le_bytes(raw.to_le_bytes()))
                    .or_else(|_| i32::try_from(raw))
                    .map_err(|err| format!("{text}: {err}"))?;
                Ok(Hostile::Size(size))
            }
            "endless" => Ok(Hostile::Endless),
            "trickle" => {
                let ms = u64::try_from(number(arg)?).map_err(|err| format!("{text}: {err}"))?;
                Ok(Hostile::Trickle(Duration::from_millis(ms)))
            }
            "wrong-id" => Ok(Hostile::WrongId),
            "close-mid-response" => Ok(Hostile::CloseMidResponse),
            "garbage" => Ok(Hostile::Garbage),
            "silent" => Ok(Hostile::Silent),
            _ => Err(format!("unknown hostile behaviour {text:?}")),
        }
    }
}

/// What the stand-in serves.
#[derive(Clone)]
pub struct Config {
    /// The server imitated.
    pub flavor: Flavor,
    /// The RCON password; empty refuses every login, as both servers do.
    pub password: String,
    /// Players online at start.
    pub players: Vec<String>,
    /// Player slots.
    pub max_players: u32,
    /// Extra commands with a fixed output (for long, exact-size or empty outputs).
    pub canned: BTreeMap<String, String>,
    /// Misbehaviours and what triggers them.
    pub hostile: Vec<(Trigger, Hostile)>,
    /// Answer every request under this id instead of the request's (Palworld 0, Conan Exiles
    /// 42); refusals still carry -1.
    pub answer_id: Option<i32>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("flavor", &self.flavor)
            .field("password", &"<redacted>")
            .field("players", &self.players)
            .field("max_players", &self.max_players)
            .field("canned", &self.canned.keys().collect::<Vec<_>>())
            .field("hostile", &self.hostile)
            .field("answer_id", &self.answer_id)
            .finish()
    }
}

impl Config {
    /// A Minecraft stand-in with this password, nobody online and 20 slots.
    pub fn minecraft(password: &str) -> Self {
        Self {
            flavor: Flavor::Minecraft,
            password: password.to_owned(),
            players: Vec::new(),
            max_players: 20,
            canned: BTreeMap::new(),
            hostile: Vec::new(),
            answer_id: None,
        }
    }

    /// An SRCDS stand-in with this password.
    pub fn srcds(password: &str) -> Self {
        Self { flavor: Flavor::Srcds, ..Self::minecraft(password) }
    }

    /// Adds players online at start.
    pub fn with_players(mut self, players: &[&str]) -> Self {
        self.players.extend(players.iter().map(|name| (*name).to_owned()));
        self
    }

    /// Adds a command with a fixed output.
    pub fn with_canned(mut self, command: &str, output: &str) -> Self {
        self.canned.insert(command.to_owned(), output.to_owned());
        self
    }

    /// Adds a misbehaviour.
    pub fn with_hostile(mut self, trigger: Trigger, hostile: Hostile) -> Self {
        self.hostile.push((trigger, hostile));
        self
    }

    /// Answers every request under `id`, as servers that do not echo ids do.
    pub fn with_answer_id(mut self, id: i32) -> Self {
        self.answer_id = Some(id);
        self
    }

    fn hostile_for(&self, trigger: &Trigger) -> Option<Hostile> {
        self.hostile.iter().find(|(t, _)| t == trigger).map(|(_, hostile)| *hostile)
    }
}

/// What the stand-in has seen, for tests to assert on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// TCP connections accepted.
    pub connections: u64,
    /// Login attempts (AUTH packets).
    pub auth_attempts: u64,
    /// Logins refused.
    pub auth_failures: u64,
    /// Commands executed.
    pub commands: u64,
    /// Unknown-type packets answered `Unknown request <hex>`.
    pub unknown_requests: u64,
    /// Connections closed because a read broke the one-packet-per-read rule.
    pub framing_closes: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    auth_attempts: AtomicU64,
    auth_failures: AtomicU64,
    commands: AtomicU64,
    unknown_requests: AtomicU64,
    framing_closes: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The world the commands act on, shared by every connection.
#[derive(Debug, Default)]
struct World {
    online: Vec<String>,
    banned: Vec<String>,
    said: Vec<String>,
    saves: u64,
}

struct Shared {
    config: Config,
    counters: Counters,
    world: Mutex<World>,
    stop: watch::Sender<bool>,
}

/// A running stand-in; dropping it stops it and closes every connection.
pub struct Server {
    address: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `listen` and serves until [`Server::stop`], a `stop` command, or drop.
    pub async fn start(listen: SocketAddr, config: Config) -> io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let world = World { online: config.players.clone(), ..World::default() };
        let (stop, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            config,
            counters: Counters::default(),
            world: Mutex::new(world),
            stop,
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Self { address, shared, task })
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// What the stand-in has seen so far.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            connections: load(&c.connections),
            auth_attempts: load(&c.auth_attempts),
            auth_failures: load(&c.auth_failures),
            commands: load(&c.commands),
            unknown_requests: load(&c.unknown_requests),
            framing_closes: load(&c.framing_closes),
        }
    }

    /// Players online now.
    pub fn online(&self) -> Vec<String> {
        self.world().online.clone()
    }

    /// Players banned so far.
    pub fn banned(&self) -> Vec<String> {
        self.world().banned.clone()
    }

    /// Messages broadcast with `say`.
    pub fn said(&self) -> Vec<String> {
        self.world().said.clone()
    }

    /// Times the world was saved.
    pub fn saves(&self) -> u64 {
        self.world().saves
    }

    /// Stops accepting and closes every connection.
    pub fn stop(&self) {
        self.shared.stop.send_replace(true);
    }

    /// Resolves once the server has stopped (a `stop` command or [`Server::stop`]).
    pub async fn stopped(&self) {
        let mut stop = self.shared.stop.subscribe();
        // An error means the sender is gone, which only happens when the server is gone too.
        let _ = stop.wait_for(|stopped| *stopped).await;
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.shared.world.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut stop = shared.stop.subscribe();
    // Dropping the set when the loop ends aborts every connection task.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                bump(&shared.counters.connections);
                let shared = Arc::clone(&shared);
                connections.spawn(async move {
                    // A connection's I/O error only ends that connection.
                    let _ = serve(stream, &shared).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_nodelay(true)?;
    match shared.config.flavor {
        Flavor::Minecraft => serve_minecraft(stream, shared).await,
        Flavor::Srcds => serve_srcds(stream, shared).await,
    }
}

/// One request as the server parsed it.
struct Request {
    id: i32,
    kind: i32,
    body: String,
}

/// Vanilla's loop: one read per request, strict size check, then dispatch.
async fn serve_minecraft(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut buffer = [0u8; MINECRAFT_READ_BUFFER];
    let mut authenticated = false;
    loop {
        let read = stream.read(&mut buffer).await?;
        if read < 10 {
            if read > 0 {
                bump(&shared.counters.framing_closes);
            }
            return Ok(());
        }
        let size = le_i32(&buffer[0..4]);
        if usize::try_from(size).ok() != Some(read - 4) {
            bump(&shared.counters.framing_closes);
            return Ok(());
        }
        let request = Request {
            id: le_i32(&buffer[4..8]),
            kind: le_i32(&buffer[8..12]),
            // The body is read as a NUL-terminated UTF-8 string.
            body: nul_terminated(&buffer[12..read]),
        };
        let done = dispatch(&mut stream, shared, &request, &mut authenticated).await?;
        if done {
            return Ok(());
        }
    }
}

/// SRCDS reads a stream: exact frames, several requests per read allowed.
async fn serve_srcds(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut stream = BufReader::new(stream);
    let mut authenticated = false;
    loop {
        let mut size = [0u8; 4];
        if stream.read_exact(&mut size).await.is_err() {
            return Ok(());
        }
        let size = i32::from_le_bytes(size);
        let Some(len) =
            usize::try_from(size).ok().filter(|len| (10..=SRCDS_MAX_REQUEST).contains(len))
        else {
            bump(&shared.counters.framing_closes);
            return Ok(());
        };
        let mut frame = vec![0u8; len];
        stream.read_exact(&mut frame).await?;
        let request = Request {
            id: le_i32(&frame[0..4]),
            kind: le_i32(&frame[4..8]),
            body: nul_terminated(&frame[8..]),
        };
        if request.kind == RESPONSE_VALUE {
            // The end-of-response probe: mirror it, then the odd trailer under the same id.
            let mut reply = encode(request.id, RESPONSE_VALUE, b"");
            reply.extend_from_slice(&encode(request.id, RESPONSE_VALUE, SRCDS_PROBE_TAIL));
            stream.get_mut().write_all(&reply).await?;
            continue;
        }
        if dispatch(stream.get_mut(), shared, &request, &mut authenticated).await? {
            return Ok(());
        }
    }
}

/// Answers one request; `Ok(true)` ends the connection.
async fn dispatch(
    stream: &mut TcpStream,
    shared: &Shared,
    request: &Request,
    authenticated: &mut bool,
) -> io::Result<bool> {
    let config = &shared.config;
    let id = config.answer_id.unwrap_or(request.id);
    match request.kind {
        AUTH => {
            bump(&shared.counters.auth_attempts);
            if let Some(hostile) = config.hostile_for(&Trigger::Auth) {
                return misbehave(stream, config.flavor, hostile, id, "").await;
            }
            *authenticated = !config.password.is_empty() && request.body == config.password;
            let mut reply = Vec::new();
            if config.flavor == Flavor::Srcds {
                reply.extend_from_slice(&encode(id, RESPONSE_VALUE, b""));
            }
            if *authenticated {
                reply.extend_from_slice(&encode(id, AUTH_RESPONSE, b""));
            } else {
                bump(&shared.counters.auth_failures);
                reply.extend_from_slice(&encode(-1, AUTH_RESPONSE, b""));
            }
            stream.write_all(&reply).await?;
            Ok(false)
        }
        EXEC_COMMAND if !*authenticated => {
            stream.write_all(&encode(-1, AUTH_RESPONSE, b"")).await?;
            Ok(false)
        }
        EXEC_COMMAND => {
            bump(&shared.counters.commands);
            let trigger = Trigger::Command(request.body.clone());
            let output = execute(shared, &request.body);
            if let Some(hostile) = config.hostile_for(&trigger) {
                return misbehave(stream, config.flavor, hostile, id, &output.text).await;
            }
            stream.write_all(&response(config.flavor, id, &output.text)).await?;
            if output.stop {
                shared.stop.send_replace(true);
                return Ok(true);
            }
            Ok(false)
        }
        kind => {
            bump(&shared.counters.unknown_requests);
            let text = format!("Unknown request {:x}", kind);
            stream.write_all(&response(config.flavor, id, &text)).await?;
            Ok(false)
        }
    }
}

/// What a command printed, and whether it stops the server.
struct Output {
    text: String,
    stop: bool,
}

fn execute(shared: &Shared, line: &str) -> Output {
    let config = &shared.config;
    let text = |text: String| Output { text, stop: false };
    if let Some(canned) = config.canned.get(line) {
        return text(canned.clone());
    }
    let mut world = shared.world.lock().unwrap_or_else(PoisonError::into_inner);
    let (name, args) = line.split_once(' ').unwrap_or((line, ""));
    let (player, reason) = args.split_once(' ').unwrap_or((args, ""));
    match name {
        "list" => text(format!(
            "There are {} of a max of {} players online: {}",
            world.online.len(),
            config.max_players,
            world.online.join(", ")
        )),
        "say" => {
            world.said.push(args.to_owned());
            text(String::new())
        }
        "kick" => match world.online.iter().position(|online| online == player) {
            Some(index) => {
                world.online.remove(index);
                let reason = if reason.is_empty() { "Kicked by an operator" } else { reason };
                text(format!("Kicked {player}: {reason}"))
            }
            None => text("No player was found".to_owned()),
        },
        "ban" if !player.is_empty() => {
            world.online.retain(|online| online != player);
            world.banned.push(player.to_owned());
            let reason = if reason.is_empty() { "Banned by an operator." } else { reason };
            text(format!("Banned {player}: {reason}"))
        }
        // Vanilla joins a command's feedback lines without a separator over RCON.
        "save-all" => {
            world.saves += 1;
            text("Saving the game (this may take a moment!)Saved the game".to_owned())
        }
        "stop" => Output { text: "Stopping the server".to_owned(), stop: true },
        _ => text("Unknown or incomplete command, see below for error".to_owned()),
    }
}

/// The packets of one response, as the flavour cuts it.
fn response(flavor: Flavor, id: i32, text: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for chunk in chunks(flavor, text) {
        bytes.extend_from_slice(&encode(id, RESPONSE_VALUE, &chunk));
    }
    bytes
}

/// Minecraft: every 4096 UTF-16 units, a surrogate pair cut in two becoming `?` as Java's
/// encoder makes it; SRCDS: every 4086 bytes. Empty text is one empty chunk.
fn chunks(flavor: Flavor, text: &str) -> Vec<Vec<u8>> {
    let mut chunks: Vec<Vec<u8>> = match flavor {
        Flavor::Minecraft => {
            let units: Vec<u16> = text.encode_utf16().collect();
            units
                .chunks(MINECRAFT_CHUNK_CHARS)
                .map(|chunk| {
                    char::decode_utf16(chunk.iter().copied())
                        .map(|c| c.unwrap_or('?'))
                        .collect::<String>()
                        .into_bytes()
                })
                .collect()
        }
        Flavor::Srcds => text.as_bytes().chunks(VALVE_MAX_SIZE - 10).map(<[u8]>::to_vec).collect(),
    };
    if chunks.is_empty() {
        chunks.push(Vec::new());
    }
    chunks
}

async fn misbehave(
    stream: &mut TcpStream,
    flavor: Flavor,
    hostile: Hostile,
    id: i32,
    text: &str,
) -> io::Result<bool> {
    match hostile {
        Hostile::Size(size) => {
            let mut bytes = size.to_le_bytes().to_vec();
            match usize::try_from(size).ok().filter(|len| (10..=65536).contains(len)) {
                Some(len) => {
                    bytes.extend_from_slice(&id.to_le_bytes());
                    bytes.extend_from_slice(&RESPONSE_VALUE.to_le_bytes());
                    bytes.resize(4 + len - 2, b'a');
                    bytes.extend_from_slice(&[0, 0]);
                    stream.write_all(&bytes).await?;
                    Ok(false)
                }
                None => {
                    bytes.extend_from_slice(&[0; 8]);
                    stream.write_all(&bytes).await?;
                    hold(stream).await
                }
            }
        }
        Hostile::Endless => {
            let chunk = encode(id, RESPONSE_VALUE, "x".repeat(MINECRAFT_CHUNK_CHARS).as_bytes());
            loop {
                // Ends when the client hangs up and the write fails.
                stream.write_all(&chunk).await?;
            }
        }
        Hostile::Trickle(interval) => {
            for byte in response(flavor, id, text) {
                stream.write_all(&[byte]).await?;
                tokio::time::sleep(interval).await;
            }
            Ok(false)
        }
        Hostile::WrongId => {
            stream.write_all(&response(flavor, id.wrapping_add(1000), text)).await?;
            Ok(false)
        }
        Hostile::CloseMidResponse => {
            let bytes = response(flavor, id, text);
            stream.write_all(&bytes[..bytes.len() / 2]).await?;
            Ok(true)
        }
        Hostile::Garbage => {
            stream
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await?;
            Ok(true)
        }
        Hostile::Silent => Ok(false),
    }
}

/// Keeps the connection open, reading and dropping whatever comes, until the client hangs up.
async fn hold(stream: &mut (impl AsyncRead + AsyncWrite + Unpin)) -> io::Result<bool> {
    let mut sink = [0u8; 1024];
    while stream.read(&mut sink).await? > 0 {}
    Ok(true)
}

/// One packet: Size, ID, Type, body, two NULs.
pub fn encode(id: i32, kind: i32, body: &[u8]) -> Vec<u8> {
    let size = i32::try_from(body.len() + 10).unwrap_or(i32::MAX);
    let mut bytes = Vec::with_capacity(body.len() + 14);
    bytes.extend_from_slice(&size.to_le_bytes());
    bytes.extend_from_slice(&id.to_le_bytes());
    bytes.extend_from_slice(&kind.to_le_bytes());
    bytes.extend_from_slice(body);
    bytes.extend_from_slice(&[0, 0]);
    bytes
}

fn le_i32(bytes: &[u8]) -> i32 {
    let mut field = [0u8; 4];
    for (to, from) in field.iter_mut().zip(bytes) {
        *to = *from;
    }
    i32::from_le_bytes(field)
}

fn nul_terminated(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|byte| *byte == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn minecraft() -> (Server, TcpStream) {
        let listen: SocketAddr = "127.0.0.1:0".parse().expect("an address");
        let server = Server::start(listen, Config::minecraft("pw")).await.expect("starts");
        let stream = TcpStream::connect(server.address()).await.expect("connects");
        stream.set_nodelay(true).expect("nodelay");
        (server, stream)
    }

    async fn read_packet(stream: &mut TcpStream) -> (i32, i32, Vec<u8>) {
        let mut size = [0u8; 4];
        stream.read_exact(&mut size).await.expect("a size");
        let mut frame = vec![0u8; usize::try_from(i32::from_le_bytes(size)).expect("positive")];
        stream.read_exact(&mut frame).await.expect("a frame");
        let body = frame[8..frame.len() - 2].to_vec();
        (le_i32(&frame[0..4]), le_i32(&frame[4..8]), body)
    }

    async fn assert_closed(stream: &mut TcpStream) {
        let mut byte = [0u8; 1];
        let read = stream.read(&mut byte).await;
        assert!(matches!(read, Ok(0) | Err(_)), "the server closed the session: {read:?}");
    }

    #[tokio::test]
    async fn minecraft_closes_the_session_when_two_requests_share_a_read() {
        let (server, mut stream) = minecraft().await;
        stream.write_all(&encode(1, AUTH, b"pw")).await.expect("auth");
        assert_eq!(read_packet(&mut stream).await, (1, AUTH_RESPONSE, Vec::new()));
        let mut two = encode(2, EXEC_COMMAND, b"list");
        two.extend_from_slice(&encode(3, RESPONSE_VALUE, b""));
        stream.write_all(&two).await.expect("two requests in one write");
        assert_closed(&mut stream).await;
        assert_eq!(server.stats().framing_closes, 1);
    }

    #[tokio::test]
    async fn minecraft_answers_unknown_types_in_hex_and_refuses_commands_before_login() {
        let (server, mut stream) = minecraft().await;
        stream.write_all(&encode(5, EXEC_COMMAND, b"list")).await.expect("a command");
        assert_eq!(read_packet(&mut stream).await, (-1, AUTH_RESPONSE, Vec::new()));
        stream.write_all(&encode(6, 100, b"")).await.expect("a probe");
        assert_eq!(
            read_packet(&mut stream).await,
            (6, RESPONSE_VALUE, b"Unknown request 64".to_vec())
        );
        assert_eq!(server.stats().unknown_requests, 1);
    }

    #[test]
    fn minecraft_cuts_output_every_4096_java_chars() {
        let cut = |text: &str| chunks(Flavor::Minecraft, text);
        assert_eq!(cut(""), [Vec::<u8>::new()]);
        let accents = cut(&"é".repeat(4097));
        assert_eq!((accents.len(), accents[0].len(), accents[1].len()), (2, 8192, 2));
        // A surrogate pair cut in two becomes two `?`, as Java's UTF-8 encoder writes it.
        let split = format!("{}😀", "a".repeat(4095));
        let halves = cut(&split);
        assert_eq!((halves[0].last(), halves[1].as_slice()), (Some(&b'?'), &b"?"[..]));
        assert_eq!(chunks(Flavor::Srcds, &"b".repeat(4087)).len(), 2);
    }

    #[test]
    fn hostile_knobs_parse_from_their_names() {
        assert_eq!("size:2147483648".parse(), Ok(Hostile::Size(i32::MIN)));
        assert_eq!("size:5".parse(), Ok(Hostile::Size(5)));
        assert_eq!("size:-1".parse(), Ok(Hostile::Size(-1)));
        assert_eq!("trickle:1000".parse(), Ok(Hostile::Trickle(Duration::from_secs(1))));
        assert_eq!("endless".parse(), Ok(Hostile::Endless));
        assert!("size:99999999999".parse::<Hostile>().is_err());
        assert!("explode".parse::<Hostile>().is_err());
    }
}
