//! The PostgreSQL store: the production backend, shared by several server replicas.
//!
//! Nothing here relies on being the only writer. Every compare-and-set is one statement
//! (`UPDATE … WHERE state = $from RETURNING …`): under READ COMMITTED a second writer blocks on
//! the row, re-checks the condition once the first commits, and finds nothing to update. Creates
//! with an idempotency key look the key up, insert, and on a unique violation (another replica
//! inserted the same key first) return the row that won. Creating a job holds a share lock on its
//! host row, so a concurrent `delete_host` either sees the new job (and loses it) or makes the
//! create fail. Appending log chunks locks the job row, so two replicas storing one job's chunks
//! take turns moving its watermark. Batches go through `UNNEST` of arrays: one statement and four
//! parameters whatever the batch size.
//!
//! [`PostgresStore::connect_with_schema`] confines a store to one schema (created if missing, set
//! as the `search_path` of every pooled connection), which is how each test gets its own database.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use gsm_core::heartbeat::Heartbeat;
use gsm_core::job::{HostId, JobId, JobState};
use gsm_proto::agent::HostFacts;
use jiff::Timestamp;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{Connection, Executor, Postgres, QueryBuilder};
use uuid::Uuid;

use super::convert::{
    self, HOST_DELETED, HostRow, JobRow, LOG_CHUNKS_PER_INSERT, LogRow, OrgRow, db, db_conflict,
    host_columns, illegal_transition, is_foreign_key_violation, is_unique_violation, job_columns,
    millis, parse_state, records, signed, signed_opt, stale_state, stream_name, unsigned,
    violated_constraint,
};
use super::{
    ApiKeyRecord, Created, Enrollment, HostRecord, JobFilter, JobRecord, JobTransition,
    LogChunkRecord, NewHost, NewJob, NewLogChunk, Org, OrgId, SecretHash, Store, StoreError,
    StoreResult,
};

