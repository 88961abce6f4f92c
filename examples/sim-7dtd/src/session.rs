//! One console connection: the lockout check, the login exchange, the banner, then commands,
//! one input line at a time, and a writer task that puts lines on the wire the way the knobs say.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};

use crate::commands::{self, Next};
use crate::world::{Out, World, Wrong};
use crate::{Chunking, Fault, LineEnding};

/// Lines queued for one session before broadcasts to it are dropped.
const OUT_CAPACITY: usize = 8192;
/// The longest input line the console reads; a longer one closes the connection.
const MAX_INPUT_LINE: usize = 64 * 1024;

pub(crate) async fn run(stream: TcpStream, peer: SocketAddr, world: Arc<World>) {
    let _ = stream.set_nodelay(true);
    if world.locked_out(peer.ip()) {
        // Accept, then close at once without a byte.
        world.count_refused();
        world.log(&format!("Telnet connection not accepted for too many login attempts: {peer}"));
        return;
    }
    let (reader, writer) = stream.into_split();
    let (out, queue) = mpsc::channel(OUT_CAPACITY);
    let id = world.add_session(out.clone());
    world.log(&format!("Telnet connection from: {peer}"));
    let kill = world.kill.subscribe();
    let writer = tokio::spawn(write(writer, queue, Wire::of(&world), kill.clone()));
    let mut session = Session {
        world: &world,
        peer,
        input: Input::new(reader),
        out,
        kill,
        hung: false,
        faulted: false,
    };
    session.serve(id).await;
    drop(session);
    world.remove_session(id);
    world.log(&format!("Telnet connection closed: {peer}"));
    let _ = writer.await;
}

struct Session<'a> {
    world: &'a World,
    peer: SocketAddr,
    input: Input,
    out: mpsc::Sender<Out>,
    kill: watch::Receiver<u64>,
    /// The main thread "hung": nothing more is executed.
    hung: bool,
    /// The first-known-command fault has fired.
    faulted: bool,
}

impl Session<'_> {
    async fn serve(&mut self, id: u64) {
        match self.world.config.fault {
            Fault::NeverAnswer => {
                while self.line().await.is_some() {}
                return;
            }
            Fault::IacFlood { bytes } => self.send(Out::Raw(iac_flood(bytes))).await,
            _ => {}
        }
        if !self.login().await {
            return;
        }
        for line in banner(self.world) {
            self.send(Out::Line(line)).await;
        }
        self.world.set_logged_in(id);
        while let Some(line) = self.line().await {
            if self.hung {
                continue;
            }
            if let Next::Close = self.command(&line).await {
                return;
            }
        }
    }

    /// The password exchange; false when the session ends.
    async fn login(&mut self) -> bool {
        let Some(password) = self.world.config.password.clone() else { return true };
        self.send(Out::Line("Please enter password:".to_owned())).await;
        loop {
            let Some(line) = self.line().await else { return false };
            if line == password {
                self.send(Out::Line("Logon successful.".to_owned())).await;
                for _ in 0..3 {
                    self.send(Out::Line(String::new())).await;
                }
                return true;
            }
            match self.world.wrong_password(self.peer.ip()) {
                Wrong::Retry => {
                    self.send(Out::Line("Password incorrect, please enter password:".to_owned()))
                        .await;
                }
                Wrong::LockedOut => {
                    self.send(Out::Line("Too many failed login attempts!".to_owned())).await;
                    self.send(Out::Close).await;
                    return false;
                }
            }
        }
    }

    async fn command(&mut self, line: &str) -> Next {
        let tokens = match commands::tokenize(line) {
            Ok(tokens) => tokens,
            Err(position) => {
                let error =
                    format!("*** ERROR: Quotation started at position {position} was not closed");
                self.send(Out::Line(error)).await;
                return Next::Continue;
            }
        };
        let Some(first) = tokens.first() else { return Next::Continue };
        let name = first.to_ascii_lowercase();
        if name == "exit" {
            self.send(Out::Close).await;
            return Next::Close;
        }
        if !commands::is_known(&name) {
            self.send(Out::Line(format!("*** ERROR: unknown command '{first}'"))).await;
            return Next::Continue;
        }
        if !self.faulted {
            self.faulted = true;
            match self.world.config.fault {
                Fault::CloseMidCommand => {
                    self.send(Out::Raw(b"0. id=171, Cata".to_vec())).await;
                    self.send(Out::Close).await;
                    return Next::Close;
                }
                Fault::Hang => {
                    self.hung = true;
                    return Next::Continue;
                }
                Fault::NoNewline { bytes } => {
                    self.send(Out::Raw(vec![b'x'; bytes])).await;
                    return Next::Continue;
                }
                Fault::None | Fault::NeverAnswer | Fault::IacFlood { .. } => {}
            }
        }
        if self.world.config.hide_command_log == 0 {
            self.world.log(&format!("Executing command '{line}' by Telnet from {}", self.peer));
        }
        let outcome = commands::execute(self.world, &name, &tokens[1..]);
        for output in outcome.lines {
            self.send(Out::Line(output)).await;
            if self.world.config.interleave_logs {
                self.world.log_at(
                    "WRN",
                    "Entity FallingBlock_44884 (EntityFallingBlock) fell off the world, id=44884 \
                     pos=(132.7, -0.7, -425.1)",
                );
            }
        }
        if outcome.shutdown {
            self.world.log("[NET] ServerShutdown");
            self.world.stop();
            return Next::Close;
        }
        Next::Continue
    }

    /// The next non-empty input line; `None` when the client left or the session is killed.
    async fn line(&mut self) -> Option<String> {
        tokio::select! {
            line = self.input.next() => line,
            _ = self.kill.changed() => None,
        }
    }

    async fn send(&self, out: Out) {
        // An error means the writer is gone (the client left); the reader notices next.
        let _ = self.out.send(out).await;
    }
}

