//! [`Cancel`]: the handle that stops a running job from outside the runner.
//!
//! Built on a `tokio::sync::watch` channel rather than a bare `Notify`, so a cancel that happens
//! before anyone waits is never missed: the flag is state, not an event.

use std::sync::Arc;

use tokio::sync::watch;

/// A cancel handle: clone it, give one clone to [`run`](super::run), and call
/// [`cancel`](Self::cancel) on any clone to stop the job. Cancelling is permanent and idempotent.
#[derive(Debug, Clone)]
pub struct Cancel {
    flag: Arc<watch::Sender<bool>>,
}

impl Cancel {
    /// A handle that has not been cancelled.
    pub fn new() -> Self {
        Self { flag: Arc::new(watch::Sender::new(false)) }
    }

    /// Cancels the job (and every other job given a clone of this handle).
    pub fn cancel(&self) {
        self.flag.send_replace(true);
    }

    /// True once [`cancel`](Self::cancel) was called on any clone.
    pub fn is_cancelled(&self) -> bool {
        *self.flag.borrow()
    }

    /// Completes once the handle is cancelled (at once if it already is).
    pub async fn cancelled(&self) {
        let mut seen = self.flag.subscribe();
        // The sender lives in `self`, so it cannot be dropped while we wait: the error is
        // unreachable, and either way there is nothing more to wait for.
        let _ = seen.wait_for(|cancelled| *cancelled).await;
    }
}

impl Default for Cancel {
    fn default() -> Self {
        Self::new()
    }
}
