//! REST request and response bodies of `/api/v1`.
//!
//! Every resource lives under `/api/v1/orgs/{org}/…`. Errors are always [`ErrorBody`]. Times are
//! RFC 3339 timestamps in UTC. Requests reject unknown fields so a typo is an error, not a silently
//! ignored setting; responses may grow fields, so clients must ignore what they do not know.

use std::collections::BTreeMap;

use gsm_core::adapters::config::GameSettings;
use gsm_core::heartbeat::Heartbeat;
use gsm_core::job::{HostId, JobId, JobKind, JobResult, JobState, Requester};
use gsm_core::policy::ProgramSummary;
use gsm_core::presence::Presence;
use gsm_core::runner::Stream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agent::HostFacts;
use crate::wire_bytes;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code (`job_not_found`, `invalid_request`, ...).
    pub code: String,
    /// What was wrong and what to do, for people.
    pub message: String,
    /// The request body's field the error is about, as a dotted path (`threshold.window_secs`),
    /// when it is about one; forms show the message there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// One page of a list, with the cursor for the next page when there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "{T}Page")]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `?cursor=` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// What `gsm-server init` prints: the new org and its first owner API key (shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrgInitialized {
    /// The org's id, used in every `/api/v1/orgs/{org}/…` path.
    pub org: Uuid,
    /// The org's name.
    pub name: String,
    /// An owner API key; send it as `Authorization: Bearer …`.
    pub api_key: String,
}

/// `POST …/hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHost {
    /// A name unique within the org (letters, digits, `-`, `_`, `.`; at most 64).
    pub name: String,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The answer to `POST …/hosts`: the host and its one-time join token (shown once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostCreated {
    /// The new host.
    pub host: Host,
    /// Give this to `gsm-agent enroll --token`; it works once.
    pub join_token: String,
    /// When the join token stops working.
    pub join_token_expires_at: String,
}

/// A host as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Host {
    /// The host's id.
    pub id: HostId,
    /// Its name.
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// When it was created.
    pub created_at: String,
    /// Whether an agent has enrolled as this host.
    pub enrolled: bool,
    /// Whether an agent is connected right now.
    pub connected: bool,
    /// Online, stale or offline; absent before the first heartbeat.
    #[serde(default)]
    pub presence: Option<Presence>,
    /// When the last heartbeat arrived.
    #[serde(default)]
    pub last_heartbeat_at: Option<String>,
    /// The last heartbeat's content (metrics, running jobs, game status).
    #[serde(default)]
    pub last_heartbeat: Option<Heartbeat>,
    /// What the agent reported about the machine.
    #[serde(default)]
    pub facts: Option<HostFacts>,
    /// Players the host's games have seen, online first (`GET …/hosts/{host}` only; at most 200).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub players: Vec<PlayerSeen>,
    /// The programs the host's policy allows, one per `[[program]]` rule, as its agent last
    /// reported them (`GET …/hosts/{host}` only; empty for an agent too old to report them). A
    /// hint for choosing a program: the agent still checks every job against its policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_programs: Vec<ProgramSummary>,
}

/// One minute of a host's heartbeat metrics, as `GET …/hosts/{host}/metrics` shows it.
///
/// The server folds every heartbeat it stores into the minute it arrived in; a figure is absent
/// when no heartbeat of that minute carried it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostMetricPoint {
    /// The start of the minute (RFC 3339).
    pub at: String,
    /// How many heartbeats the minute holds.
    pub samples: u32,
    /// The 1-minute load average, averaged over the minute's heartbeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_load: Option<f64>,
    /// The highest 1-minute load average of the minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_load_max: Option<f64>,
    /// The most memory in use during the minute (total minus available), in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_used_bytes: Option<u64>,
    /// All physical memory, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_total_bytes: Option<u64>,
    /// Space in use on the fullest file system (by share used) in the minute's last heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_used_bytes: Option<u64>,
    /// The size of that file system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_total_bytes: Option<u64>,
    /// The most players online during the minute, summed over the host's game servers.
    pub players_online: u32,
}

/// `GET …/hosts/{host}/metrics`: a host's per-minute metrics over a time range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostMetrics {
    /// The host.
    pub host: HostId,
    /// The range's start (inclusive).
    pub since: String,
    /// The range's end (exclusive).
    pub until: String,
    /// One point per minute that has heartbeats, oldest first; minutes without any are absent.
    pub points: Vec<HostMetricPoint>,
}

