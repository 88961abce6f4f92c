//! Alert rules: which events raise an alert, when it resolves, and when a remediation job may
//! start ([`Engine`]), as pure code over events that carry their own time.
//!
//! The engine does no I/O and never reads the clock: every [`Event`] carries `at_ms` (Unix
//! milliseconds, the caller's clock), and the engine only compares those. It answers each event
//! with [`Action`]s (raise, resolve, remediate, remediation refused) that the server persists and
//! delivers; restarting the server rebuilds the open alerts with [`Engine::restore_open`].
//!
//! Decisions, per rule and *subject* (the event's host and game instance):
//! - an event matches a rule when its kind is the rule's kind and every filter holds (host, game
//!   instance, a regex over the text, players above / below a value);
//! - with a threshold, the rule fires when `count` matching events fall within `window_ms`;
//!   firing empties the window, so the next alert needs `count` fresh events;
//! - a rule whose kind has a resolving kind (`host.offline` → `host.online`, or the rule's own)
//!   opens an alert that stays open, absorbing repeats, until the resolving event for the same
//!   subject resolves it; other alerts are one-shot;
//! - a raise within `cooldown_ms` of the subject's previous raise is suppressed (a flapping host
//!   raises and resolves at most once per cooldown); if the condition still holds when the
//!   cooldown ends, [`Engine::tick`] raises it then, so a host that flaps and stays down is
//!   reported;
//! - a remediation runs with the raise unless `max_runs` already ran within `per_ms` for that
//!   subject, so a crash loop cannot become a restart loop.
//!
//! Rules are indexed by kind, then by host, so one event looks only at the rules that could
//! match it.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::job::HostId;

/// An alert rule's identity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct RuleId(pub Uuid);

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Event kinds the server itself emits; game events are `game.<kind>` (`game.player_connected`).
pub mod kinds {
    /// A host's heartbeats resumed.
    pub const HOST_ONLINE: &str = "host.online";
    /// A host missed its stale threshold.
    pub const HOST_STALE: &str = "host.stale";
    /// A host missed its offline threshold.
    pub const HOST_OFFLINE: &str = "host.offline";
    /// A job ended `failed`.
    pub const JOB_FAILED: &str = "job.failed";
    /// A job ended `timed_out`.
    pub const JOB_TIMED_OUT: &str = "job.timed_out";
    /// A job ended `lost`.
    pub const JOB_LOST: &str = "job.lost";
    /// A schedule's due time was claimed past its starting deadline and did not run.
    pub const SCHEDULE_MISSED: &str = "schedule.missed";
    /// The prefix of every game event's kind.
    pub const GAME_PREFIX: &str = "game.";
    /// Every server kind, for validation and documentation.
    pub const SERVER: [&str; 7] = [
        HOST_ONLINE,
        HOST_STALE,
        HOST_OFFLINE,
        JOB_FAILED,
        JOB_TIMED_OUT,
        JOB_LOST,
        SCHEDULE_MISSED,
    ];
}

/// The kind whose event clears an alert of `kind` by default: a host back online clears it
/// being stale or offline, a game server started clears it stopping.
pub fn default_resolving_kind(kind: &str) -> Option<&'static str> {
    match kind {
        kinds::HOST_OFFLINE | kinds::HOST_STALE => Some(kinds::HOST_ONLINE),
        "game.server_stopping" => Some("game.server_started"),
        _ => None,
    }
}

/// How loud an alert is.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Worth a look.
    #[default]
    Warning,
    /// Act now.
    Critical,
}

impl Severity {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Something that happened, as the rule engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `host.offline`, `job.failed`, `game.player_connected`, ….
    pub kind: String,
    /// The host it is about, if any.
    pub host: Option<HostId>,
    /// The game instance it is about, if any.
    pub game: Option<String>,
    /// Text a rule's regex is matched against (a chat line, a log line, a job's failure).
    pub text: String,
    /// Players online when it happened, if known.
    pub players: Option<u32>,
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// A rule's threshold: `count` matching events within `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    /// Events needed, at least 1.
    pub count: u32,
    /// The window, in milliseconds, at least 1.
    pub window_ms: i64,
}

/// A rule's remediation: a game action run on the event's host, at most `max_runs` per `per_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remediation {
    /// The game action (`restart`).
    pub action: String,
    /// Runs allowed within `per_ms`, at least 1.
    pub max_runs: u32,
    /// The limit's window, in milliseconds.
    pub per_ms: i64,
}

