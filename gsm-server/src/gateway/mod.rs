//! The agent gateway: enrollment (`POST /agent/v1/enroll`) and the agent WebSocket
//! (`/agent/v1/connect`).
//!
//! Agents authenticate with their host credential on the upgrade request; the host identity comes
//! from that credential and never from a message. [`AgentRegistry`] maps each connected host to
//! the sending half of its connection so jobs are pushed the moment they are created.

mod enroll;
mod session;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::routing::{get, post};
use gsm_core::job::HostId;
use gsm_proto::agent::{CONNECT_PATH, ENROLL_PATH, ServerMessage};
use tokio::sync::{mpsc, watch};

use crate::app::AppState;

/// Outgoing messages queued per connection; a connection that falls this far behind is closed
/// rather than let server memory grow.
pub const OUTBOX_CAPACITY: usize = 1024;

/// The gateway's part of the OpenAPI document (`http::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(enroll::enroll, session::connect))]
pub(crate) struct GatewayApi;

/// The gateway's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(ENROLL_PATH, post(enroll::enroll))
        .route(CONNECT_PATH, get(session::connect))
}

/// The sending half of one agent connection.
#[derive(Clone)]
struct Connection {
    id: u64,
    outbox: mpsc::Sender<ServerMessage>,
    close: watch::Sender<bool>,
}

/// Connected agents, by host. One connection per host: a new one replaces the old.
#[derive(Default)]
pub struct AgentRegistry {
    next_id: AtomicU64,
    connections: Mutex<HashMap<HostId, Connection>>,
}

/// Why a message could not be queued for an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The host has no agent connected.
    NotConnected,
    /// The agent's queue is full; its connection is being closed.
    Overloaded,
}

impl AgentRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<HostId, Connection>> {
        self.connections.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a connection for `host`, closing the one it replaces. Returns its id, its
    /// outgoing queue and its close signal.
    fn register(
        &self,
        host: HostId,
    ) -> (u64, mpsc::Receiver<ServerMessage>, watch::Receiver<bool>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (outbox, rx) = mpsc::channel(OUTBOX_CAPACITY);
        let (close, close_rx) = watch::channel(false);
        let old = self.lock().insert(host, Connection { id, outbox, close });
        if let Some(old) = old {
            let _ = old.close.send(true);
        }
        (id, rx, close_rx)
    }

    /// Removes `host`'s connection if it is still the one with this id.
    fn unregister(&self, host: HostId, id: u64) {
        let mut connections = self.lock();
        if connections.get(&host).is_some_and(|c| c.id == id) {
            connections.remove(&host);
        }
    }

    /// Whether `host` has an agent connected.
    pub fn is_connected(&self, host: HostId) -> bool {
        self.lock().contains_key(&host)
    }

    /// How many agents are connected.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no agent is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues a message for `host`'s agent without waiting.
    pub fn send(&self, host: HostId, message: ServerMessage) -> Result<(), SendError> {
        let connection = self.lock().get(&host).cloned().ok_or(SendError::NotConnected)?;
        match connection.outbox.try_send(message) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::NotConnected),
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(host.id = %host, "agent is not reading; closing its connection");
                let _ = connection.close.send(true);
                Err(SendError::Overloaded)
            }
        }
    }

    /// Closes `host`'s connection (the host was deleted).
    pub fn disconnect(&self, host: HostId) {
        if let Some(connection) = self.lock().remove(&host) {
            let _ = connection.close.send(true);
        }
    }
}
