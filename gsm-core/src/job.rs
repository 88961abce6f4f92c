//! The job schema: what a job asks for ([`JobSpec`]), where it is in its life ([`JobState`]) and
//! how it ended ([`JobResult`]).
//!
//! Every state change goes through [`JobState::transition`]: the one place that knows which moves
//! are legal. The store persists what this module allows and nothing else, so an illegal move is
//! an error, never a silent overwrite. Types here cross the wire and derive `Serialize` and
//! `JsonSchema`; their JSON shape is a compatibility promise.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A job's identity: a UUID (v7 when gsm makes it, so ids sort by creation time).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl JobId {
    /// A new, time-ordered job id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for JobId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// A host's identity, assigned by the server when the host is created.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct HostId(pub Uuid);

impl HostId {
    /// A new, time-ordered host id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for HostId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for HostId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// Everything a job asks for. The agent checks it against its policy before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The job's id; a re-delivered job keeps it, which is how the agent runs it at most once.
    pub id: JobId,
    /// The host the job runs on.
    pub host: HostId,
    /// What to run.
    pub kind: JobKind,
    /// Wall-clock limit in seconds; `None` takes the policy's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Captured output limit in bytes (stdout and stderr together); `None` takes the policy's cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_cap_bytes: Option<u64>,
    /// A client-chosen key: the same key within one org names the same job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Who asked for the job.
    pub requested_by: Requester,
}

impl JobSpec {
    /// A job run on this host by a program that embeds gsm (the Python bindings, a local tool):
    /// a fresh id, the nil host (no host of a fleet) and a [`RequesterKind::Local`] requester
    /// named `requester`; limits are left to the policy.
    pub fn local(kind: JobKind, requester: &str) -> JobSpec {
        JobSpec {
            id: JobId::new(),
            host: HostId(Uuid::nil()),
            kind,
            timeout_secs: None,
            output_cap_bytes: None,
            idempotency_key: None,
            requested_by: Requester { kind: RequesterKind::Local, id: requester.to_owned() },
        }
    }
}

/// What a job runs: a program with arguments, or an action on the host's game server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobKind {
    /// Run one program, never through a shell.
    Command(CommandSpec),
    /// Run an action through the host's game adapter.
    Game(GameAction),
}

/// A program to run: an argv, a working directory and an environment. No shell is involved, so
/// every argument reaches the program byte for byte as one element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// Absolute path of the program; the policy must allow-list it.
    pub program: String,
    /// Arguments after the program name, each one element of argv.
    #[serde(default)]
    pub args: Vec<String>,
    /// Working directory: absolute, or relative to the policy's first root; it must stay inside
    /// a root the policy allows. `None` means the first allowed root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Extra environment variables; every name must be allowed by the policy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// An action on a game server through its adapter (`say`, `kick`, `restart`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GameAction {
    /// The host's game server: its name (`main`), or its type (`7dtd`) when the host has exactly
    /// one server of that type.
    pub game: String,
    /// The action: `command` (args `command`), `say` (`message`), `kick` and `ban` (`player`,
    /// `reason`; `ban` also `duration_secs`), `save`, `shutdown`, or `restart` (optional
    /// `warnings_secs`: warnings, save, shutdown, the start command, wait until ready).
    pub action: String,
    /// The action's arguments.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, serde_json::Value>,
}

/// Who asked for a job: kept for the audit trail and shown beside the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requester {
    /// The kind of principal.
    pub kind: RequesterKind,
    /// Its id within that kind (user id, API key prefix, schedule id, ...).
    pub id: String,
}

/// The kinds of principal that start jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequesterKind {
    /// A signed-in user.
    User,
    /// An API key.
    ApiKey,
    /// A cron schedule.
    Schedule,
    /// An alert rule's remediation.
    AlertRule,
    /// The Kubernetes operator.
    Operator,
    /// A Discord slash command.
    Discord,
    /// Someone on the host itself (the `gsm-agent policy check` CLI, an embedding program).
    Local,
    /// A host's agent, in the audit log (enrollment); agents do not start jobs.
    Agent,
}

