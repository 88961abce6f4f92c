//! `…/jobs`: create (pushed to the host's agent at once when it is connected), list with filters
//! (host, state, creation time), get, cancel.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use gsm_core::job::{HostId, JobId, JobKind, JobState};
use gsm_proto::openapi::{JobPage, JobStateRef};
use gsm_proto::rest::{CreateJob, ErrorBody, Job, Page};
use jiff::Timestamp;
use serde::Deserialize;

use crate::app::AppState;
use crate::dispatch::{self, Cancelled};
use crate::http::auth::{Action, ClientIp, authenticate};
use crate::http::openapi::{IdempotencyKey, JobPath, OrgPath};
use crate::http::{ApiError, idempotency_key, page_limit, query_instant, time};
use crate::store::{Created, JobFilter, JobRecord, NewJob};

/// Longest deadline a job may ask for: a week.
const MAX_DEADLINE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest program path or argument, and most arguments, accepted before the agent's policy
/// applies its own (tighter) limits.
const MAX_ARG_BYTES: usize = 128 * 1024;
const MAX_ARGS: usize = 1024;

/// The API view of a stored job.
pub(crate) fn view(job: JobRecord) -> Job {
    Job {
        id: job.id,
        host: job.host,
        kind: job.kind,
        state: job.state,
        reason: job.reason,
        result: job.result,
        attempt: job.attempt,
        timeout_secs: job.timeout_secs,
        output_cap_bytes: job.output_cap_bytes,
        requested_by: job.requested_by,
        created_at: time(job.created_at),
        updated_at: time(job.updated_at),
        deadline_at: time(job.deadline_at),
    }
}

pub(super) fn validate(request: &CreateJob) -> Result<(), ApiError> {
    let invalid = |message: String| Err(ApiError::unprocessable("invalid_job", message));
    match &request.kind {
        JobKind::Command(command) => {
            if !command.program.starts_with('/') {
                return invalid(format!("program {:?} must be an absolute path", command.program));
            }
            if command.args.len() > MAX_ARGS {
                return invalid(format!("{} arguments; at most {MAX_ARGS}", command.args.len()));
            }
            let strings = std::iter::once(&command.program)
                .chain(&command.args)
                .chain(command.cwd.iter())
                .chain(command.env.keys())
                .chain(command.env.values());
            for value in strings {
                if value.contains('\0') {
                    return invalid(
                        "NUL bytes are not allowed in a program, argument, cwd or env".into(),
                    );
                }
                if value.len() > MAX_ARG_BYTES {
                    return invalid(format!(
                        "a value is {} bytes; at most {MAX_ARG_BYTES}",
                        value.len()
                    ));
                }
            }
        }
        JobKind::Game(action) => {
            if action.game.is_empty() || action.game.len() > 64 {
                return invalid(
                    "a game job needs `game`: the game server's name (1-64 bytes)".into(),
                );
            }
            if !gsm_core::adapters::config::GAME_ACTIONS.contains(&action.action.as_str()) {
                return invalid(format!(
                    "unknown game action {:?}; use one of {}",
                    action.action,
                    gsm_core::adapters::config::GAME_ACTIONS.join(", ")
                ));
            }
        }
    }
    if request.timeout_secs == Some(0) {
        return invalid("timeout_secs must be at least 1".into());
    }
    // Stored as signed 64-bit integers.
    for (name, value) in
        [("timeout_secs", request.timeout_secs), ("output_cap_bytes", request.output_cap_bytes)]
    {
        if value.is_some_and(|value| i64::try_from(value).is_err()) {
            return invalid(format!("{name} must be at most {}", i64::MAX));
        }
    }
    if let Some(deadline) = request.deadline_secs
        && (deadline == 0 || Duration::from_secs(deadline) > MAX_DEADLINE)
    {
        return invalid(format!("deadline_secs must be 1 to {}", MAX_DEADLINE.as_secs()));
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/jobs",
    tag = "jobs",
    params(OrgPath, IdempotencyKey),
    request_body = CreateJob,
    responses(
        (status = 201, description = "The job, committed and offered to its host's agent.", body = Job),
        (status = 200, description = "A repeat (same `Idempotency-Key`): the job created the first time.", body = Job),
        (status = 400, description = "The body is not a `CreateJob`, or the `Idempotency-Key` is invalid.", body = ErrorBody),
        (status = 403, description = "The role may not run jobs.", body = ErrorBody),
        (status = 404, description = "No such org or host for this credential.", body = ErrorBody),
        (status = 409, description = "A concurrent request with the same `Idempotency-Key` created the job first; retry to get it.", body = ErrorBody),
        (status = 422, description = "An invalid job (relative program, NUL bytes, limits).", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/orgs/{org}/jobs"))]
pub(super) async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
    body: Result<Json<CreateJob>, JsonRejection>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::RunJobs)?;
    let Json(request) =
        body.map_err(|err| ApiError::bad_request("invalid_request", err.body_text()))?;
    validate(&request)?;
    let now = Timestamp::now();
    let deadline = request.deadline_secs.map_or(state.settings.job_deadline, Duration::from_secs);
    let deadline = jiff::SignedDuration::try_from(deadline).map_err(ApiError::internal)?;
    let new = NewJob {
        id: JobId::new(),
        host: request.host,
        kind: request.kind,
        timeout_secs: request.timeout_secs,
        output_cap_bytes: request.output_cap_bytes,
        requested_by: access.principal.clone(),
        idempotency_key: idempotency_key(&headers)?,
        deadline_at: now.checked_add(deadline).map_err(ApiError::internal)?,
        now,
        // Stored as sent when its agent is connected: one write before the push, not two.
        dispatched: state.agents.is_connected(request.host),
    };
    // Committed before we answer: a 201 means the job is durable.
    let audit = access.audit(&client, "job.create", "job", new.id);
    let (job, created) = state.store.create_job(access.org, &new, &audit).await?;
    if created == Created::Existing {
        return Ok((StatusCode::OK, Json(view(job))));
    }
    tracing::info!(org.id = %access.org, job.id = %job.id, host.id = %job.host, "job created");
    if job.state == JobState::Dispatched {
        // `offer` tells the org's streams of queued jobs only.
        crate::live::job_changed(&state, &job);
    }
    let job = dispatch::offer(&state, &job).await?;
    Ok((StatusCode::CREATED, Json(view(job))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only jobs of this host.
    #[param(value_type = Option<uuid::Uuid>)]
    host: Option<HostId>,
    /// Only jobs in this state.
    #[param(value_type = Option<JobStateRef>)]
    state: Option<JobState>,
    /// Only jobs created at or after this RFC 3339 time.
    since: Option<String>,
    /// Only jobs created before this RFC 3339 time.
    until: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    cursor: Option<JobId>,
    /// Jobs per page.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/jobs",
    tag = "jobs",
    params(OrgPath, ListQuery),
    responses(
        (status = 200, description = "One page of jobs, newest first, filtered by host, state and creation time (`since` inclusive, `until` exclusive).", body = JobPage),
        (status = 400, description = "Invalid query parameters: a time that is not RFC 3339, or `since` not before `until`.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/jobs"))]
pub(super) async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Job>>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))?;
    let limit = page_limit(query.limit)?;
    let since = query_instant(query.since.as_deref(), "since")?;
    let until = query_instant(query.until.as_deref(), "until")?;
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        return Err(ApiError::bad_request("invalid_range", "since must be before until"));
    }
    let filter = JobFilter {
        host: query.host,
        state: query.state,
        before: query.cursor,
        since,
        until,
        limit,
    };
    let jobs = state.store.list_jobs(access.org, &filter).await?;
    let next_cursor =
        (jobs.len() == limit as usize).then(|| jobs.last().map(|j| j.id.to_string())).flatten();
    Ok(Json(Page { items: jobs.into_iter().map(view).collect(), next_cursor }))
}

