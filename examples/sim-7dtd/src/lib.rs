//! A simulated 7 Days to Die server console, speaking the Telnet console the way V 2.4 does:
//! the password prompt and its answers, the per-address lockout, the banner, timestamped log
//! lines broadcast to every session (a NUL byte per line to sessions not logged in yet), the echo
//! line before known commands, and the outputs of `version`, `lp`/`listplayers`, `gettime`,
//! `mem`, `say`, `kick`, `ban`, `saveworld`, `shutdown`, `help` and `exit`. Players join, chat,
//! fight and leave on a script, so a demo has something to show.
//!
//! It shares no code with gsm's client on purpose: a stand-in built from the client's own
//! parsers would agree with the client's mistakes. Everything is written from the protocol
//! notes (`shared/protocols.md`, section 1).
//!
//! For tests, [`Config`] has knobs for what real servers and networks do to a client: responses
//! split byte by byte across TCP writes, LF instead of CR LF, Latin-1 (non-UTF-8) output,
//! interleaved log lines, huge player lists, and [`Fault`]s (close mid-command, never answer,
//! hang, IAC floods, 10 MiB without a newline). [`Sim::start`] binds `127.0.0.1:0` in-process.

mod clock;
mod commands;
mod script;
mod session;
mod world;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::world::World;

/// How output lines end on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    /// CR LF, as the real server sends.
    #[default]
    CrLf,
    /// A bare LF.
    Lf,
}

/// How output is cut into TCP writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Chunking {
    /// 64-character slices, as the real server writes (so a line, or a UTF-8 character, may
    /// span writes).
    #[default]
    Slices64,
    /// One byte per write, with a yield in between.
    ByteByByte,
}

/// What the console does wrong, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Nothing.
    #[default]
    None,
    /// Accept connections and never send a byte (the client's login times out).
    NeverAnswer,
    /// Send this many bytes of Telnet IAC negotiation, without a line end, before the prompt.
    IacFlood {
        /// Bytes of IAC sequences.
        bytes: usize,
    },
    /// On the first known command, send part of the output and close the connection.
    CloseMidCommand,
    /// On the first known command, stop executing anything (the main thread hangs).
    Hang,
    /// On the first known command, send this many bytes without a line end.
    NoNewline {
        /// Bytes of `x`.
        bytes: usize,
    },
}

/// The console's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TelnetPassword`; `None` skips authentication (the real server then listens on loopback
    /// only).
    pub password: Option<String>,
    /// `TelnetFailedLoginLimit` (default 10).
    pub failed_login_limit: u32,
    /// `TelnetFailedLoginsBlocktime` (default 10 s).
    pub failed_login_block: Duration,
    /// `HideCommandExecutionLog`: 0 shows the echo line, 1 and up hide it.
    pub hide_command_log: u8,
    /// Script speed: 1.0 plays a step every 5 s and a `Time:` line every 30 s, 10.0 ten times as
    /// fast; 0 (or less) plays no script.
    pub script_speed: f64,
    /// Players online from the start (names may hold spaces, colour codes, any character).
    pub players: Vec<String>,
    /// How many more players to put online, named `Survivor0001`… (long `lp` outputs).
    pub bulk_players: usize,
    /// Line ends.
    pub line_ending: LineEnding,
    /// TCP write sizes.
    pub chunking: Chunking,
    /// Encode output as Latin-1 instead of UTF-8 (non-UTF-8 bytes on the wire).
    pub latin1: bool,
    /// Broadcast a log line after every output line of a command.
    pub interleave_logs: bool,
    /// A deliberate fault.
    pub fault: Fault,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            password: None,
            failed_login_limit: 10,
            failed_login_block: Duration::from_secs(10),
            hide_command_log: 0,
            script_speed: 0.0,
            players: Vec::new(),
            bulk_players: 0,
            line_ending: LineEnding::CrLf,
            chunking: Chunking::Slices64,
            latin1: false,
            interleave_logs: false,
            fault: Fault::None,
        }
    }
}

/// A running simulated console. Dropping it stops the console and closes every session.
#[derive(Debug)]
pub struct Sim {
    addr: SocketAddr,
    world: Arc<World>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sim {
    /// Starts a console on `127.0.0.1:0` in the current runtime.
    pub async fn start(config: Config) -> std::io::Result<Sim> {
        Sim::start_on("127.0.0.1:0", config).await
    }

    /// Starts a console on `listen` in the current runtime.
    pub async fn start_on(listen: &str, config: Config) -> std::io::Result<Sim> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let world = World::new(config, addr.port());
        let mut tasks = vec![tokio::spawn(accept(listener, Arc::clone(&world)))];
        if world.config.script_speed > 0.0 {
            tasks.push(tokio::spawn(script::play(Arc::clone(&world))));
        }
        world.log(&format!("Started Telnet on {}", addr.port()));
        Ok(Sim { addr, world, tasks })
    }

    /// The address the console listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Logs an `INF` line (the prefix is added), broadcast to every session.
    pub fn log(&self, message: &str) {
        self.world.log(message);
    }

    /// Closes every open session, as a server restart or a network cut would.
    pub fn drop_connections(&self) {
        self.world.drop_connections();
    }

    /// Connections accepted so far (refused ones included).
    pub fn connections(&self) -> u64 {
        self.world.connections()
    }

    /// Sessions logged in right now.
    pub fn logged_in(&self) -> usize {
        self.world.logged_in()
    }

    /// Names of the players online.
    pub fn players(&self) -> Vec<String> {
        self.world.player_names()
    }

    /// Resolves once `shutdown` has been run.
    pub async fn stopped(&self) {
        let mut stopped = self.world.stopped.subscribe();
        // An error means the world is gone, which is stopped too.
        let _ = stopped.wait_for(|stopped| *stopped).await;
    }

    /// True once `shutdown` has been run.
    pub fn is_stopped(&self) -> bool {
        *self.world.stopped.borrow()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.world.stop();
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn accept(listener: TcpListener, world: Arc<World>) {
    let mut stopped: watch::Receiver<bool> = world.stopped.subscribe();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                tokio::spawn(session::run(stream, peer, Arc::clone(&world)));
            }
            _ = stopped.wait_for(|stopped| *stopped) => return,
        }
    }
}