fn banner(world: &World) -> Vec<String> {
    [
        "*** Connected with 7DTD server.".to_owned(),
        format!("*** Server version: {} Compatibility Version: V 2.4", commands::GAME_VERSION),
        String::new(),
        "Server IP:   Any".to_owned(),
        format!("Server port: {}", world.port),
        "Max players: 8".to_owned(),
        "Game mode:   GameModeSurvival".to_owned(),
        "World:       Navezgane".to_owned(),
        "Game name:   gsm demo".to_owned(),
        "Difficulty:  2".to_owned(),
        String::new(),
        "Press 'help' to get a list of all commands. Press 'exit' to end session.".to_owned(),
        String::new(),
    ]
    .into()
}

/// IAC DO / WILL / DONT option negotiations, whole three-byte sequences only (a cut one would
/// swallow the prompt's first byte, as Telnet says it should).
fn iac_flood(bytes: usize) -> Vec<u8> {
    const PATTERN: [u8; 9] = [0xFF, 0xFD, 0x01, 0xFF, 0xFB, 0x03, 0xFF, 0xFE, 0x18];
    PATTERN.iter().copied().cycle().take(bytes - bytes % 3).collect()
}

/// Input lines: CR or LF ends a line, lines are trimmed, empty ones skipped, as the server does.
struct Input {
    reader: OwnedReadHalf,
    pending: Vec<u8>,
    buffer: Box<[u8]>,
}

impl Input {
    fn new(reader: OwnedReadHalf) -> Self {
        Input { reader, pending: Vec::new(), buffer: vec![0; 8192].into_boxed_slice() }
    }

    async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\r' || b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line).trim().to_owned();
                if text.is_empty() {
                    continue;
                }
                return Some(text);
            }
            if self.pending.len() > MAX_INPUT_LINE {
                return None;
            }
            let n = self.reader.read(&mut self.buffer).await.ok()?;
            if n == 0 {
                return None;
            }
            self.pending.extend_from_slice(&self.buffer[..n]);
        }
    }
}

/// How bytes go on the wire.
#[derive(Debug, Clone, Copy)]
struct Wire {
    line_ending: LineEnding,
    chunking: Chunking,
    latin1: bool,
}

impl Wire {
    fn of(world: &World) -> Self {
        Wire {
            line_ending: world.config.line_ending,
            chunking: world.config.chunking,
            latin1: world.config.latin1,
        }
    }

    fn encode(&self, out: Out) -> Vec<u8> {
        match out {
            Out::Line(line) => {
                let mut bytes = if self.latin1 {
                    line.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect()
                } else {
                    line.into_bytes()
                };
                bytes.extend_from_slice(match self.line_ending {
                    LineEnding::CrLf => b"\r\n",
                    LineEnding::Lf => b"\n",
                });
                bytes
            }
            Out::Nul => vec![0],
            Out::Raw(bytes) => bytes,
            Out::Close => Vec::new(),
        }
    }
}

async fn write(
    mut writer: OwnedWriteHalf,
    mut queue: mpsc::Receiver<Out>,
    wire: Wire,
    mut kill: watch::Receiver<u64>,
) {
    loop {
        let out = tokio::select! {
            biased;
            out = queue.recv() => out,
            _ = kill.changed() => {
                // Whatever was queued before the kill still goes out (`Shutting server down...`).
                while let Ok(out) = queue.try_recv() {
                    if matches!(out, Out::Close) || put(&mut writer, &wire, out).await.is_err() {
                        break;
                    }
                }
                let _ = writer.shutdown().await;
                return;
            }
        };
        let Some(out) = out else { return };
        if matches!(out, Out::Close) {
            let _ = writer.shutdown().await;
            return;
        }
        if put(&mut writer, &wire, out).await.is_err() {
            return;
        }
    }
}

async fn put(writer: &mut OwnedWriteHalf, wire: &Wire, out: Out) -> std::io::Result<()> {
    let raw = matches!(out, Out::Raw(_));
    let bytes = wire.encode(out);
    if raw {
        // Floods go out in big writes; slicing 10 MiB into 64-byte writes proves nothing more.
        for chunk in bytes.chunks(64 * 1024) {
            writer.write_all(chunk).await?;
        }
        return Ok(());
    }
    match wire.chunking {
        Chunking::Slices64 => {
            for chunk in bytes.chunks(64) {
                writer.write_all(chunk).await?;
            }
        }
        Chunking::ByteByByte => {
            for byte in bytes {
                writer.write_all(&[byte]).await?;
                writer.flush().await?;
                tokio::task::yield_now().await;
            }
        }
    }
    Ok(())
}