/// A player a host's game has seen, as `GET …/hosts/{host}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlayerSeen {
    /// The game instance's name on the host.
    pub instance: String,
    /// The player's id, as the game reports it.
    pub id: String,
    /// The player's name.
    pub name: String,
    /// Online as of the last event about them.
    pub online: bool,
    /// When an event first named them.
    pub first_seen_at: String,
    /// When an event last named them.
    pub last_seen_at: String,
}

/// `PUT …/hosts/{host}/games/{game}`: a game server's type and settings (the name is the path's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutGame {
    /// The game type, as `GET /api/v1/game-types` lists it (`7dtd`, `source-rcon`).
    pub game: String,
    /// The type's settings, as its `config_schema` describes them. The console password is named
    /// by where the agent reads it (`{"file": "/abs/path"}` or `{"env": "VAR"}`), never given.
    pub settings: GameSettings,
}

/// A game server of a host, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Game {
    /// The host it runs on.
    pub host: HostId,
    /// Its name, unique on the host.
    pub name: String,
    /// The game type.
    pub game: String,
    /// Its settings.
    pub settings: GameSettings,
    /// When it was first configured.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// A host's game servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GameList {
    /// By name.
    pub items: Vec<Game>,
}

/// A game type an agent can run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GameTypeInfo {
    /// Its registry name, used in a game's `game` field.
    pub name: String,
    /// What it speaks to.
    pub description: String,
    /// The JSON Schema of its `settings`.
    pub config_schema: serde_json::Value,
}

/// `GET /api/v1/game-types`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GameTypeList {
    /// Every registered type.
    pub items: Vec<GameTypeInfo>,
}

/// The player an event names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventPlayer {
    /// The player's id, when the line carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The player's name.
    pub name: String,
}

/// An event an agent parsed from a game server's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GameEvent {
    /// Its id (time-ordered); pass the last one as `?cursor=` to page.
    pub id: Uuid,
    /// The host.
    pub host: HostId,
    /// The game instance's name on the host.
    pub instance: String,
    /// The game type.
    pub game: String,
    /// What happened (`player_connected`, `chat`, `server_started`, ...).
    pub kind: String,
    /// The player it is about, when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player: Option<EventPlayer>,
    /// When the agent saw it.
    pub at: String,
    /// The parsed event, with the raw line in `raw`.
    pub data: serde_json::Value,
}

/// `POST …/jobs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    /// The host to run on.
    pub host: HostId,
    /// What to run.
    pub kind: JobKind,
    /// Wall-clock limit in seconds; absent takes the host policy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Output kept at most, in bytes; absent takes the host policy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_cap_bytes: Option<u64>,
    /// How long the job may wait for its host before it ends `lost`, in seconds (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_secs: Option<u64>,
}

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Job {
    /// The job's id.
    pub id: JobId,
    /// The host it runs on.
    pub host: HostId,
    /// What it runs.
    pub kind: JobKind,
    /// Where it is in its life.
    pub state: JobState,
    /// Why it is in that state, when that needs saying (a rejection, a loss).
    #[serde(default)]
    pub reason: Option<String>,
    /// How it ended, once it ran.
    #[serde(default)]
    pub result: Option<JobResult>,
    /// Delivery attempt, from 0 (not yet delivered).
    pub attempt: u32,
    /// Wall-clock limit in seconds, if set.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Output cap in bytes, if set.
    #[serde(default)]
    pub output_cap_bytes: Option<u64>,
    /// Who asked for it.
    pub requested_by: Requester,
    /// When it was created.
    pub created_at: String,
    /// When its state last changed.
    pub updated_at: String,
    /// When it ends `lost` if its host has not taken it.
    pub deadline_at: String,
}

/// One stored piece of a job's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobLogChunk {
    /// Position in the job's output, from 0.
    pub seq: u64,
    /// Which stream.
    pub stream: Stream,
    /// The raw bytes, base64.
    #[serde(with = "wire_bytes")]
    #[schemars(with = "String")]
    pub data: Vec<u8>,
}

