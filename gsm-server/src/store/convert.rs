//! What both store backends share: the row types the SQL reads, their mapping to the store's
//! records, value conversions and the mapping of `sqlx::Error` to [`StoreError`].
//!
//! Both schemas use the same column names and the same value encodings (timestamps as integer
//! milliseconds since the epoch, counts as signed 64-bit integers, JSON documents for structured
//! values, raw bytes for hashes), so one set of `FromRow` types decodes rows of either backend and
//! the SQL in `sqlite.rs` and `postgres.rs` is all that differs.

use std::collections::BTreeMap;

use gsm_core::heartbeat::Heartbeat;
use gsm_core::job::{HostId, JobId, JobKind, JobResult, JobState, Requester};
use gsm_core::runner::Stream;
use gsm_proto::agent::HostFacts;
use jiff::Timestamp;
use sqlx::error::ErrorKind;
use sqlx::types::Json;
use uuid::Uuid;

use super::{
    HostRecord, JobRecord, LogChunkRecord, Org, OrgId, SecretHash, StoreError, StoreResult,
};

/// The `hosts` columns a [`HostRow`] reads, as a literal for `concat!` (fits `SELECT` and
/// `RETURNING`), so every query stays a `&'static str` the statement cache keys on.
macro_rules! host_columns {
    () => {
        "id, org, name, labels, created_at, enrolled_at, facts, last_heartbeat_at, last_heartbeat"
    };
}
pub(super) use host_columns;

/// The `jobs` columns a [`JobRow`] reads, as a literal for `concat!`.
macro_rules! job_columns {
    () => {
        "id, org, host, kind, state, reason, result, attempt, timeout_secs, output_cap_bytes, \
         requested_by, idempotency_key, created_at, updated_at, deadline_at, chunks_total"
    };
}
pub(super) use job_columns;

/// The reason a deleted host's unfinished jobs carry.
pub(super) const HOST_DELETED: &str = "host deleted";

/// Log chunks per `INSERT` statement. Each chunk binds at most four values, so a statement stays
/// far below SQLite's 32,766 and PostgreSQL's 65,535 parameters, and a batch of 64 KiB chunks far
/// below PostgreSQL's 1 GiB message limit.
pub(super) const LOG_CHUNKS_PER_INSERT: usize = 256;

/// An `orgs` row.
#[derive(sqlx::FromRow)]
pub(crate) struct OrgRow {
    id: Uuid,
    name: String,
    created_at: i64,
}

impl OrgRow {
    pub(super) fn into_record(self) -> StoreResult<Org> {
        Ok(Org { id: OrgId(self.id), name: self.name, created_at: timestamp(self.created_at)? })
    }
}

/// A `hosts` row, as [`HOST_COLUMNS`] selects it.
#[derive(sqlx::FromRow)]
pub(super) struct HostRow {
    id: Uuid,
    org: Uuid,
    name: String,
    labels: Json<BTreeMap<String, String>>,
    created_at: i64,
    enrolled_at: Option<i64>,
    facts: Option<Json<HostFacts>>,
    last_heartbeat_at: Option<i64>,
    last_heartbeat: Option<Json<Heartbeat>>,
}

impl HostRow {
    pub(super) fn into_record(self) -> StoreResult<HostRecord> {
        Ok(HostRecord {
            id: HostId(self.id),
            org: OrgId(self.org),
            name: self.name,
            labels: self.labels.0,
            created_at: timestamp(self.created_at)?,
            enrolled_at: self.enrolled_at.map(timestamp).transpose()?,
            facts: self.facts.map(|facts| facts.0),
            last_heartbeat_at: self.last_heartbeat_at.map(timestamp).transpose()?,
            last_heartbeat: self.last_heartbeat.map(|beat| beat.0),
        })
    }
}

