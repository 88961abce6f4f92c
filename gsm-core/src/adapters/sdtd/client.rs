//! One connection to a 7DTD Telnet console: connect, log in, run commands, stream the log.
//!
//! [`Client::connect`] dials with a deadline, runs the login exchange ([`super::login`]), then
//! sends a first marker and reads up to its answer, so the banner is consumed before the first
//! command and the server is known to execute commands. A task then owns the socket: it frames
//! bytes into lines ([`super::framing`]), hands each line to the [`Delimiter`] and so either to
//! the command waiting for it or to the log stream. Writes go through the same task, so a
//! command is always registered before its answer can arrive.
//!
//! Bounds: a line is at most [`ClientConfig::max_line_bytes`], a response at most
//! [`ClientConfig::max_response_bytes`], at most [`MAX_WAITING`] commands may be unanswered, and
//! the log stream is a bounded channel whose overflow is dropped and counted ([`LogSink`]), never
//! buffered. Any breach closes the connection with [`AdapterError::Protocol`]. The password is
//! sent once per connection, never retried, and never logged.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::commands;
use super::delimit::{Delimiter, Marker, Route};
use super::framing::{Frame, LineFramer, MAX_LINE_BYTES};
use super::login::{Failure, Login, Step};
use super::parse::{self, Banner};
use crate::adapters::{AdapterError, ConsoleConfig, GameAdapter};
use crate::heartbeat::{GameStatus, MAX_PLAYERS, MAX_STRING_BYTES, Player};

/// The game type's registry name.
pub const GAME: &str = "7dtd";
/// Default connect, login and per-command timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default cap on one command's response.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Commands that may be unanswered at once (timed-out ones included) before the connection is
/// given up.
pub const MAX_WAITING: usize = 8;

const READ_BUFFER: usize = 16 * 1024;

/// A console password; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Password(password.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// How to reach one console.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port`.
    pub address: String,
    /// The password; `None` for a console without one (it then listens on loopback only).
    pub password: Option<Password>,
    /// Deadline for connecting, logging in and reading the banner.
    pub connect_timeout: Duration,
    /// Deadline for one command's response.
    pub command_timeout: Duration,
    /// Cap on one line, in raw bytes.
    pub max_line_bytes: usize,
    /// Cap on one response, in bytes.
    pub max_response_bytes: usize,
}

impl ClientConfig {
    /// Defaults for `address`, no password.
    pub fn new(address: impl Into<String>) -> Self {
        ClientConfig {
            address: address.into(),
            password: None,
            connect_timeout: DEFAULT_TIMEOUT,
            command_timeout: DEFAULT_TIMEOUT,
            max_line_bytes: MAX_LINE_BYTES,
            max_response_bytes: MAX_RESPONSE_BYTES,
        }
    }

    /// From the adapter configuration, reading the password from its source.
    pub fn from_console(console: &ConsoleConfig) -> Result<Self, AdapterError> {
        let mut config = ClientConfig::new(format!("{}:{}", console.address, console.port));
        config.password =
            console.password.as_ref().map(|source| source.read().map(Password)).transpose()?;
        if let Some(ms) = console.timeout_ms {
            config.connect_timeout = Duration::from_millis(ms);
            config.command_timeout = Duration::from_millis(ms);
        }
        Ok(config)
    }
}

/// Where log lines go: a bounded channel. When it is full, lines are dropped and counted, so a
/// slow consumer can never make the connection buffer without bound.
#[derive(Debug, Clone)]
pub struct LogSink {
    lines: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
}

impl LogSink {
    /// A sink holding at most `capacity` lines, and the receiving end.
    pub fn channel(capacity: usize) -> (LogSink, mpsc::Receiver<String>) {
        let (lines, receiver) = mpsc::channel(capacity.max(1));
        (LogSink { lines, dropped: Arc::new(AtomicU64::new(0)) }, receiver)
    }

    /// Lines dropped so far because the channel was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn offer(&self, line: String) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.lines.try_send(line) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// When the console last sent a byte, shared with the socket task.
#[derive(Debug)]
pub(super) struct Activity {
    base: Instant,
    nanos: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Activity { base: Instant::now(), nanos: AtomicU64::new(0) })
    }

    fn touch(&self) {
        let nanos = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.nanos.store(nanos, Ordering::Relaxed);
    }

    pub(super) fn last(&self) -> Instant {
        self.base + Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}

/// Unique marker nonces: a random start per client, then counting.
#[derive(Debug)]
pub(super) struct Nonces(u64);

