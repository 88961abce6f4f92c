//! Job dispatch and job ends: the service layer the REST API and the agent gateway share.
//!
//! Pushing is immediate: a job created for a connected host is sent in the same request, and a
//! host that connects gets its `queued` and `dispatched` jobs at once — no poll interval. Every
//! state change is a compare-and-set in the store, so a race between the API, the gateway and the
//! deadline sweeper has one winner and the losers re-read. Re-sending a job is always safe: the
//! agent's ledger never runs a job id twice.

use gsm_core::job::{HostId, JobId, JobResult, JobSpec, JobState};
use gsm_proto::agent::{JobAssignment, JobRef, ServerMessage};
use jiff::Timestamp;

use crate::app::AppState;
use crate::store::access::AuditEntry;
use crate::store::{JobRecord, JobTransition, StoreError, StoreResult};

/// How often a state change is retried after losing a compare-and-set race.
const CAS_RETRIES: usize = 4;

/// The spec an agent receives for a stored job.
pub fn spec_of(job: &JobRecord) -> JobSpec {
    JobSpec {
        id: job.id,
        host: job.host,
        kind: job.kind.clone(),
        timeout_secs: job.timeout_secs,
        output_cap_bytes: job.output_cap_bytes,
        idempotency_key: job.idempotency_key.clone(),
        requested_by: job.requested_by.clone(),
    }
}

fn change(job: &JobRecord, to: JobState) -> JobTransition {
    JobTransition {
        job: job.id,
        from: job.state,
        to,
        attempt: None,
        reason: None,
        result: None,
        chunks_total: None,
        now: Timestamp::now(),
    }
}

/// Sends a job to its host's agent if one is connected, moving it `queued → dispatched`.
/// A `dispatched` job is re-sent as is. Anything else is left alone. Returns the job as it is
/// afterwards.
pub async fn offer(state: &AppState, job: &JobRecord) -> StoreResult<JobRecord> {
    // Every new job passes here (the API and the scheduler offer what they create), so this is
    // where the org's streams hear of it; the API tells them itself of a job it created
    // already dispatched.
    if job.state == JobState::Queued {
        crate::live::job_changed(state, job);
    }
    if !state.agents.is_connected(job.host) {
        return Ok(job.clone());
    }
    let job = match job.state {
        JobState::Queued => {
            let mut next = change(job, JobState::Dispatched);
            next.attempt = Some(job.attempt + 1);
            match state.store.transition_job(&next).await {
                Ok(job) => {
                    crate::live::job_changed(state, &job);
                    job
                }
                // Another path dispatched it first and sends it; nothing to do.
                Err(StoreError::Conflict { .. }) => {
                    return state.store.get_job_any_org(job.id).await;
                }
                Err(err) => return Err(err),
            }
        }
        JobState::Dispatched => job.clone(),
        _ => return Ok(job.clone()),
    };
    let message =
        ServerMessage::AssignJob(JobAssignment { attempt: job.attempt, spec: spec_of(&job) });
    // Not connected any more, or overloaded: the job stays dispatched and is re-sent on connect.
    let _ = state.agents.send(job.host, message);
    let _ = state.job_events.send(job.id);
    Ok(job)
}

/// Sends a host every job waiting for it; called when its agent connects.
pub async fn offer_pending(state: &AppState, host: HostId) -> StoreResult<()> {
    for job in state.store.pending_jobs_for_host(host).await? {
        offer(state, &job).await?;
    }
    Ok(())
}

/// What a job end looks like to [`settle`].
pub enum End {
    /// The agent started it.
    Running,
    /// The agent refused it.
    Rejected { reason: String },
    /// It ran to an end.
    Finished { result: JobResult, chunks: u64 },
    /// Its outcome is unknown.
    Lost { reason: String },
}

/// Hands a job that ended `failed`, `timed_out` or `lost` to the alert rules.
pub fn job_ended(state: &AppState, job: &JobRecord) {
    let kind = match job.state {
        JobState::Failed => gsm_core::rules::kinds::JOB_FAILED,
        JobState::TimedOut => gsm_core::rules::kinds::JOB_TIMED_OUT,
        JobState::Lost => gsm_core::rules::kinds::JOB_LOST,
        _ => return,
    };
    let event = gsm_core::rules::Event {
        kind: kind.to_owned(),
        host: Some(job.host),
        game: None,
        text: match &job.reason {
            Some(reason) => format!("job {} ended {}: {reason}", job.id, job.state),
            None => format!("job {} ended {}", job.id, job.state),
        },
        players: None,
        at_ms: Timestamp::now().as_millisecond(),
    };
    state.alerts.emit(job.org, event);
}