/// A `jobs` row, as [`JOB_COLUMNS`] selects it.
#[derive(sqlx::FromRow)]
pub(super) struct JobRow {
    id: Uuid,
    org: Uuid,
    host: Uuid,
    kind: Json<JobKind>,
    state: String,
    reason: Option<String>,
    result: Option<Json<JobResult>>,
    attempt: i64,
    timeout_secs: Option<i64>,
    output_cap_bytes: Option<i64>,
    requested_by: Json<Requester>,
    idempotency_key: Option<String>,
    created_at: i64,
    updated_at: i64,
    deadline_at: i64,
    chunks_total: Option<i64>,
}

impl JobRow {
    pub(super) fn into_record(self) -> StoreResult<JobRecord> {
        Ok(JobRecord {
            id: JobId(self.id),
            org: OrgId(self.org),
            host: HostId(self.host),
            kind: self.kind.0,
            state: parse_state(&self.state)?,
            reason: self.reason,
            result: self.result.map(|result| result.0),
            attempt: u32::try_from(self.attempt).map_err(corrupt)?,
            timeout_secs: self.timeout_secs.map(unsigned).transpose()?,
            output_cap_bytes: self.output_cap_bytes.map(unsigned).transpose()?,
            requested_by: self.requested_by.0,
            idempotency_key: self.idempotency_key,
            created_at: timestamp(self.created_at)?,
            updated_at: timestamp(self.updated_at)?,
            deadline_at: timestamp(self.deadline_at)?,
            chunks_total: self.chunks_total.map(unsigned).transpose()?,
        })
    }
}

/// A `job_logs` row.
#[derive(sqlx::FromRow)]
pub(super) struct LogRow {
    seq: i64,
    stream: String,
    data: Vec<u8>,
}

impl LogRow {
    pub(super) fn into_record(self) -> StoreResult<LogChunkRecord> {
        Ok(LogChunkRecord {
            seq: unsigned(self.seq)?,
            stream: parse_stream(&self.stream)?,
            data: self.data,
        })
    }
}

/// Maps every row of a query result, failing on the first that does not convert.
pub(super) fn records<R, T>(
    rows: Vec<R>,
    convert: impl Fn(R) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    rows.into_iter().map(convert).collect()
}

/// A timestamp as the column stores it.
pub(super) fn millis(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// A stored timestamp.
pub(super) fn timestamp(millis: i64) -> StoreResult<Timestamp> {
    Timestamp::from_millisecond(millis).map_err(corrupt)
}

/// A count, size or position as the column stores it (columns are signed 64-bit on both
/// backends). Values past `i64::MAX` cannot be stored; no real job gets there.
pub(super) fn signed(value: u64, what: &'static str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Other(Box::new(OutOfRange { what, value })))
}

/// Converts an optional count for a column.
pub(super) fn signed_opt(value: Option<u64>, what: &'static str) -> StoreResult<Option<i64>> {
    value.map(|value| signed(value, what)).transpose()
}

/// A stored count, size or position.
pub(super) fn unsigned(value: i64) -> StoreResult<u64> {
    u64::try_from(value).map_err(corrupt)
}

pub(super) fn secret_hash(bytes: &[u8]) -> StoreResult<SecretHash> {
    let bytes: [u8; 32] = bytes.try_into().map_err(corrupt)?;
    Ok(SecretHash(bytes))
}

/// A stored job state.
pub(super) fn parse_state(name: &str) -> StoreResult<JobState> {
    name.parse().map_err(corrupt)
}

/// A stream's column value.
pub(super) fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

fn parse_stream(name: &str) -> StoreResult<Stream> {
    match name {
        "stdout" => Ok(Stream::Stdout),
        "stderr" => Ok(Stream::Stderr),
        other => Err(corrupt(UnknownStream(other.to_owned()))),
    }
}

/// The latest heartbeat of each host in a batch, by heartbeat time (the later of two beats of the
/// same host wins; on a tie, the later in the batch), ordered by host id so that concurrent
/// batches lock rows in the same order.
pub(super) fn latest_heartbeats(
    beats: &[(HostId, Timestamp, Heartbeat)],
) -> Vec<(HostId, Timestamp, &Heartbeat)> {
    let mut latest: BTreeMap<HostId, (Timestamp, &Heartbeat)> = BTreeMap::new();
    for (host, at, beat) in beats {
        match latest.get(host) {
            Some((seen, _)) if seen > at => {}
            _ => {
                latest.insert(*host, (*at, beat));
            }
        }
    }
    latest.into_iter().map(|(host, (at, beat))| (host, at, beat)).collect()
}

/// Every job state with its count (zero for states no job is in, so a metric drops to zero
/// rather than keeping its last value), in lifecycle order.
pub(super) fn counts_by_state(rows: Vec<(String, i64)>) -> StoreResult<Vec<(JobState, u64)>> {
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (state, count) in rows {
        let state = parse_state(&state)?;
        counts.insert(state.as_str(), unsigned(count)?);
    }
    Ok(JobState::ALL
        .into_iter()
        .map(|state| (state, counts.get(state.as_str()).copied().unwrap_or(0)))
        .collect())
}

/// The conflict a compare-and-set on a job's state reports when it finds another state.
pub(super) fn stale_state(job: JobId, expected: JobState, found: JobState) -> StoreError {
    StoreError::Conflict { detail: format!("job {job} is {found}, not {expected}") }
}

/// The conflict for a move the job state machine forbids.
pub(super) fn illegal_transition(from: JobState, to: JobState) -> StoreError {
    StoreError::Conflict { detail: format!("a job cannot move from {from} to {to}") }
}

/// True when the database refused a row because a unique index already holds its key.
pub(super) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation)
}