impl Nonces {
    pub(super) fn new() -> Self {
        Nonces(random_u64())
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
}

/// A random draw from the standard library's per-process hash keys; good enough for nonces and
/// jitter, and no extra dependency.
pub(super) fn random_u64() -> u64 {
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(DRAWS.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

type Reply = oneshot::Sender<Result<Vec<String>, AdapterError>>;

struct Request {
    command: String,
    marker: Marker,
    reply: Reply,
}

/// The socket, the framer and the lines it has framed but not yet handed out.
struct Session {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    framer: LineFramer,
    frames: std::collections::VecDeque<Frame>,
    scratch: Vec<Frame>,
    buffer: Box<[u8]>,
    activity: Arc<Activity>,
}

/// What reading the next line found.
enum Read {
    Line(String),
    /// Bytes arrived but completed no line.
    Bytes,
    Closed,
}

impl Session {
    /// The next line, or what happened instead. Cancel-safe: state changes only after the read.
    async fn next(&mut self) -> Result<Read, AdapterError> {
        if let Some(frame) = self.frames.pop_front() {
            return match frame {
                Frame::Line(line) => Ok(Read::Line(line)),
                Frame::TooLong { limit } => Err(AdapterError::Protocol(format!(
                    "the console sent a line longer than {limit} bytes"
                ))),
            };
        }
        let n = self.reader.read(&mut self.buffer).await?;
        if n == 0 {
            return Ok(Read::Closed);
        }
        self.activity.touch();
        self.framer.push(&self.buffer[..n], &mut self.scratch);
        self.frames.extend(self.scratch.drain(..));
        Ok(Read::Bytes)
    }

    async fn send_line(&mut self, line: &str) -> Result<(), AdapterError> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.writer.write_all(&bytes).await?;
        Ok(())
    }
}

/// One logged-in console connection. Dropping it closes the connection.
#[derive(Debug)]
pub struct Client {
    requests: mpsc::Sender<Request>,
    banner: Banner,
    game_version: Option<String>,
    command_timeout: Duration,
    nonces: Nonces,
    activity: Arc<Activity>,
    task: JoinHandle<()>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request").field("marker", &self.marker.command).finish_non_exhaustive()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Connects, logs in and reads the banner, all within `config.connect_timeout`; log lines
    /// go to `logs` from the first one on.
    pub async fn connect(config: &ClientConfig, logs: LogSink) -> Result<Client, AdapterError> {
        Client::connect_with(config, logs, Activity::new()).await
    }

    pub(super) async fn connect_with(
        config: &ClientConfig,
        logs: LogSink,
        activity: Arc<Activity>,
    ) -> Result<Client, AdapterError> {
        let deadline = tokio::time::Instant::now() + config.connect_timeout;
        let stream = tokio::time::timeout_at(deadline, TcpStream::connect(&config.address))
            .await
            .map_err(|_| AdapterError::Timeout(config.connect_timeout))?
            .map_err(|source| AdapterError::Connect { address: config.address.clone(), source })?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        let mut session = Session {
            reader,
            writer,
            framer: LineFramer::new(config.max_line_bytes),
            frames: Default::default(),
            scratch: Vec::new(),
            buffer: vec![0; READ_BUFFER].into_boxed_slice(),
            activity: Arc::clone(&activity),
        };
        let mut nonces = Nonces::new();
        let banner =
            tokio::time::timeout_at(deadline, handshake(&mut session, config, &logs, &mut nonces))
                .await
                .map_err(|_| AdapterError::Timeout(config.connect_timeout))??;
        tracing::debug!(address = %config.address, version = ?banner.version, "7dtd console logged in");
        let (requests, inbox) = mpsc::channel(MAX_WAITING);
        let delimiter = Delimiter::new(config.max_response_bytes);
        let task = tokio::spawn(serve(session, inbox, delimiter, logs, config.max_response_bytes));
        Ok(Client {
            requests,
            game_version: banner.version.clone(),
            banner,
            command_timeout: config.command_timeout,
            nonces,
            activity,
            task,
        })
    }

    /// What the login banner said (version, max players, world).
    pub fn banner(&self) -> &Banner {
        &self.banner
    }

    /// When the console last sent anything (a log line, a response, a NUL).
    pub fn last_output(&self) -> Instant {
        self.activity.last()
    }

    /// True once the connection is gone; every command then fails with `Closed`.
    pub fn is_closed(&self) -> bool {
        self.requests.is_closed()
    }

    /// Waits until the connection is gone.
    pub async fn closed(&self) {
        self.requests.closed().await;
    }

    /// Runs one command and returns its response lines (log lines excluded), within the
    /// command timeout. After a timeout the connection stays usable: the late answer is
    /// recognised by its marker and thrown away.
    pub async fn command_lines(&mut self, command: &str) -> Result<Vec<String>, AdapterError> {
        let deadline = tokio::time::Instant::now() + self.command_timeout;
        let answer = self.send(command, deadline).await?;
        self.answer(answer, deadline).await
    }

    /// Hands a command to the socket task; `Closed` means it was certainly not sent.
    async fn send(
        &mut self,
        command: &str,
        deadline: tokio::time::Instant,
    ) -> Result<oneshot::Receiver<Result<Vec<String>, AdapterError>>, AdapterError> {
        commands::check(command)?;
        let marker = Marker::new(self.nonces.next());
        let (reply, answer) = oneshot::channel();
        let request = Request { command: command.to_owned(), marker, reply };
        tokio::time::timeout_at(deadline, self.requests.send(request))
            .await
            .map_err(|_| AdapterError::Timeout(self.command_timeout))?
            .map_err(|_| AdapterError::Closed)?;
        Ok(answer)
    }

    async fn answer(
        &self,
        answer: oneshot::Receiver<Result<Vec<String>, AdapterError>>,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<String>, AdapterError> {
        match tokio::time::timeout_at(deadline, answer).await {
            Err(_) => Err(AdapterError::Timeout(self.command_timeout)),
            Ok(Err(_)) => Err(AdapterError::Closed),
            Ok(Ok(result)) => result,
        }
    }

    async fn parsed<T>(
        &mut self,
        command: &str,
        parse: impl FnOnce(&str) -> Result<T, parse::Error>,
    ) -> Result<T, AdapterError> {
        let text = self.command(command).await?;
        parse(&text).map_err(|err| AdapterError::Protocol(err.to_string()))
    }

    /// `version`, parsed.
    pub async fn version(&mut self) -> Result<parse::Version, AdapterError> {
        self.parsed(commands::VERSION, parse::version).await
    }

    /// `listplayers`, parsed.
    pub async fn players(&mut self) -> Result<parse::PlayerList, AdapterError> {
        self.parsed(commands::LIST_PLAYERS, parse::players).await
    }

    /// `gettime`, parsed.
    pub async fn world_time(&mut self) -> Result<parse::WorldTime, AdapterError> {
        self.parsed(commands::GET_TIME, parse::world_time).await
    }

    /// `mem`, parsed.
    pub async fn mem(&mut self) -> Result<parse::MemStats, AdapterError> {
        self.parsed("mem", parse::mem).await
    }
}

/// Login, then a first marker whose response is the banner.
async fn handshake(
    session: &mut Session,
    config: &ClientConfig,
    logs: &LogSink,
    nonces: &mut Nonces,
) -> Result<Banner, AdapterError> {
    let mut login = match &config.password {
        Some(_) => Login::with_password(),
        None => Login::without_password(),
    };
    let mut banner_start = None;
    while banner_start.is_none() {
        let line = match session.next().await? {
            Read::Line(line) => line,
            Read::Bytes => {
                login.on_bytes();
                continue;
            }
            Read::Closed => return Err(failure(login.on_closed())),
        };
        match login.on_line(&line) {
            Step::Wait => {}
            Step::SendPassword => {
                let password = config.password.as_ref().map(Password::expose).unwrap_or_default();
                session.send_line(password).await?;
            }
            Step::LoggedIn => banner_start = Some(line),
            Step::Failed(why) => return Err(failure(why)),
        }
    }
    let marker = Marker::new(nonces.next());
    session.send_line(&marker.command).await?;
    let mut delimiter = Delimiter::new(config.max_response_bytes);
    delimiter.expect(&marker, ());
    let mut banner: Vec<String> = banner_start.into_iter().collect();
    loop {
        let line = match session.next().await? {
            Read::Line(line) => line,
            Read::Bytes => continue,
            Read::Closed => return Err(AdapterError::Closed),
        };
        match delimiter.route(line) {
            Route::Log(line) => logs.offer(line),
            Route::Collected | Route::Discarded => {}
            Route::Complete { lines, .. } => {
                banner.extend(lines);
                return Ok(parse::banner(&banner));
            }
            Route::Overflow { .. } => {
                return Err(AdapterError::Protocol("the login banner is too long".to_owned()));
            }
        }
    }
}

fn failure(why: Failure) -> AdapterError {
    match why {
        Failure::WrongPassword | Failure::TooManyAttempts | Failure::PasswordRequired => {
            AdapterError::AuthFailed
        }
        Failure::ClosedSilently => AdapterError::Protocol(
            "the console closed the connection without a word; 7DTD does this while it blocks an \
             address after too many wrong passwords"
                .to_owned(),
        ),
        Failure::Closed => AdapterError::Closed,
        Failure::NotAConsole => AdapterError::Protocol(
            "the peer never asked for a password nor sent the 7DTD banner; is this a 7DTD console?"
                .to_owned(),
        ),
    }
}

/// The socket task: writes commands with their markers, routes every line, ends when the
/// connection does or the `Client` is dropped.
async fn serve(
    mut session: Session,
    mut inbox: mpsc::Receiver<Request>,
    mut delimiter: Delimiter<Reply>,
    logs: LogSink,
    max_response_bytes: usize,
) {
    let ended: AdapterError = loop {
        tokio::select! {
            biased;
            request = inbox.recv() => {
                let Some(request) = request else { break AdapterError::Closed };
                if delimiter.waiting() >= MAX_WAITING {
                    let _ = request.reply.send(Err(AdapterError::Protocol(format!(
                        "{MAX_WAITING} commands are still unanswered; giving up on the connection"
                    ))));
                    break AdapterError::Closed;
                }
                let line = format!("{}\n{}", request.command, request.marker.command);
                delimiter.expect(&request.marker, request.reply);
                if let Err(err) = session.send_line(&line).await {
                    break err;
                }
            }
            read = session.next() => match read {
                Ok(Read::Line(line)) => match delimiter.route(line) {
                    Route::Log(line) => logs.offer(line),
                    Route::Collected | Route::Discarded => {}
                    Route::Complete { token, lines } => {
                        let _ = token.send(Ok(lines));
                    }
                    Route::Overflow { token } => {
                        let _ = token.send(Err(AdapterError::Protocol(format!(
                            "the response is longer than {max_response_bytes} bytes"
                        ))));
                        break AdapterError::Closed;
                    }
                },
                Ok(Read::Bytes) => {}
                Ok(Read::Closed) => break AdapterError::Closed,
                Err(err) => break err,
            },
        }
    };
    tracing::debug!(error = %ended, "7dtd console connection ended");
    let mut ended = Some(ended);
    for reply in delimiter.close() {
        // The oldest waiting command gets the real reason; the rest were queued behind it.
        let _ = reply.send(Err(ended.take().unwrap_or(AdapterError::Closed)));
    }
}

fn clip(text: &str) -> String {
    let mut end = text.len().min(MAX_STRING_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[async_trait]
impl GameAdapter for Client {
    fn game(&self) -> &'static str {
        GAME
    }

    /// The response lines joined by `\n`; a `*** ERROR: …` answer is `Rejected`.
    async fn command(&mut self, command: &str) -> Result<String, AdapterError> {
        let lines = self.command_lines(command).await?;
        if let Some(refusal) = lines.first().filter(|line| line.starts_with("*** ERROR:")) {
            return Err(AdapterError::Rejected(refusal.clone()));
        }
        Ok(lines.join("\n"))
    }

    /// `listplayers` and `gettime`; the version and player slots come from the banner (or one
    /// `version` call, remembered). Lists and strings are clipped to the heartbeat's limits;
    /// `players_online` keeps the server's own count.
    async fn status(&mut self) -> Result<GameStatus, AdapterError> {
        if self.game_version.is_none() {
            self.game_version = Some(self.version().await?.game);
        }
        let list = self.players().await?;
        let time = self.world_time().await?;
        let players = list
            .players
            .iter()
            .take(MAX_PLAYERS)
            .map(|player| Player { id: clip(&player.id()), name: clip(&player.name) })
            .collect();
        Ok(GameStatus {
            game: GAME.to_owned(),
            instance: String::new(),
            up: true,
            version: self.game_version.as_deref().map(clip),
            players_online: list.total,
            max_players: self.banner.max_players,
            players,
            world_time: Some(time.to_string()),
        })
    }

    async fn say(&mut self, message: &str) -> Result<(), AdapterError> {
        let lines = self.command_lines(&commands::say(message)).await?;
        commands::expect_empty(&lines)
    }

    async fn kick(&mut self, player: &str, reason: &str) -> Result<(), AdapterError> {
        let lines = self.command_lines(&commands::kick(player, reason)).await?;
        commands::expect_line(&lines, "Kicking Player ")
    }

    async fn ban(
        &mut self,
        player: &str,
        duration: Option<Duration>,
        reason: &str,
    ) -> Result<(), AdapterError> {
        let lines = self.command_lines(&commands::ban(player, duration, reason)).await?;
        commands::expect_containing(&lines, " banned until ")
    }

    async fn save(&mut self) -> Result<(), AdapterError> {
        let lines = self.command_lines(commands::SAVE_WORLD).await?;
        commands::expect_line(&lines, "World saved")
    }

    /// Sends `shutdown`. The server answers `Shutting server down...` and closes every
    /// connection, usually before the marker's answer: the connection closing after the command
    /// was sent is the expected outcome and counts as success.
    async fn shutdown(&mut self) -> Result<(), AdapterError> {
        let deadline = tokio::time::Instant::now() + self.command_timeout;
        let answer = self.send(commands::SHUTDOWN, deadline).await?;
        match self.answer(answer, deadline).await {
            Ok(lines) => commands::expect_line(&lines, "Shutting server down"),
            Err(AdapterError::Closed) => Ok(()),
            Err(err) => Err(err),
        }
    }
}
