//! The outbox: where everything the agent sends goes, whatever connection is current.
//!
//! Each connection has one writer task reading a bounded channel, so writes to the socket are
//! serialised and a slow socket pushes back on the senders (a job's output pump waits, and so
//! the job's pipe fills). The [`Outbox`] holds the current connection's channel. While there is
//! none, or when it closes under a sender, the message is dropped: everything that matters is on
//! disk (ledger, spool) and is re-sent after the next welcome. A connection attaches its channel
//! *before* it re-sends from disk, so a message written to disk after that scan finds the new
//! channel; nothing falls between the two.

use std::sync::{Arc, Mutex};

use gsm_proto::agent::AgentMessage;
use tokio::sync::mpsc;

/// The current connection's send channel, if any. Cheap to clone; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    current: Arc<Mutex<Option<mpsc::Sender<AgentMessage>>>>,
}

impl Outbox {
    /// An outbox with no connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `sender` the current connection's channel.
    pub fn attach(&self, sender: mpsc::Sender<AgentMessage>) {
        *self.lock() = Some(sender);
    }

    /// Forgets the current connection's channel.
    pub fn detach(&self) {
        *self.lock() = None;
    }

    /// Sends `message` on the current connection, waiting while its queue is full. False when
    /// there is no connection or it closed: the message is dropped (see the module docs).
    pub async fn send(&self, message: AgentMessage) -> bool {
        let sender = self.lock().clone();
        match sender {
            Some(sender) => sender.send(message).await.is_ok(),
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<mpsc::Sender<AgentMessage>>> {
        // The guarded value is a plain Option that no panic can leave half-written.
        self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