/// `GET …/jobs/{job}/logs?after_seq=`: chunks in order, and whether the job's output is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobLogs {
    /// Chunks with `seq` greater than `after_seq`, in order.
    pub chunks: Vec<JobLogChunk>,
    /// True when the job has ended and every chunk is here or earlier.
    pub complete: bool,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The account's email (any case).
    pub email: String,
    /// The password.
    pub password: String,
}

/// `POST /api/v1/auth/refresh` and `POST /api/v1/auth/logout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The current refresh token; each one works once.
    pub refresh_token: String,
}

/// What login and refresh answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenPair {
    /// A short-lived JWT; send it as `Authorization: Bearer …`.
    pub access_token: String,
    /// Trades for a new pair at `/api/v1/auth/refresh`, once.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Always `Bearer`.
    pub token_type: String,
}

/// A user, as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct User {
    /// The user's id.
    pub id: Uuid,
    /// Their email.
    pub email: String,
    /// The name shown to people.
    pub display_name: String,
    /// RFC 3339.
    pub created_at: String,
}

/// One org the caller belongs to, with their role there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrgMembership {
    /// The org.
    pub org: Org,
    /// `owner`, `admin`, `operator` or `viewer`.
    pub role: String,
}

/// `GET /api/v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Me {
    /// The signed-in user.
    pub user: User,
    /// Their orgs.
    pub memberships: Vec<OrgMembership>,
}

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Org {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}

/// `POST /api/v1/orgs` and `PATCH /api/v1/orgs/{org}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgName {
    /// 1-64 printable characters.
    pub name: String,
}

/// A member of an org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Member {
    /// The user.
    pub user: User,
    /// Their role.
    pub role: String,
    /// RFC 3339.
    pub joined_at: String,
}

/// `PATCH …/members/{user}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    /// The new role.
    pub role: String,
}

/// `POST …/invites`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvite {
    /// Whom it is for.
    pub email: String,
    /// The role it grants.
    pub role: String,
}

/// An invite (without its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Invite {
    /// Its id.
    pub id: Uuid,
    /// Whom it is for.
    pub email: String,
    /// The role it grants.
    pub role: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// `open`, `accepted`, `revoked` or `expired`.
    pub status: String,
}

/// A new invite with its token (shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InviteCreated {
    /// The invite.
    pub invite: Invite,
    /// Give it to the invitee; it works once, until the invite expires.
    pub token: String,
}

/// `POST /api/v1/invites/accept`: an existing user sends only the token (with their access
/// token); a new user sends the token and their account details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvite {
    /// The invite token.
    pub token: String,
    /// A new user's email.
    #[serde(default)]
    pub email: Option<String>,
    /// A new user's password.
    #[serde(default)]
    pub password: Option<String>,
    /// A new user's display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// What `POST /api/v1/invites/accept` answers: the user's memberships, and a first token pair
/// when the invite made a new user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InviteAccepted {
    /// The user, with the org they joined among their memberships.
    pub me: Me,
    /// A new user's first tokens; absent when an existing user accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenPair>,
}

/// `POST …/api-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A name for people.
    pub name: String,
    /// Its role; at most the creator's.
    pub role: String,
    /// RFC 3339; never expires when absent.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// An API key (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKey {
    /// `gsm_<id>_`: the public start of the key.
    pub prefix: String,
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, about a minute precise.
    pub last_used_at: Option<String>,
    /// RFC 3339.
    pub expires_at: Option<String>,
    /// Whether it is revoked.
    pub revoked: bool,
}

/// A new API key with the full key (shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyCreated {
    /// The key.
    pub api_key: ApiKey,
    /// `gsm_<id>_<secret>`; send it as `Authorization: Bearer …`.
    pub key: String,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntry {
    /// Its id (also the pagination cursor).
    pub id: Uuid,
    /// RFC 3339.
    pub at: String,
    /// Who: a user, an API key or an agent.
    pub actor: Requester,
    /// What, as a dotted name (`host.create`).
    pub action: String,
    /// The kind of target.
    pub target_type: String,
    /// The target's id.
    pub target_id: String,
    /// The client's address.
    pub client_ip: Option<String>,
    /// `success` or what refused it.
    pub outcome: String,
}

