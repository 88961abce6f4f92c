//! The server's shared state: players, bans, sessions, failed logins, and the log broadcast.
//!
//! One `std` mutex guards it and is never held across an await. Broadcasting never blocks: a
//! session whose queue is full misses the line (the real server queues without bound; a
//! simulator that stalls on a slow test client would be worse).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use tokio::sync::{mpsc, watch};

use crate::Config;
use crate::clock;

/// What a session's writer sends.
#[derive(Debug)]
pub(crate) enum Out {
    /// A line; the writer adds the line end.
    Line(String),
    /// The NUL byte a not-yet-logged-in session gets instead of a log line.
    Nul,
    /// Bytes as they are.
    Raw(Vec<u8>),
    /// Close the connection once everything before this is written.
    Close,
}

/// A player online.
#[derive(Debug, Clone)]
pub(crate) struct Player {
    pub(crate) entity_id: i64,
    pub(crate) name: String,
    pub(crate) platform_id: String,
    pub(crate) cross_id: String,
    pub(crate) ip: String,
    pub(crate) position: [f64; 3],
    pub(crate) deaths: u32,
    pub(crate) zombies: u32,
    pub(crate) level: u32,
    pub(crate) client_number: u32,
    pub(crate) ping: u32,
}

impl Player {
    /// `EntityID=…, PltfmId='…', CrossId='…', OwnerID='…', PlayerName='…', ClientNumber='…'`.
    pub(crate) fn client_info(&self) -> String {
        format!(
            "EntityID={}, PltfmId='{}', CrossId='{}', OwnerID='{}', PlayerName='{}', ClientNumber='{}'",
            self.entity_id,
            self.platform_id,
            self.cross_id,
            self.platform_id,
            self.name,
            self.client_number
        )
    }
}

/// A ban-list entry.
#[derive(Debug, Clone)]
pub(crate) struct Ban {
    pub(crate) id: String,
    pub(crate) until: String,
    pub(crate) reason: String,
}

#[derive(Debug)]
struct Session {
    out: mpsc::Sender<Out>,
    logged_in: bool,
}

#[derive(Debug, Clone, Copy)]
struct Failed {
    count: u32,
    last_wrong: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) players: Vec<Player>,
    pub(crate) bans: Vec<Ban>,
    sessions: HashMap<u64, Session>,
    next_session: u64,
    next_entity: i64,
    failed: HashMap<IpAddr, Failed>,
}

/// What a wrong password leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wrong {
    Retry,
    LockedOut,
}

#[derive(Debug)]
pub(crate) struct World {
    pub(crate) config: Config,
    pub(crate) port: u16,
    started: Instant,
    state: Mutex<State>,
    /// True once `shutdown` ran or the simulator was dropped.
    pub(crate) stopped: watch::Sender<bool>,
    /// Bumped to close every session.
    pub(crate) kill: watch::Sender<u64>,
    connections: AtomicU64,
}

