//! The agent protocol: enrollment bodies and the messages both ends send on the agent WebSocket.
//!
//! One JSON object per WebSocket text frame, internally tagged by `"type"`. The agent speaks first
//! with [`AgentMessage::Hello`]; nothing else is accepted before the server's
//! [`ServerMessage::Welcome`]. Delivery is at least once in both directions, so every message that
//! changes state names its job and attempt and is safe to receive twice: the server upserts chunks
//! by `(job, attempt, seq)` and results by `(job, attempt)`, the agent's ledger refuses to run a
//! job id twice. The agent deletes spooled output only after the server's [`Ack`].

use gsm_core::adapters::config::GameInstance;
use gsm_core::heartbeat::Heartbeat;
use gsm_core::job::{HostId, JobId, JobResult, JobSpec};
use gsm_core::policy::{ArgSlot, ProgramSummary};
use gsm_core::runner::Stream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::rest::EventPlayer;
use crate::wire_bytes;

/// The oldest agent protocol version this build still speaks.
pub const MIN_PROTOCOL_VERSION: u32 = 1;
/// The newest agent protocol version this build speaks.
pub const MAX_PROTOCOL_VERSION: u32 = 1;

/// The WebSocket path an agent connects to.
pub const CONNECT_PATH: &str = "/agent/v1/connect";
/// The HTTP path an agent enrolls at.
pub const ENROLL_PATH: &str = "/agent/v1/enroll";

/// An inclusive range of protocol versions one side speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VersionRange {
    /// Oldest version spoken.
    pub min: u32,
    /// Newest version spoken.
    pub max: u32,
}

impl VersionRange {
    /// The range this build speaks.
    pub const CURRENT: VersionRange =
        VersionRange { min: MIN_PROTOCOL_VERSION, max: MAX_PROTOCOL_VERSION };

    /// The newest version both ranges contain, if any.
    pub fn negotiate(self, other: VersionRange) -> Option<u32> {
        let low = self.min.max(other.min);
        let high = self.max.min(other.max);
        (low <= high).then_some(high)
    }
}

impl std::fmt::Display for VersionRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..={}", self.min, self.max)
        }
    }
}

/// Facts about the host an agent runs on, sent at enrollment and in every hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostFacts {
    /// The machine's hostname.
    pub hostname: String,
    /// Operating system (`linux`).
    pub os: String,
    /// CPU architecture (`x86_64`).
    pub arch: String,
    /// Logical CPUs.
    #[serde(default)]
    pub cpus: u32,
    /// Total memory in bytes.
    #[serde(default)]
    pub memory_total_bytes: u64,
    /// The agent's version.
    pub agent_version: String,
    /// The programs the agent's policy allows, one entry per `[[program]]` rule, in file order
    /// (added later: an older agent sends none). Reported in every hello, and at enrollment when
    /// the policy can be read then; at most [`MAX_ALLOWED_PROGRAMS`], each within
    /// [`program_fits`]. A hint for people choosing a program: the agent still checks every job
    /// against its policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_programs: Vec<ProgramSummary>,
}

/// Most allowed programs a host's facts may list.
pub const MAX_ALLOWED_PROGRAMS: usize = 128;
/// Most argument slots one allowed program may list.
pub const MAX_PROGRAM_SLOTS: usize = 64;
/// Most values one `one_of` slot may list.
pub const MAX_SLOT_VALUES: usize = 64;
/// Longest path, value or pattern, in bytes, an allowed program may hold.
pub const MAX_PROGRAM_TEXT_BYTES: usize = 1024;

