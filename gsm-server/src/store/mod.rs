//! The store: everything the server keeps, behind one async [`Store`] trait with a SQLite and a
//! PostgreSQL implementation.
//!
//! The server holds an `Arc<dyn Store>`, so the router compiles once and the backend is chosen at
//! start. Both implementations pass the same conformance suite (`tests/it/store.rs`), which is what
//! proves the SQL. Every query on org data takes an [`OrgId`] and filters in SQL, so a foreign id
//! simply is not found. Job state changes are decided by gsm-core's `JobState::transition`; the
//! store applies them as compare-and-set on the current state, so two writers cannot both win.
//! Secrets (API keys, join tokens, host credentials) are stored only as SHA-256 hashes: they are
//! 256-bit random values, so a fast hash is right and no per-request argon2 is needed.

pub mod access;
pub mod alerts;
mod convert;
pub mod discord;
pub mod games;
pub mod metrics;
mod postgres;
pub mod schedules;
mod sqlite;
mod sqlite_writer;

use std::collections::BTreeMap;

use async_trait::async_trait;
use gsm_core::heartbeat::Heartbeat;
use gsm_core::job::{HostId, JobId, JobKind, JobResult, JobState, Requester};
use gsm_core::runner::Stream;
use gsm_proto::agent::HostFacts;
use jiff::Timestamp;
use uuid::Uuid;

use crate::store::access::AuditEntry;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// An organisation's id. Every org-scoped store call takes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(pub Uuid);

impl std::fmt::Display for OrgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A SHA-256 digest of a secret; what the store keeps instead of the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

/// What went wrong in the store. `sqlx::Error` is mapped into these in the backend modules only.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist (or belongs to another org, which is the same to the caller).
    #[error("{what} not found")]
    NotFound {
        /// What was looked for (`host`, `job`, ...).
        what: &'static str,
    },
    /// A uniqueness rule or a compare-and-set failed.
    #[error("conflict: {detail}")]
    Conflict {
        /// What collided.
        detail: String,
    },
    /// The database refused a text value it cannot hold (PostgreSQL refuses NUL characters): the
    /// caller sent it, so the caller can fix it.
    #[error("{what} holds text the database cannot store (a NUL character?)")]
    InvalidText {
        /// What was being written or looked for.
        what: &'static str,
    },
    /// The database is unreachable, timed out, or failed in a way the caller cannot fix.
    #[error("database error")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// Its id.
    pub id: OrgId,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A stored API key (without its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The public part of the key (`gsm_<key_id>_<secret>`), unique.
    pub key_id: String,
    /// The org it acts in.
    pub org: OrgId,
    /// Its name.
    pub name: String,
    /// Its role (`owner`, `admin`, `operator`, `viewer`).
    pub role: String,
    /// SHA-256 of the secret part.
    pub secret_hash: SecretHash,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// The user who made it (none for keys made by `gsm-server init` before any user existed).
    pub created_by: Option<access::UserId>,
    /// When it stops working, if it does.
    pub expires_at: Option<Timestamp>,
    /// When it was last used (updated at most about once a minute).
    pub last_used_at: Option<Timestamp>,
}

/// A host to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHost {
    /// Its id, chosen by the caller.
    pub id: HostId,
    /// Its name, unique within the org.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The `Idempotency-Key` of the request that created it.
    pub idempotency_key: Option<String>,
    /// SHA-256 of its one-time join token.
    pub join_token_hash: SecretHash,
    /// When the join token stops working.
    pub join_token_expires_at: Timestamp,
    /// Creation time.
    pub now: Timestamp,
}

/// An agent trading its join token for a credential; the audit entry's org, actor and target come
/// from the token's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    /// The audit entry's id.
    pub audit_id: Uuid,
    /// The agent's address.
    pub client_ip: Option<String>,
    /// When.
    pub now: Timestamp,
}

/// A stored host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRecord {
    /// Its id.
    pub id: HostId,
    /// Its org.
    pub org: OrgId,
    /// Its name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When an agent enrolled as it.
    pub enrolled_at: Option<Timestamp>,
    /// What the agent last reported about the machine.
    pub facts: Option<HostFacts>,
    /// When the last stored heartbeat arrived.
    pub last_heartbeat_at: Option<Timestamp>,
    /// The last stored heartbeat.
    pub last_heartbeat: Option<Heartbeat>,
}

/// Whether a create call made a new row or found the one an earlier call with the same
/// idempotency key made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// A new row.
    New,
    /// The row an earlier request with the same `Idempotency-Key` created.
    Existing,
}