/// Applies what an agent reported about a job, whatever state the store has it in: duplicates and
/// reports about jobs that already ended are no-ops. `read` is the job as the caller just read
/// it, if it did, which saves reading it again. Returns the job as it is afterwards.
pub async fn settle(
    state: &AppState,
    id: JobId,
    end: End,
    mut read: Option<JobRecord>,
) -> StoreResult<JobRecord> {
    for _ in 0..CAS_RETRIES {
        let job = match read.take() {
            Some(job) => job,
            None => state.store.get_job_any_org(id).await?,
        };
        let target = match &end {
            End::Running => JobState::Running,
            End::Rejected { .. } => JobState::Rejected,
            End::Finished { result, .. } => result.final_state(),
            End::Lost { .. } => JobState::Lost,
        };
        if job.state.is_terminal() || job.state == target {
            return Ok(job);
        }
        // A job the agent finished before the server saw it start passes through `running`.
        let step_to = if job.state.can_transition(target) { target } else { JobState::Running };
        if !job.state.can_transition(step_to) {
            return Ok(job);
        }
        let mut next = change(&job, step_to);
        if step_to == target {
            match &end {
                End::Running => {}
                End::Rejected { reason } | End::Lost { reason } => {
                    next.reason = Some(reason.clone())
                }
                End::Finished { result, chunks } => {
                    next.result = Some(result.clone());
                    next.chunks_total = Some(*chunks);
                }
            }
        }
        match state.store.transition_job(&next).await {
            Ok(updated) => {
                let _ = state.job_events.send(id);
                crate::live::job_changed(state, &updated);
                if step_to == JobState::Running && job.state != JobState::Running {
                    observe_dispatch_latency(state, &updated);
                }
                if updated.state == target {
                    job_ended(state, &updated);
                    return Ok(updated);
                }
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    state.store.get_job_any_org(id).await
}

fn observe_dispatch_latency(state: &AppState, job: &JobRecord) {
    let elapsed = Timestamp::now().duration_since(job.created_at);
    state.metrics.dispatch_latency.observe(elapsed.as_secs_f64().max(0.0));
}

/// What a cancel request did.
pub enum Cancelled {
    /// The job had not reached an agent; it is `cancelled` now.
    Now(JobRecord),
    /// The job runs (or may run) on an agent; it was asked to stop and ends `cancelled` when the
    /// agent reports.
    Requested(JobRecord),
}

/// Cancels a job: at once if no agent has started it, else by asking its agent. `audit` commits
/// with the state change, or on its own before a running job's agent is asked to stop.
pub async fn cancel(
    state: &AppState,
    job: JobRecord,
    audit: &AuditEntry,
) -> StoreResult<Cancelled> {
    let mut job = job;
    for _ in 0..CAS_RETRIES {
        match job.state {
            JobState::Queued | JobState::Dispatched => {
                let was_dispatched = job.state == JobState::Dispatched;
                let mut next = change(&job, JobState::Cancelled);
                next.reason = Some("cancelled before it ran".into());
                match state.store.cancel_job(job.org, &next, audit).await {
                    Ok(updated) => {
                        if was_dispatched {
                            // The agent may have it in flight: make sure it does not run it.
                            let _ = state.agents.send(updated.host, cancel_message(&updated));
                        }
                        let _ = state.job_events.send(updated.id);
                        crate::live::job_changed(state, &updated);
                        return Ok(Cancelled::Now(updated));
                    }
                    Err(StoreError::Conflict { .. }) => {
                        job = state.store.get_job(job.org, job.id).await?;
                    }
                    Err(err) => return Err(err),
                }
            }
            JobState::Running => {
                state.store.record_audit(audit).await?;
                let _ = state.agents.send(job.host, cancel_message(&job));
                return Ok(Cancelled::Requested(job));
            }
            _ => {
                return Err(StoreError::Conflict {
                    detail: format!("the job already ended ({})", job.state),
                });
            }
        }
    }
    Err(StoreError::Conflict {
        detail: "the job changed state while being cancelled; retry".into(),
    })
}

fn cancel_message(job: &JobRecord) -> ServerMessage {
    ServerMessage::CancelJob(JobRef { job: job.id, attempt: job.attempt })
}