/// Whether an allowed program's summary is within the bounds the server accepts: an absolute
/// path, at most [`MAX_PROGRAM_SLOTS`] slots of at most [`MAX_SLOT_VALUES`] values, and texts of
/// at most [`MAX_PROGRAM_TEXT_BYTES`] without control characters. The agent leaves out a rule
/// that does not fit (it is still allowed; it just is not offered), so the server never has to
/// refuse an agent over its policy's size.
pub fn program_fits(program: &ProgramSummary) -> bool {
    let text_ok =
        |text: &str| text.len() <= MAX_PROGRAM_TEXT_BYTES && !text.contains(char::is_control);
    let slot_ok = |slot: &ArgSlot| match slot {
        ArgSlot::Fixed { value } => text_ok(value),
        ArgSlot::OneOf { values } => {
            values.len() <= MAX_SLOT_VALUES && values.iter().all(|value| text_ok(value))
        }
        ArgSlot::Regex { pattern, .. } => text_ok(pattern),
        ArgSlot::Int { .. } | ArgSlot::Other => true,
    };
    program.path.starts_with('/')
        && text_ok(&program.path)
        && program.args.len() <= MAX_PROGRAM_SLOTS
        && program.args.iter().all(slot_ok)
        && program.repeat.as_ref().is_none_or(slot_ok)
}

/// `POST /agent/v1/enroll`: trade a one-time join token for a long-lived host credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The one-time join token the server returned when the host was created.
    pub token: String,
    /// Facts about the enrolling host.
    pub facts: HostFacts,
}

/// The answer to a successful enrollment. The credential is shown only here, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnrollResponse {
    /// The host this agent now is.
    pub host: HostId,
    /// The org the host belongs to.
    pub org: Uuid,
    /// The host credential: send it as `Authorization: Bearer …` when connecting.
    pub credential: String,
}

/// What the agent sends on the WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum AgentMessage {
    /// First message on every connection.
    Hello(Hello),
    /// Periodic liveness and metrics.
    Heartbeat(Heartbeat),
    /// The agent recorded the job in its ledger and started it.
    JobAccepted(JobRef),
    /// The agent refused the job (policy, or already run); it will never run.
    JobRejected(JobRejected),
    /// A piece of a running job's output.
    JobLog(LogChunk),
    /// A job ended; its result and the last chunk's sequence number.
    JobFinished(JobFinished),
    /// The agent cannot know how a job ended (it restarted while the job ran).
    JobLost(JobLost),
    /// Events parsed from the host's game servers' output (protocol 1, added later: a server
    /// that does not know it answers `unsupported` and the agent keeps running).
    GameEvents(GameEvents),
}

impl AgentMessage {
    /// Every message kind, as it appears in `"type"`.
    pub const KINDS: &'static [&'static str] = &[
        "hello",
        "heartbeat",
        "job_accepted",
        "job_rejected",
        "job_log",
        "job_finished",
        "job_lost",
        "game_events",
    ];

    /// This message's kind, as it appears in `"type"`.
    pub fn kind(&self) -> &'static str {
        match self {
            AgentMessage::Hello(_) => "hello",
            AgentMessage::Heartbeat(_) => "heartbeat",
            AgentMessage::JobAccepted(_) => "job_accepted",
            AgentMessage::JobRejected(_) => "job_rejected",
            AgentMessage::JobLog(_) => "job_log",
            AgentMessage::JobFinished(_) => "job_finished",
            AgentMessage::JobLost(_) => "job_lost",
            AgentMessage::GameEvents(_) => "game_events",
        }
    }
}

/// What the server sends on the WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum ServerMessage {
    /// The answer to a good hello.
    Welcome(Welcome),
    /// Run this job (possibly again: the agent's ledger decides).
    AssignJob(JobAssignment),
    /// Stop this job if it runs.
    CancelJob(JobRef),
    /// The server has durably stored what the agent sent up to this point.
    Ack(Ack),
    /// Something the agent sent was wrong; the server may close after it.
    Error(ErrorMessage),
    /// The host's game servers: sent after the welcome and whenever the config changes; each
    /// one replaces the last (an agent that does not know it answers `unsupported`).
    GameConfig(GameConfig),
    /// A batch of game events is stored; the agent may forget it.
    GameEventsAck(GameEventsAck),
}

impl ServerMessage {
    /// Every message kind, as it appears in `"type"`.
    pub const KINDS: &'static [&'static str] =
        &["welcome", "assign_job", "cancel_job", "ack", "error", "game_config", "game_events_ack"];

    /// This message's kind, as it appears in `"type"`.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerMessage::Welcome(_) => "welcome",
            ServerMessage::AssignJob(_) => "assign_job",
            ServerMessage::CancelJob(_) => "cancel_job",
            ServerMessage::Ack(_) => "ack",
            ServerMessage::Error(_) => "error",
            ServerMessage::GameConfig(_) => "game_config",
            ServerMessage::GameEventsAck(_) => "game_events_ack",
        }
    }
}