/// An alert rule, validated.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its id.
    pub id: RuleId,
    /// The event kind it matches.
    pub kind: String,
    /// Only this host's events, if set.
    pub host: Option<HostId>,
    /// Only this game instance's events, if set.
    pub game: Option<String>,
    /// Only events whose text matches, if set.
    pub text: Option<Regex>,
    /// Only events with more players than this, if set.
    pub players_above: Option<u32>,
    /// Only events with fewer players than this, if set.
    pub players_below: Option<u32>,
    /// Fire only after this many matches in a window, if set.
    pub threshold: Option<Threshold>,
    /// The kind that resolves its alerts, if any (see [`default_resolving_kind`]).
    pub resolve_kind: Option<String>,
    /// No new raise for the same subject within this many milliseconds of the previous one.
    pub cooldown_ms: i64,
    /// How loud its alerts are.
    pub severity: Severity,
    /// The job it starts with a raise, if any.
    pub remediation: Option<Remediation>,
}

impl Rule {
    fn matches(&self, event: &Event) -> bool {
        if self.host.is_some() && self.host != event.host {
            return false;
        }
        if let Some(game) = &self.game
            && event.game.as_deref() != Some(game.as_str())
        {
            return false;
        }
        if let Some(above) = self.players_above
            && event.players.is_none_or(|p| p <= above)
        {
            return false;
        }
        if let Some(below) = self.players_below
            && event.players.is_none_or(|p| p >= below)
        {
            return false;
        }
        self.text.as_ref().is_none_or(|re| re.is_match(&event.text))
    }
}

/// A rule that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The kind is neither a server kind nor `game.<kind>`.
    #[error(
        "unknown event kind {kind:?}; expected one of host.online, host.stale, host.offline, \
         job.failed, job.timed_out, job.lost, schedule.missed, or game.<kind> such as \
         game.player_connected"
    )]
    UnknownKind {
        /// The kind given.
        kind: String,
    },
    /// A threshold needs at least one event in a positive window.
    #[error("threshold must be at least 1 event within a window of at least 1 ms")]
    EmptyThreshold,
    /// A negative cooldown.
    #[error("cooldown must be 0 or more")]
    NegativeCooldown,
    /// The player filters exclude every count.
    #[error(
        "players_above ({above}) and players_below ({below}) leave no player count between them; \
         widen the range"
    )]
    EmptyPlayerRange {
        /// The lower bound given.
        above: u32,
        /// The upper bound given.
        below: u32,
    },
    /// A remediation needs at least one run in a positive window.
    #[error("remediation limit must allow at least 1 run within a window of at least 1 ms")]
    EmptyRemediationLimit,
}

/// True when `kind` is a server kind or `game.<kind>` (lowercase letters, digits, `_`).
pub fn is_known_kind(kind: &str) -> bool {
    if kinds::SERVER.contains(&kind) {
        return true;
    }
    kind.strip_prefix(kinds::GAME_PREFIX).is_some_and(|k| {
        !k.is_empty()
            && k.len() <= 64
            && k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    })
}

impl Rule {
    /// Checks the kinds, threshold, cooldown, player range and remediation limit.
    pub fn validate(&self) -> Result<(), RuleError> {
        for kind in std::iter::once(&self.kind).chain(&self.resolve_kind) {
            if !is_known_kind(kind) {
                return Err(RuleError::UnknownKind { kind: kind.clone() });
            }
        }
        if self.threshold.is_some_and(|t| t.count == 0 || t.window_ms < 1) {
            return Err(RuleError::EmptyThreshold);
        }
        if self.cooldown_ms < 0 {
            return Err(RuleError::NegativeCooldown);
        }
        if let (Some(above), Some(below)) = (self.players_above, self.players_below)
            && above.saturating_add(1) >= below
        {
            return Err(RuleError::EmptyPlayerRange { above, below });
        }
        if self.remediation.as_ref().is_some_and(|r| r.max_runs == 0 || r.per_ms < 1) {
            return Err(RuleError::EmptyRemediationLimit);
        }
        Ok(())
    }
}

/// Who an alert is about: the event's host and game instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject {
    /// The host, if the event named one.
    pub host: Option<HostId>,
    /// The game instance, if the event named one.
    pub game: Option<String>,
}

impl Subject {
    fn of(event: &Event) -> Self {
        Self { host: event.host, game: event.game.clone() }
    }
}

