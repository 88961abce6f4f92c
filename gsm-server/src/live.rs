//! The orgs' live streams: what changed in an org (jobs, presence, alerts, notifications), fanned
//! out to the org's connected `…/stream` WebSockets.
//!
//! Publishers call [`LiveHub::publish`] with the org the change belongs to; it never waits and
//! never reads the store. The hub keeps its subscribers by org, so a change is serialised once and
//! offered only to that org's connections: filtering is a map lookup, and an org nobody watches
//! costs nothing. Each connection has a bounded queue ([`QUEUE`] frames); a connection whose
//! queue is full is dropped from the hub at once and told why (it must re-read and reconnect), so
//! a slow client can never hold the publisher or grow the server's memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::extract::ws::Utf8Bytes;
use gsm_core::job::HostId;
use gsm_core::presence::Presence;
use gsm_proto::rest::StreamEvent;
use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::app::AppState;
use crate::http::views;
use crate::store::alerts::{AlertChange, AlertRecord, NotificationRecord};
use crate::store::{JobRecord, OrgId};

/// Frames a connection may have waiting before it counts as lagging and is dropped.
pub const QUEUE: usize = 256;

/// One connection's end of the hub.
struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Utf8Bytes>,
    lagged: Arc<AtomicBool>,
}

/// A connection's subscription: its frames, and why they stopped when they do.
pub struct Subscription {
    /// The org it watches.
    pub org: OrgId,
    /// Its id in the hub, for [`LiveHub::unsubscribe`].
    pub id: u64,
    /// The frames, serialised [`StreamEvent`]s. `None` once the hub dropped it.
    pub frames: mpsc::Receiver<Utf8Bytes>,
    lagged: Arc<AtomicBool>,
}

impl Subscription {
    /// True when the hub dropped this subscription because its queue was full.
    pub fn lagged(&self) -> bool {
        self.lagged.load(Ordering::Acquire)
    }
}

/// The live-stream subscribers of every org.
#[derive(Default)]
pub struct LiveHub {
    orgs: Mutex<HashMap<OrgId, Vec<Subscriber>>>,
    next_id: AtomicU64,
    /// Connections dropped because they lagged.
    pub lagged: AtomicU64,
}

impl LiveHub {
    fn orgs(&self) -> std::sync::MutexGuard<'_, HashMap<OrgId, Vec<Subscriber>>> {
        // Plain data: a panic mid-update leaves it usable, so the poison is cleared.
        self.orgs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Subscribes a connection to the org's changes.
    pub fn subscribe(&self, org: OrgId) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, frames) = mpsc::channel(QUEUE);
        let lagged = Arc::new(AtomicBool::new(false));
        self.orgs().entry(org).or_default().push(Subscriber { id, tx, lagged: lagged.clone() });
        Subscription { org, id, frames, lagged }
    }

    /// Removes a connection (it closed).
    pub fn unsubscribe(&self, org: OrgId, id: u64) {
        let mut orgs = self.orgs();
        if let Some(subscribers) = orgs.get_mut(&org) {
            subscribers.retain(|s| s.id != id);
            if subscribers.is_empty() {
                orgs.remove(&org);
            }
        }
    }

    /// Ends every stream of an org (it was deleted).
    pub fn close_org(&self, org: OrgId) {
        self.orgs().remove(&org);
    }

    /// How many connections watch the org.
    pub fn watchers(&self, org: OrgId) -> usize {
        self.orgs().get(&org).map_or(0, Vec::len)
    }

    /// Offers a change to the org's connections; never waits. A connection whose queue is full
    /// is dropped (and learns it lagged).
    pub fn publish(&self, org: OrgId, event: &StreamEvent) {
        let mut orgs = self.orgs();
        let Some(subscribers) = orgs.get_mut(&org) else { return };
        let text = match serde_json::to_string(event) {
            Ok(text) => Utf8Bytes::from(text),
            Err(err) => {
                tracing::warn!(org.id = %org, error = %err, "could not serialise a stream event");
                return;
            }
        };
        subscribers.retain(|subscriber| match subscriber.tx.try_send(text.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                subscriber.lagged.store(true, Ordering::Release);
                self.lagged.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(TrySendError::Closed(_)) => false,
        });
        if subscribers.is_empty() {
            orgs.remove(&org);
        }
    }
}

/// Publishes a job's current state to its org's streams.
pub fn job_changed(state: &AppState, job: &JobRecord) {
    if state.live.watchers(job.org) == 0 {
        return;
    }
    state.live.publish(job.org, &StreamEvent::Job(crate::http::jobs::view(job.clone())));
}

/// Publishes a host's presence change to its org's streams, when the host's org is known (its
/// agent connected to this process).
pub fn presence_changed(state: &AppState, host: HostId, status: Presence, at: Timestamp) {
    let Some(org) = state.alerts.org_of(host) else { return };
    state.live.publish(org, &StreamEvent::Presence { host, status, at: crate::http::time(at) });
}

/// Publishes an alert's raise or resolve to its org's streams.
pub fn alert_changed(state: &AppState, change: AlertChange, alert: &AlertRecord) {
    if state.live.watchers(alert.org) == 0 {
        return;
    }
    let event =
        StreamEvent::Alert { change: views::change(change), alert: views::alert(alert.clone()) };
    state.live.publish(alert.org, &event);
}

/// Publishes a stored notification to its org's streams.
pub fn notification_stored(state: &AppState, notification: &NotificationRecord) {
    if state.live.watchers(notification.org) == 0 {
        return;
    }
    let event = StreamEvent::Notification(views::notification(notification.clone()));
    state.live.publish(notification.org, &event);
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn presence(host: HostId) -> StreamEvent {
        StreamEvent::Presence { host, status: Presence::Offline, at: "2026-01-01T00:00:00Z".into() }
    }

    #[test]
    fn a_change_reaches_only_its_orgs_subscribers() {
        let hub = LiveHub::default();
        let (a, b) = (OrgId(Uuid::now_v7()), OrgId(Uuid::now_v7()));
        let mut sub_a = hub.subscribe(a);
        let mut sub_b = hub.subscribe(b);
        let host = HostId(Uuid::now_v7());
        hub.publish(a, &presence(host));
        let frame = sub_a.frames.try_recv().unwrap();
        let event: StreamEvent = serde_json::from_str(frame.as_str()).unwrap();
        assert_eq!(event, presence(host));
        assert!(sub_b.frames.try_recv().is_err());
    }

    #[test]
    fn a_subscriber_whose_queue_is_full_is_dropped_and_told_it_lagged() {
        let hub = LiveHub::default();
        let org = OrgId(Uuid::now_v7());
        let mut slow = hub.subscribe(org);
        let host = HostId(Uuid::now_v7());
        for _ in 0..=QUEUE {
            hub.publish(org, &presence(host));
        }
        assert_eq!(hub.watchers(org), 0);
        assert!(slow.lagged());
        assert_eq!(hub.lagged.load(Ordering::Relaxed), 1);
        let mut received = 0;
        while slow.frames.try_recv().is_ok() {
            received += 1;
        }
        assert_eq!(received, QUEUE);
    }

    #[test]
    fn an_unsubscribed_connection_is_forgotten() {
        let hub = LiveHub::default();
        let org = OrgId(Uuid::now_v7());
        let sub = hub.subscribe(org);
        let other = hub.subscribe(org);
        hub.unsubscribe(org, sub.id);
        assert_eq!(hub.watchers(org), 1);
        hub.close_org(org);
        assert_eq!(hub.watchers(org), 0);
        assert!(!other.lagged());
    }
}
