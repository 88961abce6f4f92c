//! The scheduler: fires cron schedules, once per due time across every server on one database.
//!
//! Each [`tick`] reads the schedules due by the [`Clock`]'s now and claims each due time in the
//! store (a compare-and-set on `next_fire_at` plus a `(schedule, due_at)` fire row in one
//! transaction), so of several replicas exactly one runs a fire. A fire that needs nothing but
//! its jobs (concurrency `allow`, within its deadline) is planned first — conditions checked, jobs
//! made — and claimed together with its jobs and outcome (`fire_planned`, fifty fires to a
//! transaction); the others are claimed (`claim_fire`) and then run. A schedule whose server
//! was down across several due times fires once, for the latest of them, or is recorded `missed`
//! when that is older than its starting deadline; the others are never replayed. The winner then
//! applies the concurrency policy, checks each host's conditions against its live status, and
//! creates the jobs through the store and [`dispatch::offer`], as `POST …/jobs` does, with a
//! `schedule` requester, an audit entry each, and an idempotency key per (schedule, due time,
//! host): a fire whose server stopped after the claim is finished by the next tick of any server
//! ([`ScheduleStore::stalled_fires`]) without creating a job twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use gsm_core::cron::Schedule;
use gsm_core::job::{HostId, JobId, Requester, RequesterKind};
use gsm_core::presence::Presence;
use gsm_proto::rest::{ConcurrencyPolicy, FireOutcome, ScheduleConditions};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use crate::app::AppState;
use crate::dispatch;
use crate::store::access::AuditEntry;
use crate::store::schedules::{FireClaim, FireRecord, PlannedFire, ScheduleRecord};
use crate::store::{NewJob, StoreError, StoreResult};

/// Due schedules read per query.
const BATCH: u32 = 500;
/// A fire still `claimed` this long after its claim lost its server; another one finishes it.
const STALLED_AFTER: SignedDuration = SignedDuration::from_secs(30);
/// Fires of one batch run at once, at most (the claim-then-run path).
const CONCURRENT_FIRES: usize = 32;
/// Planned fires claimed and started per transaction, and such transactions at once.
const FIRES_PER_TRANSACTION: usize = 50;
const CONCURRENT_TRANSACTIONS: usize = 4;
/// Most batches one tick reads (the rest wait for the next tick).
const MAX_ROUNDS: usize = 200;
/// Most due times skipped over when collapsing an outage, before the search jumps to now.
const MAX_COLLAPSE: usize = 100_000;

/// Where the scheduler reads the time: the system clock in the server, a [`ManualClock`] in
/// tests.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    /// A clock reading `at`.
    pub fn new(at: Timestamp) -> Self {
        ManualClock(Mutex::new(at))
    }

    /// Sets the time.
    pub fn set(&self, at: Timestamp) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What one [`tick`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    /// Due times this server claimed.
    pub claimed: u32,
    /// Due times another server claimed first.
    pub lost: u32,
    /// Jobs created.
    pub jobs: u32,
}

/// Runs [`tick`] every `every` until the task is aborted.
pub async fn run(state: AppState, clock: Arc<dyn Clock>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(err) = tick(&state, clock.as_ref()).await {
            tracing::warn!(error = %err, "scheduler pass failed; retrying next tick");
        }
    }
}