use super::access::{API_KEY_COLUMNS, ApiKeyRow, AuditEntry, access_store, enrollment_audit};
use super::alerts::alert_store;
use super::discord::discord_store;
use super::games::game_store;
use super::metrics::{MetricSample, fold_metric_sample, metric_insert_columns, metrics_store};
use super::schedules::schedule_store;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The store on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL) and applies the migrations to its
    /// default schema.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url).map_err(db("database"))?;
        let pool = PgPoolOptions::new().connect_with(options).await.map_err(db("database"))?;
        Self::migrated(pool).await
    }

    /// Connects to the database at `url`, confined to `schema`: the schema is created if missing
    /// and is the only entry of every pooled connection's `search_path`, so the tables, the
    /// migration history and every query live in it.
    pub async fn connect_with_schema(url: &str, schema: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url).map_err(db("database"))?;
        let schema = quote_identifier(schema);
        let mut conn = PgConnection::connect_with(&options).await.map_err(db("database"))?;
        conn.execute(format!("CREATE SCHEMA IF NOT EXISTS {schema}").as_str())
            .await
            .map_err(db("database"))?;
        conn.close().await.map_err(db("database"))?;
        let set_search_path: Arc<str> = format!("SET search_path TO {schema}").into();
        let pool = PgPoolOptions::new()
            .after_connect(move |conn, _meta| {
                let set_search_path = Arc::clone(&set_search_path);
                Box::pin(async move {
                    conn.execute(&*set_search_path).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(db("database"))?;
        Self::migrated(pool).await
    }

    /// Starts a write transaction.
    async fn write(&self) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db("database"))
    }

    /// Runs `write` in a transaction of its own and commits it when `write` succeeds (the
    /// PostgreSQL side of the writes SQLite group-commits; see `SqliteStore::transact`).
    async fn transact<R, F>(&self, write: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, StoreResult<R>> + Send + 'static,
    {
        let mut tx = self.write().await?;
        let value = write(&mut tx).await?;
        tx.commit().await.map_err(db("database"))?;
        Ok(value)
    }

    async fn migrated(pool: PgPool) -> StoreResult<Self> {
        MIGRATOR.run(&pool).await.map_err(convert::migrate)?;
        Ok(Self { pool })
    }

    /// The host an earlier request with this idempotency key created; none without a key.
    async fn host_by_idempotency_key(
        &self,
        org: OrgId,
        key: Option<&str>,
    ) -> StoreResult<Option<HostRecord>> {
        let Some(key) = key else { return Ok(None) };
        let row: Option<HostRow> = sqlx::query_as(concat!(
            "SELECT ",
            host_columns!(),
            " FROM hosts WHERE org = $1 AND idempotency_key = $2"
        ))
        .bind(org.0)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("host"))?;
        row.map(HostRow::into_record).transpose()
    }

    /// The job an earlier request with this idempotency key created; none without a key.
    async fn job_by_idempotency_key(
        &self,
        org: OrgId,
        key: Option<&str>,
    ) -> StoreResult<Option<JobRecord>> {
        let Some(key) = key else { return Ok(None) };
        let row: Option<JobRow> = sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE org = $1 AND idempotency_key = $2"
        ))
        .bind(org.0)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("job"))?;
        row.map(JobRow::into_record).transpose()
    }

    /// Inserts the host and its join token in one transaction. A unique violation comes back as
    /// the raw `sqlx::Error` so the caller can tell a racing idempotent retry from a conflict.
    async fn insert_host(
        &self,
        org: OrgId,
        host: &NewHost,
        audit: &AuditEntry,
    ) -> Result<HostRow, InsertError> {
        let mut tx = self.pool.begin().await?;
        let name_taken =
            sqlx::query("SELECT 1 FROM hosts WHERE org = $1 AND name = $2 AND deleted_at IS NULL")
                .bind(org.0)
                .bind(&host.name)
                .fetch_optional(&mut *tx)
                .await?;
        if name_taken.is_some() {
            return Err(InsertError::Store(name_conflict(&host.name)));
        }
        let row: HostRow = sqlx::query_as(concat!(
            "INSERT INTO hosts (id, org, name, labels, idempotency_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
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
                InsertError::Store(StoreError::NotFound { what: "org" })
            } else {
                InsertError::Db(error)
            }
        })?;
        sqlx::query(
            "INSERT INTO join_tokens (token_hash, org, host, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(host.join_token_hash.0.as_slice())
        .bind(org.0)
        .bind(host.id.0)
        .bind(millis(host.now))
        .bind(millis(host.join_token_expires_at))
        .execute(&mut *tx)
        .await?;
        Self::insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Inserts a job after checking, under a share lock, that its host is live in the org.
    async fn insert_job(
        &self,
        org: OrgId,
        job: &NewJob,
        audit: &AuditEntry,
    ) -> Result<JobRow, InsertError> {
        let timeout_secs = signed_opt(job.timeout_secs, "timeout")?;
        let output_cap_bytes = signed_opt(job.output_cap_bytes, "output cap")?;
        let mut tx = self.pool.begin().await?;
        let host_live = sqlx::query(
            "SELECT 1 FROM hosts WHERE org = $1 AND id = $2 AND deleted_at IS NULL FOR SHARE",
        )
        .bind(org.0)
        .bind(job.host.0)
        .fetch_optional(&mut *tx)
        .await?;
        if host_live.is_none() {
            return Err(InsertError::Store(StoreError::NotFound { what: "host" }));
        }
        let row: JobRow = sqlx::query_as(concat!(
            "INSERT INTO jobs (id, org, host, kind, state, attempt, timeout_secs, \
             output_cap_bytes, requested_by, idempotency_key, created_at, updated_at, \
             deadline_at) \
             VALUES ($1, $2, $3, $4, $11, $12, $5, $6, $7, $8, $9, $9, $10) RETURNING ",
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
        .fetch_one(&mut *tx)
        .await?;
        Self::insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(row)
    }
}

/// Why an insert failed: a decided store error, or a database error the caller maps (a unique
/// violation may be an idempotent retry that lost the race).
enum InsertError {
    Store(StoreError),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for InsertError {
    fn from(error: sqlx::Error) -> Self {
        InsertError::Db(error)
    }
}

impl From<StoreError> for InsertError {
    fn from(error: StoreError) -> Self {
        InsertError::Store(error)
    }
}

/// The conflict for a second live host with the same name in one org.
fn name_conflict(name: &str) -> StoreError {
    StoreError::Conflict { detail: format!("a host named {name:?} already exists") }
}

/// `name` as a quoted SQL identifier, whatever characters it holds.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db("database"))?;
        Ok(())
    }

    async fn create_org(&self, id: OrgId, name: &str, now: Timestamp) -> StoreResult<Org> {
        let row: OrgRow = sqlx::query_as(
            "INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3) \
             RETURNING id, name, created_at",
        )
        .bind(id.0)
        .bind(name)
        .bind(millis(now))
        .fetch_one(&self.pool)
        .await
        .map_err(db_conflict("org", format!("org {id} already exists")))?;
        row.into_record()
    }

    async fn get_org(&self, id: OrgId) -> StoreResult<Org> {
        let row: OrgRow = sqlx::query_as("SELECT id, name, created_at FROM orgs WHERE id = $1")
            .bind(id.0)
            .fetch_one(&self.pool)
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
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_id = $1 \
             AND org IN (SELECT id FROM orgs WHERE deleted_at IS NULL)"
        ))
        .bind(key_id)
        .fetch_optional(&self.pool)
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
        if let Some(existing) =
            self.host_by_idempotency_key(org, host.idempotency_key.as_deref()).await?
        {
            return Ok((existing, Created::Existing));
        }
        let conflict = match self.insert_host(org, host, audit).await {
            Ok(row) => return Ok((row.into_record()?, Created::New)),
            Err(InsertError::Store(conflict @ StoreError::Conflict { .. })) => conflict,
            Err(InsertError::Store(error)) => return Err(error),
            Err(InsertError::Db(error)) if is_unique_violation(&error) => {
                if violated_constraint(&error) == Some("hosts_live_name") {
                    name_conflict(&host.name)
                } else {
                    StoreError::Conflict { detail: format!("host {} already exists", host.id) }
                }
            }
            Err(InsertError::Db(error)) => return Err(db("host")(error)),
        };
        // Another request with the same key may have committed between the lookup and the
        // insert (and taken the name too); then its host is the answer.
        if let Some(existing) =
            self.host_by_idempotency_key(org, host.idempotency_key.as_deref()).await?
        {
            return Ok((existing, Created::Existing));
        }
        Err(conflict)
    }

    async fn get_host(&self, org: OrgId, id: HostId) -> StoreResult<HostRecord> {
        let row: HostRow = sqlx::query_as(concat!(
            "SELECT ",
            host_columns!(),
            " FROM hosts WHERE org = $1 AND id = $2 AND deleted_at IS NULL"
        ))
        .bind(org.0)
        .bind(id.0)
        .fetch_one(&self.pool)
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
                " FROM hosts WHERE org = $1 AND deleted_at IS NULL ORDER BY name LIMIT $2"
            ))
            .bind(org.0)
            .bind(i64::from(limit)),
            Some(after) => sqlx::query_as(concat!(
                "SELECT ",
                host_columns!(),
                " FROM hosts WHERE org = $1 AND deleted_at IS NULL AND name > $2 \
                 ORDER BY name LIMIT $3"
            ))
            .bind(org.0)
            .bind(after)
            .bind(i64::from(limit)),
        }
        .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(db("host"))?;
        let deleted = sqlx::query(
            "UPDATE hosts SET deleted_at = $1, credential_hash = NULL \
             WHERE org = $2 AND id = $3 AND deleted_at IS NULL",
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
        // A new statement sees every job committed before the host row was locked above.
        sqlx::query(
            "UPDATE jobs SET state = 'lost', reason = $1, updated_at = $2 \
             WHERE org = $3 AND host = $4 AND state IN ('queued', 'dispatched', 'running')",
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
        let mut tx = self.pool.begin().await.map_err(db("join token"))?;
        let live: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM hosts WHERE org = $1 AND id = $2 AND deleted_at IS NULL FOR UPDATE",
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
        sqlx::query("UPDATE join_tokens SET used_at = $1 WHERE host = $2 AND used_at IS NULL")
            .bind(millis(now))
            .bind(host.0)
            .execute(&mut *tx)
            .await
            .map_err(db("join token"))?;
        sqlx::query(
            "INSERT INTO join_tokens (token_hash, org, host, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
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
        let mut tx = self.pool.begin().await.map_err(db("join token"))?;
        let host: Option<Uuid> = sqlx::query_scalar(
            "UPDATE join_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
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
        // Re-checks the host under its row lock: a delete that committed since is seen here, and
        // dropping the transaction leaves the token unused.
        let row: Option<HostRow> = sqlx::query_as(concat!(
            "UPDATE hosts SET enrolled_at = $1, facts = $2, credential_hash = $3 \
             WHERE id = $4 AND deleted_at IS NULL RETURNING ",
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
            " FROM hosts WHERE credential_hash = $1 AND deleted_at IS NULL"
        ))
        .bind(credential_hash.0.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(db("host"))?;
        row.map(HostRow::into_record).transpose()
    }

    async fn update_host_facts(&self, id: HostId, facts: &HostFacts) -> StoreResult<()> {
        let updated =
            sqlx::query("UPDATE hosts SET facts = $1 WHERE id = $2 AND deleted_at IS NULL")
                .bind(Json(facts))
                .bind(id.0)
                .execute(&self.pool)
                .await
                .map_err(db("host"))?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "host" });
        }
        Ok(())
    }

    /// Heartbeats of unknown or deleted hosts are dropped, and a heartbeat older than the stored
    /// one does not replace it. The rows are locked in id order first, so two replicas flushing
    /// overlapping batches queue instead of deadlocking.
    async fn record_heartbeats(&self, beats: &[(HostId, Timestamp, Heartbeat)]) -> StoreResult<()> {
        let latest = convert::latest_heartbeats(beats);
        if latest.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = latest.iter().map(|(host, _, _)| host.0).collect();
        let times: Vec<i64> = latest.iter().map(|(_, at, _)| millis(*at)).collect();
        let payloads: Vec<Json<&Heartbeat>> =
            latest.iter().map(|(_, _, beat)| Json(*beat)).collect();
        let mut tx = self.pool.begin().await.map_err(db("host"))?;
        sqlx::query("SELECT id FROM hosts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(db("host"))?;
        sqlx::query(
            "UPDATE hosts AS h SET last_heartbeat_at = b.at, last_heartbeat = b.beat \
             FROM UNNEST($1::uuid[], $2::int8[], $3::jsonb[]) AS b (id, at, beat) \
             WHERE h.id = b.id AND h.deleted_at IS NULL \
             AND (h.last_heartbeat_at IS NULL OR h.last_heartbeat_at <= b.at)",
        )
        .bind(&ids)
        .bind(&times)
        .bind(&payloads)
        .execute(&mut *tx)
        .await
        .map_err(db("host"))?;
        let samples: Vec<MetricSample> =
            latest.iter().map(|(_, at, beat)| MetricSample::of(*at, beat)).collect();
        let column = |pick: fn(&MetricSample) -> Option<i64>| -> Vec<Option<i64>> {
            samples.iter().map(pick).collect()
        };
        sqlx::query(concat!(
            "INSERT INTO host_metrics (",
            metric_insert_columns!(),
            ") SELECT h.org, h.id, s.minute, 1, COALESCE(s.load, 0), \
             CASE WHEN s.load IS NULL THEN 0 ELSE 1 END, s.load, s.memory_used, s.memory_total, \
             s.disk_used, s.disk_total, s.players \
             FROM UNNEST($1::uuid[], $2::int8[], $3::float8[], $4::int8[], $5::int8[], \
             $6::int8[], $7::int8[], $8::int8[]) \
             AS s (id, minute, load, memory_used, memory_total, disk_used, disk_total, players) \
             JOIN hosts AS h ON h.id = s.id AND h.deleted_at IS NULL",
            fold_metric_sample!(),
        ))
        .bind(&ids)
        .bind(samples.iter().map(|s| s.minute).collect::<Vec<_>>())
        .bind(samples.iter().map(|s| s.load).collect::<Vec<_>>())
        .bind(column(|s| s.memory_used))
        .bind(column(|s| s.memory_total))
        .bind(column(|s| s.disk_used))
        .bind(column(|s| s.disk_total))
        .bind(samples.iter().map(|s| s.players).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(db("host metrics"))?;
        tx.commit().await.map_err(db("host"))
    }

    async fn create_job(
        &self,
        org: OrgId,
        job: &NewJob,
        audit: &AuditEntry,
    ) -> StoreResult<(JobRecord, Created)> {
        if let Some(existing) =
            self.job_by_idempotency_key(org, job.idempotency_key.as_deref()).await?
        {
            return Ok((existing, Created::Existing));
        }
        let conflict = match self.insert_job(org, job, audit).await {
            Ok(row) => return Ok((row.into_record()?, Created::New)),
            Err(InsertError::Store(error)) => return Err(error),
            Err(InsertError::Db(error)) if is_unique_violation(&error) => {
                StoreError::Conflict { detail: format!("job {} already exists", job.id) }
            }
            Err(InsertError::Db(error)) => return Err(db("job")(error)),
        };
        // Another request with the same key may have committed between the lookup and the
        // insert; then its job is the answer.
        if let Some(existing) =
            self.job_by_idempotency_key(org, job.idempotency_key.as_deref()).await?
        {
            return Ok((existing, Created::Existing));
        }
        Err(conflict)
    }

    async fn get_job(&self, org: OrgId, id: JobId) -> StoreResult<JobRecord> {
        let row: JobRow = sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE org = $1 AND id = $2"
        ))
        .bind(org.0)
        .bind(id.0)
        .fetch_one(&self.pool)
        .await
        .map_err(db("job"))?;
        row.into_record()
    }

    async fn get_job_any_org(&self, id: JobId) -> StoreResult<JobRecord> {
        let row: JobRow =
            sqlx::query_as(concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1"))
                .bind(id.0)
                .fetch_one(&self.pool)
                .await
                .map_err(db("job"))?;
        row.into_record()
    }

    /// Newest first by `(created_at, id)`; `before` continues after that job of the org (an
    /// unknown cursor gives an empty page).
    async fn list_jobs(&self, org: OrgId, filter: &JobFilter) -> StoreResult<Vec<JobRecord>> {
        let mut query = QueryBuilder::<Postgres>::new(concat!(
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
            query.build_query_as().fetch_all(&self.pool).await.map_err(db("job"))?;
        records(rows, JobRow::into_record)
    }

    async fn transition_job(&self, change: &JobTransition) -> StoreResult<JobRecord> {
        if !change.from.can_transition(change.to) {
            return Err(illegal_transition(change.from, change.to));
        }
        let row: Option<JobRow> = sqlx::query_as(concat!(
            "UPDATE jobs SET state = $1, updated_at = $2, attempt = COALESCE($3, attempt), \
             reason = COALESCE($4, reason), result = COALESCE($5, result), \
             chunks_total = COALESCE($6, chunks_total) \
             WHERE id = $7 AND state = $8 RETURNING ",
            job_columns!()
        ))
        .bind(change.to.as_str())
        .bind(millis(change.now))
        .bind(change.attempt.map(i64::from))
        .bind(&change.reason)
        .bind(change.result.as_ref().map(Json))
        .bind(signed_opt(change.chunks_total, "chunk count")?)
        .bind(change.job.0)
        .bind(change.from.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db("job"))?;
        if let Some(row) = row {
            return row.into_record();
        }
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1")
            .bind(change.job.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("job"))?;
        match state {
            None => Err(StoreError::NotFound { what: "job" }),
            Some(state) => Err(stale_state(change.job, change.from, parse_state(&state)?)),
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
        let mut tx = self.write().await?;
        let row: Option<JobRow> = sqlx::query_as(concat!(
            "UPDATE jobs SET state = $1, updated_at = $2, reason = COALESCE($3, reason) \
             WHERE org = $4 AND id = $5 AND state = $6 RETURNING ",
            job_columns!()
        ))
        .bind(change.to.as_str())
        .bind(millis(change.now))
        .bind(&change.reason)
        .bind(org.0)
        .bind(change.job.0)
        .bind(change.from.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("job"))?;
        if let Some(row) = row {
            Self::insert_audit(&mut tx, audit).await?;
            tx.commit().await.map_err(db("job"))?;
            return row.into_record();
        }
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM jobs WHERE org = $1 AND id = $2")
                .bind(org.0)
                .bind(change.job.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("job"))?;
        match state {
            None => Err(StoreError::NotFound { what: "job" }),
            Some(state) => Err(stale_state(change.job, change.from, parse_state(&state)?)),
        }
    }

    async fn pending_jobs_for_host(&self, host: HostId) -> StoreResult<Vec<JobRecord>> {
        let rows: Vec<JobRow> = sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE host = $1 AND state IN ('queued', 'dispatched') \
             ORDER BY created_at, id"
        ))
        .bind(host.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db("job"))?;
        records(rows, JobRow::into_record)
    }

    /// A plain read: the caller ends each job with `transition_job`, whose compare-and-set makes
    /// sure one replica wins when several sweep at once.
    async fn overdue_jobs(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<JobRecord>> {
        let rows: Vec<JobRow> = sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE state IN ('queued', 'dispatched') AND deadline_at <= $1 \
             ORDER BY deadline_at, id LIMIT $2"
        ))
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db("job"))?;
        records(rows, JobRow::into_record)
    }

    /// One transaction holding the job row: the chunks go in with `INSERT … SELECT FROM UNNEST
    /// … ON CONFLICT DO NOTHING` in groups of [`LOG_CHUNKS_PER_INSERT`] (in batch order, so the
    /// first of two chunks with one seq wins), then the contiguous-chunk watermark moves past
    /// whatever the batch completed.
    async fn append_log_chunks(&self, job: JobId, chunks: &[NewLogChunk]) -> StoreResult<u64> {
        let seqs = chunks
            .iter()
            .map(|chunk| signed(chunk.seq, "chunk seq"))
            .collect::<StoreResult<Vec<i64>>>()?;
        let mut tx = self.pool.begin().await.map_err(db("log chunk"))?;
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT chunks_stored FROM jobs WHERE id = $1 FOR NO KEY UPDATE")
                .bind(job.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("job"))?;
        let Some(stored) = stored else {
            return Err(StoreError::NotFound { what: "job" });
        };
        for (seqs, chunks) in
            seqs.chunks(LOG_CHUNKS_PER_INSERT).zip(chunks.chunks(LOG_CHUNKS_PER_INSERT))
        {
            let streams: Vec<&str> = chunks.iter().map(|chunk| stream_name(chunk.stream)).collect();
            let data: Vec<&[u8]> = chunks.iter().map(|chunk| chunk.data.as_slice()).collect();
            sqlx::query(
                "INSERT INTO job_logs (job, seq, stream, data) \
                 SELECT $1, c.seq, c.stream, c.data \
                 FROM UNNEST($2::int8[], $3::text[], $4::bytea[]) WITH ORDINALITY \
                      AS c (seq, stream, data, position) \
                 ORDER BY c.position \
                 ON CONFLICT (job, seq) DO NOTHING",
            )
            .bind(job.0)
            .bind(seqs)
            .bind(&streams)
            .bind(&data)
            .execute(&mut *tx)
            .await
            .map_err(db("log chunk"))?;
        }
        // When the chunk at the watermark is stored, the run from it ends at the first stored
        // chunk without a successor; only chunks past the watermark are looked at.
        let contiguous: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM job_logs WHERE job = $1 AND seq = $2) \
             THEN (SELECT MIN(l.seq) + 1 FROM job_logs AS l WHERE l.job = $1 AND l.seq >= $2 \
                   AND NOT EXISTS (SELECT 1 FROM job_logs AS n \
                                   WHERE n.job = l.job AND n.seq = l.seq + 1)) \
             ELSE $2 END",
        )
        .bind(job.0)
        .bind(stored)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("log chunk"))?;
        if contiguous != stored {
            sqlx::query("UPDATE jobs SET chunks_stored = $1 WHERE id = $2")
                .bind(contiguous)
                .bind(job.0)
                .execute(&mut *tx)
                .await
                .map_err(db("job"))?;
        }
        tx.commit().await.map_err(db("log chunk"))?;
        unsigned(contiguous)
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
        let job_known = sqlx::query("SELECT 1 FROM jobs WHERE org = $1 AND id = $2")
            .bind(org.0)
            .bind(job.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("job"))?;
        if job_known.is_none() {
            return Err(StoreError::NotFound { what: "job" });
        }
        let rows: Vec<LogRow> = sqlx::query_as(
            "SELECT l.seq, l.stream, l.data FROM job_logs AS l JOIN jobs AS j ON j.id = l.job \
             WHERE j.org = $1 AND l.job = $2 AND l.seq > $3 ORDER BY l.seq LIMIT $4",
        )
        .bind(org.0)
        .bind(job.0)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db("log chunk"))?;
        records(rows, LogRow::into_record)
    }

    async fn count_jobs_by_state(&self) -> StoreResult<Vec<(JobState, u64)>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(&self.pool)
                .await
                .map_err(db("job"))?;
        convert::counts_by_state(rows)
    }
}

access_store!(PostgresStore, Postgres, reader = pool, writer = pool);
game_store!(PostgresStore, Postgres, reader = pool, writer = pool);
metrics_store!(PostgresStore, Postgres, reader = pool, writer = pool);
alert_store!(PostgresStore, Postgres, reader = pool, writer = pool);
schedule_store!(PostgresStore, Postgres, reader = pool, writer = pool);
discord_store!(PostgresStore, Postgres, reader = pool, writer = pool);
