//! Cron schedules and their fire history, behind the [`ScheduleStore`] half of the store.
//!
//! Like `games.rs`, the SQL reads alike on both backends, so it is written once in
//! [`schedule_store!`] and expanded for each. The one invariant here is the claim: a due time
//! fires once because [`ScheduleStore::claim_fire`] moves `next_fire_at` on with a
//! compare-and-set on the due time the caller saw *and* inserts the `(schedule, due_at)` fire row
//! in the same transaction. Of several servers polling one database, one wins the
//! compare-and-set; the others update nothing and move on. The fire row's primary key stops a
//! due time from being claimed twice even when an edit moves `next_fire_at` back onto it.

use async_trait::async_trait;
use gsm_core::job::JobId;
use gsm_proto::rest::{
    ConcurrencyPolicy, FireOutcome, ScheduleConditions, ScheduleSpec, ScheduleTemplate,
};
use jiff::Timestamp;
use sqlx::types::Json;
use uuid::Uuid;

use super::access::AuditEntry;
use super::convert::{corrupt, timestamp, unsigned};
use super::{OrgId, StoreResult};

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRecord {
    /// Its id.
    pub id: Uuid,
    /// Its org.
    pub org: OrgId,
    /// Its definition.
    pub spec: ScheduleSpec,
    /// The next due time not yet claimed (`None` while suspended, or past the year 5000).
    pub next_fire_at: Option<Timestamp>,
    /// The last due time claimed.
    pub last_fire_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// One fire of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireRecord {
    /// The schedule.
    pub schedule: Uuid,
    /// The schedule's org.
    pub org: OrgId,
    /// The due time.
    pub due_at: Timestamp,
    /// When a server claimed it.
    pub claimed_at: Timestamp,
    /// What became of it.
    pub outcome: FireOutcome,
    /// Why it did not run (or why some hosts got no job).
    pub reason: Option<String>,
    /// The jobs it created.
    pub jobs: Vec<JobId>,
}

/// A claim on one due time: applies only while the schedule's `next_fire_at` is still
/// `expected`. `fire.due_at` is `expected` or, after an outage, the latest due time since (the
/// ones between are never replayed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireClaim {
    /// The `next_fire_at` the caller saw.
    pub expected: Timestamp,
    /// The fire row to insert (`outcome` is `claimed`, or `missed` for a fire past its deadline).
    pub fire: FireRecord,
    /// The schedule's next due time after this one.
    pub next_fire_at: Option<Timestamp>,
}

/// A due time to claim and, when claimed, start in the same transaction: the scheduler's path for
/// a fire that needs nothing but its jobs (concurrency `allow`, within its starting deadline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFire {
    /// The claim; its fire is recorded `started` with `jobs`' ids (or `skipped` when none was
    /// created), its reason kept.
    pub claim: FireClaim,
    /// The jobs to create, each with its audit entry (their idempotency keys make a replay a
    /// no-op).
    pub jobs: Vec<(super::NewJob, AuditEntry)>,
}

/// What became of a [`PlannedFire`]: `None` when another server claimed it first (nothing was
/// written), else the fire as recorded and the jobs it created.
pub type FireOutcomeRecord = Option<(FireRecord, Vec<super::JobRecord>)>;