/// The agent's first message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Hello {
    /// Protocol versions the agent speaks.
    pub protocol: VersionRange,
    /// Facts about the host.
    pub facts: HostFacts,
}

/// The server's answer to a good hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Welcome {
    /// The version both sides now speak.
    pub protocol: u32,
    /// The host the credential belongs to.
    pub host: HostId,
    /// How often the server expects a heartbeat, in milliseconds.
    pub heartbeat_interval_ms: u64,
}

/// A job and the attempt it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct JobRef {
    /// The job.
    pub job: JobId,
    /// The delivery attempt, from 1; a result for an older attempt is stale.
    pub attempt: u32,
}

/// A job for the agent to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobAssignment {
    /// The delivery attempt, from 1.
    pub attempt: u32,
    /// The job.
    pub spec: JobSpec,
}

/// The agent refused a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobRejected {
    /// The job and attempt.
    #[serde(flatten)]
    pub job: JobRef,
    /// A stable code (`program_not_allowed`, `already_run`, ...).
    pub reason: String,
    /// What was wrong, for people.
    pub message: String,
}

/// A piece of a job's output. `seq` is dense from 0 across both streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LogChunk {
    /// The job and attempt.
    #[serde(flatten)]
    pub job: JobRef,
    /// Position in the job's output, from 0, no gaps.
    pub seq: u64,
    /// Which stream the bytes came from.
    pub stream: Stream,
    /// The raw bytes, base64 in JSON: output is data, not text.
    #[serde(with = "wire_bytes")]
    #[schemars(with = "String")]
    pub data: Vec<u8>,
}

/// A job ended on the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobFinished {
    /// The job and attempt.
    #[serde(flatten)]
    pub job: JobRef,
    /// How it ended.
    pub result: JobResult,
    /// How many chunks were sent (`seq` of the last one + 1); the server knows when it has all.
    pub chunks: u64,
}

/// The agent cannot know how a job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobLost {
    /// The job and attempt.
    #[serde(flatten)]
    pub job: JobRef,
    /// Why, for people.
    pub reason: String,
}

/// The server durably stored what the agent sent for one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ack {
    /// The job and attempt.
    #[serde(flatten)]
    pub job: JobRef,
    /// Every chunk with `seq` below this is stored.
    pub chunks_stored: u64,
    /// The job's end (finished, lost or rejected) is stored; the agent may forget the job.
    pub finished: bool,
}

/// A protocol-level error sent to the peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorMessage {
    /// A stable code (`unsupported`, `malformed`, `version_mismatch`, `forbidden`, ...).
    pub code: String,
    /// What was wrong, for people.
    pub message: String,
}

/// Most events in one [`GameEvents`] batch.
pub const MAX_GAME_EVENTS_PER_BATCH: usize = 256;
/// Largest serialised `data` of one game event, in bytes.
pub const MAX_GAME_EVENT_DATA_BYTES: usize = 16 * 1024;

/// The host's game servers, as configured through `…/hosts/{host}/games`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GameConfig {
    /// Every game server the agent should run an adapter for; an empty list stops them all.
    pub games: Vec<GameInstance>,
}

/// A batch of events parsed from game servers' output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GameEvents {
    /// The batch's number on this agent; the ack names it.
    pub batch: u64,
    /// At most [`MAX_GAME_EVENTS_PER_BATCH`] events, oldest first.
    pub events: Vec<GameEventMessage>,
}

/// One event parsed from a game server's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GameEventMessage {
    /// Chosen by the agent (a v7 UUID); the server ignores a repeat, so a batch may be re-sent.
    pub id: Uuid,
    /// The game instance's name on the host.
    pub instance: String,
    /// The game type.
    pub game: String,
    /// What happened (`player_connected`, `chat`, ...).
    pub kind: String,
    /// The player the event names, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player: Option<EventPlayer>,
    /// When the agent saw it, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The parsed event, with its raw line in `raw`.
    pub data: serde_json::Value,
}

/// The server stored a batch of game events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GameEventsAck {
    /// The batch.
    pub batch: u64,
}