/// Where a job is in its life.
///
/// ```text
/// queued ─→ dispatched ─→ running ─→ succeeded | failed | timed_out | cancelled | lost
///   │  ↑        │
///   │  └────────┘ (lease returned: agent went away before accepting)
///   └─→ rejected | cancelled | lost   (also from dispatched)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted and stored; waiting for its host.
    Queued,
    /// Sent to the host's agent; not yet accepted.
    Dispatched,
    /// The agent accepted it and started the process.
    Running,
    /// Ended with exit code 0.
    Succeeded,
    /// Ended with a non-zero exit code, a signal, or an error before it could run.
    Failed,
    /// Killed because it ran past its timeout.
    TimedOut,
    /// Cancelled by a user before it ended.
    Cancelled,
    /// Its outcome cannot be known (host gone past the deadline, agent restarted mid-run).
    Lost,
    /// Refused by the host's policy; it never ran.
    Rejected,
}

impl JobState {
    /// Every state, in lifecycle order.
    pub const ALL: [JobState; 9] = [
        JobState::Queued,
        JobState::Dispatched,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::TimedOut,
        JobState::Cancelled,
        JobState::Lost,
        JobState::Rejected,
    ];

    /// True once the job can change no more.
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Dispatched | JobState::Running)
    }

    /// Whether the state machine allows moving from `self` to `to`.
    pub fn can_transition(self, to: JobState) -> bool {
        use JobState::{
            Cancelled, Dispatched, Failed, Lost, Queued, Rejected, Running, Succeeded, TimedOut,
        };
        matches!(
            (self, to),
            (Queued, Dispatched | Rejected | Cancelled | Lost)
                | (Dispatched, Queued | Running | Rejected | Cancelled | Lost | Failed)
                | (Running, Succeeded | Failed | TimedOut | Cancelled | Lost)
        )
    }

    /// Moves from `self` to `to`, or says why that move is illegal.
    pub fn transition(self, to: JobState) -> Result<JobState, IllegalTransition> {
        if self.can_transition(to) { Ok(to) } else { Err(IllegalTransition { from: self, to }) }
    }

    /// The state's wire name (`timed_out`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Dispatched => "dispatched",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::TimedOut => "timed_out",
            JobState::Cancelled => "cancelled",
            JobState::Lost => "lost",
            JobState::Rejected => "rejected",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = UnknownJobState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownJobState(s.to_owned()))
    }
}

/// A state change the job state machine forbids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a job cannot move from {from} to {to}")]
#[non_exhaustive]
pub struct IllegalTransition {
    /// The current state.
    pub from: JobState,
    /// The refused target state.
    pub to: JobState,
}

/// A string that names no job state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown job state {0:?}; expected one of queued, dispatched, running, succeeded, failed, timed_out, cancelled, lost, rejected"
)]
pub struct UnknownJobState(pub String);

/// How a finished process ended, as the runner saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Termination {
    /// The process exited on its own (with any code, or killed by a signal nobody in gsm sent).
    Exited,
    /// gsm killed it because it ran past its timeout.
    TimedOut,
    /// gsm killed it because the job was cancelled.
    Cancelled,
}

/// How a job that ran ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobResult {
    /// Why the process ended.
    pub termination: Termination,
    /// Exit code, when the process exited normally.
    pub exit_code: Option<i32>,
    /// The signal that ended the process, when one did.
    pub signal: Option<i32>,
    /// Wall-clock time from spawn to reap, in milliseconds.
    pub duration_ms: u64,
    /// Bytes the process wrote to stdout and stderr, including any not kept.
    pub output_bytes: u64,
    /// Bytes kept (sent to the sink); less than `output_bytes` when truncated.
    pub kept_bytes: u64,
    /// True when output past the cap was dropped (the process keeps running; see the runner).
    pub truncated: bool,
}

impl JobResult {
    /// The terminal job state this result leads to.
    pub fn final_state(&self) -> JobState {
        match self.termination {
            Termination::TimedOut => JobState::TimedOut,
            Termination::Cancelled => JobState::Cancelled,
            Termination::Exited if self.exit_code == Some(0) => JobState::Succeeded,
            Termination::Exited => JobState::Failed,
        }
    }
}

#[cfg(test)]
mod tests;