/// A job to create (always `queued`, attempt 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Its id, chosen by the caller.
    pub id: JobId,
    /// The host it runs on; must be a host of the same org.
    pub host: HostId,
    /// What it runs.
    pub kind: JobKind,
    /// Wall-clock limit in seconds.
    pub timeout_secs: Option<u64>,
    /// Output cap in bytes.
    pub output_cap_bytes: Option<u64>,
    /// Who asked.
    pub requested_by: Requester,
    /// The `Idempotency-Key` of the request that created it.
    pub idempotency_key: Option<String>,
    /// When it ends `lost` if not yet taken by its host.
    pub deadline_at: Timestamp,
    /// Creation time.
    pub now: Timestamp,
    /// Store it already `dispatched` (attempt 1), for a caller that saw the host's agent
    /// connected and sends the job itself right after: one write instead of two.
    pub dispatched: bool,
}

impl NewJob {
    /// The state the job is stored in.
    pub fn initial_state(&self) -> JobState {
        if self.dispatched { JobState::Dispatched } else { JobState::Queued }
    }

    /// The attempt the job is stored with: 1 once it is sent.
    pub fn initial_attempt(&self) -> u32 {
        u32::from(self.dispatched)
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// Its id.
    pub id: JobId,
    /// Its org.
    pub org: OrgId,
    /// Its host.
    pub host: HostId,
    /// What it runs.
    pub kind: JobKind,
    /// Its state.
    pub state: JobState,
    /// Why it is in that state, when that needs saying.
    pub reason: Option<String>,
    /// How it ended.
    pub result: Option<JobResult>,
    /// Delivery attempt (0 before the first dispatch).
    pub attempt: u32,
    /// Wall-clock limit in seconds.
    pub timeout_secs: Option<u64>,
    /// Output cap in bytes.
    pub output_cap_bytes: Option<u64>,
    /// Who asked.
    pub requested_by: Requester,
    /// The idempotency key it was created with.
    pub idempotency_key: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last state change.
    pub updated_at: Timestamp,
    /// When it ends `lost` if not yet taken.
    pub deadline_at: Timestamp,
    /// The number of chunks the agent said it sent, once the job finished.
    pub chunks_total: Option<u64>,
}

/// A state change to apply to a job, compare-and-set on `from`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobTransition {
    /// The job.
    pub job: JobId,
    /// The state the caller saw; the change applies only if the job is still in it.
    pub from: JobState,
    /// The new state; must be allowed by `JobState::transition` (the store checks).
    pub to: JobState,
    /// Set the attempt to this value (dispatch increments it).
    pub attempt: Option<u32>,
    /// Why, when that needs saying.
    pub reason: Option<String>,
    /// The result, for a finished job.
    pub result: Option<JobResult>,
    /// The chunk count the agent reported at the end.
    pub chunks_total: Option<u64>,
    /// When.
    pub now: Timestamp,
}

/// Filters for listing jobs; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only this host's jobs.
    pub host: Option<HostId>,
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs created strictly before this job id (cursor; ids are time-ordered v7 UUIDs).
    pub before: Option<JobId>,
    /// Only jobs created at or after this time.
    pub since: Option<Timestamp>,
    /// Only jobs created before this time.
    pub until: Option<Timestamp>,
    /// At most this many (the caller bounds it).
    pub limit: u32,
}

/// One piece of output to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogChunk {
    /// Position, from 0.
    pub seq: u64,
    /// Which stream.
    pub stream: Stream,
    /// The bytes.
    pub data: Vec<u8>,
}

/// One stored piece of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunkRecord {
    /// Position, from 0.
    pub seq: u64,
    /// Which stream.
    pub stream: Stream,
    /// The bytes.
    pub data: Vec<u8>,
}