pub(super) fn parse_job(id: &str) -> Result<JobId, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("job"))
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/jobs/{job}",
    tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "The job.", body = Job),
        (status = 404, description = "No such org or job for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/jobs/{job}"))]
pub(super) async fn get(
    State(state): State<AppState>,
    Path((org, job)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Job>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    Ok(Json(view(state.store.get_job(access.org, parse_job(&job)?).await?)))
}

#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/jobs/{job}/cancel",
    tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "Cancelled now (it had not started).", body = Job),
        (status = 202, description = "Cancel sent to the agent; the job ends `cancelled` when it stops.", body = Job),
        (status = 403, description = "The role may not run jobs.", body = ErrorBody),
        (status = 404, description = "No such org or job for this credential.", body = ErrorBody),
        (status = 409, description = "The job has already ended.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "POST /api/v1/orgs/{org}/jobs/{job}/cancel"))]
pub(super) async fn cancel(
    State(state): State<AppState>,
    Path((org, job)): Path<(String, String)>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::RunJobs)?;
    let job = state.store.get_job(access.org, parse_job(&job)?).await?;
    let audit = access.audit(&client, "job.cancel", "job", job.id);
    match dispatch::cancel(&state, job, &audit).await {
        Ok(Cancelled::Now(job)) => Ok((StatusCode::OK, Json(view(job)))),
        Ok(Cancelled::Requested(job)) => Ok((StatusCode::ACCEPTED, Json(view(job)))),
        Err(crate::store::StoreError::Conflict { detail }) => {
            Err(ApiError::conflict("job_finished", detail))
        }
        Err(err) => Err(err.into()),
    }
}
