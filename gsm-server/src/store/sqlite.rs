//! The SQLite store: the embedded default, one database file in the server's data directory.
//!
//! SQLite has one writer at a time, so the store holds two pools on the file: a single writer
//! connection that every write goes through (concurrent writes queue in the pool instead of
//! failing with `SQLITE_BUSY`), and a few query-only reader connections that WAL lets read a
//! committed snapshot while the writer works. Writer transactions start with `BEGIN IMMEDIATE`,
//! so a read-modify-write holds the write lock from its first statement and nothing can change
//! what it read. Durability: `synchronous=FULL`, so every commit is fsync'd to the WAL before it
//! returns; a job row or a log chunk the server acked to an agent survives a power loss, not only
//! a process crash (`NORMAL` may lose the last commits on power loss, and the agent would already
//! have deleted its spooled copy). That costs one fsync per commit, which batching log chunks and
//! heartbeats keeps small. One server process per file: PostgreSQL is the backend for replicas.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use gsm_core::heartbeat::Heartbeat;
use gsm_core::job::{HostId, JobId, JobState};
use gsm_proto::agent::HostFacts;
use jiff::Timestamp;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, Transaction};
use uuid::Uuid;

use super::convert::{
    self, HOST_DELETED, HostRow, JobRow, LOG_CHUNKS_PER_INSERT, LogRow, OrgRow, db, db_conflict,
    host_columns, illegal_transition, is_foreign_key_violation, job_columns, millis, parse_state,
    records, signed, signed_opt, stale_state, stream_name, unsigned,
};
use super::{
    ApiKeyRecord, Created, Enrollment, HostRecord, JobFilter, JobRecord, JobTransition,
    LogChunkRecord, NewHost, NewJob, NewLogChunk, Org, OrgId, SecretHash, Store, StoreError,
    StoreResult,
};

use super::sqlite_writer::GroupWriter;

use super::access::{API_KEY_COLUMNS, ApiKeyRow, AuditEntry, access_store, enrollment_audit};
use super::alerts::alert_store;
use super::discord::discord_store;
use super::games::game_store;
use super::metrics::{MetricSample, fold_metric_sample, metric_insert_columns, metrics_store};
use super::schedules::schedule_store;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits for a lock another process holds before it gives up. Within this
/// process writes never wait on a lock (they queue for the one writer connection); this covers
/// a backup tool or a `sqlite3` shell holding the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Rows a connection's worker thread may queue for its reader before it waits: above the default
/// page (50) plus the query's own result, so a default page crosses without the worker blocking
/// and being woken again (each wake is a context switch, the main cost of a read here).
const ROW_CHANNEL: usize = 128;

/// Reader connections: WAL readers do not block each other or the writer.
const READERS: u32 = 4;

