//! The server's background tasks: presence ticks, heartbeat flushes, job deadlines and the
//! scheduler (`scheduler.rs`), and the alert tasks, started from `alerts::service`.
//!
//! Heartbeats touch memory only; this module writes the latest of each host to the store in one
//! batch per flush interval, so 10,000 agents cost one write a few seconds, not 2,000 writes a
//! second. Job deadlines are enforced here: a job its host never took ends `lost`, never stuck.
//! The heartbeat metrics history is pruned here too, in bounded batches, so one sweep never holds
//! the database long.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gsm_core::job::JobState;
use jiff::Timestamp;
use tokio::task::JoinSet;

use crate::app::AppState;
use crate::scheduler::{self, SystemClock};
use crate::store::{JobTransition, metrics};

/// How many overdue jobs one sweep handles.
const SWEEP_BATCH: u32 = 500;

/// Starts every background task; abort the set to stop them.
pub fn spawn(state: AppState) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    tasks.spawn(presence_ticks(state.clone()));
    tasks.spawn(heartbeat_flushes(state.clone()));
    tasks.spawn(deadline_sweeps(state.clone()));
    tasks.spawn(metrics_prunes(state.clone()));
    crate::alerts::service::spawn(&state, &mut tasks);
    if let Some(every) = state.settings.scheduler_tick {
        tasks.spawn(scheduler::run(state, Arc::new(SystemClock), every));
    }
    tasks
}

async fn presence_ticks(state: AppState) {
    let every = (state.settings.presence.interval / 4)
        .clamp(Duration::from_millis(20), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let changes = state.presence().tick(Instant::now());
        for change in changes {
            state.presence_changed(&change);
        }
    }
}

async fn heartbeat_flushes(state: AppState) {
    let mut ticker = tokio::time::interval(state.settings.heartbeat_flush);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        flush_heartbeats(&state).await;
    }
}

/// Writes the heartbeats that changed since the last flush.
pub async fn flush_heartbeats(state: &AppState) {
    let batch: Vec<_> = {
        let mut beats = state.heartbeats();
        let dirty: Vec<_> = beats.dirty.drain().collect();
        dirty
            .into_iter()
            .filter_map(|host| beats.latest.get(&host).map(|(at, beat)| (host, *at, beat.clone())))
            .collect()
    };
    if batch.is_empty() {
        return;
    }
    if let Err(err) = state.store.record_heartbeats(&batch).await {
        // Not fatal: presence lives in memory; the next flush writes newer heartbeats.
        tracing::warn!(error = %err, hosts = batch.len(), "could not store heartbeats");
        let mut beats = state.heartbeats();
        beats.dirty.extend(batch.into_iter().map(|(host, _, _)| host));
    }
}

/// Most metric rows one prune statement deletes.
const PRUNE_BATCH: u32 = 5_000;
/// Most prune statements one sweep runs; the next sweep takes the rest.
const PRUNE_BATCHES_PER_SWEEP: u32 = 20;

/// How often old heartbeat metrics are swept.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Sweeps a minute after start, then every minute (not at once: nothing is due at start that a
/// minute's wait would hurt, and a test's own sweep then never races the server's).
async fn metrics_prunes(state: AppState) {
    let first = tokio::time::Instant::now() + PRUNE_EVERY;
    let mut ticker = tokio::time::interval_at(first, PRUNE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        prune_metrics(&state, Timestamp::now()).await;
    }
}

/// Deletes heartbeat metrics older than the retention, at most [`PRUNE_BATCHES_PER_SWEEP`]
/// batches of [`PRUNE_BATCH`] rows; returns how many rows went.
pub async fn prune_metrics(state: &AppState, now: Timestamp) -> u64 {
    let Ok(before) = now.checked_sub(metrics::RETENTION) else {
        return 0;
    };
    let mut pruned = 0;
    for _ in 0..PRUNE_BATCHES_PER_SWEEP {
        match state.store.prune_host_metrics(before, PRUNE_BATCH).await {
            Ok(count) => {
                pruned += count;
                if count < u64::from(PRUNE_BATCH) {
                    break;
                }
            }
            Err(err) => {
                // Not fatal: the next sweep tries again, and the history only grows a little.
                tracing::warn!(error = %err, "could not prune heartbeat metrics");
                break;
            }
        }
    }
    pruned
}

async fn deadline_sweeps(state: AppState) {
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        sweep_overdue_jobs(&state).await;
    }
}

/// Ends `lost` every job whose host did not take it before its deadline.
pub async fn sweep_overdue_jobs(state: &AppState) {
    let now = Timestamp::now();
    let overdue = match state.store.overdue_jobs(now, SWEEP_BATCH).await {
        Ok(jobs) => jobs,
        Err(err) => {
            tracing::warn!(error = %err, "could not look for overdue jobs");
            return;
        }
    };
    for job in overdue {
        let change = JobTransition {
            job: job.id,
            from: job.state,
            to: JobState::Lost,
            attempt: None,
            reason: Some("the host did not take the job before its deadline".into()),
            result: None,
            chunks_total: None,
            now,
        };
        match state.store.transition_job(&change).await {
            Ok(lost) => {
                tracing::info!(job.id = %job.id, host.id = %job.host, "job lost: deadline passed");
                let _ = state.job_events.send(job.id);
                crate::live::job_changed(state, &lost);
                crate::dispatch::job_ended(state, &lost);
            }
            // Someone else moved it first (the agent took it, or another replica swept it).
            Err(crate::store::StoreError::Conflict { .. }) => {}
            Err(err) => tracing::warn!(job.id = %job.id, error = %err, "could not end overdue job"),
        }
    }
}