/// The server's persistent state. Implementations: [`SqliteStore`], [`PostgresStore`].
#[async_trait]
pub trait Store:
    access::AccessStore
    + alerts::AlertStore
    + games::GameStore
    + metrics::MetricsStore
    + schedules::ScheduleStore
    + discord::DiscordStore
    + Send
    + Sync
    + 'static
{
    /// Checks the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Creates an org.
    async fn create_org(&self, id: OrgId, name: &str, now: Timestamp) -> StoreResult<Org>;
    /// Finds an org.
    async fn get_org(&self, id: OrgId) -> StoreResult<Org>;

    /// Stores a new API key.
    async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// Finds an API key by its public id (any org: the key names its org).
    async fn find_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>>;

    /// Creates a host with its join token and writes `audit` in the same transaction, or returns
    /// the host an earlier call with the same idempotency key created (then neither the join token
    /// in `host` nor `audit` is stored: nothing changed).
    async fn create_host(
        &self,
        org: OrgId,
        host: &NewHost,
        audit: &AuditEntry,
    ) -> StoreResult<(HostRecord, Created)>;
    /// Finds a host of the org.
    async fn get_host(&self, org: OrgId, id: HostId) -> StoreResult<HostRecord>;
    /// Lists the org's hosts by name, after `after_name` when given.
    async fn list_hosts(
        &self,
        org: OrgId,
        after_name: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<HostRecord>>;
    /// Deletes a host: its credential and join tokens stop working at once; its queued and
    /// running jobs end `lost` with the reason "host deleted". `audit` commits with the change.
    async fn delete_host(
        &self,
        org: OrgId,
        id: HostId,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> StoreResult<()>;
    /// Gives a live host of the org a new join token; its earlier unused tokens stop working.
    /// Redeeming it enrolls the host again, replacing its credential (the old agent is cut off).
    /// `audit` commits with the change.
    async fn issue_join_token(
        &self,
        org: OrgId,
        host: HostId,
        token_hash: SecretHash,
        expires_at: Timestamp,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> StoreResult<()>;
    /// Trades a join token for a host credential: succeeds once per token, before it expires.
    /// Writes a `host.enroll` audit entry (actor: the host's agent) in the same transaction; the
    /// store fills in the org and host, which only the token names.
    async fn redeem_join_token(
        &self,
        token_hash: SecretHash,
        credential_hash: SecretHash,
        facts: &HostFacts,
        enrollment: &Enrollment,
    ) -> StoreResult<HostRecord>;
    /// Finds the live (enrolled, not deleted) host a credential belongs to.
    async fn host_by_credential(
        &self,
        credential_hash: SecretHash,
    ) -> StoreResult<Option<HostRecord>>;
    /// Records what an agent reported at connect time.
    async fn update_host_facts(&self, id: HostId, facts: &HostFacts) -> StoreResult<()>;
    /// Stores the latest heartbeat of each host in one batch (heartbeats are coalesced in memory),
    /// and folds each into its host's minute of metrics history in the same transaction.
    async fn record_heartbeats(&self, beats: &[(HostId, Timestamp, Heartbeat)]) -> StoreResult<()>;

    /// Creates a queued job on a host of the org, or returns the job an earlier call with the same
    /// idempotency key created. A host of another org is `NotFound { what: "host" }`. `audit` is
    /// written with a new job only.
    async fn create_job(
        &self,
        org: OrgId,
        job: &NewJob,
        audit: &AuditEntry,
    ) -> StoreResult<(JobRecord, Created)>;
    /// Finds a job of the org.
    async fn get_job(&self, org: OrgId, id: JobId) -> StoreResult<JobRecord>;
    /// Finds a job by id alone, for the agent gateway (which then checks the host).
    async fn get_job_any_org(&self, id: JobId) -> StoreResult<JobRecord>;
    /// Lists the org's jobs, newest first.
    async fn list_jobs(&self, org: OrgId, filter: &JobFilter) -> StoreResult<Vec<JobRecord>>;
    /// Applies a state change if the job is still in `from` and the move is legal; returns the
    /// updated job. A job no longer in `from` is `Conflict`.
    ///
    /// A move into a terminal state is durable when this returns. A move into any other state
    /// (`dispatched`, `running`) may be returned before it reaches the disk: a crash of the
    /// machine can undo it, though never a durable write made after it, and what follows redoes
    /// it (a `queued` job is offered again when its agent connects, and the agent re-sends
    /// `job_accepted` until the job's end is acknowledged).
    async fn transition_job(&self, change: &JobTransition) -> StoreResult<JobRecord>;
    /// [`Store::transition_job`] for a job of the org that a caller cancels: the change and `audit`
    /// commit together, and neither does when the compare-and-set fails.
    async fn cancel_job(
        &self,
        org: OrgId,
        change: &JobTransition,
        audit: &AuditEntry,
    ) -> StoreResult<JobRecord>;
    /// A host's jobs that are `queued` or `dispatched` (to push on connect), oldest first.
    async fn pending_jobs_for_host(&self, host: HostId) -> StoreResult<Vec<JobRecord>>;
    /// Jobs still `queued` or `dispatched` whose deadline is at or before `now`.
    async fn overdue_jobs(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<JobRecord>>;

    /// Stores chunks idempotently (a repeated `(job, seq)` is ignored) and returns how many chunks
    /// from seq 0 are now stored without a gap.
    async fn append_log_chunks(&self, job: JobId, chunks: &[NewLogChunk]) -> StoreResult<u64>;
    /// A job's chunks with `seq > after_seq` (all when `None`), in order, at most `limit`.
    async fn job_logs(
        &self,
        org: OrgId,
        job: JobId,
        after_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<Vec<LogChunkRecord>>;

    /// Counts jobs by state across all orgs (for `/metrics`).
    async fn count_jobs_by_state(&self) -> StoreResult<Vec<(JobState, u64)>>;
}