/// An alert rule's definition: `POST …/alert-rules` and `PUT …/alert-rules/{rule}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleSpec {
    /// Unique within the org, 1–64 characters.
    pub name: String,
    /// The event kind it matches: `host.online`, `host.stale`, `host.offline`, `job.failed`,
    /// `job.timed_out`, `job.lost`, `schedule.missed`, or `game.<kind>` (`game.player_connected`,
    /// `game.chat`, …).
    pub kind: String,
    /// Only this host's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostId>,
    /// Only this game instance's events (its name on the host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game: Option<String>,
    /// Only events whose text matches this regular expression (at most 1 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Only events with more players online than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub players_above: Option<u32>,
    /// Only events with fewer players online than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub players_below: Option<u32>,
    /// Raise only after this many matching events within a window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<AlertThreshold>,
    /// The event kind that resolves its alerts; absent takes the default (`host.online` for
    /// `host.offline` and `host.stale`, `game.server_started` for `game.server_stopping`); other
    /// alerts fire once and need no resolving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_kind: Option<String>,
    /// No new alert for the same host and game within this many seconds of the previous one.
    #[serde(default)]
    pub cooldown_secs: u64,
    /// How loud its alerts are.
    #[serde(default)]
    pub severity: gsm_core::rules::Severity,
    /// Where its alerts go: `in_app` and `discord:<webhook name>`; absent takes the org's
    /// default channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    /// A game action run on the event's host when an alert is raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<AlertRemediation>,
    /// A disabled rule raises nothing.
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

/// `count` matching events within `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertThreshold {
    /// Events needed, at least 1.
    pub count: u32,
    /// The window in seconds, at least 1.
    pub window_secs: u64,
}

/// A remediation: a game action on the event's host, at most `max_runs` per `per_secs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRemediation {
    /// The game action (`restart`, `save`, …) run on the event's game instance.
    pub action: String,
    /// Runs allowed within `per_secs`, at least 1.
    pub max_runs: u32,
    /// The limit's window in seconds, at least 1.
    pub per_secs: u64,
}

/// A stored alert rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AlertRule {
    /// Its id.
    pub id: Uuid,
    /// Its definition.
    pub spec: AlertRuleSpec,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}
/// What a schedule runs at each fire: one job per host, all of the same kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleTemplate {
    /// The hosts to run on (1 to 100); each fire creates one job per host whose conditions hold.
    pub hosts: Vec<HostId>,
    /// What to run: a command or a game action.
    pub kind: JobKind,
    /// Wall-clock limit of each job in seconds; absent takes the host policy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Output kept per job at most, in bytes; absent takes the host policy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_cap_bytes: Option<u64>,
    /// How long each job may wait for its host before it ends `lost`, in seconds (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_secs: Option<u64>,
}

/// Conditions checked per host at fire time from its live status; a host that fails one gets no
/// job, and a fire where no host passes is recorded as skipped with the reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConditions {
    /// Only when the host is online (its agent heartbeats).
    #[serde(default)]
    pub host_online: bool,
    /// Only when at most this many players are online on the host's games (0: "only when
    /// empty"). Needs a heartbeat that reports game status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_players: Option<u32>,
    /// Only when at least this many players are online on the host's games.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_players: Option<u32>,
}

/// What a fire does while jobs of the schedule's previous fire still run (Kubernetes CronJob's
/// `concurrencyPolicy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConcurrencyPolicy {
    /// Run anyway.
    #[default]
    Allow,
    /// Skip the fire (recorded with the reason).
    Forbid,
    /// Cancel the previous fire's unfinished jobs, then run.
    Replace,
}

impl ConcurrencyPolicy {
    /// The name the API and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            ConcurrencyPolicy::Allow => "allow",
            ConcurrencyPolicy::Forbid => "forbid",
            ConcurrencyPolicy::Replace => "replace",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names.
    pub fn parse(name: &str) -> Option<ConcurrencyPolicy> {
        match name {
            "allow" => Some(ConcurrencyPolicy::Allow),
            "forbid" => Some(ConcurrencyPolicy::Forbid),
            "replace" => Some(ConcurrencyPolicy::Replace),
            _ => None,
        }
    }
}