impl World {
    pub(crate) fn new(config: Config, port: u16) -> Arc<World> {
        let world = Arc::new(World {
            port,
            started: Instant::now(),
            state: Mutex::new(State { next_entity: 171, ..State::default() }),
            stopped: watch::Sender::new(false),
            kill: watch::Sender::new(0),
            connections: AtomicU64::new(0),
            config,
        });
        let names: Vec<String> = world
            .config
            .players
            .iter()
            .cloned()
            .chain((1..=world.config.bulk_players).map(|n| format!("Survivor{n:04}")))
            .collect();
        for name in names {
            world.join(&name);
        }
        world
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a simulator bug; carrying on is still the most
        // useful thing a test stand-in can do.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Logs an `INF` line to every session.
    pub(crate) fn log(&self, message: &str) {
        self.log_at("INF", message);
    }

    /// Logs a line with `level` to every session: the line when logged in, a NUL before.
    pub(crate) fn log_at(&self, level: &str, message: &str) {
        let line = clock::log_line(SystemTime::now(), self.uptime(), level, message);
        let state = self.state();
        for session in state.sessions.values() {
            let out = if session.logged_in { Out::Line(line.clone()) } else { Out::Nul };
            let _ = session.out.try_send(out);
        }
    }

    pub(crate) fn add_session(&self, out: mpsc::Sender<Out>) -> u64 {
        self.connections.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        state.next_session += 1;
        let id = state.next_session;
        state.sessions.insert(id, Session { out, logged_in: false });
        id
    }

    pub(crate) fn count_refused(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn logged_in(&self) -> usize {
        self.state().sessions.values().filter(|session| session.logged_in).count()
    }

    pub(crate) fn set_logged_in(&self, id: u64) {
        if let Some(session) = self.state().sessions.get_mut(&id) {
            session.logged_in = true;
        }
    }

    pub(crate) fn remove_session(&self, id: u64) {
        self.state().sessions.remove(&id);
    }

    pub(crate) fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    pub(crate) fn drop_connections(&self) {
        self.kill.send_modify(|generation| *generation += 1);
    }

    pub(crate) fn stop(&self) {
        self.stopped.send_replace(true);
        self.drop_connections();
    }

    /// True while `ip` is locked out: the limit reached and the last wrong password recent.
    pub(crate) fn locked_out(&self, ip: IpAddr) -> bool {
        let mut state = self.state();
        let Some(failed) = state.failed.get(&ip).copied() else { return false };
        if failed.last_wrong.elapsed() > self.config.failed_login_block {
            state.failed.remove(&ip);
            return false;
        }
        failed.count >= self.config.failed_login_limit
    }

    pub(crate) fn wrong_password(&self, ip: IpAddr) -> Wrong {
        let mut state = self.state();
        let now = Instant::now();
        let entry = state.failed.entry(ip).or_insert(Failed { count: 0, last_wrong: now });
        if entry.last_wrong.elapsed() > self.config.failed_login_block {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last_wrong = now;
        if entry.count >= self.config.failed_login_limit { Wrong::LockedOut } else { Wrong::Retry }
    }

    /// Puts a player online (no log lines) and returns them.
    pub(crate) fn join(&self, name: &str) -> Player {
        let mut state = self.state();
        state.next_entity += 1;
        let n = state.next_entity;
        let player = Player {
            entity_id: n,
            name: name.to_owned(),
            platform_id: format!("Steam_7656119800000{n:04}"),
            cross_id: format!("EOS_0002b5d970954287afdcb5dc35af{n:04}"),
            ip: format!("192.0.2.{}", n % 250 + 1),
            position: [1873.0 + n as f64, 66.0, 347.0 - n as f64],
            deaths: 0,
            zombies: 0,
            level: 1,
            client_number: u32::try_from(n % 1000).unwrap_or(0),
            ping: 20 + u32::try_from(n % 30).unwrap_or(0),
        };
        state.players.push(player.clone());
        player
    }

    /// Takes a player offline by name, entity id or platform id.
    pub(crate) fn leave(&self, who: &str) -> Option<Player> {
        let mut state = self.state();
        let index = state.players.iter().position(|player| matches(player, who))?;
        Some(state.players.remove(index))
    }

    pub(crate) fn find(&self, who: &str) -> Option<Player> {
        self.state().players.iter().find(|player| matches(player, who)).cloned()
    }

    pub(crate) fn player_names(&self) -> Vec<String> {
        self.state().players.iter().map(|player| player.name.clone()).collect()
    }

    pub(crate) fn record_death(&self, name: &str) {
        if let Some(player) = self.state().players.iter_mut().find(|player| player.name == name) {
            player.deaths += 1;
        }
    }

    pub(crate) fn record_kill(&self, name: &str) {
        if let Some(player) = self.state().players.iter_mut().find(|player| player.name == name) {
            player.zombies += 1;
        }
    }
}

fn matches(player: &Player, who: &str) -> bool {
    player.name.eq_ignore_ascii_case(who)
        || player.entity_id.to_string() == who
        || player.platform_id == who
}