/// The store on a SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: every write and every read-modify-write transaction.
    writer: SqlitePool,
    /// Query-only connections for plain reads. For an in-memory database, the writer itself.
    reader: SqlitePool,
    /// The hot writes, group-committed on the writer connection.
    group: GroupWriter,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database file at `path` and applies the migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .row_buffer_size(ROW_CHANNEL);
        let writer_options = options
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        // The writer stays open for the store's life: it keeps the WAL and its index in place for
        // the readers, and a pool of one never has to reconnect between writes. Neither pool pings
        // a connection before handing it out: a SQLite connection is a file in this process, not
        // a peer that can hang up, and the ping is a round trip to the connection's thread that
        // would double the cost of every read.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(writer_options)
            .await
            .map_err(db("database"))?;
        MIGRATOR.run(&writer).await.map_err(convert::migrate)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .test_before_acquire(false)
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(db("database"))?;
        let group = GroupWriter::start(writer.clone());
        Ok(Self { writer, reader, group })
    }

    /// Opens a fresh in-memory database (for tests and throwaway demos): one connection that
    /// must never close, since the database lives and dies with it.
    pub async fn open_in_memory() -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(db("database"))?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(db("database"))?;
        MIGRATOR.run(&pool).await.map_err(convert::migrate)?;
        let group = GroupWriter::start(pool.clone());
        Ok(Self { writer: pool.clone(), reader: pool, group })
    }

    /// Starts a write transaction on the writer connection.
    async fn write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db("database"))
    }

    /// Runs `write` on the writer connection in a transaction shared with other writes (see
    /// [`GroupWriter`]) and returns once that transaction has committed.
    async fn transact<R, F>(&self, write: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<R>>
            + Send
            + 'static,
    {
        self.group.write(write).await
    }

    /// Inserts the host and its join token in one transaction, after the idempotency-key lookup.
    /// The lookup runs inside the same `BEGIN IMMEDIATE` transaction, which excludes every other
    /// writer, so two requests with one key cannot both miss it.
    async fn insert_host(
        &self,
        org: OrgId,
        host: &NewHost,
        audit: &AuditEntry,
    ) -> StoreResult<(HostRecord, Created)> {
        let mut tx = self.write().await?;
        if let Some(key) = &host.idempotency_key {
            let existing: Option<HostRow> = sqlx::query_as(concat!(
                "SELECT ",
                host_columns!(),
                " FROM hosts WHERE org = ?1 AND idempotency_key = ?2"
            ))
            .bind(org.0)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("host"))?;
            if let Some(row) = existing {
                return Ok((row.into_record()?, Created::Existing));
            }
        }
        let name_taken =
            sqlx::query("SELECT 1 FROM hosts WHERE org = ?1 AND name = ?2 AND deleted_at IS NULL")
                .bind(org.0)
                .bind(&host.name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("host"))?;
        if name_taken.is_some() {
            return Err(name_conflict(&host.name));
        }
        let row: HostRow = sqlx::query_as(concat!(
            "INSERT INTO hosts (id, org, name, labels, idempotency_key, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING ",
            host_columns!()
        ))
        .bind(host.id.0)
        .bind(org.0)
        .bind(&host.name)
        .bind(Json(&host.labels))
        .bind(&host.idempotency_key)
        .bind(millis(host.now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|error| {
            if is_foreign_key_violation(&error) {
                StoreError::NotFound { what: "org" }
            } else {
                db_conflict("host", format!("host {} already exists", host.id))(error)
            }
        })?;
        sqlx::query(
            "INSERT INTO join_tokens (token_hash, org, host, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(host.join_token_hash.0.as_slice())
        .bind(org.0)
        .bind(host.id.0)
        .bind(millis(host.now))
        .bind(millis(host.join_token_expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db_conflict("join token", "join token already exists".to_owned()))?;
        Self::insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db("host"))?;
        Ok((row.into_record()?, Created::New))
    }

    /// Like [`Self::insert_host`]: key lookup, host check and insert in one write transaction
    /// (group-committed: see [`GroupWriter`]).
    async fn insert_job(
        &self,
        org: OrgId,
        job: &NewJob,
        audit: &AuditEntry,
    ) -> StoreResult<(JobRecord, Created)> {
        let timeout_secs = signed_opt(job.timeout_secs, "timeout")?;
        let output_cap_bytes = signed_opt(job.output_cap_bytes, "output cap")?;
        let (job, audit) = (job.clone(), audit.clone());
        self.group
            .write(move |conn| {
                Box::pin(async move {
                    Self::insert_job_in(conn, org, &job, &audit, timeout_secs, output_cap_bytes)
                        .await
                })
            })
            .await
    }

    async fn insert_job_in(
        conn: &mut SqliteConnection,
        org: OrgId,
        job: &NewJob,
        audit: &AuditEntry,
        timeout_secs: Option<i64>,
        output_cap_bytes: Option<i64>,
    ) -> StoreResult<(JobRecord, Created)> {
        if let Some(key) = &job.idempotency_key {
            let existing: Option<JobRow> = sqlx::query_as(concat!(
                "SELECT ",
                job_columns!(),
                " FROM jobs WHERE org = ?1 AND idempotency_key = ?2"
            ))
            .bind(org.0)
            .bind(key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("job"))?;
            if let Some(row) = existing {
                return Ok((row.into_record()?, Created::Existing));
            }
        }
        let host_live =
            sqlx::query("SELECT 1 FROM hosts WHERE org = ?1 AND id = ?2 AND deleted_at IS NULL")
                .bind(org.0)
                .bind(job.host.0)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db("host"))?;
        if host_live.is_none() {
            return Err(StoreError::NotFound { what: "host" });
        }
        let row: JobRow = sqlx::query_as(concat!(
            "INSERT INTO jobs (id, org, host, kind, state, attempt, timeout_secs, \
             output_cap_bytes, requested_by, idempotency_key, created_at, updated_at, \
             deadline_at) \
             VALUES (?1, ?2, ?3, ?4, ?11, ?12, ?5, ?6, ?7, ?8, ?9, ?9, ?10) RETURNING ",
            job_columns!()
        ))
        .bind(job.id.0)
        .bind(org.0)
        .bind(job.host.0)
        .bind(Json(&job.kind))
        .bind(timeout_secs)
        .bind(output_cap_bytes)
        .bind(Json(&job.requested_by))
        .bind(&job.idempotency_key)
        .bind(millis(job.now))
        .bind(millis(job.deadline_at))
        .bind(job.initial_state().as_str())
        .bind(i64::from(job.initial_attempt()))
        .fetch_one(&mut *conn)
        .await
        .map_err(db_conflict("job", format!("job {} already exists", job.id)))?;
        Self::insert_audit(conn, audit).await?;
        Ok((row.into_record()?, Created::New))
    }

    /// The compare-and-set of [`Store::transition_job`], on the writer connection.
    async fn transition_in(
        conn: &mut SqliteConnection,
        change: JobTransition,
        chunks_total: Option<i64>,
    ) -> StoreResult<JobRecord> {
        let row: Option<JobRow> = sqlx::query_as(concat!(
            "UPDATE jobs SET state = ?1, updated_at = ?2, \
             attempt = COALESCE(?3, attempt), reason = COALESCE(?4, reason), \
             result = COALESCE(?5, result), \
             chunks_total = COALESCE(?6, chunks_total) \
             WHERE id = ?7 AND state = ?8 RETURNING ",
            job_columns!()
        ))
        .bind(change.to.as_str())
        .bind(millis(change.now))
        .bind(change.attempt.map(i64::from))
        .bind(&change.reason)
        .bind(change.result.as_ref().map(Json))
        .bind(chunks_total)
        .bind(change.job.0)
        .bind(change.from.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("job"))?;
        if let Some(row) = row {
            return row.into_record();
        }
        Err(refused_transition(conn, None, &change).await)
    }
}