/// `POST …/schedules` and `PUT …/schedules/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// A name unique in the org (1-64 bytes).
    pub name: String,
    /// The cron expression: 5 fields (or 6 with seconds) or a nickname such as `@daily`.
    pub cron: String,
    /// The IANA time zone the expression is read in (default `UTC`).
    #[serde(default = "utc")]
    pub timezone: String,
    /// What each fire runs.
    pub template: ScheduleTemplate,
    /// Per-host conditions checked at fire time.
    #[serde(default)]
    pub conditions: ScheduleConditions,
    /// What a fire does while the previous fire's jobs run.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,
    /// A fire not started within this many seconds of its due time (the server was down) is
    /// recorded as missed instead; absent: run a late fire however late. Of several fires
    /// missed during an outage only the latest is considered; the others are never replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_deadline_secs: Option<u64>,
    /// How many fires the history keeps (1-1000, default 20).
    #[serde(default = "default_history_limit")]
    pub history_limit: u32,
    /// A suspended schedule does not fire; resuming it fires from the next due time on.
    #[serde(default)]
    pub suspend: bool,
}

fn utc() -> String {
    "UTC".to_owned()
}

fn default_history_limit() -> u32 {
    20
}

/// `PATCH …/schedules/{id}`: the fields to change; absent fields stay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSchedule {
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new cron expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// A new time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// A new template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ScheduleTemplate>,
    /// New conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<ScheduleConditions>,
    /// A new concurrency policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    /// A new starting deadline; 0 removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_deadline_secs: Option<u64>,
    /// A new history limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_limit: Option<u32>,
    /// Suspend (`true`) or resume (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

/// A schedule as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Schedule {
    /// Its id.
    pub id: Uuid,
    /// Its definition, as created or last replaced.
    pub spec: ScheduleSpec,
    /// The next due time (RFC 3339); absent while suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_fire_at: Option<String>,
    /// The last due time claimed, whatever its outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fire_at: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// What became of one due time of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FireOutcome {
    /// Claimed; its jobs are being created.
    Claimed,
    /// Its jobs were created (`jobs`).
    Started,
    /// Not run: a condition or the concurrency policy said no (`reason`).
    Skipped,
    /// Not run: the server was down past the starting deadline (`reason`).
    Missed,
}

impl FireOutcome {
    /// The name the API and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            FireOutcome::Claimed => "claimed",
            FireOutcome::Started => "started",
            FireOutcome::Skipped => "skipped",
            FireOutcome::Missed => "missed",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names.
    pub fn parse(name: &str) -> Option<FireOutcome> {
        match name {
            "claimed" => Some(FireOutcome::Claimed),
            "started" => Some(FireOutcome::Started),
            "skipped" => Some(FireOutcome::Skipped),
            "missed" => Some(FireOutcome::Missed),
            _ => None,
        }
    }
}

/// One fire of a schedule, in `…/schedules/{id}/fires`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleFire {
    /// The due time (RFC 3339).
    pub due_at: String,
    /// When a server claimed it.
    pub claimed_at: String,
    /// What became of it.
    pub outcome: FireOutcome,
    /// Why it did not run, or why some hosts got no job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The jobs it created.
    #[serde(default)]
    pub jobs: Vec<JobId>,
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Raised and waiting for its resolving event.
    Open,
    /// Its resolving event came.
    Resolved,
    /// A one-shot alert: raised, and nothing resolves it.
    Fired,
}

/// What happened to an alert: the two changes that are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertChange {
    /// It was raised.
    Raised,
    /// It was resolved.
    Resolved,
}

/// An alert as the API shows it (`…/alerts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Alert {
    /// Its id (also the pagination cursor: ids order alerts by time).
    pub id: Uuid,
    /// The rule that raised it.
    pub rule: Uuid,
    /// The rule's name when it was raised.
    pub rule_name: String,
    /// The host it is about, if any.
    #[serde(default)]
    pub host: Option<HostId>,
    /// The game instance it is about, if any.
    #[serde(default)]
    pub game: Option<String>,
    /// The event kind that raised it.
    pub kind: String,
    /// How loud it is.
    pub severity: gsm_core::rules::Severity,
    /// What it says, for people.
    pub message: String,
    /// Open, resolved or fired.
    pub status: AlertStatus,
    /// When it was raised (RFC 3339).
    pub raised_at: String,
    /// When it was resolved, once it was.
    #[serde(default)]
    pub resolved_at: Option<String>,
}

