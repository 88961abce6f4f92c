//! Presence: turns heartbeats and an injected monotonic clock into online / stale / offline
//! ([`PresenceTracker`]), reporting each change exactly once as a [`Transition`].
//!
//! Time is a parameter: every call takes `now: Instant` from the caller and the tracker never
//! reads the clock. The tracker keeps the latest `now` it has been given and never lets time run
//! backwards, so heartbeats that arrive out of order, or a `tick` with an older `now`, cannot
//! revive or age a host wrongly. A host's status changes only in [`PresenceTracker::heartbeat`]
//! (that host) and [`PresenceTracker::tick`] (every host), and each change yields one transition
//! whose `from` is the status the previous transition moved to, so consumers (alerts, the
//! dashboard) can act on transitions without de-duplicating.
//!
//! Rules, with the defaults (interval 5 s, stale after 2 missed, offline after 3):
//! - a host heard from is `online` while its last heartbeat is at most 10 s old, `stale` when
//!   older than that, `offline` when older than 15 s (thresholds are strict: a heartbeat exactly
//!   on its deadline does not flap);
//! - a host registered but not yet heard from starts `stale` (known, liveness unconfirmed), and
//!   goes `offline` only when 2 × the offline threshold (30 s) has passed since it was
//!   registered: the start grace that stops a restarting server from declaring every host offline
//!   before the agents have had time to reconnect;
//! - a heartbeat brings a host `online` at once, whatever its status was.
//!
//! `tick` is one pass over a flat `Vec` of entries (a `HashMap` maps host to index; removal is
//! `swap_remove`), allocating nothing but the transitions it returns.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::job::HostId;

/// Whether a host is live, as its heartbeats tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Heard from within the stale threshold.
    Online,
    /// Silent past the stale threshold, or registered and not yet heard from.
    Stale,
    /// Silent past the offline threshold (or, never heard from, past the start grace).
    Offline,
}

impl Presence {
    /// Every status, in order of health.
    pub const ALL: [Presence; 3] = [Presence::Online, Presence::Stale, Presence::Offline];

    /// The status's wire name: `online`, `stale` or `offline`.
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Stale => "stale",
            Presence::Offline => "offline",
        }
    }

    fn index(self) -> usize {
        match self {
            Presence::Online => 0,
            Presence::Stale => 1,
            Presence::Offline => 2,
        }
    }
}

impl fmt::Display for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change of a host's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The host that changed.
    pub host: HostId,
    /// Its status before; always the `to` of the host's previous transition (or `Stale`, the
    /// status every host starts in).
    pub from: Presence,
    /// Its status now; never equal to `from`.
    pub to: Presence,
    /// Its latest heartbeat as of the change (for a return to online, the heartbeat that brought
    /// it back); `None` if it was never heard from.
    pub last_seen: Option<Instant>,
}

/// How often agents heartbeat and how many missed heartbeats make a host stale or offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceConfig {
    /// The agents' heartbeat interval.
    pub interval: Duration,
    /// Missed intervals after which a host is stale.
    pub stale_after_missed: u32,
    /// Missed intervals after which a host is offline; greater than `stale_after_missed`.
    pub offline_after_missed: u32,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self { interval: Duration::from_secs(5), stale_after_missed: 2, offline_after_missed: 3 }
    }
}

/// A [`PresenceConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PresenceError {
    /// The heartbeat interval is zero.
    #[error("presence interval is 0; expected a positive duration such as 5s")]
    ZeroInterval,
    /// A host would be stale before missing any heartbeat.
    #[error("presence stale_after_missed is 0; expected at least 1 missed heartbeat")]
    ZeroStaleThreshold,
    /// Offline would not come after stale.
    #[error(
        "presence offline_after_missed ({offline_after_missed}) must be greater than \
         stale_after_missed ({stale_after_missed})"
    )]
    OfflineNotAfterStale {
        /// The stale threshold given.
        stale_after_missed: u32,
        /// The offline threshold given.
        offline_after_missed: u32,
    },
    /// The thresholds are too large to represent as durations.
    #[error(
        "presence thresholds overflow: {offline_after_missed} × {interval:?} (× 2 for the start \
         grace) is too long"
    )]
    ThresholdOverflow {
        /// The interval given.
        interval: Duration,
        /// The offline threshold given.
        offline_after_missed: u32,
    },
}