/// Schedules and fires: a supertrait of [`Store`](super::Store), implemented for both backends
/// by [`schedule_store!`].
#[async_trait]
pub trait ScheduleStore: Send + Sync + 'static {
    /// Creates a schedule; a name the org already uses is `Conflict`. `audit` commits with it.
    async fn create_schedule(
        &self,
        schedule: &ScheduleRecord,
        audit: &AuditEntry,
    ) -> StoreResult<ScheduleRecord>;
    /// Finds a schedule of the org.
    async fn get_schedule(&self, org: OrgId, id: Uuid) -> StoreResult<ScheduleRecord>;
    /// The org's schedules by name, after `after_name` when given.
    async fn list_schedules(
        &self,
        org: OrgId,
        after_name: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ScheduleRecord>>;
    /// Replaces a schedule's definition, `next_fire_at` and `updated_at` (the caller computed
    /// them); `audit` commits with it.
    async fn replace_schedule(
        &self,
        schedule: &ScheduleRecord,
        audit: &AuditEntry,
    ) -> StoreResult<ScheduleRecord>;
    /// Deletes a schedule and its history; `audit` commits with it.
    async fn delete_schedule(&self, org: OrgId, id: Uuid, audit: &AuditEntry) -> StoreResult<()>;
    /// Schedules of any org, not suspended, due at or before `now`; earliest first.
    async fn due_schedules(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<ScheduleRecord>>;
    /// Claims a due time (see the module docs); `false` when another server claimed it first
    /// or the schedule changed. Prunes the history to the schedule's limit, keeping the latest
    /// started fire (the concurrency policy looks at its jobs).
    async fn claim_fire(&self, claim: &FireClaim) -> StoreResult<bool>;
    /// Records what became of a claimed fire.
    async fn finish_fire(&self, fire: &FireRecord) -> StoreResult<()>;
    /// Claims and starts each planned fire, all in one transaction (group-committed on SQLite):
    /// the compare-and-set and fire row of [`ScheduleStore::claim_fire`], the jobs with their
    /// audit entries (a host deleted meanwhile gets none, with the reason), the fire's outcome
    /// and the history prune. One answer per planned fire, in order.
    async fn fire_planned(&self, fires: Vec<PlannedFire>) -> StoreResult<Vec<FireOutcomeRecord>>;
    /// A schedule's fires, newest first, before `before` when given.
    async fn list_fires(
        &self,
        org: OrgId,
        schedule: Uuid,
        before: Option<Timestamp>,
        limit: u32,
    ) -> StoreResult<Vec<FireRecord>>;
    /// The schedule's latest fire that created jobs.
    async fn last_started_fire(&self, schedule: Uuid) -> StoreResult<Option<FireRecord>>;
    /// Fires of any schedule still `claimed` since `claimed_before`: their server stopped
    /// between the claim and the jobs; the scheduler finishes them.
    async fn stalled_fires(
        &self,
        claimed_before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<FireRecord>>;
}

/// A `schedules` row.
#[derive(sqlx::FromRow)]
pub(super) struct ScheduleRow {
    id: Uuid,
    org: Uuid,
    name: String,
    cron: String,
    timezone: String,
    template: Json<ScheduleTemplate>,
    conditions: Json<ScheduleConditions>,
    concurrency_policy: String,
    starting_deadline_secs: Option<i64>,
    history_limit: i64,
    suspend: bool,
    next_fire_at: Option<i64>,
    last_fire_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl ScheduleRow {
    pub(super) fn into_record(self) -> StoreResult<ScheduleRecord> {
        let concurrency_policy = ConcurrencyPolicy::parse(&self.concurrency_policy)
            .ok_or_else(|| corrupt(UnknownName(self.concurrency_policy.clone())))?;
        Ok(ScheduleRecord {
            id: self.id,
            org: OrgId(self.org),
            spec: ScheduleSpec {
                name: self.name,
                cron: self.cron,
                timezone: self.timezone,
                template: self.template.0,
                conditions: self.conditions.0,
                concurrency_policy,
                starting_deadline_secs: self.starting_deadline_secs.map(unsigned).transpose()?,
                history_limit: u32::try_from(self.history_limit).map_err(corrupt)?,
                suspend: self.suspend,
            },
            next_fire_at: self.next_fire_at.map(timestamp).transpose()?,
            last_fire_at: self.last_fire_at.map(timestamp).transpose()?,
            created_at: timestamp(self.created_at)?,
            updated_at: timestamp(self.updated_at)?,
        })
    }
}

/// A `schedule_fires` row.
#[derive(sqlx::FromRow)]
pub(super) struct FireRow {
    schedule: Uuid,
    org: Uuid,
    due_at: i64,
    claimed_at: i64,
    outcome: String,
    reason: Option<String>,
    jobs: Json<Vec<JobId>>,
}

impl FireRow {
    pub(super) fn into_record(self) -> StoreResult<FireRecord> {
        let outcome = FireOutcome::parse(&self.outcome)
            .ok_or_else(|| corrupt(UnknownName(self.outcome.clone())))?;
        Ok(FireRecord {
            schedule: self.schedule,
            org: OrgId(self.org),
            due_at: timestamp(self.due_at)?,
            claimed_at: timestamp(self.claimed_at)?,
            outcome,
            reason: self.reason,
            jobs: self.jobs.0,
        })
    }
}

/// A stored policy or outcome name this code does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown stored name {0:?}")]
struct UnknownName(String);

/// An optional count as the column stores it.
pub(super) fn deadline_column(secs: Option<u64>) -> StoreResult<Option<i64>> {
    super::convert::signed_opt(secs, "starting_deadline_secs")
}

/// The `schedules` columns a [`ScheduleRow`] reads, as a literal for `concat!`.
macro_rules! schedule_columns {
    () => {
        "id, org, name, cron, timezone, template, conditions, concurrency_policy, \
         starting_deadline_secs, history_limit, suspend, next_fire_at, last_fire_at, \
         created_at, updated_at"
    };
}
pub(crate) use schedule_columns;

/// The `schedule_fires` columns a [`FireRow`] reads.
macro_rules! fire_columns {
    () => {
        "schedule, org, due_at, claimed_at, outcome, reason, jobs"
    };
}
pub(crate) use fire_columns;

/// Implements [`ScheduleStore`] for a backend (see `access_store!` for the parameters).
/// The claim's statements on `$conn` (inside the caller's transaction): the compare-and-set on
/// `next_fire_at`, the `(schedule, due_at)` fire row as `$fire` says (its outcome, reason and
/// jobs), and the history prune that keeps the latest started fire. Evaluates to `None` when the
/// compare-and-set lost, else whether the fire row was new (an edit that moved `next_fire_at`
/// back onto a due time that already fired leaves it `false`).
macro_rules! claim_in {
    ($conn:ident, $claim:expr, $fire:expr) => {{
        let db = $crate::store::convert::db;
        let claim: &$crate::store::schedules::FireClaim = $claim;
        let fire: &$crate::store::schedules::FireRecord = $fire;
        let due = fire.due_at.as_millisecond();
        let advanced: Option<(uuid::Uuid, i64)> = sqlx::query_as(
            "UPDATE schedules SET next_fire_at = $3, last_fire_at = $4 \
             WHERE id = $1 AND next_fire_at = $2 AND NOT suspend RETURNING org, history_limit",
        )
        .bind(fire.schedule)
        .bind(claim.expected.as_millisecond())
        .bind(claim.next_fire_at.map(|at| at.as_millisecond()))
        .bind(due)
        .fetch_optional(&mut *$conn)
        .await
        .map_err(db("schedule"))?;
        match advanced {
            None => None,
            Some((org, history_limit)) => {
                let inserted = sqlx::query(
                    "INSERT INTO schedule_fires (schedule, org, due_at, claimed_at, outcome, \
                     reason, jobs) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (schedule, due_at) DO NOTHING",
                )
                .bind(fire.schedule)
                .bind(org)
                .bind(due)
                .bind(fire.claimed_at.as_millisecond())
                .bind(fire.outcome.as_str())
                .bind(&fire.reason)
                .bind(sqlx::types::Json(&fire.jobs))
                .execute(&mut *$conn)
                .await
                .map_err(db("schedule fire"))?;
                sqlx::query(
                    "DELETE FROM schedule_fires WHERE schedule = $1 AND due_at <= \
                     (SELECT due_at FROM schedule_fires WHERE schedule = $1 \
                      ORDER BY due_at DESC LIMIT 1 OFFSET $2) \
                     AND due_at <> COALESCE((SELECT MAX(due_at) FROM schedule_fires \
                      WHERE schedule = $1 AND outcome = 'started'), -1)",
                )
                .bind(fire.schedule)
                .bind(history_limit)
                .execute(&mut *$conn)
                .await
                .map_err(db("schedule fire"))?;
                Some(inserted.rows_affected() == 1)
            }
        }
    }};
}
pub(super) use claim_in;

/// One planned fire's statements on `$conn` (inside the caller's transaction), evaluating to its
/// [`FireOutcomeRecord`]; `?` leaves the whole batch on a database error.
macro_rules! fire_one {
    ($conn:ident, $planned:ident) => {{
        let db = $crate::store::convert::db;
        let mut fire = $planned.claim.fire.clone();
        // Recorded as it will most likely end; corrected below if a host is gone.
        fire.outcome = if $planned.jobs.is_empty() {
            gsm_proto::rest::FireOutcome::Skipped
        } else {
            gsm_proto::rest::FireOutcome::Started
        };
        fire.jobs = $planned.jobs.iter().map(|(job, _)| job.id).collect();
        match $crate::store::schedules::claim_in!($conn, &$planned.claim, &fire) {
            // Lost to another server, or the due time already fired: no jobs.
            None | Some(false) => None,
            Some(true) => {
                let org = fire.org.0;
                let mut created = Vec::with_capacity($planned.jobs.len());
                let mut missing = Vec::new();
                for (job, audit) in &$planned.jobs {
                    let row: Option<$crate::store::convert::JobRow> = sqlx::query_as(concat!(
                        "INSERT INTO jobs (id, org, host, kind, state, attempt, timeout_secs, \
                         output_cap_bytes, requested_by, idempotency_key, created_at, \
                         updated_at, deadline_at) \
                         SELECT $1, $2, $3, $4, $11, $12, $5, $6, $7, $8, $9, $9, $10 \
                         FROM hosts WHERE org = $2 AND id = $3 AND deleted_at IS NULL \
                         ON CONFLICT (org, idempotency_key) \
                         WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING ",
                        $crate::store::convert::job_columns!()
                    ))
                    .bind(job.id.0)
                    .bind(org)
                    .bind(job.host.0)
                    .bind(sqlx::types::Json(&job.kind))
                    .bind($crate::store::convert::signed_opt(job.timeout_secs, "timeout")?)
                    .bind($crate::store::convert::signed_opt(job.output_cap_bytes, "output cap")?)
                    .bind(sqlx::types::Json(&job.requested_by))
                    .bind(&job.idempotency_key)
                    .bind(job.now.as_millisecond())
                    .bind(job.deadline_at.as_millisecond())
                    .bind(job.initial_state().as_str())
                    .bind(i64::from(job.initial_attempt()))
                    .fetch_optional(&mut *$conn)
                    .await
                    .map_err(db("job"))?;
                    match row {
                        Some(row) => {
                            Self::insert_audit(&mut *$conn, audit).await?;
                            created.push(row.into_record()?);
                        }
                        None => missing.push(job.host),
                    }
                }
                if !missing.is_empty() {
                    let mut reasons: Vec<String> = fire.reason.take().into_iter().collect();
                    for host in missing {
                        reasons.push(format!(
                            "host {host}: no such host (deleted?), or its job exists"
                        ));
                    }
                    fire.reason = Some(reasons.join("; "));
                    fire.jobs = created.iter().map(|job| job.id).collect();
                    fire.outcome = if created.is_empty() {
                        gsm_proto::rest::FireOutcome::Skipped
                    } else {
                        gsm_proto::rest::FireOutcome::Started
                    };
                    sqlx::query(
                        "UPDATE schedule_fires SET outcome = $3, reason = $4, jobs = $5 \
                         WHERE schedule = $1 AND due_at = $2",
                    )
                    .bind(fire.schedule)
                    .bind(fire.due_at.as_millisecond())
                    .bind(fire.outcome.as_str())
                    .bind(&fire.reason)
                    .bind(sqlx::types::Json(&fire.jobs))
                    .execute(&mut *$conn)
                    .await
                    .map_err(db("schedule fire"))?;
                }
                Some((fire, created))
            }
        }
    }};
}
pub(super) use fire_one;

macro_rules! schedule_store {
    ($store:ty, $db:ty, reader = $reader:ident, writer = $writer:ident) => {
        #[async_trait::async_trait]
        impl $crate::store::schedules::ScheduleStore for $store {
            async fn create_schedule(
                &self,
                schedule: &$crate::store::schedules::ScheduleRecord,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<$crate::store::schedules::ScheduleRecord> {
                let db = $crate::store::convert::db;
                let spec = &schedule.spec;
                let mut tx = self.write().await?;
                let sql = concat!(
                    "INSERT INTO schedules (",
                    $crate::store::schedules::schedule_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                     RETURNING ",
                    $crate::store::schedules::schedule_columns!(),
                );
                let row: $crate::store::schedules::ScheduleRow = sqlx::query_as(sql)
                    .bind(schedule.id)
                    .bind(schedule.org.0)
                    .bind(&spec.name)
                    .bind(&spec.cron)
                    .bind(&spec.timezone)
                    .bind(sqlx::types::Json(&spec.template))
                    .bind(sqlx::types::Json(&spec.conditions))
                    .bind(spec.concurrency_policy.as_str())
                    .bind($crate::store::schedules::deadline_column(spec.starting_deadline_secs)?)
                    .bind(i64::from(spec.history_limit))
                    .bind(spec.suspend)
                    .bind(schedule.next_fire_at.map(|at| at.as_millisecond()))
                    .bind(schedule.last_fire_at.map(|at| at.as_millisecond()))
                    .bind(schedule.created_at.as_millisecond())
                    .bind(schedule.updated_at.as_millisecond())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|error| {
                        if $crate::store::convert::is_foreign_key_violation(&error) {
                            $crate::store::StoreError::NotFound { what: "org" }
                        } else {
                            $crate::store::convert::db_conflict(
                                "schedule",
                                format!("a schedule named {:?} already exists", spec.name),
                            )(error)
                        }
                    })?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("schedule"))?;
                row.into_record()
            }

            async fn get_schedule(
                &self,
                org: $crate::store::OrgId,
                id: uuid::Uuid,
            ) -> $crate::store::StoreResult<$crate::store::schedules::ScheduleRecord> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::schedules::schedule_columns!(),
                    " FROM schedules WHERE org = $1 AND id = $2",
                );
                let row: $crate::store::schedules::ScheduleRow = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(id)
                    .fetch_one(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("schedule"))?;
                row.into_record()
            }

            async fn list_schedules(
                &self,
                org: $crate::store::OrgId,
                after_name: Option<&str>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::schedules::ScheduleRecord>> {
                // One statement for both pages: `$2` NULL means from the start.
                let sql = concat!(
                    "SELECT ",
                    $crate::store::schedules::schedule_columns!(),
                    " FROM schedules WHERE org = $1 AND ($2 IS NULL OR name > $2) \
                     ORDER BY name LIMIT $3",
                );
                let rows: Vec<$crate::store::schedules::ScheduleRow> = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(after_name)
                    .bind(i64::from(limit))
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("schedule"))?;
                $crate::store::convert::records(
                    rows,
                    $crate::store::schedules::ScheduleRow::into_record,
                )
            }

            async fn replace_schedule(
                &self,
                schedule: &$crate::store::schedules::ScheduleRecord,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<$crate::store::schedules::ScheduleRecord> {
                let db = $crate::store::convert::db;
                let spec = &schedule.spec;
                let mut tx = self.write().await?;
                let sql = concat!(
                    "UPDATE schedules SET name = $3, cron = $4, timezone = $5, template = $6, \
                     conditions = $7, concurrency_policy = $8, starting_deadline_secs = $9, \
                     history_limit = $10, suspend = $11, next_fire_at = $12, updated_at = $13 \
                     WHERE org = $1 AND id = $2 RETURNING ",
                    $crate::store::schedules::schedule_columns!(),
                );
                let row: $crate::store::schedules::ScheduleRow = sqlx::query_as(sql)
                    .bind(schedule.org.0)
                    .bind(schedule.id)
                    .bind(&spec.name)
                    .bind(&spec.cron)
                    .bind(&spec.timezone)
                    .bind(sqlx::types::Json(&spec.template))
                    .bind(sqlx::types::Json(&spec.conditions))
                    .bind(spec.concurrency_policy.as_str())
                    .bind($crate::store::schedules::deadline_column(spec.starting_deadline_secs)?)
                    .bind(i64::from(spec.history_limit))
                    .bind(spec.suspend)
                    .bind(schedule.next_fire_at.map(|at| at.as_millisecond()))
                    .bind(schedule.updated_at.as_millisecond())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err($crate::store::convert::db_conflict(
                        "schedule",
                        format!("a schedule named {:?} already exists", spec.name),
                    ))?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("schedule"))?;
                row.into_record()
            }

            async fn delete_schedule(
                &self,
                org: $crate::store::OrgId,
                id: uuid::Uuid,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                sqlx::query("DELETE FROM schedule_fires WHERE org = $1 AND schedule = $2")
                    .bind(org.0)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("schedule fire"))?;
                let deleted = sqlx::query("DELETE FROM schedules WHERE org = $1 AND id = $2")
                    .bind(org.0)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("schedule"))?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound { what: "schedule" });
                }
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("schedule"))
            }

            async fn due_schedules(
                &self,
                now: jiff::Timestamp,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::schedules::ScheduleRecord>> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::schedules::schedule_columns!(),
                    " FROM schedules WHERE NOT suspend AND next_fire_at <= $1 \
                     ORDER BY next_fire_at LIMIT $2",
                );
                let rows: Vec<$crate::store::schedules::ScheduleRow> = sqlx::query_as(sql)
                    .bind(now.as_millisecond())
                    .bind(i64::from(limit))
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("schedule"))?;
                $crate::store::convert::records(
                    rows,
                    $crate::store::schedules::ScheduleRow::into_record,
                )
            }

            async fn claim_fire(
                &self,
                claim: &$crate::store::schedules::FireClaim,
            ) -> $crate::store::StoreResult<bool> {
                let claim = claim.clone();
                self.transact(move |conn| {
                    Box::pin(async move {
                        let claimed = $crate::store::schedules::claim_in!(conn, &claim, &claim.fire);
                        Ok(claimed == Some(true))
                    })
                })
                .await
            }

            async fn finish_fire(
                &self,
                fire: &$crate::store::schedules::FireRecord,
            ) -> $crate::store::StoreResult<()> {
                let fire = fire.clone();
                self.transact(move |conn| {
                    Box::pin(async move {
                        sqlx::query(
                            "UPDATE schedule_fires SET outcome = $3, reason = $4, jobs = $5 \
                             WHERE schedule = $1 AND due_at = $2",
                        )
                        .bind(fire.schedule)
                        .bind(fire.due_at.as_millisecond())
                        .bind(fire.outcome.as_str())
                        .bind(&fire.reason)
                        .bind(sqlx::types::Json(&fire.jobs))
                        .execute(&mut *conn)
                        .await
                        .map_err($crate::store::convert::db("schedule fire"))?;
                        Ok(())
                    })
                })
                .await
            }

            async fn fire_planned(
                &self,
                fires: Vec<$crate::store::schedules::PlannedFire>,
            ) -> $crate::store::StoreResult<Vec<$crate::store::schedules::FireOutcomeRecord>> {
                self.transact(move |conn| {
                    Box::pin(async move {
                        let mut outcomes = Vec::with_capacity(fires.len());
                        for planned in fires {
                            let outcome = $crate::store::schedules::fire_one!(conn, planned);
                            outcomes.push(outcome);
                        }
                        Ok(outcomes)
                    })
                })
                .await
            }

            async fn list_fires(
                &self,
                org: $crate::store::OrgId,
                schedule: uuid::Uuid,
                before: Option<jiff::Timestamp>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::schedules::FireRecord>> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::schedules::fire_columns!(),
                    " FROM schedule_fires WHERE org = $1 AND schedule = $2 \
                     AND ($3 IS NULL OR due_at < $3) ORDER BY due_at DESC LIMIT $4",
                );
                let rows: Vec<$crate::store::schedules::FireRow> = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(schedule)
                    .bind(before.map(|at| at.as_millisecond()))
                    .bind(i64::from(limit))
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("schedule fire"))?;
                $crate::store::convert::records(rows, $crate::store::schedules::FireRow::into_record)
            }

            async fn last_started_fire(
                &self,
                schedule: uuid::Uuid,
            ) -> $crate::store::StoreResult<Option<$crate::store::schedules::FireRecord>> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::schedules::fire_columns!(),
                    " FROM schedule_fires WHERE schedule = $1 AND outcome = 'started' \
                     ORDER BY due_at DESC LIMIT 1",
                );
                let row: Option<$crate::store::schedules::FireRow> = sqlx::query_as(sql)
                    .bind(schedule)
                    .fetch_optional(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("schedule fire"))?;
                row.map($crate::store::schedules::FireRow::into_record).transpose()
            }

            async fn stalled_fires(
                &self,
                claimed_before: jiff::Timestamp,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::schedules::FireRecord>> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::schedules::fire_columns!(),
                    " FROM schedule_fires WHERE outcome = 'claimed' AND claimed_at <= $1 \
                     ORDER BY claimed_at LIMIT $2",
                );
                let rows: Vec<$crate::store::schedules::FireRow> = sqlx::query_as(sql)
                    .bind(claimed_before.as_millisecond())
                    .bind(i64::from(limit))
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("schedule fire"))?;
                $crate::store::convert::records(rows, $crate::store::schedules::FireRow::into_record)
            }
        }
    };
}
pub(super) use schedule_store;