/// An in-app notification (`…/notifications`): one per alert change delivered to `in_app`.
/// Notifications belong to the org, and so does their read mark: one member marking one read
/// marks it read for the whole org, like a shared on-call inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Notification {
    /// Its id (also the pagination cursor).
    pub id: Uuid,
    /// The alert it is about.
    pub alert: Uuid,
    /// Raised or resolved.
    pub change: AlertChange,
    /// The alert's severity.
    pub severity: gsm_core::rules::Severity,
    /// A one-line title.
    pub title: String,
    /// When it was stored (RFC 3339).
    pub created_at: String,
    /// When it was first marked read; absent while unread.
    #[serde(default)]
    pub read_at: Option<String>,
}

/// `GET …/notifications/unread-count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UnreadCount {
    /// Notifications of the org not yet marked read.
    pub unread: u64,
}

/// `POST …/notifications/read-all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MarkedRead {
    /// Notifications this call marked read (those already read are not counted).
    pub marked: u64,
}

/// One text frame of the org's live stream `GET …/stream` (a WebSocket): what changed in the org,
/// as it happens. The stream carries changes only; a client reads the lists first, then applies
/// the frames. A client that falls too far behind is closed (code 1013, "try again later") and
/// should re-read the lists and reconnect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// A job was created or changed state: the job as `GET …/jobs/{job}` shows it.
    Job(Job),
    /// A host's presence changed.
    Presence {
        /// The host.
        host: HostId,
        /// Online, stale or offline.
        status: Presence,
        /// When the server saw the change (RFC 3339).
        at: String,
    },
    /// An alert was raised or resolved.
    Alert {
        /// Raised or resolved.
        change: AlertChange,
        /// The alert after the change.
        alert: Alert,
    },
    /// An in-app notification was stored.
    Notification(Notification),
}

/// A Discord webhook as the API shows it: never its URL, which is a secret (whoever holds it can
/// post to the channel), only its last four characters to tell two apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DiscordWebhook {
    /// Its name in the org; channels name it as `discord:<name>`.
    pub name: String,
    /// The URL's last four characters.
    pub url_last4: String,
    /// Why Discord refused it for good (a 4xx other than 429), if it did; replace the URL to
    /// clear it.
    #[serde(default)]
    pub broken_reason: Option<String>,
    /// When it was marked broken.
    #[serde(default)]
    pub broken_at: Option<String>,
    /// When it was added or last replaced.
    pub created_at: String,
}

/// `GET …/settings`: the org's alert settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrgSettings {
    /// The org's Discord webhooks, by name.
    pub discord_webhooks: Vec<DiscordWebhook>,
    /// Where a rule without its own `channels` delivers.
    pub default_channels: Vec<String>,
    /// Hosts a webhook URL may point at besides Discord's. Set in the server's configuration
    /// (`alert_webhook_hosts`), not per org: letting an org add hosts would let its admins aim
    /// the server's requests at internal addresses.
    pub webhook_hosts: Vec<String>,
}

/// `PATCH …/settings`: what to change; absent fields stay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSettings {
    /// Webhooks by name (letters, digits, `-`, `_`, `.`; 1-64): a URL adds or replaces one (and
    /// clears its broken mark), `null` removes it. URLs must be Discord webhook URLs (or point at
    /// a host of `webhook_hosts`); they are stored, never shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord_webhooks: Option<BTreeMap<String, Option<String>>>,
    /// New default channels: `in_app` and `discord:<webhook name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_channels: Option<Vec<String>>,
}

/// An org's Discord bot settings, in `…/settings/discord-bot`: the Discord server (guild) whose
/// slash commands act on this org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DiscordBotSettings {
    /// The linked guild's id (a Discord snowflake, in decimal); absent when none is linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<String>,
    /// When it was linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_at: Option<String>,
    /// Whether this server runs a bot (its config holds a bot token).
    pub bot_enabled: bool,
}

/// The body of `PUT …/settings/discord-bot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutDiscordBotSettings {
    /// The guild's id: Discord shows it under "Copy Server ID" (developer mode), 1-20 digits.
    pub guild_id: String,
}

/// The body of `POST …/discord/link`: the code `/link` gave in Discord.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemDiscordLink {
    /// The code, `XXXX-XXXX-XXXX` (case, dashes and spaces do not matter).
    pub code: String,
}

/// A member's Discord account, linked so their slash commands run with their role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DiscordLink {
    /// The Discord user's id (decimal snowflake).
    pub discord_user_id: String,
    /// Their Discord name when they asked for the code.
    pub discord_name: String,
    /// When the link was made.
    pub linked_at: String,
}