impl PresenceConfig {
    /// Checks that `interval > 0` and `offline_after_missed > stale_after_missed ≥ 1`.
    pub fn validate(&self) -> Result<(), PresenceError> {
        self.thresholds().map(|_| ())
    }

    /// How long a host may be silent and still be online.
    pub fn stale_after(&self) -> Option<Duration> {
        self.interval.checked_mul(self.stale_after_missed)
    }

    /// How long a host may be silent and still not be offline.
    pub fn offline_after(&self) -> Option<Duration> {
        self.interval.checked_mul(self.offline_after_missed)
    }

    /// How long a host registered but never heard from stays stale before it is offline: twice
    /// the offline threshold.
    pub fn start_grace(&self) -> Option<Duration> {
        self.offline_after()?.checked_mul(2)
    }

    fn thresholds(&self) -> Result<Thresholds, PresenceError> {
        if self.interval.is_zero() {
            return Err(PresenceError::ZeroInterval);
        }
        if self.stale_after_missed == 0 {
            return Err(PresenceError::ZeroStaleThreshold);
        }
        if self.offline_after_missed <= self.stale_after_missed {
            return Err(PresenceError::OfflineNotAfterStale {
                stale_after_missed: self.stale_after_missed,
                offline_after_missed: self.offline_after_missed,
            });
        }
        let overflow = || PresenceError::ThresholdOverflow {
            interval: self.interval,
            offline_after_missed: self.offline_after_missed,
        };
        Ok(Thresholds {
            stale_after: self.stale_after().ok_or_else(overflow)?,
            offline_after: self.offline_after().ok_or_else(overflow)?,
            start_grace: self.start_grace().ok_or_else(overflow)?,
        })
    }
}

/// The validated thresholds, computed once.
#[derive(Debug, Clone, Copy)]
struct Thresholds {
    stale_after: Duration,
    offline_after: Duration,
    start_grace: Duration,
}