/// The conflict for a second live host with the same name in one org.
fn name_conflict(name: &str) -> StoreError {
    StoreError::Conflict { detail: format!("a host named {name:?} already exists") }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(db("database"))?;
        Ok(())
    }

    async fn create_org(&self, id: OrgId, name: &str, now: Timestamp) -> StoreResult<Org> {
        let row: OrgRow = sqlx::query_as(
            "INSERT INTO orgs (id, name, created_at) VALUES (?1, ?2, ?3) \
             RETURNING id, name, created_at",
        )
        .bind(id.0)
        .bind(name)
        .bind(millis(now))
        .fetch_one(&self.writer)
        .await
        .map_err(db_conflict("org", format!("org {id} already exists")))?;
        row.into_record()
    }

    async fn get_org(&self, id: OrgId) -> StoreResult<Org> {
        let row: OrgRow = sqlx::query_as("SELECT id, name, created_at FROM orgs WHERE id = ?1")
            .bind(id.0)
            .fetch_one(&self.reader)
            .await
            .map_err(db("org"))?;
        row.into_record()
    }

    async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let mut tx = self.write().await?;
        Self::insert_api_key(&mut tx, key).await?;
        tx.commit().await.map_err(db("api key"))
    }

    async fn find_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_id = ?1 \
             AND org IN (SELECT id FROM orgs WHERE deleted_at IS NULL)"
        ))
        .bind(key_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(db("api key"))?;
        row.map(ApiKeyRow::into_record).transpose()
    }

    async fn create_host(
        &self,
        org: OrgId,
        host: &NewHost,
        audit: &AuditEntry,
    ) -> StoreResult<(HostRecord, Created)> {
        self.insert_host(org, host, audit).await
    }

    async fn get_host(&self, org: OrgId, id: HostId) -> StoreResult<HostRecord> {
        let row: HostRow = sqlx::query_as(concat!(
            "SELECT ",
            host_columns!(),
            " FROM hosts WHERE org = ?1 AND id = ?2 AND deleted_at IS NULL"
        ))
        .bind(org.0)
        .bind(id.0)
        .fetch_one(&self.reader)
        .await
        .map_err(db("host"))?;
        row.into_record()
    }

    async fn list_hosts(
        &self,
        org: OrgId,
        after_name: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<HostRecord>> {
        let rows: Vec<HostRow> = match after_name {
            None => sqlx::query_as(concat!(
                "SELECT ",
                host_columns!(),
                " FROM hosts WHERE org = ?1 AND deleted_at IS NULL ORDER BY name LIMIT ?2"
            ))
            .bind(org.0)
            .bind(i64::from(limit)),
            Some(after) => sqlx::query_as(concat!(
                "SELECT ",
                host_columns!(),
                " FROM hosts WHERE org = ?1 AND deleted_at IS NULL AND name > ?2 \
                 ORDER BY name LIMIT ?3"
            ))
            .bind(org.0)
            .bind(after)
            .bind(i64::from(limit)),
        }
        .fetch_all(&self.reader)
        .await
        .map_err(db("host"))?;
        records(rows, HostRow::into_record)
    }

    async fn delete_host(
        &self,
        org: OrgId,
        id: HostId,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        let deleted = sqlx::query(
            "UPDATE hosts SET deleted_at = ?1, credential_hash = NULL \
             WHERE org = ?2 AND id = ?3 AND deleted_at IS NULL",
        )
        .bind(millis(now))
        .bind(org.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db("host"))?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "host" });
        }
        sqlx::query(
            "UPDATE jobs SET state = 'lost', reason = ?1, updated_at = ?2 \
             WHERE org = ?3 AND host = ?4 AND state IN ('queued', 'dispatched', 'running')",
        )
        .bind(HOST_DELETED)
        .bind(millis(now))
        .bind(org.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db("job"))?;
        Self::insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db("host"))
    }

    async fn issue_join_token(
        &self,
        org: OrgId,
        host: HostId,
        token_hash: SecretHash,
        expires_at: Timestamp,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        let live: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM hosts WHERE org = ?1 AND id = ?2 AND deleted_at IS NULL",
        )
        .bind(org.0)
        .bind(host.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("host"))?;
        if live.is_none() {
            return Err(StoreError::NotFound { what: "host" });
        }
        // Earlier unused tokens are spent, so only the newest one can enroll the host.
        sqlx::query("UPDATE join_tokens SET used_at = ?1 WHERE host = ?2 AND used_at IS NULL")
            .bind(millis(now))
            .bind(host.0)
            .execute(&mut *tx)
            .await
            .map_err(db("join token"))?;
        sqlx::query(
            "INSERT INTO join_tokens (token_hash, org, host, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(token_hash.0.as_slice())
        .bind(org.0)
        .bind(host.0)
        .bind(millis(now))
        .bind(millis(expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db_conflict("join token", "join token already exists".to_owned()))?;
        Self::insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db("join token"))
    }

    /// A token that is unknown, already used, expired, or belongs to a deleted host is
    /// `NotFound { what: "join token" }`: the agent gets the same answer for all of them.
    async fn redeem_join_token(
        &self,
        token_hash: SecretHash,
        credential_hash: SecretHash,
        facts: &HostFacts,
        enrollment: &Enrollment,
    ) -> StoreResult<HostRecord> {
        let now = enrollment.now;
        let mut tx = self.write().await?;
        let host: Option<Uuid> = sqlx::query_scalar(
            "UPDATE join_tokens SET used_at = ?1 \
             WHERE token_hash = ?2 AND used_at IS NULL AND expires_at > ?1 \
             AND host IN (SELECT id FROM hosts WHERE deleted_at IS NULL) \
             RETURNING host",
        )
        .bind(millis(now))
        .bind(token_hash.0.as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("join token"))?;
        let Some(host) = host else {
            return Err(StoreError::NotFound { what: "join token" });
        };
        let row: Option<HostRow> = sqlx::query_as(concat!(
            "UPDATE hosts SET enrolled_at = ?1, facts = ?2, credential_hash = ?3 \
             WHERE id = ?4 AND deleted_at IS NULL RETURNING ",
            host_columns!()
        ))
        .bind(millis(now))
        .bind(Json(facts))
        .bind(credential_hash.0.as_slice())
        .bind(host)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_conflict("host", "the host credential is already in use".to_owned()))?;
        let Some(row) = row else {
            return Err(StoreError::NotFound { what: "join token" });
        };
        let host = row.into_record()?;
        Self::insert_audit(&mut tx, &enrollment_audit(&host, enrollment)).await?;
        tx.commit().await.map_err(db("join token"))?;
        Ok(host)
    }

    async fn host_by_credential(
        &self,
        credential_hash: SecretHash,
    ) -> StoreResult<Option<HostRecord>> {
        let row: Option<HostRow> = sqlx::query_as(concat!(
            "SELECT ",
            host_columns!(),
            " FROM hosts WHERE credential_hash = ?1 AND deleted_at IS NULL"
        ))
        .bind(credential_hash.0.as_slice())
        .fetch_optional(&self.reader)
        .await
        .map_err(db("host"))?;
        row.map(HostRow::into_record).transpose()
    }

    async fn update_host_facts(&self, id: HostId, facts: &HostFacts) -> StoreResult<()> {
        let facts = facts.clone();
        self.group
            .write(move |conn| {
                Box::pin(async move {
                    let updated = sqlx::query(
                        "UPDATE hosts SET facts = ?1 WHERE id = ?2 AND deleted_at IS NULL",
                    )
                    .bind(Json(&facts))
                    .bind(id.0)
                    .execute(conn)
                    .await
                    .map_err(db("host"))?;
                    if updated.rows_affected() == 0 {
                        return Err(StoreError::NotFound { what: "host" });
                    }
                    Ok(())
                })
            })
            .await
    }

    /// Heartbeats of unknown or deleted hosts are dropped, and a heartbeat older than the stored
    /// one does not replace it.
    async fn record_heartbeats(&self, beats: &[(HostId, Timestamp, Heartbeat)]) -> StoreResult<()> {
        let latest: Vec<(HostId, Timestamp, Heartbeat)> = convert::latest_heartbeats(beats)
            .into_iter()
            .map(|(host, at, beat)| (host, at, beat.clone()))
            .collect();
        if latest.is_empty() {
            return Ok(());
        }
        self.group
            .write(move |conn| {
                Box::pin(async move {
                    for (host, at, beat) in latest {
                        sqlx::query(
                            "UPDATE hosts SET last_heartbeat_at = ?1, last_heartbeat = ?2 \
                             WHERE id = ?3 AND deleted_at IS NULL \
                             AND (last_heartbeat_at IS NULL OR last_heartbeat_at <= ?1)",
                        )
                        .bind(millis(at))
                        .bind(Json(&beat))
                        .bind(host.0)
                        .execute(&mut *conn)
                        .await
                        .map_err(db("host"))?;
                        let sample = MetricSample::of(at, &beat);
                        sqlx::query(concat!(
                            "INSERT INTO host_metrics (",
                            metric_insert_columns!(),
                            ") SELECT org, id, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 \
                             FROM hosts WHERE id = ?1 AND deleted_at IS NULL",
                            fold_metric_sample!(),
                        ))
                        .bind(host.0)
                        .bind(sample.minute)
                        .bind(sample.load.unwrap_or(0.0))
                        .bind(i64::from(sample.load.is_some()))
                        .bind(sample.load)
                        .bind(sample.memory_used)
                        .bind(sample.memory_total)
                        .bind(sample.disk_used)
                        .bind(sample.disk_total)
                        .bind(sample.players)
                        .execute(&mut *conn)
                        .await
                        .map_err(db("host metrics"))?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn create_job(
        &self,
        org: OrgId,
        job: &NewJob,
        audit: &AuditEntry,
    ) -> StoreResult<(JobRecord, Created)> {
        self.insert_job(org, job, audit).await
    }

    async fn get_job(&self, org: OrgId, id: JobId) -> StoreResult<JobRecord> {
        let row: JobRow = sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE org = ?1 AND id = ?2"
        ))
        .bind(org.0)
        .bind(id.0)
        .fetch_one(&self.reader)
        .await
        .map_err(db("job"))?;
        row.into_record()
    }

    async fn get_job_any_org(&self, id: JobId) -> StoreResult<JobRecord> {
        let row: JobRow =
            sqlx::query_as(concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = ?1"))
                .bind(id.0)
                .fetch_one(&self.reader)
                .await
                .map_err(db("job"))?;
        row.into_record()
    }

    /// Newest first by `(created_at, id)`; `before` continues after that job of the org (an
    /// unknown cursor gives an empty page).
    async fn list_jobs(&self, org: OrgId, filter: &JobFilter) -> StoreResult<Vec<JobRecord>> {
        let mut query = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE org = "
        ));
        query.push_bind(org.0);
        if let Some(host) = filter.host {
            query.push(" AND host = ").push_bind(host.0);
        }
        if let Some(state) = filter.state {
            query.push(" AND state = ").push_bind(state.as_str());
        }
        if let Some(since) = filter.since {
            query.push(" AND created_at >= ").push_bind(since.as_millisecond());
        }
        if let Some(until) = filter.until {
            query.push(" AND created_at < ").push_bind(until.as_millisecond());
        }
        if let Some(before) = filter.before {
            query
                .push(" AND (created_at, id) < (SELECT created_at, id FROM jobs WHERE org = ")
                .push_bind(org.0)
                .push(" AND id = ")
                .push_bind(before.0)
                .push(")");
        }
        query.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(i64::from(filter.limit));
        let rows: Vec<JobRow> =
            query.build_query_as().fetch_all(&self.reader).await.map_err(db("job"))?;
        records(rows, JobRow::into_record)
    }

    async fn transition_job(&self, change: &JobTransition) -> StoreResult<JobRecord> {
        if !change.from.can_transition(change.to) {
            return Err(illegal_transition(change.from, change.to));
        }
        let chunks_total = signed_opt(change.chunks_total, "chunk count")?;
        let change = change.clone();
        // See `Store::transition_job`: a move that is not an end may be undone by a crash.
        if change.to.is_terminal() {
            self.group
                .write(move |conn| Box::pin(Self::transition_in(conn, change, chunks_total)))
                .await
        } else {
            self.group
                .write_relaxed(move |conn| {
                    Box::pin(Self::transition_in(conn, change, chunks_total))
                })
                .await
        }
    }

    async fn cancel_job(
        &self,
        org: OrgId,
        change: &JobTransition,
        audit: &AuditEntry,
    ) -> StoreResult<JobRecord> {
        if !change.from.can_transition(change.to) {
            return Err(illegal_transition(change.from, change.to));
        }
        let (change, audit) = (change.clone(), audit.clone());
        self.group
            .write(move |conn| {
                Box::pin(async move {
                    let row: Option<JobRow> = sqlx::query_as(concat!(
                        "UPDATE jobs SET state = ?1, updated_at = ?2, \
                         reason = COALESCE(?3, reason) \
                         WHERE org = ?4 AND id = ?5 AND state = ?6 RETURNING ",
                        job_columns!()
                    ))
                    .bind(change.to.as_str())
                    .bind(millis(change.now))
                    .bind(&change.reason)
                    .bind(org.0)
                    .bind(change.job.0)
                    .bind(change.from.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db("job"))?;
                    if let Some(row) = row {
                        Self::insert_audit(conn, &audit).await?;
                        return row.into_record();
                    }
                    Err(refused_transition(conn, Some(org), &change).await)
                })
            })
            .await
    }

    async fn pending_jobs_for_host(&self, host: HostId) -> StoreResult<Vec<JobRecord>> {
        let rows: Vec<JobRow> = sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE host = ?1 AND state IN ('queued', 'dispatched') \
             ORDER BY created_at, id"
        ))
        .bind(host.0)
        .fetch_all(&self.reader)
        .await
        .map_err(db("job"))?;
        records(rows, JobRow::into_record)
    }

    async fn overdue_jobs(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<JobRecord>> {
        let rows: Vec<JobRow> = sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE state IN ('queued', 'dispatched') AND deadline_at <= ?1 \
             ORDER BY deadline_at, id LIMIT ?2"
        ))
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db("job"))?;
        records(rows, JobRow::into_record)
    }

    /// One transaction: the chunks go in with multi-row `INSERT … ON CONFLICT DO NOTHING`
    /// statements of [`LOG_CHUNKS_PER_INSERT`] rows, then the job's contiguous-chunk watermark
    /// moves past whatever the batch completed.
    async fn append_log_chunks(&self, job: JobId, chunks: &[NewLogChunk]) -> StoreResult<u64> {
        let rows = chunks
            .iter()
            .map(|chunk| Ok((signed(chunk.seq, "chunk seq")?, chunk.clone())))
            .collect::<StoreResult<Vec<_>>>()?;
        if rows.is_empty() {
            // Only the stored count is asked for: a read, no write transaction.
            let stored: Option<i64> =
                sqlx::query_scalar("SELECT chunks_stored FROM jobs WHERE id = ?1")
                    .bind(job.0)
                    .fetch_optional(&self.reader)
                    .await
                    .map_err(db("job"))?;
            return match stored {
                Some(stored) => unsigned(stored),
                None => Err(StoreError::NotFound { what: "job" }),
            };
        }
        self.group
            .write(move |conn| Box::pin(async move { append_chunks_in(conn, job, &rows).await }))
            .await
    }

    async fn job_logs(
        &self,
        org: OrgId,
        job: JobId,
        after_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<Vec<LogChunkRecord>> {
        let after = match after_seq {
            Some(seq) => signed(seq, "chunk seq")?,
            None => -1,
        };
        let job_known = sqlx::query("SELECT 1 FROM jobs WHERE org = ?1 AND id = ?2")
            .bind(org.0)
            .bind(job.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db("job"))?;
        if job_known.is_none() {
            return Err(StoreError::NotFound { what: "job" });
        }
        let rows: Vec<LogRow> = sqlx::query_as(
            "SELECT l.seq, l.stream, l.data FROM job_logs AS l JOIN jobs AS j ON j.id = l.job \
             WHERE j.org = ?1 AND l.job = ?2 AND l.seq > ?3 ORDER BY l.seq LIMIT ?4",
        )
        .bind(org.0)
        .bind(job.0)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db("log chunk"))?;
        records(rows, LogRow::into_record)
    }

    async fn count_jobs_by_state(&self) -> StoreResult<Vec<(JobState, u64)>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(&self.reader)
                .await
                .map_err(db("job"))?;
        convert::counts_by_state(rows)
    }
}