/// What the engine decided for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Raise an alert; `open` when it stays open until a resolving event.
    Raise {
        /// The rule.
        rule: RuleId,
        /// Who it is about.
        subject: Subject,
        /// How loud.
        severity: Severity,
        /// True when a resolving event will close it; false for a one-shot alert.
        open: bool,
    },
    /// Resolve the subject's open alert of this rule.
    Resolve {
        /// The rule.
        rule: RuleId,
        /// Who it is about.
        subject: Subject,
    },
    /// Start the rule's remediation on the subject.
    Remediate {
        /// The rule.
        rule: RuleId,
        /// Who it is about (the host runs the action).
        subject: Subject,
        /// The game action.
        action: String,
    },
    /// The remediation was not started: its limit was reached.
    RemediationLimited {
        /// The rule.
        rule: RuleId,
        /// Who it is about.
        subject: Subject,
        /// Runs within the window, the limit.
        max_runs: u32,
    },
}

/// Per rule and subject: what the engine remembers.
#[derive(Debug, Default)]
struct State {
    open: bool,
    /// The condition held again within the cooldown and has not cleared: raise when the
    /// cooldown ends (see [`Engine::tick`]).
    pending: bool,
    last_raise_ms: Option<i64>,
    /// Matching events within the threshold's window, oldest first.
    hits: VecDeque<i64>,
    /// Remediations started within the limit's window, oldest first.
    runs: VecDeque<i64>,
}

impl State {
    fn is_idle(&self) -> bool {
        !self.open
            && !self.pending
            && self.hits.is_empty()
            && self.runs.is_empty()
            && self.last_raise_ms.is_none()
    }
}

/// Rules of one kind: those pinned to a host, and those for any host.
#[derive(Debug, Default)]
struct KindIndex {
    by_host: HashMap<HostId, Vec<usize>>,
    any_host: Vec<usize>,
}

/// The rule engine. See the module docs for its decisions.
#[derive(Debug, Default)]
pub struct Engine {
    rules: Vec<Rule>,
    /// Rules by the kind they match.
    matching: HashMap<String, KindIndex>,
    /// Rules by the kind that resolves them.
    resolving: HashMap<String, Vec<usize>>,
    state: HashMap<(RuleId, Subject), State>,
}

impl Engine {
    /// An engine over `rules`.
    pub fn new(rules: Vec<Rule>) -> Self {
        let mut engine = Self::default();
        engine.set_rules(rules);
        engine
    }