impl Thresholds {
    fn classify(&self, seen: bool, silent_for: Duration) -> Presence {
        if !seen {
            return if silent_for > self.start_grace { Presence::Offline } else { Presence::Stale };
        }
        if silent_for > self.offline_after {
            Presence::Offline
        } else if silent_for > self.stale_after {
            Presence::Stale
        } else {
            Presence::Online
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    host: HostId,
    status: Presence,
    /// True once a heartbeat arrived; until then `since` is the registration time.
    seen: bool,
    /// The latest heartbeat, or the registration time while `seen` is false.
    since: Instant,
}

impl Entry {
    fn last_seen(&self) -> Option<Instant> {
        self.seen.then_some(self.since)
    }
}

/// Tracks every host's presence. See the module docs for the rules.
#[derive(Debug, Clone)]
pub struct PresenceTracker {
    config: PresenceConfig,
    thresholds: Thresholds,
    entries: Vec<Entry>,
    index: HashMap<HostId, usize>,
    /// Hosts per status, indexed by [`Presence::index`].
    counts: [usize; 3],
    /// The latest `now` any call passed; evaluation never uses an earlier time.
    clock: Option<Instant>,
}

impl PresenceTracker {
    /// A tracker with no hosts, or the reason `config` cannot work.
    pub fn new(config: PresenceConfig) -> Result<Self, PresenceError> {
        Self::with_capacity(config, 0)
    }

    /// A tracker with room for `hosts` hosts before it reallocates.
    pub fn with_capacity(config: PresenceConfig, hosts: usize) -> Result<Self, PresenceError> {
        Ok(Self {
            config,
            thresholds: config.thresholds()?,
            entries: Vec::with_capacity(hosts),
            index: HashMap::with_capacity(hosts),
            counts: [0; 3],
            clock: None,
        })
    }

    /// The configuration the tracker runs with.
    pub fn config(&self) -> &PresenceConfig {
        &self.config
    }

    /// Adds a host that is known but not yet heard from, as `stale`; it goes `offline` if no
    /// heartbeat arrives within the start grace. Returns false, changing nothing, when the host
    /// is already tracked.
    pub fn register(&mut self, host: HostId, now: Instant) -> bool {
        self.advance(now);
        if self.index.contains_key(&host) {
            return false;
        }
        self.insert(host, now);
        true
    }

    /// Records a heartbeat from `host` received at `now` and returns the transition it caused, if
    /// any: a stale or offline host comes back online. A host not yet tracked is registered
    /// first, so its first heartbeat reports `stale → online`.
    ///
    /// The host is judged at the latest time the tracker has seen, not at `now`: a heartbeat
    /// stamped long before that (a caller that took `now` early and queued) counts only for as
    /// long as it is fresh, so it may leave the host stale, or even report it going stale.
    pub fn heartbeat(&mut self, host: HostId, now: Instant) -> Option<Transition> {
        let clock = self.advance(now);
        let i = match self.index.get(&host) {
            Some(&i) => i,
            None => self.insert(host, now),
        };
        let entry = &mut self.entries[i];
        entry.since = if entry.seen { entry.since.max(now) } else { now };
        entry.seen = true;
        let to = self.thresholds.classify(true, clock.saturating_duration_since(entry.since));
        change(&mut self.counts, entry, to)
    }

    /// Stops tracking `host`; returns its last status, or `None` if it was not tracked.
    pub fn remove(&mut self, host: HostId) -> Option<Presence> {
        let i = self.index.remove(&host)?;
        let entry = self.entries.swap_remove(i);
        if let Some(moved) = self.entries.get(i) {
            self.index.insert(moved.host, i);
        }
        self.counts[entry.status.index()] -= 1;
        Some(entry.status)
    }

    /// The host's current status, or `None` if it is not tracked.
    pub fn status(&self, host: HostId) -> Option<Presence> {
        self.index.get(&host).map(|&i| self.entries[i].status)
    }

    /// The host's latest heartbeat; `None` if it is not tracked or was never heard from.
    pub fn last_seen(&self, host: HostId) -> Option<Instant> {
        self.index.get(&host).and_then(|&i| self.entries[i].last_seen())
    }

    /// Re-evaluates every host at `now` and returns one transition per host whose status
    /// changed, in no particular order. Calling it again without new heartbeats or a later `now`
    /// returns nothing.
    pub fn tick(&mut self, now: Instant) -> Vec<Transition> {
        let clock = self.advance(now);
        let thresholds = self.thresholds;
        let mut transitions = Vec::new();
        for entry in &mut self.entries {
            let to = thresholds.classify(entry.seen, clock.saturating_duration_since(entry.since));
            if to != entry.status {
                transitions.extend(change(&mut self.counts, entry, to));
            }
        }
        transitions
    }

    /// How many hosts are `(online, stale, offline)`.
    pub fn counts(&self) -> (usize, usize, usize) {
        let [online, stale, offline] = self.counts;
        (online, stale, offline)
    }

    /// How many hosts are tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no host is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every tracked host with its status, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (HostId, Presence)> + '_ {
        self.entries.iter().map(|e| (e.host, e.status))
    }

    /// Moves the tracker's clock to `now` unless it is already later, and returns it.
    fn advance(&mut self, now: Instant) -> Instant {
        let clock = self.clock.map_or(now, |clock| clock.max(now));
        self.clock = Some(clock);
        clock
    }

    fn insert(&mut self, host: HostId, now: Instant) -> usize {
        let i = self.entries.len();
        self.entries.push(Entry { host, status: Presence::Stale, seen: false, since: now });
        self.index.insert(host, i);
        self.counts[Presence::Stale.index()] += 1;
        i
    }
}

/// Moves `entry` to `to`, keeping the counts, and reports the change if there was one.
fn change(counts: &mut [usize; 3], entry: &mut Entry, to: Presence) -> Option<Transition> {
    let from = entry.status;
    if from == to {
        return None;
    }
    counts[from.index()] -= 1;
    counts[to.index()] += 1;
    entry.status = to;
    Some(Transition { host: entry.host, from, to, last_seen: entry.last_seen() })
}

#[cfg(test)]
mod tests;