/// One pass at the clock's now: claims and runs every due fire, and finishes stalled ones. Jobs
/// and claims carry the clock's time when they are made, so a slow pass shows in their times.
pub async fn tick(state: &AppState, clock: &dyn Clock) -> StoreResult<TickReport> {
    let now = clock.now();
    let mut report = TickReport::default();
    let stalled_before = now.checked_sub(STALLED_AFTER).unwrap_or(now);
    for fire in state.store.stalled_fires(stalled_before, BATCH).await? {
        match state.store.get_schedule(fire.org, fire.schedule).await {
            Ok(schedule) => report.jobs += run_fire(state, &schedule, fire, clock).await?,
            Err(StoreError::NotFound { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    for _ in 0..MAX_ROUNDS {
        let due = state.store.due_schedules(now, BATCH).await?;
        let full = due.len() == BATCH as usize;
        // A fire that needs nothing but its jobs is planned here and claimed with its jobs in
        // one transaction, many fires to a transaction; the rest (a concurrency policy to apply,
        // a missed due time) take the claim-then-run path, side by side.
        let mut planned = Vec::new();
        let mut others = Vec::new();
        for schedule in due {
            if schedule.spec.concurrency_policy == ConcurrencyPolicy::Allow
                && let Some(claim) = plan_claim(&schedule, now, clock)
                && claim.fire.outcome == FireOutcome::Claimed
            {
                planned.push(plan_fire(state, &schedule, claim, clock).await?);
            } else {
                others.push(schedule);
            }
        }
        let mut failed = None;
        let chunks: Vec<Vec<PlannedFire>> =
            planned.chunks(FIRES_PER_TRANSACTION).map(<[PlannedFire]>::to_vec).collect();
        let mut batches = futures_util::stream::iter(chunks)
            .map(|chunk| state.store.fire_planned(chunk))
            .buffer_unordered(CONCURRENT_TRANSACTIONS);
        while let Some(outcome) = batches.next().await {
            match outcome {
                Ok(outcomes) => {
                    for outcome in outcomes {
                        let Some((fire, jobs)) = outcome else {
                            report.lost += 1;
                            continue;
                        };
                        report.claimed += 1;
                        for job in &jobs {
                            tracing::info!(schedule.id = %fire.schedule, job.id = %job.id, host.id = %job.host, "scheduled job created");
                            if let Err(err) = dispatch::offer(state, job).await {
                                failed = failed.or(Some(err));
                            }
                        }
                        report.jobs += u32::try_from(jobs.len()).unwrap_or(u32::MAX);
                    }
                }
                Err(err) => failed = failed.or(Some(err)),
            }
        }
        // Schedules are independent (each claim is its own compare-and-set), so these fires run
        // side by side: their database round trips overlap, and on SQLite their writes share
        // group commits. The first error ends the tick once the fires in flight are done.
        let mut fires = futures_util::stream::iter(others)
            .map(|schedule| claim_and_run(state, schedule, now, clock))
            .buffer_unordered(CONCURRENT_FIRES);
        while let Some(outcome) = fires.next().await {
            match outcome {
                Ok(Some(jobs)) => {
                    report.claimed += 1;
                    report.jobs += jobs;
                }
                Ok(None) => report.lost += 1,
                Err(err) => failed = failed.or(Some(err)),
            }
        }
        if let Some(err) = failed {
            return Err(err);
        }
        // Claimed rows are no longer due, so a full batch is followed by the next one.
        if !full {
            break;
        }
    }
    Ok(report)
}

/// Claims `schedule`'s due time and runs the fire if it was claimed to run: the jobs it created,
/// or `None` when another server claimed it first.
async fn claim_and_run(
    state: &AppState,
    schedule: ScheduleRecord,
    now: Timestamp,
    clock: &dyn Clock,
) -> StoreResult<Option<u32>> {
    let Some(fire) = claim(state, &schedule, now, clock).await? else {
        return Ok(None);
    };
    if fire.outcome != FireOutcome::Claimed {
        return Ok(Some(0));
    }
    run_fire(state, &schedule, fire, clock).await.map(Some)
}

/// Claims the schedule's due time; `None` when another server did first.
async fn claim(
    state: &AppState,
    schedule: &ScheduleRecord,
    now: Timestamp,
    clock: &dyn Clock,
) -> StoreResult<Option<FireRecord>> {
    let Some(claim) = plan_claim(schedule, now, clock) else { return Ok(None) };
    if !state.store.claim_fire(&claim).await? {
        return Ok(None);
    }
    if claim.fire.outcome == FireOutcome::Missed {
        missed(state, schedule, &claim.fire, clock);
    }
    Ok(Some(claim.fire))
}

/// The claim on the schedule's due time at `now`, not yet made: the latest due time an outage
/// left (earlier ones are never replayed), `missed` past the starting deadline. `None` when the
/// schedule has no due time or its stored expression cannot be read.
fn plan_claim(schedule: &ScheduleRecord, now: Timestamp, clock: &dyn Clock) -> Option<FireClaim> {
    let expected = schedule.next_fire_at?;
    let spec = &schedule.spec;
    let cron = match Schedule::parse(&spec.cron, &spec.timezone) {
        Ok(cron) => cron,
        Err(err) => {
            // Validated on write; a stored expression this build cannot read stays unclaimed.
            tracing::warn!(schedule.id = %schedule.id, error = %err, "unreadable schedule");
            return None;
        }
    };
    // After an outage only the latest due time counts.
    let mut due = expected;
    let mut skipped = 0usize;
    while let Some(next) = cron.next_after(due).filter(|&next| next <= now) {
        due = next;
        skipped += 1;
        if skipped >= MAX_COLLAPSE {
            break;
        }
    }
    let late = now.duration_since(due);
    let mut reasons = Vec::new();
    if skipped > 0 {
        reasons.push(format!(
            "{skipped} earlier due time(s) since {expected} passed while no server ran; \
             only the latest is considered"
        ));
    }
    let outcome = match spec.starting_deadline_secs {
        Some(deadline)
            if late > SignedDuration::from_secs(i64::try_from(deadline).unwrap_or(i64::MAX)) =>
        {
            reasons.push(format!(
                "claimed {}s after its due time, past the starting deadline of {deadline}s",
                late.as_secs()
            ));
            FireOutcome::Missed
        }
        _ => FireOutcome::Claimed,
    };
    let fire = FireRecord {
        schedule: schedule.id,
        org: schedule.org,
        due_at: due,
        claimed_at: clock.now(),
        outcome,
        reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        jobs: Vec::new(),
    };
    Some(FireClaim { expected, fire, next_fire_at: cron.next_after(now.max(due)) })
}

/// Logs a missed fire and hands it to the alert rules (`schedule.missed`).
fn missed(state: &AppState, schedule: &ScheduleRecord, fire: &FireRecord, clock: &dyn Clock) {
    tracing::info!(schedule.id = %schedule.id, due_at = %fire.due_at, "schedule fire missed");
    let reason = fire.reason.as_deref().unwrap_or("past its starting deadline");
    let event = gsm_core::rules::Event {
        kind: gsm_core::rules::kinds::SCHEDULE_MISSED.to_owned(),
        host: None,
        game: None,
        text: format!(
            "schedule {:?} missed its fire due at {}: {reason}",
            schedule.spec.name, fire.due_at
        ),
        players: None,
        at_ms: clock.now().as_millisecond(),
    };
    state.alerts.emit(schedule.org, event);
}

/// Plans a fire that needs nothing but its jobs: checks each host's conditions now and makes
/// its job and audit entry, to be claimed and created in one transaction.
async fn plan_fire(
    state: &AppState,
    schedule: &ScheduleRecord,
    mut claim: FireClaim,
    clock: &dyn Clock,
) -> StoreResult<PlannedFire> {
    let now = clock.now();
    let mut reasons: Vec<String> = claim.fire.reason.take().into_iter().collect();
    let mut jobs = Vec::new();
    for &host in &schedule.spec.template.hosts {
        match check_conditions(state, schedule, host, &schedule.spec.conditions, now).await? {
            Ok(()) => {
                let job = new_job(state, schedule, claim.fire.due_at, host, clock);
                let audit = audit(schedule, job.now, "job.create", job.id.to_string());
                jobs.push((job, audit));
            }
            Err(reason) => reasons.push(format!("host {host}: {reason}")),
        }
    }
    claim.fire.reason = (!reasons.is_empty()).then(|| reasons.join("; "));
    Ok(PlannedFire { claim, jobs })
}

/// The job a schedule's fire creates on `host`, keyed so a replay of the fire never makes two.
fn new_job(
    state: &AppState,
    schedule: &ScheduleRecord,
    due_at: Timestamp,
    host: HostId,
    clock: &dyn Clock,
) -> NewJob {
    let template = &schedule.spec.template;
    let deadline = template.deadline_secs.map_or(state.settings.job_deadline, Duration::from_secs);
    let deadline = SignedDuration::try_from(deadline).unwrap_or(SignedDuration::from_hours(1));
    let now = clock.now();
    NewJob {
        id: JobId::new(),
        host,
        kind: template.kind.clone(),
        timeout_secs: template.timeout_secs,
        output_cap_bytes: template.output_cap_bytes,
        requested_by: requester(schedule),
        idempotency_key: Some(format!(
            "schedule:{}:{}:{}",
            schedule.id,
            due_at.as_millisecond(),
            host
        )),
        deadline_at: now.checked_add(deadline).unwrap_or(now),
        now,
        dispatched: false,
    }
}

/// Runs a claimed fire: concurrency policy, conditions, jobs. Returns the jobs created.
async fn run_fire(
    state: &AppState,
    schedule: &ScheduleRecord,
    mut fire: FireRecord,
    clock: &dyn Clock,
) -> StoreResult<u32> {
    let now = clock.now();
    let spec = &schedule.spec;
    let mut reasons: Vec<String> = fire.reason.take().into_iter().collect();
    if spec.concurrency_policy != ConcurrencyPolicy::Allow {
        let active = active_jobs(state, schedule).await?;
        if !active.is_empty() {
            let ids: Vec<String> = active.iter().map(|job| job.id.to_string()).collect();
            match spec.concurrency_policy {
                ConcurrencyPolicy::Forbid => {
                    reasons.push(format!(
                        "concurrency policy forbid: the previous fire's job(s) {} still run",
                        ids.join(", ")
                    ));
                    fire.outcome = FireOutcome::Skipped;
                    fire.reason = Some(reasons.join("; "));
                    state.store.finish_fire(&fire).await?;
                    return Ok(0);
                }
                ConcurrencyPolicy::Replace => {
                    for job in active {
                        let audit = audit(schedule, now, "job.cancel", job.id.to_string());
                        match dispatch::cancel(state, job, &audit).await {
                            Ok(_) | Err(StoreError::Conflict { .. }) => {}
                            Err(err) => return Err(err),
                        }
                    }
                    reasons.push(format!(
                        "concurrency policy replace: cancelled the previous fire's job(s) {}",
                        ids.join(", ")
                    ));
                }
                ConcurrencyPolicy::Allow => {}
            }
        }
    }
    let mut jobs = Vec::new();
    for &host in &spec.template.hosts {
        if let Err(reason) = check_conditions(state, schedule, host, &spec.conditions, now).await? {
            reasons.push(format!("host {host}: {reason}"));
            continue;
        }
        let new = new_job(state, schedule, fire.due_at, host, clock);
        let audit = audit(schedule, new.now, "job.create", new.id.to_string());
        match state.store.create_job(schedule.org, &new, &audit).await {
            Ok((job, _)) => {
                tracing::info!(schedule.id = %schedule.id, job.id = %job.id, host.id = %host, "scheduled job created");
                dispatch::offer(state, &job).await?;
                jobs.push(job.id);
            }
            Err(StoreError::NotFound { .. }) => {
                reasons.push(format!("host {host}: no such host (deleted?)"));
            }
            Err(err) => return Err(err),
        }
    }
    fire.outcome = if jobs.is_empty() { FireOutcome::Skipped } else { FireOutcome::Started };
    fire.reason = (!reasons.is_empty()).then(|| reasons.join("; "));
    let created = u32::try_from(jobs.len()).unwrap_or(u32::MAX);
    fire.jobs = jobs;
    state.store.finish_fire(&fire).await?;
    Ok(created)
}

/// The unfinished jobs of the schedule's latest started fire.
async fn active_jobs(
    state: &AppState,
    schedule: &ScheduleRecord,
) -> StoreResult<Vec<crate::store::JobRecord>> {
    let Some(previous) = state.store.last_started_fire(schedule.id).await? else {
        return Ok(Vec::new());
    };
    let mut active = Vec::new();
    for id in previous.jobs {
        match state.store.get_job(schedule.org, id).await {
            Ok(job) if !job.state.is_terminal() => active.push(job),
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(active)
}

/// Checks a host's conditions against its live status; `Err` holds why it gets no job.
async fn check_conditions(
    state: &AppState,
    schedule: &ScheduleRecord,
    host: HostId,
    conditions: &ScheduleConditions,
    now: Timestamp,
) -> StoreResult<Result<(), String>> {
    if !conditions.host_online
        && conditions.max_players.is_none()
        && conditions.min_players.is_none()
    {
        return Ok(Ok(()));
    }
    // This server's memory holds the host's status when its agent is connected here; another
    // replica's agents are seen through the heartbeats it flushes to the store.
    let live_here = state.presence().status(host) == Some(Presence::Online);
    let remembered = state.heartbeats().latest.get(&host).cloned();
    let (online, heartbeat) = if live_here {
        (true, remembered.map(|(_, beat)| beat))
    } else {
        let record = match state.store.get_host(schedule.org, host).await {
            Ok(record) => record,
            Err(StoreError::NotFound { .. }) => return Ok(Err("no such host (deleted?)".into())),
            Err(err) => return Err(err),
        };
        let fresh_within = state
            .settings
            .presence
            .offline_after()
            .and_then(|after| SignedDuration::try_from(after).ok())
            .unwrap_or(SignedDuration::from_secs(30));
        let online =
            record.last_heartbeat_at.is_some_and(|at| now.duration_since(at) <= fresh_within);
        (online, record.last_heartbeat)
    };
    if conditions.host_online && !online {
        return Ok(Err("condition host_online: the host is not online".into()));
    }
    if conditions.max_players.is_none() && conditions.min_players.is_none() {
        return Ok(Ok(()));
    }
    let Some(heartbeat) = heartbeat.filter(|_| online) else {
        return Ok(Err(
            "condition on players: no live game status from the host (offline, or no heartbeat \
             yet)"
                .into(),
        ));
    };
    if heartbeat.games.is_empty() {
        return Ok(Err("condition on players: the host reports no game server status".into()));
    }
    let players: u64 = heartbeat.games.iter().map(|game| u64::from(game.players_online)).sum();
    if let Some(max) = conditions.max_players
        && players > u64::from(max)
    {
        return Ok(Err(format!("condition max_players {max}: {players} player(s) online")));
    }
    if let Some(min) = conditions.min_players
        && players < u64::from(min)
    {
        return Ok(Err(format!("condition min_players {min}: {players} player(s) online")));
    }
    Ok(Ok(()))
}

fn requester(schedule: &ScheduleRecord) -> Requester {
    Requester { kind: RequesterKind::Schedule, id: schedule.id.to_string() }
}

fn audit(schedule: &ScheduleRecord, now: Timestamp, action: &str, target: String) -> AuditEntry {
    AuditEntry {
        id: Uuid::now_v7(),
        org: schedule.org,
        at: now,
        actor: requester(schedule),
        action: action.to_owned(),
        target_kind: "job".to_owned(),
        target_id: target,
        client_ip: None,
        outcome: "success".to_owned(),
    }
}

/// The first due time strictly after `after`, for a schedule being created, edited or resumed
/// (`None` while suspended).
pub fn next_fire(cron: &Schedule, suspend: bool, after: Timestamp) -> Option<Timestamp> {
    if suspend { None } else { cron.next_after(after) }
}