    /// Replaces the rules; what the engine remembers of rules that remain (open alerts,
    /// windows, cooldowns, remediation counts) is kept, the rest forgotten.
    pub fn set_rules(&mut self, rules: Vec<Rule>) {
        self.matching.clear();
        self.resolving.clear();
        for (i, rule) in rules.iter().enumerate() {
            let index = self.matching.entry(rule.kind.clone()).or_default();
            match rule.host {
                Some(host) => index.by_host.entry(host).or_default().push(i),
                None => index.any_host.push(i),
            }
            if let Some(kind) = rule.resolve_kind.as_deref() {
                self.resolving.entry(kind.to_owned()).or_default().push(i);
            }
        }
        let ids: std::collections::HashSet<RuleId> = rules.iter().map(|r| r.id).collect();
        self.state.retain(|(rule, _), _| ids.contains(rule));
        self.rules = rules;
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Marks an alert of `rule` about `subject` as open, raised at `raised_at_ms` (the server's
    /// stored open alerts, after a restart), so a repeat does not raise it again and the
    /// resolving event resolves it.
    pub fn restore_open(&mut self, rule: RuleId, subject: Subject, raised_at_ms: i64) {
        let state = self.state.entry((rule, subject)).or_default();
        state.open = true;
        state.last_raise_ms =
            Some(state.last_raise_ms.map_or(raised_at_ms, |t| t.max(raised_at_ms)));
    }

    /// True when `rule` has an open alert about `subject`.
    pub fn is_open(&self, rule: RuleId, subject: &Subject) -> bool {
        self.state.get(&(rule, subject.clone())).is_some_and(|s| s.open)
    }

    /// Evaluates one event and returns what to do.
    pub fn evaluate(&mut self, event: &Event) -> Vec<Action> {
        let mut actions = Vec::new();
        self.evaluate_into(event, &mut actions);
        actions
    }

    /// Evaluates one event, appending what to do to `actions` (reuse the vector to avoid an
    /// allocation per event).
    pub fn evaluate_into(&mut self, event: &Event, actions: &mut Vec<Action>) {
        if let Some(resolved) = self.resolving.get(&event.kind) {
            for &i in resolved {
                let rule = &self.rules[i];
                if rule.host.is_some() && rule.host != event.host {
                    continue;
                }
                let subject = Subject::of(event);
                let key = (rule.id, subject);
                let Some(state) = self.state.get_mut(&key) else { continue };
                state.pending = false;
                if state.open {
                    state.open = false;
                    let (rule, subject) = key;
                    actions.push(Action::Resolve { rule, subject });
                }
            }
        }
        let Some(index) = self.matching.get(&event.kind) else { return };
        let pinned = event.host.and_then(|h| index.by_host.get(&h)).map_or(&[][..], Vec::as_slice);
        for &i in pinned.iter().chain(&index.any_host) {
            let rule = &self.rules[i];
            if !rule.matches(event) {
                continue;
            }
            let state = self.state.entry((rule.id, Subject::of(event))).or_default();
            fire(rule, state, event, actions);
        }
    }

    /// Raises, at `now_ms`, the alerts whose condition came back within their cooldown and has
    /// not cleared since, once the cooldown is over: a host that flaps and then stays down is
    /// still reported, once. Call it about once a second.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Action> {
        let mut actions = Vec::new();
        let rules: HashMap<RuleId, &Rule> = self.rules.iter().map(|r| (r.id, r)).collect();
        for ((id, subject), state) in &mut self.state {
            if !state.pending {
                continue;
            }
            let Some(rule) = rules.get(id) else { continue };
            if state.last_raise_ms.is_some_and(|t| now_ms.saturating_sub(t) < rule.cooldown_ms) {
                continue;
            }
            raise(rule, state, subject.clone(), now_ms, &mut actions);
        }
        actions
    }

    /// Forgets per-subject memory that can no longer change a decision at `now_ms`: closed
    /// alerts whose cooldown, window and remediation limit have all passed. Call it now and then
    /// so subjects that come and go (hosts deleted, game instances renamed) do not accumulate.
    pub fn prune(&mut self, now_ms: i64) {
        let rules: HashMap<RuleId, &Rule> = self.rules.iter().map(|r| (r.id, r)).collect();
        self.state.retain(|(id, _), state| {
            let Some(rule) = rules.get(id) else { return false };
            expire(rule, state, now_ms);
            if state.last_raise_ms.is_some_and(|t| now_ms.saturating_sub(t) >= rule.cooldown_ms)
                && !state.open
            {
                state.last_raise_ms = None;
            }
            !state.is_idle()
        });
    }

    /// How many (rule, subject) pairs the engine remembers.
    pub fn remembered(&self) -> usize {
        self.state.len()
    }
}

/// Drops window entries older than their windows at `now_ms`.
fn expire(rule: &Rule, state: &mut State, now_ms: i64) {
    if let Some(threshold) = rule.threshold {
        while state.hits.front().is_some_and(|&t| now_ms.saturating_sub(t) >= threshold.window_ms) {
            state.hits.pop_front();
        }
    }
    match &rule.remediation {
        Some(rem) => {
            while state.runs.front().is_some_and(|&t| now_ms.saturating_sub(t) >= rem.per_ms) {
                state.runs.pop_front();
            }
        }
        None => state.runs.clear(),
    }
}

/// One matching event for one rule and subject.
fn fire(rule: &Rule, state: &mut State, event: &Event, actions: &mut Vec<Action>) {
    let now = event.at_ms;
    expire(rule, state, now);
    if let Some(threshold) = rule.threshold {
        state.hits.push_back(now);
        if state.hits.len() < threshold.count as usize {
            return;
        }
        state.hits.clear();
    }
    if state.open {
        return;
    }
    if state.last_raise_ms.is_some_and(|t| now.saturating_sub(t) < rule.cooldown_ms) {
        // A resolvable condition that holds past the cooldown is still reported, by `tick`.
        state.pending = rule.resolve_kind.is_some();
        return;
    }
    raise(rule, state, Subject::of(event), now, actions);
}

/// Raises the rule's alert about `subject` at `now`, with its remediation if the limit allows.
fn raise(rule: &Rule, state: &mut State, subject: Subject, now: i64, actions: &mut Vec<Action>) {
    let open = rule.resolve_kind.is_some();
    state.open = open;
    state.pending = false;
    state.last_raise_ms = Some(now);
    actions.push(Action::Raise {
        rule: rule.id,
        subject: subject.clone(),
        severity: rule.severity,
        open,
    });
    let Some(rem) = &rule.remediation else { return };
    expire(rule, state, now);
    if state.runs.len() >= rem.max_runs as usize {
        actions.push(Action::RemediationLimited { rule: rule.id, subject, max_runs: rem.max_runs });
        return;
    }
    state.runs.push_back(now);
    actions.push(Action::Remediate { rule: rule.id, subject, action: rem.action.clone() });
}

#[cfg(test)]
mod tests;