/// True when the database refused a text value's characters: PostgreSQL's
/// `character_not_in_repertoire` (a NUL byte in `text`) and `untranslatable_character`.
fn is_invalid_text(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("22021" | "22P05")))
}

/// The name of the constraint a database error names, when it names one (PostgreSQL does).
pub(super) fn violated_constraint(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

/// True when the database refused a row because the row it references does not exist.
pub(super) fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.kind() == ErrorKind::ForeignKeyViolation)
}

/// The default mapping of a database error: a unique violation is a conflict, a missing row is
/// `what` not found, anything else is the database's failure. Call sites that know more (which
/// key collided, which parent is missing) map those cases first.
pub(super) fn db(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| match error {
        sqlx::Error::RowNotFound => StoreError::NotFound { what },
        error if is_unique_violation(&error) => {
            StoreError::Conflict { detail: format!("{what} already exists") }
        }
        error if is_invalid_text(&error) => StoreError::InvalidText { what },
        error => StoreError::Other(Box::new(error)),
    }
}

/// Like [`db`], with the conflict's detail spelled out by the caller, who knows which key collided.
pub(super) fn db_conflict(
    what: &'static str,
    detail: String,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| {
        if is_unique_violation(&error) { StoreError::Conflict { detail } } else { db(what)(error) }
    }
}

/// A failed migration.
pub(super) fn migrate(error: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Other(Box::new(error))
}

/// A stored value this code cannot read: a broken invariant of the schema, reported as the
/// database's failure rather than a panic.
pub(super) fn corrupt(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Other(Box::new(CorruptValue(Box::new(error))))
}

/// A stored value that does not convert back to its Rust type.
#[derive(Debug, thiserror::Error)]
#[error("a stored value does not convert back")]
struct CorruptValue(#[source] Box<dyn std::error::Error + Send + Sync>);

/// A `stream` column holding neither `stdout` nor `stderr`.
#[derive(Debug, thiserror::Error)]
#[error("unknown output stream {0:?}")]
struct UnknownStream(String);

/// A number too large for a signed 64-bit column.
#[derive(Debug, thiserror::Error)]
#[error("{what} {value} is too large to store (at most {max})", max = i64::MAX)]
struct OutOfRange {
    what: &'static str,
    value: u64,
}