access_store!(SqliteStore, Sqlite, reader = reader, writer = writer);
game_store!(SqliteStore, Sqlite, reader = reader, writer = writer);
metrics_store!(SqliteStore, Sqlite, reader = reader, writer = writer);
alert_store!(SqliteStore, Sqlite, reader = reader, writer = writer);

/// Why a compare-and-set transition changed no row: the job is missing (or, with `org`, another
/// org's), or it is no longer in the state the change started from.
async fn refused_transition(
    conn: &mut SqliteConnection,
    org: Option<OrgId>,
    change: &JobTransition,
) -> StoreError {
    let state: Result<Option<String>, StoreError> =
        sqlx::query_scalar("SELECT state FROM jobs WHERE id = ?1 AND (?2 IS NULL OR org = ?2)")
            .bind(change.job.0)
            .bind(org.map(|org| org.0))
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("job"));
    match state {
        Err(err) => err,
        Ok(None) => StoreError::NotFound { what: "job" },
        Ok(Some(state)) => match parse_state(&state) {
            Ok(state) => stale_state(change.job, change.from, state),
            Err(err) => err,
        },
    }
}

/// The body of [`SqliteStore::append_log_chunks`], on the writer's connection: the chunks go in
/// with multi-row `INSERT … ON CONFLICT DO NOTHING` statements of [`LOG_CHUNKS_PER_INSERT`] rows,
/// then the job's contiguous-chunk watermark moves past whatever the batch completed.
async fn append_chunks_in(
    conn: &mut SqliteConnection,
    job: JobId,
    rows: &[(i64, NewLogChunk)],
) -> StoreResult<u64> {
    let stored: Option<i64> = sqlx::query_scalar("SELECT chunks_stored FROM jobs WHERE id = ?1")
        .bind(job.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("job"))?;
    let Some(stored) = stored else {
        return Err(StoreError::NotFound { what: "job" });
    };
    for batch in rows.chunks(LOG_CHUNKS_PER_INSERT) {
        let mut insert =
            QueryBuilder::<Sqlite>::new("INSERT INTO job_logs (job, seq, stream, data) ");
        insert.push_values(batch, |mut values, (seq, chunk)| {
            values
                .push_bind(job.0)
                .push_bind(*seq)
                .push_bind(stream_name(chunk.stream))
                .push_bind(chunk.data.as_slice());
        });
        insert.push(" ON CONFLICT (job, seq) DO NOTHING");
        insert.build().execute(&mut *conn).await.map_err(db("log chunk"))?;
    }
    // When the chunk at the watermark is stored, the run from it ends at the first stored chunk
    // without a successor; only chunks past the watermark are looked at.
    let contiguous: i64 = sqlx::query_scalar(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM job_logs WHERE job = ?1 AND seq = ?2) \
         THEN (SELECT MIN(l.seq) + 1 FROM job_logs AS l WHERE l.job = ?1 AND l.seq >= ?2 \
               AND NOT EXISTS (SELECT 1 FROM job_logs AS n \
                               WHERE n.job = l.job AND n.seq = l.seq + 1)) \
         ELSE ?2 END",
    )
    .bind(job.0)
    .bind(stored)
    .fetch_one(&mut *conn)
    .await
    .map_err(db("log chunk"))?;
    if contiguous != stored {
        sqlx::query("UPDATE jobs SET chunks_stored = ?1 WHERE id = ?2")
            .bind(contiguous)
            .bind(job.0)
            .execute(&mut *conn)
            .await
            .map_err(db("job"))?;
    }
    unsigned(contiguous)
}
schedule_store!(SqliteStore, Sqlite, reader = reader, writer = writer);
discord_store!(SqliteStore, Sqlite, reader = reader, writer = writer);
